//! The ONES plugin template, in Rust: `POST /hello` answers
//! `{"res": "hello world", "requestBody": <the JSON body it was sent>}`.

use op_plugin_sdk::{PluginError, PluginRequest, PluginResponse, json};

/// `POST /project/api/project/hello`
fn hello(req: PluginRequest) -> Result<PluginResponse, PluginError> {
    let body = req.json_value()?;
    Ok(PluginResponse::json(&json!({
        "res": "hello world",
        "requestBody": body,
    })))
}

op_plugin_sdk::export_functions! {
    hello,
}
