//! A plugin that answers what a hostile plugin would: statuses that are not
//! HTTP answers (`101`, `999`) and connection headers (`Upgrade`,
//! `Keep-Alive`, ...). The host must not pass them to the client.

use op_plugin_sdk::{PluginRequest, PluginResponse};

/// Answers the status in `?status=` and every `?header=name:value`.
fn answer(req: PluginRequest) -> PluginResponse {
    let mut response = PluginResponse::text("from the hostile plugin");
    if let Some(status) = req.query("status").and_then(|s| s.parse().ok()) {
        response = response.with_status(status);
    }
    for (key, value) in &req.query {
        if key == "header"
            && let Some((name, value)) = value.split_once(':')
        {
            response = response.with_header(name, value);
        }
    }
    response
}

/// As a hook: answers the same, so that a hook's answer is checked too.
fn guard(req: PluginRequest) -> PluginResponse {
    answer(req)
}

op_plugin_sdk::export_functions! {
    answer,
    guard,
}
