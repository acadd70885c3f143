//! What a plugin call and a hook share on their way through the gateway:
//! the request's headers and body as a plugin gets them, a plugin's answer
//! or error as HTTP, and what the log line names.

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use http_body_util::{BodyExt, Limited};

use super::error::GatewayError;
use crate::bindings::{Response as PluginResponse, Severity};
use crate::runtime::{CallError, Plugin};

/// What the log line names about the call.
#[derive(Default)]
pub(super) struct CallInfo {
    pub(super) plugin: Option<String>,
    pub(super) function: Option<String>,
}

pub(super) fn header_value_text(name: &str, value: &HeaderValue) -> Result<String, GatewayError> {
    std::str::from_utf8(value.as_bytes())
        .map(str::to_string)
        .map_err(|_| GatewayError::BadRequest(format!("the header `{name}` is not valid UTF-8")))
}

pub(super) fn plugin_headers(headers: &HeaderMap) -> Result<Vec<(String, String)>, GatewayError> {
    headers
        .iter()
        .map(|(name, value)| {
            Ok((
                name.as_str().to_string(),
                header_value_text(name.as_str(), value)?,
            ))
        })
        .collect()
}

/// Whether the request's Content-Length is over `limit`.
pub(super) fn declared_over(headers: &HeaderMap, limit: usize) -> bool {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .is_some_and(|len| len > limit as u64)
}

pub(super) async fn read_body(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
) -> Result<Vec<u8>, GatewayError> {
    if declared_over(headers, limit) {
        return Err(GatewayError::BodyTooLarge { limit });
    }
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes().to_vec()),
        Err(err) if err.is::<http_body_util::LengthLimitError>() => {
            Err(GatewayError::BodyTooLarge { limit })
        }
        Err(err) => Err(GatewayError::BadRequest(format!(
            "cannot read the request body: {err}"
        ))),
    }
}

pub(super) fn into_http(
    answer: PluginResponse,
    plugin: &Plugin,
    function: &str,
    limit: usize,
) -> Result<Response, GatewayError> {
    let bad = |reason: String| GatewayError::BadResponse {
        plugin: plugin.app_id().to_string(),
        function: function.to_string(),
        reason,
    };
    // 1xx would take the connection over (101) or be no answer at all.
    let status = match answer.status {
        None => StatusCode::OK,
        Some(code @ 200..=599) => StatusCode::from_u16(code).unwrap_or(StatusCode::OK),
        Some(code) => {
            return Err(bad(format!(
                "{code} is not a status a plugin may answer (200 to 599)"
            )));
        }
    };
    if answer.body.len() > limit {
        return Err(bad(format!(
            "the body of {} bytes is over the limit of {limit} bytes",
            answer.body.len()
        )));
    }
    let mut headers = crate::imports::headers::to_http(
        &answer.headers,
        crate::imports::headers::Direction::Answer,
    )
    .map_err(|err| bad(err.to_string()))?;
    // Connection headers describe a connection the plugin does not have.
    super::proxy::drop_hop_by_hop(&mut headers);
    let mut response = Response::new(Body::from(answer.body));
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    Ok(response)
}

pub(super) fn plugin_error(err: crate::bindings::PluginError) -> GatewayError {
    let status = StatusCode::from_u16(err.status)
        .ok()
        .filter(|s| s.is_client_error() || s.is_server_error())
        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let kind = err
        .kind
        .filter(|k| {
            !k.is_empty()
                && k.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        })
        .unwrap_or_else(|| "error".to_string());
    GatewayError::Plugin {
        status,
        kind,
        reason: err.reason,
        warning: err.severity == Severity::Warning,
    }
}

/// The client's answer for a failed call; the detail goes to the log.
pub(super) fn call_error(err: CallError, plugin: &Plugin) -> GatewayError {
    let app_id = plugin.app_id().to_string();
    err.log(&app_id);
    match err {
        CallError::Trap { function, kind, .. } => GatewayError::Trap {
            plugin: app_id,
            function,
            what: kind.describe(),
        },
        CallError::Timeout { function, limit } => GatewayError::Timeout {
            plugin: app_id,
            function,
            limit,
        },
        CallError::Busy { function, .. } | CallError::Instantiate { function, .. } => {
            GatewayError::Unavailable {
                plugin: app_id,
                function,
            }
        }
    }
}
