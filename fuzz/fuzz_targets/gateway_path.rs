//! The gateway's path normalisation on any path hyper would hand over; the
//! properties are in `host/tests/common/properties.rs` (also run, seeded,
//! in CI by `host/tests/fuzz_short.rs`).
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../host/tests/common/properties.rs"]
mod properties;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        properties::gateway_path(text);
    }
});
