//! Signed object addresses on the ONES site
//! (`/project/api/project/op/objects/TOKEN`): a browser uploads or
//! downloads one object of a plugin instance, as the address allows
//! (`storage::object_requests` answers; docs/storage.md).

use std::time::Instant;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::Gateway;
use super::exchange::read_body;
use crate::storage::object_requests::{self, MAX_REQUEST_BYTES, ObjectReply, ObjectRequest};

/// The route of the addresses, under the project API base.
pub const ROUTE: &str = "/project/api/project/op/objects/{token}";

/// The `function` label of object address requests in the call metrics.
pub const METRICS_FUNCTION: &str = "(object address)";

pub(super) async fn handle(
    State(gateway): State<Gateway>,
    Path(token_text): Path<String>,
    request: axum::extract::Request,
) -> Response {
    let started = Instant::now();
    let method = request.method().to_string();
    let (parts, body) = request.into_parts();
    if let Err(err) = super::call::check_header_size(&gateway, &parts.headers) {
        return err.into_response();
    }
    let content_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let mut plugin = None;
    let reply = match object_requests::token(&token_text) {
        Err(reply) => reply,
        Ok(token) => match read_body(&parts.headers, body, MAX_REQUEST_BYTES).await {
            Err(err) => return err.into_response(),
            Ok(body) => {
                let set = gateway.current();
                let owner = set
                    .plugins()
                    .iter()
                    .find(|p| p.instance().installation.instance_id == token.instance());
                plugin = owner.map(|p| p.app_id().to_string());
                let storage = owner.and_then(|p| p.instance().storage.clone());
                let request = ObjectRequest {
                    method: &method,
                    content_type: content_type.as_deref(),
                    body: body.into(),
                };
                object_requests::answer(storage.as_ref(), token, request).await
            }
        },
    };
    let status = reply.status;
    if let Some(metrics) = gateway.metrics() {
        let outcome = if status < 400 {
            "ok"
        } else {
            "objects.refused"
        };
        metrics.record_call(
            plugin.as_deref().unwrap_or_default(),
            METRICS_FUNCTION,
            outcome,
            started.elapsed(),
        );
    }
    tracing::info!(
        target: "op::call",
        status,
        "{method} object address {status} in {:.1?}",
        started.elapsed()
    );
    into_response(reply)
}

fn into_response(reply: ObjectReply) -> Response {
    let mut response = Response::new(Body::from(reply.body));
    *response.status_mut() = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::OK);
    let headers = response.headers_mut();
    for (name, value) in reply.headers {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(HeaderName::from_static(name), value);
        }
    }
    response
}
