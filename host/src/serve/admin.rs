//! The admin API under `/admin/` (bearer token), and the operations
//! endpoints `GET /readyz` and `GET /metrics`.

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use super::server::{AdminError, Server};
use super::store::InstanceRecord;

/// Largest package the admin API takes (256 MiB, the unpacked limit).
pub const MAX_PACKAGE: usize = 256 * 1024 * 1024;

/// `/readyz`, `/metrics` and `/admin/...`, in front of the gateway.
pub fn app(server: &Server) -> Router {
    let admin = Router::new()
        .route("/plugins", get(list).post(install))
        .route("/plugins/{instance}", axum::routing::delete(uninstall))
        .route("/plugins/{instance}/enable", post(enable))
        .route("/plugins/{instance}/disable", post(disable))
        .route("/plugins/{instance}/logs", get(logs))
        .fallback(unknown)
        .layer(DefaultBodyLimit::max(MAX_PACKAGE))
        .layer(middleware::from_fn_with_state(
            server.clone(),
            require_token,
        ))
        .with_state(server.clone());
    Router::new()
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(server.clone())
        .nest("/admin", admin)
        .merge(crate::gateway::app(server.gateway().clone()))
}

/// An admin answer in the ONES error shape.
fn error(status: StatusCode, kind: &str, reason: impl Into<String>) -> Response {
    let body = json!({
        "model": format!("admin.{kind}"),
        "reason": reason.into(),
        "type": "error",
    });
    (status, Json(body)).into_response()
}

impl IntoResponse for AdminError {
    fn into_response(self) -> Response {
        let (status, kind) = match &self {
            AdminError::BadPackage(_) => (StatusCode::BAD_REQUEST, "bad_package"),
            AdminError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            AdminError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            AdminError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            AdminError::Hook(_) => (StatusCode::UNPROCESSABLE_ENTITY, "hook_failed"),
            AdminError::Load(_) => (StatusCode::UNPROCESSABLE_ENTITY, "load_failed"),
            AdminError::Store(_) => (StatusCode::INTERNAL_SERVER_ERROR, "store"),
        };
        error(status, kind, self.to_string())
    }
}

/// Compares in time that depends on the lengths only, not on where the
/// first difference is.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut difference = a.len() ^ b.len();
    for i in 0..a.len().max(b.len()) {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0);
        difference |= usize::from(x ^ y);
    }
    difference == 0
}

async fn require_token(State(server): State<Server>, request: Request, next: Next) -> Response {
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    if !constant_time_eq(given.as_bytes(), server.config().admin_token.as_bytes()) {
        let mut response = error(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "the admin API needs `Authorization: Bearer <admin token>`",
        );
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static("Bearer"),
        );
        // The body (maybe a package) is not read: the connection cannot be
        // reused, so say so rather than let the client send on it again.
        response.headers_mut().insert(
            header::CONNECTION,
            header::HeaderValue::from_static("close"),
        );
        return response;
    }
    next.run(request).await
}

async fn unknown(request: Request) -> Response {
    error(
        StatusCode::NOT_FOUND,
        "not_found",
        format!(
            "no admin endpoint {} {}",
            request.method(),
            request.uri().path()
        ),
    )
}

/// One instance as the admin API shows it.
async fn describe(server: &Server, record: &InstanceRecord) -> serde_json::Value {
    let mut routes = Vec::new();
    let mut hooks = Vec::new();
    if let Some(plugin) = server.plugin(&record.instance_id).await {
        for api in &plugin.manifest().apis {
            let entry = json!({
                "type": api.kind.as_str(),
                "methods": api.method_names(),
                "url": api.full_path(),
                "function": api.function.value,
            });
            if api.kind.is_route() {
                routes.push(entry);
            } else {
                hooks.push(entry);
            }
        }
    }
    let mut value = serde_json::to_value(record).unwrap_or_default();
    value["state"] = json!(if record.enabled {
        "enabled"
    } else {
        "disabled"
    });
    value["routes"] = json!(routes);
    value["hooks"] = json!(hooks);
    value
}

async fn list(State(server): State<Server>) -> Result<Response, AdminError> {
    let state = server.state()?;
    let mut plugins = Vec::new();
    for record in &state.instances {
        plugins.push(describe(&server, record).await);
    }
    Ok(Json(json!({ "generation": state.generation, "plugins": plugins })).into_response())
}

#[derive(Deserialize)]
struct InstallQuery {
    team: Option<String>,
}

async fn install(
    State(server): State<Server>,
    Query(query): Query<InstallQuery>,
    body: Bytes,
) -> Result<Response, AdminError> {
    let installed = server.install(&body, query.team.as_deref()).await?;
    let status = if installed.action == "installed" {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let body = json!({
        "action": installed.action,
        "from": installed.from,
        "plugin": describe(&server, &installed.instance).await,
    });
    Ok((status, Json(body)).into_response())
}

async fn enable(
    State(server): State<Server>,
    Path(instance): Path<String>,
) -> Result<Response, AdminError> {
    let record = server.enable(&instance).await?;
    Ok(Json(json!({ "plugin": describe(&server, &record).await })).into_response())
}

async fn disable(
    State(server): State<Server>,
    Path(instance): Path<String>,
) -> Result<Response, AdminError> {
    let record = server.disable(&instance).await?;
    Ok(Json(json!({ "plugin": describe(&server, &record).await })).into_response())
}

async fn uninstall(
    State(server): State<Server>,
    Path(instance): Path<String>,
) -> Result<Response, AdminError> {
    let (record, warnings) = server.uninstall(&instance).await?;
    Ok(Json(json!({
        "action": "uninstalled",
        "instance_id": record.instance_id,
        "app_id": record.app_id,
        "warnings": warnings,
    }))
    .into_response())
}

async fn logs(
    State(server): State<Server>,
    Path(instance): Path<String>,
) -> Result<Response, AdminError> {
    let state = server.state()?;
    let record = state
        .instance(&instance)
        .ok_or_else(|| AdminError::NotFound(instance.clone()))?;
    let lines = crate::imports::log::recent(&record.app_id);
    Ok(
        Json(json!({ "instance_id": instance, "app_id": record.app_id, "lines": lines }))
            .into_response(),
    )
}

async fn readyz(State(server): State<Server>) -> Response {
    let mut problems = server.not_ready().await;
    if let Err(reason) = upstream_reachable(&server.config().ones_url).await {
        problems.push(reason);
    }
    if problems.is_empty() {
        Json(json!({ "status": "ready" })).into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "not ready", "problems": problems })),
        )
            .into_response()
    }
}

/// Any HTTP answer from ONES within 2 s counts as reachable.
async fn upstream_reachable(base_url: &str) -> Result<(), String> {
    let request = crate::imports::fetch::client().get(base_url).send();
    match tokio::time::timeout(std::time::Duration::from_secs(2), request).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(err)) => Err(format!(
            "ONES at {base_url} cannot be reached: {}",
            crate::imports::fetch::root_cause(&err)
        )),
        Err(_) => Err(format!("ONES at {base_url} did not answer within 2 s")),
    }
}

async fn metrics(State(server): State<Server>) -> Response {
    if !server.config().metrics {
        return error(
            StatusCode::NOT_FOUND,
            "not_found",
            "metrics are off (`metrics: false` in the host configuration)",
        );
    }
    let gateway = server.gateway();
    let set = gateway.current();
    let gauges = [
        (
            "op_instances_in_flight",
            "Plugin instances running now.",
            server.runtime().in_flight(),
        ),
        (
            "op_subscribe_queue_depth",
            "Subscribe notifications waiting.",
            gateway.subscribers().depth() as u64,
        ),
        (
            "op_subscribe_dropped_total",
            "Subscribe notifications dropped because the queue was full.",
            gateway.subscribers().dropped(),
        ),
        (
            "op_plugins_serving",
            "Plugin instances serving.",
            set.plugins().len() as u64,
        ),
    ];
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        server.metrics().render(&gauges) + &crate::imports::wasi::render_metrics(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_compare_equal_only_when_equal() {
        assert!(constant_time_eq(b"secret-token", b"secret-token"));
        assert!(!constant_time_eq(b"secret-token", b"secret-tokem"));
        assert!(!constant_time_eq(b"secret-token", b"secret-token-"));
        assert!(!constant_time_eq(b"", b"x"));
    }
}
