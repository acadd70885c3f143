//! The properties the path fuzzing checks, shared by the libFuzzer targets
//! (`fuzz/fuzz_targets/gateway_path.rs`, `opfetch_path.rs`, which include
//! this file) and the short seeded run in CI (`tests/fuzz_short.rs`). Each
//! returns whether the input was accepted, so that a driver can tell that it
//! reached the checks.

// Each fuzz target includes this file for one of its properties.
#![allow(dead_code)]

use op::imports::fetch::ones_url;
use op::path::{api_path, normalize};

/// The ONES origin the OPFetch property sends to.
pub const ONES: &str = "http://ones.test:8080";

/// The gateway's path on any path hyper would hand over: no panic; the one
/// form is stable (normalising it again changes nothing), has no empty or
/// dot-segment and no trailing slash; `http::Uri` (which forwards it) and a
/// WHATWG URL parser (a normalising proxy or ONES) read it unchanged; a path
/// found under an API base stays under it.
pub fn gateway_path(text: &str) -> bool {
    let Ok(pq) = text.parse::<http::uri::PathAndQuery>() else {
        return false;
    };
    let path = pq.path();
    if !path.starts_with('/') {
        return false;
    }
    let Ok((normal, _)) = normalize(path) else {
        return false;
    };
    let (again, dots) = normalize(&normal).expect("the one form normalises");
    assert_eq!(again, normal, "not stable: {path:?}");
    assert!(!dots, "{path:?}");
    if normal != "/" {
        assert!(!normal.ends_with('/'), "{path:?} -> {normal:?}");
        assert!(
            normal[1..]
                .split('/')
                .all(|s| !matches!(s, "" | "." | "..")),
            "{path:?} -> {normal:?}"
        );
    }
    let uri: http::Uri = format!("http://ones{normal}")
        .parse()
        .unwrap_or_else(|_| panic!("not forwardable: {path:?} -> {normal:?}"));
    assert_eq!(uri.path(), normal, "http::Uri changes {path:?}");
    let url = url::Url::parse(&format!("http://ones{normal}")).expect("a URL");
    assert_eq!(url.path(), normal, "a WHATWG parser changes {path:?}");
    if let Ok(Some(found)) = api_path(path) {
        let base = found.scope().base();
        assert!(found.path().starts_with(&format!("{base}/")), "{path:?}");
        assert!(url.path().starts_with(&format!("{base}/")), "{path:?}");
        assert!(found.relative().len() > 1, "{path:?}");
    }
    true
}

/// The OPFetch path check on any path a plugin may pass: no panic, and a
/// path it accepts goes, as sent (reqwest hands `Url::as_str` to hyper as an
/// `http::Uri`) and as a normalising ONES would read it, under the API base
/// on the ONES origin only; the team it reports is the one in that path.
pub fn opfetch_path(path: &str) -> bool {
    if !path.starts_with('/') {
        return false;
    }
    let Ok(target) = ones_url(ONES, path) else {
        return false;
    };
    let base = target.base;
    let sent: http::Uri = target.url.as_str().parse().expect("hyper takes it");
    assert_eq!(
        sent.authority().map(|a| a.as_str()),
        Some("ones.test:8080"),
        "{path:?}"
    );
    let sent_path = sent.path();
    assert!(
        sent_path == base || sent_path.starts_with(&format!("{base}/")),
        "{path:?} is sent as {sent_path:?}"
    );
    let (normal, _) = normalize(sent_path).expect("its normalised form exists");
    assert!(
        normal == base || normal.starts_with(&format!("{base}/")),
        "{path:?} normalises to {normal:?}"
    );
    if let Some(team) = &target.team {
        let mut segments = normal[base.len()..].split('/').filter(|s| !s.is_empty());
        assert!(
            segments
                .next()
                .is_some_and(|s| s.eq_ignore_ascii_case("team")),
            "{path:?}"
        );
        assert_eq!(segments.next(), Some(team.as_str()), "{path:?}");
    }
    true
}
