//! Timer tasks for the host's tests: each tick tells ONES (the tests'
//! recording stand-in) what the host said about it, with OPFetch as the
//! super-admin.

use op_plugin_sdk::{Logger, OPFetch, PluginError, PluginRequest, PluginResponse, json};

/// `every-second`: reports the tick; traps on seconds divisible by 3.
fn tick(req: PluginRequest) -> Result<PluginResponse, PluginError> {
    let tick: serde_json::Value = serde_json::from_slice(&req.body).unwrap_or_default();
    let due = tick["scheduledAtMs"].as_i64().unwrap_or_default();
    if !tick["manual"].as_bool().unwrap_or(false) && (due / 1000) % 3 == 0 {
        panic!("tick {due} traps on purpose");
    }
    Logger::info(format!("tick {due}"));
    report("/ticker/tick", &req, &tick)
}

/// `nightly`: reports that it ran.
fn nightly(req: PluginRequest) -> Result<PluginResponse, PluginError> {
    let tick: serde_json::Value = serde_json::from_slice(&req.body).unwrap_or_default();
    report("/ticker/nightly", &req, &tick)
}

fn report(
    path: &str,
    req: &PluginRequest,
    tick: &serde_json::Value,
) -> Result<PluginResponse, PluginError> {
    OPFetch::post(path)
        .json(&json!({
            "tick": tick,
            "method": req.method,
            "url": req.url,
            "caller": req.header("ones-user-id"),
        }))?
        .send()?;
    Ok(PluginResponse::empty())
}

/// A route, so that the plugin also serves.
fn hello(_req: PluginRequest) -> PluginResponse {
    PluginResponse::json(&json!({ "hello": "ticker" }))
}

op_plugin_sdk::export_functions! {
    tick,
    nightly,
    hello,
}
