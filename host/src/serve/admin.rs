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
use crate::gateway::Reading;

/// Largest package the admin API takes (256 MiB, the unpacked limit).
pub const MAX_PACKAGE: usize = 256 * 1024 * 1024;

/// The admin API under `/admin`: bearer token, JSON answers and errors.
fn admin_routes(server: &Server) -> Router {
    let admin = Router::new()
        .route("/plugins", get(list).post(install))
        .route("/plugins/{instance}", axum::routing::delete(uninstall))
        .route("/plugins/{instance}/enable", post(enable))
        .route("/plugins/{instance}/disable", post(disable))
        .route("/plugins/{instance}/logs", get(logs))
        .fallback(unknown)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_PACKAGE))
        .layer(middleware::map_response(json_errors))
        .layer(middleware::from_fn_with_state(
            server.clone(),
            require_token,
        ))
        .with_state(server.clone());
    Router::new().nest("/admin", admin)
}

/// `/readyz`, `/metrics` and `/admin/...`, in front of the gateway: all on
/// one listener.
pub fn app(server: &Server) -> Router {
    Router::new()
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(server.clone())
        .merge(admin_routes(server))
        .merge(crate::gateway::app(server.gateway().clone()))
}

/// The public listener when the admin API has its own (`admin.listen`):
/// the gateway, `/healthz`, and `/readyz` with its status only.
pub fn public_app(server: &Server) -> Router {
    Router::new()
        .route("/readyz", get(readyz_status))
        .with_state(server.clone())
        .merge(crate::gateway::app(server.gateway().clone()))
}

/// The admin listener (`admin.listen`): the admin API, `/metrics`,
/// `/readyz` with its problems and `/healthz`; nothing of the gateway.
pub fn admin_app(server: &Server) -> Router {
    Router::new()
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route(
            "/healthz",
            get(|| async { Json(json!({ "status": "ok" })) }),
        )
        .with_state(server.clone())
        .merge(admin_routes(server))
        .fallback(|request: Request| async move {
            error(
                StatusCode::NOT_FOUND,
                "not_found",
                format!(
                    "this is the admin listener: no {} {} here (plugin routes are on `listen`)",
                    request.method(),
                    request.uri().path()
                ),
            )
        })
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
            AdminError::Interrupted => (StatusCode::INTERNAL_SERVER_ERROR, "interrupted"),
            AdminError::Unavailable { .. } => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
        };
        error(status, kind, self.to_string())
    }
}

/// Compares in time that depends on the lengths only, not on where the
/// first difference is (`subtle`).
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.ct_eq(b).into()
}

/// The token of an `Authorization: Bearer TOKEN` value; the scheme is
/// matched without regard to case (RFC 9110, 11.1).
fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim_start_matches(' '))
}

/// The kind (`admin.<kind>`) of an error status.
fn kind_of(status: StatusCode) -> &'static str {
    match status {
        StatusCode::BAD_REQUEST | StatusCode::UNPROCESSABLE_ENTITY => "bad_request",
        StatusCode::UNAUTHORIZED => "unauthorized",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::PAYLOAD_TOO_LARGE => "too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        s if s.is_server_error() => "internal",
        _ => "error",
    }
}

/// Every admin error answer in the JSON shape: those axum makes itself
/// (a body over the limit, a bad query or path) are rewritten.
async fn json_errors(response: Response) -> Response {
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let (parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, 4096).await.unwrap_or_default();
    let text = String::from_utf8_lossy(&text).trim().to_string();
    let reason = match (status, text.is_empty()) {
        (StatusCode::PAYLOAD_TOO_LARGE, _) => {
            format!(
                "the body is over the admin API's limit of {} MiB",
                MAX_PACKAGE >> 20
            )
        }
        (_, true) => status.canonical_reason().unwrap_or("error").to_string(),
        (_, false) => text,
    };
    let mut answer = error(status, kind_of(status), reason);
    for name in [header::CONNECTION, header::WWW_AUTHENTICATE, header::ALLOW] {
        if let Some(value) = parts.headers.get(&name) {
            answer.headers_mut().insert(name, value.clone());
        }
    }
    answer
}

async fn method_not_allowed(request: Request) -> Response {
    error(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!(
            "{} is not allowed on {}",
            request.method(),
            request.uri().path()
        ),
    )
}

/// A team UUID as ONES writes them: 1 to 32 ASCII letters and digits.
fn valid_team(team: &str) -> bool {
    (1..=32).contains(&team.len()) && team.bytes().all(|b| b.is_ascii_alphanumeric())
}

async fn require_token(State(server): State<Server>, request: Request, next: Next) -> Response {
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(bearer_token)
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
    // A body announced over the limit is refused before it is sent.
    let announced = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if announced.is_some_and(|n| n > MAX_PACKAGE as u64) {
        let mut response = error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!(
                "the body is over the admin API's limit of {} MiB",
                MAX_PACKAGE >> 20
            ),
        );
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
    if let Some(plugin) = server.plugin(&record.instance_id) {
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
    let state = server.state().await?;
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

/// Runs an admin change on a task of its own, so that a client that goes
/// away (its timeout, a load balancer's) cannot cut the change half-way:
/// dropping this future leaves the change running to its end.
async fn to_the_end<T: Send + 'static>(
    change: impl Future<Output = Result<T, AdminError>> + Send + 'static,
) -> Result<T, AdminError> {
    match tokio::spawn(change).await {
        Ok(outcome) => outcome,
        Err(err) => {
            tracing::error!("an admin change ended without an answer: {err}");
            Err(AdminError::Interrupted)
        }
    }
}

async fn install(
    State(server): State<Server>,
    Query(query): Query<InstallQuery>,
    body: Bytes,
) -> Result<Response, AdminError> {
    if let Some(team) = &query.team
        && !valid_team(team)
    {
        return Err(AdminError::BadRequest(
            "`?team=` must be a ONES team UUID: 1 to 32 letters and digits".into(),
        ));
    }
    let changing = server.clone();
    let installed =
        to_the_end(async move { changing.install(&body, query.team.as_deref()).await }).await?;
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
    let changing = server.clone();
    let record = to_the_end(async move { changing.enable(&instance).await }).await?;
    Ok(Json(json!({ "plugin": describe(&server, &record).await })).into_response())
}

async fn disable(
    State(server): State<Server>,
    Path(instance): Path<String>,
) -> Result<Response, AdminError> {
    let changing = server.clone();
    let record = to_the_end(async move { changing.disable(&instance).await }).await?;
    Ok(Json(json!({ "plugin": describe(&server, &record).await })).into_response())
}

async fn uninstall(
    State(server): State<Server>,
    Path(instance): Path<String>,
) -> Result<Response, AdminError> {
    let changing = server.clone();
    let (record, warnings) = to_the_end(async move { changing.uninstall(&instance).await }).await?;
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
    let state = server.state().await?;
    let record = state
        .instance(&instance)
        .ok_or_else(|| AdminError::NotFound(instance.clone()))?;
    let lines = crate::imports::log::recent(&record.app_id);
    Ok(
        Json(json!({ "instance_id": instance, "app_id": record.app_id, "lines": lines }))
            .into_response(),
    )
}

/// `/readyz` on the public listener: the status, not the problems.
async fn readyz_status(State(server): State<Server>) -> Response {
    let response = readyz(State(server)).await;
    let status = response.status();
    let body = if status.is_success() {
        json!({ "status": "ready" })
    } else {
        json!({ "status": "not ready" })
    };
    (status, Json(body)).into_response()
}

async fn readyz(State(server): State<Server>) -> Response {
    let mut problems = server.not_ready();
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
    let gauge = |name, help, value: u64| Reading::Gauge {
        name,
        help,
        value: i64::try_from(value).unwrap_or(i64::MAX),
    };
    let readings = vec![
        gauge(
            "op_instances_in_flight",
            "Plugin instances running now.",
            server.runtime().in_flight(),
        ),
        gauge(
            "op_subscribe_queue_depth",
            "Subscribe notifications waiting.",
            gateway.subscribers().depth() as u64,
        ),
        Reading::Counter {
            name: "op_subscribe_dropped",
            help: "Subscribe notifications dropped because the queue was full.",
            value: gateway.subscribers().dropped(),
        },
        gauge(
            "op_plugins_serving",
            "Plugin instances serving.",
            set.plugins().len() as u64,
        ),
        gauge(
            "op_store_connected",
            "1 while the plugin store answers, 0 while it cannot be reached.",
            u64::from(server.store_trouble().is_none()),
        ),
        gauge(
            "op_store_generation",
            "The generation of the plugin store this process serves.",
            server.generation(),
        ),
        Reading::LabelledCounter {
            name: "op_workspace_quota_refusals",
            help: "Plugin writes refused because the workspace quota was reached, by plugin.",
            label: "plugin",
            values: crate::imports::wasi::quota_refusals(),
        },
    ];
    (
        [(header::CONTENT_TYPE, crate::gateway::metrics::CONTENT_TYPE)],
        server.metrics().render(readings),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_change_that_panics_answers_500_without_its_message() {
        let finished = to_the_end(async { Ok::<_, AdminError>(7) }).await;
        assert!(matches!(finished, Ok(7)));
        let panicked: Result<u32, AdminError> =
            to_the_end(async { panic!("internal detail: /var/lib/op/state.db") }).await;
        let err = panicked.expect_err("a panicking change answered Ok");
        let response = err.into_response();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["model"], "admin.interrupted");
        let reason = body["reason"].as_str().unwrap();
        assert!(reason.contains("stopped before it finished"), "{reason}");
        assert!(!reason.contains("internal detail"), "{reason}");
    }

    #[test]
    fn the_bearer_scheme_matches_in_any_case() {
        assert_eq!(bearer_token("Bearer abc"), Some("abc"));
        assert_eq!(bearer_token("bearer abc"), Some("abc"));
        assert_eq!(bearer_token("BEARER  abc"), Some("abc"));
        assert_eq!(bearer_token("Basic abc"), None);
        assert_eq!(bearer_token("Bearerabc"), None);
    }

    #[test]
    fn a_team_is_letters_and_digits() {
        assert!(valid_team("TEAM0001"));
        assert!(!valid_team(""));
        assert!(!valid_team("../x"));
        assert!(!valid_team(&"a".repeat(33)));
    }

    #[test]
    fn tokens_compare_equal_only_when_equal() {
        assert!(constant_time_eq(b"secret-token", b"secret-token"));
        assert!(!constant_time_eq(b"secret-token", b"secret-tokem"));
        assert!(!constant_time_eq(b"secret-token", b"secret-token-"));
        assert!(!constant_time_eq(b"", b"x"));
    }
}
