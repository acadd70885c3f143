//! The gateway's path normalisation on any path hyper would hand over: no
//! panic; the one form is stable (normalising it again changes nothing),
//! has no empty or dot-segment and no trailing slash; `http::Uri` (which
//! forwards it) and a WHATWG URL parser (a normalising proxy or ONES) both
//! read it unchanged; and a path found under an API base stays under it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use op::gateway::path::{api_path, normalize};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(pq) = text.parse::<http::uri::PathAndQuery>() else {
        return;
    };
    let path = pq.path();
    if !path.starts_with('/') {
        return;
    }
    let Ok((normal, _)) = normalize(path) else {
        return;
    };
    let (again, dots) = normalize(&normal).expect("the one form normalises");
    assert_eq!(again, normal, "not stable: {path:?}");
    assert!(!dots);
    if normal != "/" {
        assert!(!normal.ends_with('/'), "{normal:?}");
        assert!(
            normal[1..]
                .split('/')
                .all(|s| !matches!(s, "" | "." | "..")),
            "{normal:?}"
        );
    }
    let uri: http::Uri = format!("http://ones{normal}").parse().expect("forwardable");
    assert_eq!(uri.path(), normal, "http::Uri changes {normal:?}");
    let url = url::Url::parse(&format!("http://ones{normal}")).expect("a URL");
    assert_eq!(url.path(), normal, "a WHATWG parser changes {normal:?}");
    if let Ok(Some(found)) = api_path(path) {
        let base = found.scope().base();
        assert!(found.path().starts_with(base), "{path:?}");
        assert!(url.path().starts_with(&format!("{base}/")), "{path:?}");
        assert!(found.relative().len() > 1);
    }
});
