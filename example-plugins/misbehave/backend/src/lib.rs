//! Every way a plugin can misbehave, each behind a route. The host must
//! answer each with its 5xx in the ONES error shape, within its limit, and
//! keep serving everything else.

use std::hint::black_box;

use op_plugin_sdk::{PluginRequest, PluginResponse, json};

/// `GET /ok`: answers at once.
fn ok(_req: PluginRequest) -> PluginResponse {
    PluginResponse::json(&json!({ "ok": true }))
}

/// `GET /trap`: panics (500 `plugin.trap`).
fn trap(_req: PluginRequest) -> PluginResponse {
    panic!("misbehave: a panic on purpose");
}

/// `GET /loop`: never returns (504 `plugin.timeout` after the time limit).
fn spin(_req: PluginRequest) -> PluginResponse {
    let mut n: u64 = 0;
    loop {
        n = black_box(n.wrapping_add(1));
    }
}

/// `GET /oom`: allocates until memory runs out (500 `plugin.trap`).
fn oom(_req: PluginRequest) -> PluginResponse {
    let mut hoard: Vec<Vec<u8>> = Vec::new();
    loop {
        hoard.push(vec![0xAB; 1 << 20]);
        black_box(&hoard);
    }
}

/// `GET /recurse`: recurses without end (500 `plugin.trap`, stack overflow).
fn recurse(_req: PluginRequest) -> PluginResponse {
    PluginResponse::json(&json!({ "depth": deeper(black_box(0)) }))
}

fn deeper(depth: u64) -> u64 {
    let frame = black_box([depth; 16]);
    // The guard is never true at run time, but the compiler cannot know.
    if black_box(frame[0] == u64::MAX) {
        return 0;
    }
    deeper(frame[3] + 1) + frame[7]
}

/// `GET /huge`: answers a body over the 16 MiB response limit (500
/// `plugin.bad_response`).
fn huge(_req: PluginRequest) -> PluginResponse {
    PluginResponse::bytes(vec![b'x'; 17 * 1024 * 1024])
}

/// `GET /files`: tries to read outside its workspace, then reads and writes
/// inside it, and reports what happened.
fn files(_req: PluginRequest) -> PluginResponse {
    let outcome = |result: std::io::Result<String>| match result {
        Ok(text) => json!({ "ok": text }),
        Err(err) => json!({ "refused": err.to_string() }),
    };
    let written = std::fs::write("/workspace/note.txt", "written by the plugin")
        .map(|()| "written".to_string());
    PluginResponse::json(&json!({
        "etc_passwd": outcome(std::fs::read_to_string("/etc/passwd")),
        "parent": outcome(std::fs::read_to_string("/workspace/../config/plugin.yaml")),
        "workspace_read": outcome(std::fs::read_to_string("/workspace/README.txt")),
        "workspace_write": outcome(written),
        "env": std::env::vars().count(),
    }))
}

op_plugin_sdk::export_functions! {
    ok,
    trap,
    spin,
    oom,
    recurse,
    huge,
    files,
}
