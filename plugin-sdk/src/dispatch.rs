//! Glue between the generated bindings and the SDK types. Used by the code
//! that [`export_functions!`](crate::export_functions) expands to; not part of
//! the public API.

use crate::__private::bindings::exports::op::plugin::handler as wit;
use crate::__private::bindings::op::plugin::types as wit_types;
use crate::{
    IntoPluginResult, PluginError, PluginRequest, PluginResponse, Severity, UpstreamResponse,
};

pub use crate::__private::bindings::exports::op::plugin::handler::Guest;
pub use wit::{PluginError as WitError, Request as WitRequest, Response as WitResponse};

/// Runs `function` with the request the host sent and converts its outcome.
pub fn invoke<F, R>(function: F, req: WitRequest) -> Result<WitResponse, WitError>
where
    F: FnOnce(PluginRequest) -> R,
    R: IntoPluginResult,
{
    let request = PluginRequest {
        method: req.method,
        url: req.url,
        params: req.params,
        query: req.query,
        headers: req.headers,
        body: req.body,
        upstream: req.upstream.map(|up| UpstreamResponse {
            status: up.status,
            headers: up.headers,
            body: up.body,
        }),
    };
    function(request)
        .into_plugin_result()
        .map(into_wit_response)
        .map_err(into_wit_error)
}

/// The answer for a function name the plugin does not register.
pub fn unknown_function(name: &str, known: &[&str]) -> Result<WitResponse, WitError> {
    Err(into_wit_error(
        PluginError::not_found(format!(
            "this plugin has no function `{name}`; it has: {}",
            known.join(", ")
        ))
        .with_kind("unknown_function"),
    ))
}

fn into_wit_response(res: PluginResponse) -> WitResponse {
    let (status, headers, body) = res.into_parts();
    WitResponse {
        status,
        headers,
        body,
    }
}

fn into_wit_error(err: PluginError) -> WitError {
    let (status, kind, reason, severity) = err.into_parts();
    WitError {
        status,
        kind,
        reason,
        severity: match severity {
            Severity::Error => wit_types::Severity::Error,
            Severity::Warning => wit_types::Severity::Warning,
        },
    }
}
