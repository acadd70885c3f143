//! The OPFetch path check on any path a plugin may pass; the properties are
//! in `host/tests/common/properties.rs` (also run, seeded, in CI by
//! `host/tests/fuzz_short.rs`).
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../host/tests/common/properties.rs"]
mod properties;

fuzz_target!(|data: &[u8]| {
    if let Ok(path) = std::str::from_utf8(data) {
        properties::opfetch_path(path);
    }
});
