//! The `op serve` host: the plugin instances of the store, served by one
//! gateway, changed through the admin API and kept in step with the other
//! replicas that share the store.
//!
//! Two locks: admin changes and reloads of this process take `work` in
//! turn and hold it for the whole change or reload, hooks and loads
//! included (a change also takes the store's lock, for every replica, for
//! at most `postgres::CHANGE_LOCK_WAIT` of waiting); what requests and
//! `/readyz` read is a published [`View`] behind a lock held only to swap
//! it, so no hook or load ever stands in a request's way.
//!
//! Lifecycle hooks: `Install`, `Enable`, `Upgrade`, `Disable`, `UnInstall`
//! (and the `Org` variants) are events of the installation: the replica
//! that takes the admin call runs them, once. `Start` and `Stop` are events
//! of a process: each replica runs `Start` when it begins serving a version
//! of a team-level instance and `Stop` when it stops serving it (disable,
//! upgrade, uninstall, shutdown).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};

mod changes;
mod reload;

use super::config::ServeConfig;
use super::store::{InstanceRecord, State, StateStore, StoreError};
use super::workspaces::Workspaces;
use crate::gateway::{ConflictError, Gateway, Metrics, PluginSet, Upstream};
use crate::package::PackageError;
use crate::runtime::{LifecycleError, Plugin, Runtime};

/// Why an admin change was refused or failed. Nothing was committed; hooks
/// that had run for it are not undone (the log says which).
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// The package is unreadable, damaged or invalid.
    #[error(transparent)]
    BadPackage(#[from] PackageError),
    /// The request cannot be acted on as it is.
    #[error("{0}")]
    BadRequest(String),
    /// No instance has this id.
    #[error("no plugin instance `{0}`")]
    NotFound(String),
    /// The change breaks a rule (versions, scope, hook conflicts).
    #[error("{0}")]
    Conflict(String),
    /// A lifecycle hook failed.
    #[error(transparent)]
    Hook(#[from] LifecycleError),
    /// The component does not load.
    #[error("the plugin does not load: {0}")]
    Load(String),
    /// The change's task ended without an answer (a panic). The detail
    /// goes to the log only: a panic's message is op's internals, not the
    /// client's business.
    #[error(
        "the change stopped before it finished, by a fault in op (the server's log has the detail)"
    )]
    Interrupted,
    /// The store could not be used (detail in the log).
    #[error("the plugin store could not be updated")]
    Store(#[source] StoreError),
    /// The store is out of reach: plugin calls are served from what is
    /// loaded; changes wait until it is back.
    #[error(
        "the plugin store cannot be reached, so nothing can be changed now; plugin calls are \
         served from the state loaded last (generation {generation}) until it is back"
    )]
    Unavailable {
        /// The generation being served.
        generation: u64,
    },
}

impl From<StoreError> for AdminError {
    fn from(err: StoreError) -> Self {
        tracing::error!("plugin store: {err}");
        match err {
            StoreError::Unavailable(_) => AdminError::Unavailable { generation: 0 },
            err @ StoreError::Busy { .. } => AdminError::Conflict(err.to_string()),
            err => AdminError::Store(err),
        }
    }
}

impl From<ConflictError> for AdminError {
    fn from(err: ConflictError) -> Self {
        AdminError::Conflict(err.to_string())
    }
}

/// What this process serves, as the reloads and changes keep it.
#[derive(Default)]
struct Loaded {
    generation: u64,
    /// Instance id → (content hash, plugin), for every installed instance.
    plugins: HashMap<String, (String, Arc<Plugin>)>,
    /// The records loaded, by instance id.
    records: HashMap<String, InstanceRecord>,
    /// Plugins an admin change loaded for the state it commits, by
    /// (instance id, content hash), taken by the next reconcile.
    fresh: HashMap<(String, String), Arc<Plugin>>,
    /// (instance id, content hash) of the versions being served.
    serving: HashSet<(String, String)>,
    /// Instances that could not be loaded, and why.
    problems: Vec<String>,
    /// The ids of the instances whose version could not be loaded (tried
    /// again by the follower).
    failed: HashSet<String>,
}

/// What requests, the admin listing and `/readyz` read.
#[derive(Default)]
struct View {
    generation: u64,
    plugins: HashMap<String, Arc<Plugin>>,
    problems: Vec<String>,
    started: bool,
}

/// The host.
#[derive(Clone)]
pub struct Server {
    inner: Arc<Inner>,
}

struct Inner {
    config: ServeConfig,
    runtime: Runtime,
    gateway: Gateway,
    store: Arc<dyn StateStore>,
    workspaces: Workspaces,
    /// The timer tasks of the enabled instances.
    timers: crate::timers::Timers,
    /// The instances' entity storage.
    records: Arc<dyn crate::storage::Records>,
    metrics: Arc<Metrics>,
    /// One change or reload at a time in this process; across processes,
    /// the store's lock.
    work: tokio::sync::Mutex<Loaded>,
    /// Published by each reload.
    view: RwLock<Arc<View>>,
    /// Held for the life of the process when the workspaces are this
    /// replica's own (a second process on the folder is refused).
    _own_dir: Option<std::fs::File>,
}

/// What an install or upgrade did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Installed {
    /// `installed` or `upgraded`.
    pub action: &'static str,
    /// The version before an upgrade.
    pub from: Option<String>,
    /// The instance now.
    pub instance: InstanceRecord,
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Server {
    /// Opens the store and loads what is installed; must be called inside
    /// a tokio runtime.
    pub async fn start(config: ServeConfig) -> anyhow::Result<Server> {
        let store = super::store::open(config.store_url.as_deref(), &config.plugins_dir).await?;
        let workspaces = Workspaces::open(&config.plugins_dir)?;
        let own_dir = if store.shares_workspaces() {
            None
        } else {
            Some(own(&config.plugins_dir)?)
        };
        let runtime = Runtime::new(config.runtime.clone())?;
        let mut upstream = Upstream::new(config.ones_url.clone());
        upstream.timeout = config.upstream_timeout;
        upstream.trusted_proxies = config.trusted_proxies.clone();
        let gateway = Gateway::with_upstream(PluginSet::default(), config.limits, upstream);
        let metrics = Arc::new(Metrics::new());
        if config.metrics {
            gateway.record_metrics(metrics.clone());
        }
        let timers =
            crate::timers::Timers::new(store.tick_gate()?, config.metrics.then(|| metrics.clone()));
        let records = store.records();
        let server = Server {
            inner: Arc::new(Inner {
                config,
                runtime,
                gateway,
                store,
                workspaces,
                timers,
                records,
                metrics,
                work: tokio::sync::Mutex::new(Loaded::default()),
                view: RwLock::new(Arc::new(View::default())),
                _own_dir: own_dir,
            }),
        };
        let state = server.inner.store.read().await?;
        {
            let mut loaded = server.inner.work.lock().await;
            if !server.inner.store.shares_workspaces() {
                // Files of instances uninstalled while this replica was away.
                for id in server.inner.workspaces.instance_ids() {
                    if state.instance(&id).is_none() {
                        server.inner.workspaces.remove_instance(&id);
                    }
                }
            }
            server.reconcile(&mut loaded, &state, None).await;
            for problem in &loaded.problems {
                tracing::error!("{problem}");
            }
        }
        let watcher = server.clone();
        tokio::spawn(async move { watcher.follow_other_replicas().await });
        Ok(server)
    }

    /// The gateway.
    pub fn gateway(&self) -> &Gateway {
        &self.inner.gateway
    }

    /// The configuration.
    pub fn config(&self) -> &ServeConfig {
        &self.inner.config
    }

    /// The runtime.
    pub fn runtime(&self) -> &Runtime {
        &self.inner.runtime
    }

    /// The metrics registry.
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// The installed instances, as the store says.
    pub async fn state(&self) -> Result<State, AdminError> {
        self.inner
            .store
            .read()
            .await
            .map_err(|err| self.admin_error(err))
    }

    /// What the store is (for logs).
    pub fn store_description(&self) -> String {
        self.inner.store.describe()
    }

    fn view(&self) -> Arc<View> {
        self.inner
            .view
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The generation this process serves.
    pub fn generation(&self) -> u64 {
        self.view().generation
    }

    /// How many instances this process has loaded.
    pub fn plugin_count(&self) -> usize {
        self.view().plugins.len()
    }

    /// Why the store is out of reach now, if it is.
    pub fn store_trouble(&self) -> Option<String> {
        self.inner.store.trouble()
    }

    /// The loaded plugin of an instance.
    pub fn plugin(&self, instance_id: &str) -> Option<Arc<Plugin>> {
        self.view().plugins.get(instance_id).cloned()
    }

    /// Why the host is not ready, if it is not: the first load is not done,
    /// some instance did not load, or the store is out of reach.
    pub fn not_ready(&self) -> Vec<String> {
        let view = self.view();
        if !view.started {
            return vec!["the installed plugins are still loading".into()];
        }
        let mut problems = view.problems.clone();
        if let Some(trouble) = self.inner.store.trouble() {
            problems.push(format!(
                "the plugin store ({}) cannot be reached: {trouble}; serving generation {} \
                 and refusing admin changes until it is back",
                self.inner.store.describe(),
                view.generation
            ));
        }
        problems
    }

    /// An admin error for a store error, naming the generation served.
    fn admin_error(&self, err: StoreError) -> AdminError {
        match AdminError::from(err) {
            AdminError::Unavailable { .. } => AdminError::Unavailable {
                generation: self.generation(),
            },
            other => other,
        }
    }

    /// Runs `Stop` for every team-level instance this process serves (at
    /// shutdown, after the calls in flight).
    pub async fn stop_all(&self) {
        let loaded = self.inner.work.lock().await;
        self.inner.timers.stop_all();
        for (id, hash) in &loaded.serving {
            if let Some((h, plugin)) = loaded.plugins.get(id)
                && h == hash
            {
                run_process_hook(plugin, "Stop").await;
            }
        }
    }
}

/// Claims a plugins directory for this process alone (with a database
/// store each replica keeps its own workspaces there).
fn own(dir: &std::path::Path) -> anyhow::Result<std::fs::File> {
    use anyhow::Context;
    let path = dir.join(".replica.lock");
    let file = std::fs::File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => anyhow::bail!(
            "another op serve uses {}: with a database store every replica needs a plugins_dir \
             of its own (it keeps that replica's workspaces and compile cache)",
            dir.display()
        ),
        Err(std::fs::TryLockError::Error(err)) => {
            Err(err).with_context(|| format!("cannot lock {}", path.display()))
        }
    }
}

/// `Start` or `Stop` of a team-level plugin; a failure is logged.
async fn run_process_hook(plugin: &Plugin, hook: &str) {
    if plugin.manifest().is_org_level() {
        return;
    }
    if let Err(err) = plugin.lifecycle(hook).await {
        tracing::warn!("{err}");
    }
}

/// Logs the warnings and notes of an installed manifest once (unknown keys
/// op ignores, ONES-owned sections it keeps without acting on them).
fn log_notices(app_id: &str, manifest: &crate::manifest::Manifest) {
    for notice in &manifest.notices {
        match notice.kind {
            crate::manifest::NoticeKind::Warning => {
                tracing::warn!(plugin = app_id, "config/plugin.yaml:{notice}");
            }
            crate::manifest::NoticeKind::Note => {
                tracing::info!(plugin = app_id, "config/plugin.yaml:{notice}");
            }
        }
    }
}
