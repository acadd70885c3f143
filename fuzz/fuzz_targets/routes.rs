//! Route matching on arbitrary paths, methods and queries against a table
//! built from arbitrary (valid) routes: no panic, and a match always binds
//! every parameter of its route to a non-empty segment.
#![no_main]

use libfuzzer_sys::fuzz_target;
use op::manifest::{ApiScope, Method, Segment};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    // First line: urls separated by spaces; second: the request path;
    // third: the query.
    let mut lines = text.lines();
    let urls = lines.next().unwrap_or_default();
    let path = lines.next().unwrap_or_default();
    let query = lines.next().unwrap_or_default();
    let mut manifest = String::from("service:\n  app_id: fuzz\n  name: fuzz\n  version: 1.0.0\napis:\n");
    for (i, url) in urls.split(' ').filter(|u| !u.is_empty()).take(32).enumerate() {
        let method = Method::ALL[i % Method::ALL.len()];
        manifest.push_str(&format!(
            "  - type: addition\n    methods: [{method}]\n    url: '{}'\n    function: f{i}\n",
            url.replace('\'', "''")
        ));
    }
    let Ok(manifest) = op::manifest::parse(&manifest, "plugin.yaml") else { return };
    let table = op::gateway::RouteTable::new([&manifest]);
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let query: Vec<(String, String)> = query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    for method in Method::ALL {
        if let Ok(found) = table.find(ApiScope::Project, &segments, Some(method), &query, None) {
            let params = found
                .route
                .pattern
                .segments
                .iter()
                .filter(|s| matches!(s, Segment::Param(_)))
                .count();
            assert_eq!(found.params.len(), params);
            assert!(found.params.iter().all(|(_, v)| !v.is_empty()));
        }
    }
});
