//! The OPFetch path check on any path a plugin may pass: no panic, and a
//! path it accepts goes, as sent (reqwest hands `Url::as_str` to hyper as an
//! `http::Uri`) and as a normalising ONES would read it, under the API base
//! on the ONES origin only; the team it reports is the one in that path.
#![no_main]

use libfuzzer_sys::fuzz_target;
use op::gateway::path::normalize;
use op::imports::fetch::ones_url;

const ONES: &str = "http://ones.test:8080";

fuzz_target!(|data: &[u8]| {
    let Ok(path) = std::str::from_utf8(data) else {
        return;
    };
    if !path.starts_with('/') {
        return;
    }
    let Ok(target) = ones_url(ONES, path) else {
        return;
    };
    let base = target.scope.base();
    let sent: http::Uri = target.url.as_str().parse().expect("hyper takes it");
    assert_eq!(sent.authority().map(|a| a.as_str()), Some("ones.test:8080"));
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
        let rest = &normal[base.len()..];
        let mut segments = rest.split('/').filter(|s| !s.is_empty());
        assert!(
            segments
                .next()
                .is_some_and(|s| s.eq_ignore_ascii_case("team"))
        );
        assert_eq!(segments.next(), Some(team.as_str()));
    }
});
