//! The HTTP gateway: plugin routes answered by plugin functions, one error
//! type for every failure, `GET /healthz`.
//!
//! [`app`] builds the axum router (tests drive it directly or over
//! loopback); [`serve`] runs it on a listener until shutdown.

mod call;
mod error;
mod exchange;
mod hooks;
pub mod listener;
pub mod metrics;
mod objects;
mod ones_call;
mod proxy;
mod routes;
mod subscribe;

use std::future::Future;
use std::sync::{Arc, RwLock};

use axum::Router;
use axum::routing::{any, get};

pub use error::GatewayError;
pub use hooks::{ConflictError, Hook, HookTable, Matching};
pub use metrics::{Metrics, Reading};
pub use proxy::{BadProxy, TrustedProxies, Upstream};
pub use routes::{Declared, Matched, Miss, Route, RouteTable};
pub use subscribe::{SUBSCRIBE_QUEUE, SubscribeQueue};

use crate::runtime::Plugin;

/// Largest request body handed to a plugin (16 MiB, as ONES).
pub const MAX_REQUEST_BODY: usize = 16 * 1024 * 1024;
/// Largest total size of a request's header names and values (64 KiB).
pub const MAX_REQUEST_HEADERS: usize = 64 * 1024;
/// Largest response body a plugin may answer (16 MiB, as ONES).
pub const MAX_RESPONSE_BODY: usize = 16 * 1024 * 1024;

/// The plugins being served, their route table and their hooks.
/// Immutable: a change of plugins builds a new set, and calls in flight
/// finish on the one they started with.
#[derive(Debug, Default)]
pub struct PluginSet {
    plugins: Vec<Arc<Plugin>>,
    routes: RouteTable,
    hooks: HookTable,
}

impl PluginSet {
    /// A set of plugins, in load order (which orders routes and hooks);
    /// refused when their hooks break the ownership and combination rules.
    pub fn new(plugins: Vec<Arc<Plugin>>) -> Result<Self, ConflictError> {
        let routes = RouteTable::with_teams(plugins.iter().map(|p| {
            let manifest = p.manifest().as_ref();
            let team = if manifest.is_org_level() {
                None
            } else {
                p.instance().installation.team_uuid.as_deref()
            };
            (manifest, team)
        }));
        let hooks = HookTable::new(&plugins)?;
        Ok(PluginSet {
            plugins,
            routes,
            hooks,
        })
    }

    /// The hooks on the ONES API.
    pub fn hooks(&self) -> &HookTable {
        &self.hooks
    }

    /// The plugins.
    pub fn plugins(&self) -> &[Arc<Plugin>] {
        &self.plugins
    }

    /// The route table.
    pub fn routes(&self) -> &RouteTable {
        &self.routes
    }
}

/// Limits the gateway applies to every call.
#[derive(Debug, Clone, Copy)]
pub struct GatewayLimits {
    /// Largest request body, in bytes.
    pub max_request_body: usize,
    /// Largest response body, in bytes.
    pub max_response_body: usize,
    /// Largest total size of request header names and values, in bytes.
    pub max_request_headers: usize,
}

impl Default for GatewayLimits {
    fn default() -> Self {
        GatewayLimits {
            max_request_body: MAX_REQUEST_BODY,
            max_response_body: MAX_RESPONSE_BODY,
            max_request_headers: MAX_REQUEST_HEADERS,
        }
    }
}

/// The gateway's shared state.
#[derive(Clone)]
pub struct Gateway {
    inner: Arc<GatewayInner>,
}

struct GatewayInner {
    set: RwLock<Arc<PluginSet>>,
    limits: GatewayLimits,
    upstream: Option<Upstream>,
    subscribers: SubscribeQueue,
    metrics: std::sync::OnceLock<Arc<Metrics>>,
}

impl Gateway {
    /// A gateway serving `set`, with no ONES behind it (calls no route
    /// answers get 404). Must be made inside a tokio runtime.
    pub fn new(set: PluginSet, limits: GatewayLimits) -> Self {
        Gateway {
            inner: Arc::new(GatewayInner {
                set: RwLock::new(Arc::new(set)),
                limits,
                upstream: None,
                subscribers: SubscribeQueue::start(SUBSCRIBE_QUEUE),
                metrics: std::sync::OnceLock::new(),
            }),
        }
    }

    /// A gateway in front of ONES: API calls no route answers go there,
    /// through the plugins' hooks.
    pub fn with_upstream(set: PluginSet, limits: GatewayLimits, upstream: Upstream) -> Self {
        Gateway {
            inner: Arc::new(GatewayInner {
                set: RwLock::new(Arc::new(set)),
                limits,
                upstream: Some(upstream),
                subscribers: SubscribeQueue::start(SUBSCRIBE_QUEUE),
                metrics: std::sync::OnceLock::new(),
            }),
        }
    }

    /// The ONES upstream, if any.
    pub fn upstream(&self) -> Option<&Upstream> {
        self.inner.upstream.as_ref()
    }

    /// Records every request in `metrics` from now on (once; a second
    /// registry is ignored).
    pub fn record_metrics(&self, metrics: Arc<Metrics>) {
        let _ = self.inner.metrics.set(metrics);
    }

    /// The metrics registry, if one is recording.
    pub fn metrics(&self) -> Option<&Metrics> {
        self.inner.metrics.get().map(Arc::as_ref)
    }

    /// The queue of `subscribe` notifications.
    pub fn subscribers(&self) -> &SubscribeQueue {
        &self.inner.subscribers
    }

    /// The set serving new calls.
    pub fn current(&self) -> Arc<PluginSet> {
        match self.inner.set.read() {
            Ok(set) => Arc::clone(&set),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// Serves new calls with `set`; calls in flight finish on the old one.
    pub fn replace(&self, set: PluginSet) {
        let set = Arc::new(set);
        match self.inner.set.write() {
            Ok(mut current) => *current = set,
            Err(poisoned) => *poisoned.into_inner() = set,
        }
    }

    /// The limits.
    pub fn limits(&self) -> GatewayLimits {
        self.inner.limits
    }
}

/// The router: `GET /healthz`, the signed object addresses, and every
/// other request through the route table.
pub fn app(gateway: Gateway) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route(objects::ROUTE, any(objects::handle))
        .fallback(call::handle)
        .with_state(gateway)
}

/// Alive: a status and nothing else (what is installed is not for anyone
/// who can reach the port).
async fn healthz() -> axum::Json<serde_json::Value> {
    axum::Json(serde_json::json!({ "status": "ok" }))
}

/// Serves `gateway` on `listener` until `shutdown` resolves, then lets the
/// calls in flight finish; connections are bounded as
/// [`listener::ServeOptions::default`] says.
pub async fn serve(
    listener: tokio::net::TcpListener,
    gateway: Gateway,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    listener::serve(
        listener,
        app(gateway),
        listener::ServeOptions::default(),
        shutdown,
    )
    .await
}
