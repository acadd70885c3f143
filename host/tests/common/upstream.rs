//! A stand-in for ONES (or any outside server) that records every request
//! it receives and answers in a way the tests can check.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// One request as the upstream received it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    /// Path and query.
    pub uri: String,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// When it arrived.
    pub at: std::time::SystemTime,
}

impl Recorded {
    /// Every value of header `name`.
    pub fn header_values(&self, name: &str) -> Vec<String> {
        self.headers
            .get_all(name)
            .iter()
            .map(|v| v.to_str().unwrap_or_default().to_string())
            .collect()
    }
}

/// A running recording upstream.
pub struct Upstream {
    pub origin: String,
    pub port: u16,
    log: Arc<Mutex<Vec<Recorded>>>,
}

impl Upstream {
    /// Every request received so far.
    pub fn received(&self) -> Vec<Recorded> {
        self.log.lock().unwrap().clone()
    }

    /// Forgets the requests received so far.
    pub fn clear(&self) {
        self.log.lock().unwrap().clear();
    }

    /// The last request received.
    pub fn last(&self) -> Recorded {
        self.received()
            .last()
            .cloned()
            .expect("the upstream received nothing")
    }
}

/// Starts an upstream on a free loopback port. It answers:
/// - `.../users/me`: `{"uuid": <ones-user-id>, "token_echo": <ones-auth-token>}`
///   (an API that echoes the token, to prove the host scrubs it);
/// - `/redirect?to=URL`: 302 to URL;
/// - `.../missing`: 404;
/// - `/huge`: a body one byte over 16 MiB;
/// - `/slow`: answers after 3 s;
/// - anything else: 200 `{"method", "uri"}`.
pub async fn start() -> Upstream {
    let log = Arc::new(Mutex::new(Vec::new()));
    let app = Router::new().fallback(record).with_state(log.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    Upstream {
        origin: format!("http://127.0.0.1:{port}"),
        port,
        log,
    }
}

async fn record(State(log): State<Arc<Mutex<Vec<Recorded>>>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let uri = parts.uri.to_string();
    log.lock().unwrap().push(Recorded {
        method: parts.method.to_string(),
        uri: uri.clone(),
        headers: parts.headers.clone(),
        body,
        at: std::time::SystemTime::now(),
    });
    let path = parts.uri.path();
    let header = |name: &str| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    if path.ends_with("/users/me") {
        let body = serde_json::json!({"uuid": header("ones-user-id"), "token_echo": header("ones-auth-token")});
        return axum::Json(body).into_response();
    }
    if path == "/redirect" {
        let to = parts
            .uri
            .query()
            .and_then(|q| q.strip_prefix("to="))
            .unwrap_or_default()
            .to_string();
        return (StatusCode::FOUND, [(header::LOCATION, to)]).into_response();
    }
    if path == "/huge" {
        return vec![b'x'; 16 * 1024 * 1024 + 1].into_response();
    }
    if path == "/slow" || path == "/project/api/project/slow" {
        tokio::time::sleep(std::time::Duration::from_secs(3)).await;
        return "late".into_response();
    }
    if path.ends_with("/missing") {
        return (
            StatusCode::NOT_FOUND,
            axum::Json(serde_json::json!({"errcode": "NotFound"})),
        )
            .into_response();
    }
    axum::Json(serde_json::json!({"method": parts.method.as_str(), "uri": uri})).into_response()
}
