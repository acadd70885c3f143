//! Any text given to the manifest parser gives a manifest or located
//! errors, never a panic; an accepted manifest builds a route table.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match op::manifest::parse(text, "config/plugin.yaml") {
        Ok(manifest) => {
            let table = op::gateway::RouteTable::new([&manifest]);
            assert!(table.routes().len() <= manifest.apis.len());
        }
        Err(err) => {
            assert!(!err.diagnostics.is_empty());
            for d in &err.diagnostics {
                assert!(d.pos.line >= 1 && d.pos.column >= 1, "{d:?}");
            }
            let _ = err.to_string();
        }
    }
});
