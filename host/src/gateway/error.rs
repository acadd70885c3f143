//! The one error type of the gateway. Each variant knows its HTTP status and
//! renders the ONES error body `{"model", "reason", "type"}`. Internal detail
//! (trap messages, backtraces) is logged where the error is made and never
//! reaches the client.

use std::time::Duration;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::manifest::Method;

/// Why the gateway answered with an error.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// No route has this path.
    #[error("no route for {method} {path}")]
    NoRoute {
        /// Request method.
        method: String,
        /// Request path.
        path: String,
    },
    /// The path exists for other methods.
    #[error("{method} is not allowed on {path}; allowed: {}", list(allowed))]
    MethodNotAllowed {
        /// Request method.
        method: String,
        /// Request path.
        path: String,
        /// Methods the path answers.
        allowed: Vec<Method>,
    },
    /// Several plugins answer and the request did not pick one.
    #[error("several plugins answer {method} {path}; set the Ones-Plugin-Id header to one of: {}", plugins.join(", "))]
    AmbiguousRoute {
        /// Request method.
        method: String,
        /// Request path.
        path: String,
        /// The plugins' app_ids.
        plugins: Vec<String>,
    },
    /// The plugin that answers is installed in several teams and the
    /// request does not say which.
    #[error(
        "plugin `{plugin}` answers {method} {path} in several teams ({}); its url has no team, so \
         set the Ones-Team-UUID header to the caller's team",
        teams.join(", ")
    )]
    TeamNeeded {
        /// The app_id.
        plugin: String,
        /// Request method.
        method: String,
        /// Request path.
        path: String,
        /// The teams it is installed in.
        teams: Vec<String>,
    },
    /// `Ones-Plugin-Id` names a plugin without this route.
    #[error("plugin `{plugin}` (from the Ones-Plugin-Id header) has no route for {method} {path}")]
    NotInPlugin {
        /// The app_id asked for.
        plugin: String,
        /// Request method.
        method: String,
        /// Request path.
        path: String,
    },
    /// The request body is over the limit.
    #[error("the request body is over the limit of {limit} bytes")]
    BodyTooLarge {
        /// The limit.
        limit: usize,
    },
    /// The request's headers are over the limit.
    #[error("the request headers are {size} bytes, over the limit of {limit} bytes")]
    HeadersTooLarge {
        /// Their size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The request cannot be handed to a plugin as it is.
    #[error("{0}")]
    BadRequest(String),
    /// The request path cannot be normalised, or leaves the API base.
    #[error(transparent)]
    BadPath(#[from] crate::path::PathError),
    /// The route needs a logged-in user.
    #[error("{0}")]
    Unauthorized(String),
    /// ONES could not be asked something the call depends on.
    #[error("{0}")]
    BadGateway(String),
    /// ONES did not answer in time.
    #[error("{0}")]
    UpstreamTimeout(String),
    /// A hook failed and its plugin's policy is fail-closed.
    #[error(
        "plugin `{plugin}` failed in its `{kind}` hook `{function}` ({what}); the call was refused"
    )]
    HookFailed {
        /// The plugin's app_id.
        plugin: String,
        /// The hook's type.
        kind: &'static str,
        /// The function.
        function: String,
        /// What happened.
        what: String,
    },
    /// The plugin answered an error on purpose.
    #[error("{reason}")]
    Plugin {
        /// Status chosen by the plugin.
        status: StatusCode,
        /// `plugin.<kind>`'s kind.
        kind: String,
        /// Reason given by the plugin.
        reason: String,
        /// Whether the plugin called it a warning.
        warning: bool,
    },
    /// The function trapped (panic, out of memory, stack overflow).
    #[error("plugin `{plugin}` failed in function `{function}` ({what})")]
    Trap {
        /// The plugin's app_id.
        plugin: String,
        /// The function.
        function: String,
        /// What happened, in a few words.
        what: &'static str,
    },
    /// The function ran out of time.
    #[error("plugin `{plugin}` did not answer in function `{function}` within {limit:?}")]
    Timeout {
        /// The plugin's app_id.
        plugin: String,
        /// The function.
        function: String,
        /// The limit.
        limit: Duration,
    },
    /// No instance could be made for the call.
    #[error("plugin `{plugin}` cannot take the call to `{function}` now")]
    Unavailable {
        /// The plugin's app_id.
        plugin: String,
        /// The function.
        function: String,
    },
    /// The function's answer cannot be sent as HTTP.
    #[error("plugin `{plugin}` gave an invalid answer in function `{function}`: {reason}")]
    BadResponse {
        /// The plugin's app_id.
        plugin: String,
        /// The function.
        function: String,
        /// What is wrong with it.
        reason: String,
    },
}

fn list(methods: &[Method]) -> String {
    methods
        .iter()
        .map(|m| m.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

impl GatewayError {
    /// The HTTP status the client gets.
    pub fn status(&self) -> StatusCode {
        match self {
            GatewayError::NoRoute { .. } | GatewayError::NotInPlugin { .. } => {
                StatusCode::NOT_FOUND
            }
            GatewayError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            GatewayError::TeamNeeded { .. } => StatusCode::CONFLICT,
            GatewayError::AmbiguousRoute { .. }
            | GatewayError::BadRequest(_)
            | GatewayError::BadPath(_) => StatusCode::BAD_REQUEST,
            GatewayError::BodyTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            GatewayError::HeadersTooLarge { .. } => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            GatewayError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            GatewayError::BadGateway(_) => StatusCode::BAD_GATEWAY,
            GatewayError::UpstreamTimeout(_) => StatusCode::GATEWAY_TIMEOUT,
            GatewayError::HookFailed { .. } => StatusCode::SERVICE_UNAVAILABLE,
            GatewayError::Plugin { status, .. } => *status,
            GatewayError::Trap { .. } | GatewayError::BadResponse { .. } => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
            GatewayError::Timeout { .. } => StatusCode::GATEWAY_TIMEOUT,
            GatewayError::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The `model` of the ONES error body, e.g. `plugin.not_found`.
    pub fn model(&self) -> String {
        let kind = match self {
            GatewayError::NoRoute { .. } | GatewayError::NotInPlugin { .. } => "not_found",
            GatewayError::MethodNotAllowed { .. } => "method_not_allowed",
            GatewayError::AmbiguousRoute { .. } => "ambiguous_route",
            GatewayError::TeamNeeded { .. } => "team_needed",
            GatewayError::BodyTooLarge { .. } => "body_too_large",
            GatewayError::HeadersTooLarge { .. } => "headers_too_large",
            GatewayError::BadRequest(_) | GatewayError::BadPath(_) => "bad_request",
            GatewayError::Unauthorized(_) => "unauthorized",
            GatewayError::BadGateway(_) => "bad_gateway",
            GatewayError::UpstreamTimeout(_) => "upstream_timeout",
            GatewayError::HookFailed { .. } => "hook_failed",
            GatewayError::Plugin { kind, .. } => kind,
            GatewayError::Trap { .. } => "trap",
            GatewayError::Timeout { .. } => "timeout",
            GatewayError::Unavailable { .. } => "unavailable",
            GatewayError::BadResponse { .. } => "bad_response",
        };
        format!("plugin.{kind}")
    }

    /// `warning` or `error`.
    pub fn severity(&self) -> &'static str {
        match self {
            GatewayError::Plugin { warning: true, .. } => "warning",
            _ => "error",
        }
    }
}

impl IntoResponse for GatewayError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({
            "model": self.model(),
            "reason": self.to_string(),
            "type": self.severity(),
        });
        let mut response = (self.status(), axum::Json(body)).into_response();
        let headers = response.headers_mut();
        match &self {
            GatewayError::MethodNotAllowed { allowed, .. } => {
                if let Ok(value) = HeaderValue::from_str(&list(allowed)) {
                    headers.insert(header::ALLOW, value);
                }
            }
            GatewayError::Unavailable { .. } => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            _ => {}
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_and_models_follow_the_failure_table() {
        let trap = GatewayError::Trap {
            plugin: "p".into(),
            function: "f".into(),
            what: "panicked",
        };
        assert_eq!(
            (trap.status().as_u16(), trap.model().as_str()),
            (500, "plugin.trap")
        );
        let timeout = GatewayError::Timeout {
            plugin: "p".into(),
            function: "f".into(),
            limit: Duration::from_secs(1),
        };
        assert_eq!(
            (timeout.status().as_u16(), timeout.model().as_str()),
            (504, "plugin.timeout")
        );
        let big = GatewayError::BodyTooLarge { limit: 1 };
        assert_eq!(big.status().as_u16(), 413);
        let warn = GatewayError::Plugin {
            status: StatusCode::CONFLICT,
            kind: "task_guard".into(),
            reason: "no".into(),
            warning: true,
        };
        assert_eq!(
            (warn.model().as_str(), warn.severity()),
            ("plugin.task_guard", "warning")
        );
    }
}
