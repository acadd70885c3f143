//! The `op serve` host: the plugin instances of the store, served by one
//! gateway, changed through the admin API and kept in step with the other
//! replicas that share the store.
//!
//! Two locks, held briefly: admin changes and reloads of this process take
//! `work` in turn (and a change also takes the store's lock, for every
//! replica); what requests and `/readyz` read is a published [`View`] that
//! no hook or load ever holds.
//!
//! Lifecycle hooks: `Install`, `Enable`, `Upgrade`, `Disable`, `UnInstall`
//! (and the `Org` variants) are events of the installation: the replica
//! that takes the admin call runs them, once. `Start` and `Stop` are events
//! of a process: each replica runs `Start` when it begins serving a version
//! of a team-level instance and `Stop` when it stops serving it (disable,
//! upgrade, uninstall, shutdown).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use super::config::ServeConfig;
use super::store::{Change, InstanceRecord, State, StateStore, StoreError};
use super::workspaces::Workspaces;
use crate::gateway::{ConflictError, Gateway, Metrics, PluginSet, Upstream};
use crate::imports::{Installation, OnesLink};
use crate::package::{self, Package, PackageError};
use crate::runtime::{Lifecycle, LifecycleError, Plugin, Runtime};

/// How often a replica of the directory store looks for changes made by
/// the others (the PostgreSQL store pushes them).
pub const POLL: Duration = Duration::from_secs(1);

/// Why an admin change was refused or failed. Nothing was changed.
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
        let server = Server {
            inner: Arc::new(Inner {
                config,
                runtime,
                gateway,
                store,
                workspaces,
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

    async fn follow_other_replicas(&self) {
        let mut failing = false;
        loop {
            self.inner.store.changed(POLL * 5).await;
            // Read under the lock: a state read before a change made here
            // finished would undo that change.
            let mut loaded = self.inner.work.lock().await;
            let state = match self.inner.store.read().await {
                Ok(state) => state,
                Err(err) => {
                    if !failing {
                        tracing::warn!("cannot read the plugin store: {err}");
                    }
                    failing = true;
                    continue;
                }
            };
            failing = false;
            if state.generation != loaded.generation {
                tracing::info!(
                    generation = state.generation,
                    "the plugin store changed; reloading"
                );
                self.reconcile(&mut loaded, &state, None).await;
            }
        }
    }

    /// Serves exactly the enabled instances of `state`: loads what is new,
    /// runs `Start` for versions that begin serving, swaps the plugin set,
    /// runs `Stop` for versions that no longer serve (except
    /// `already_stopped`), then removes the workspaces no record names any
    /// more.
    async fn reconcile(&self, loaded: &mut Loaded, state: &State, already_stopped: Option<&str>) {
        let mut problems = Vec::new();
        let mut plugins = HashMap::new();
        let mut fresh = std::mem::take(&mut loaded.fresh);
        for record in &state.instances {
            let key = (record.instance_id.clone(), record.content_hash.clone());
            let reuse = loaded
                .plugins
                .get(&record.instance_id)
                .filter(|(hash, _)| *hash == record.content_hash)
                .map(|(_, plugin)| plugin.clone())
                .or_else(|| fresh.remove(&key));
            let plugin = match reuse {
                Some(plugin) => plugin,
                None => {
                    let previous = loaded.records.get(&record.instance_id);
                    match self.load_record(record, previous).await {
                        Ok(plugin) => plugin,
                        Err(err) => {
                            problems.push(format!(
                                "plugin instance {} ({} {}) cannot be loaded: {err}",
                                record.instance_id, record.app_id, record.version
                            ));
                            continue;
                        }
                    }
                }
            };
            plugins.insert(
                record.instance_id.clone(),
                (record.content_hash.clone(), plugin),
            );
        }
        let serving: Vec<(&InstanceRecord, Arc<Plugin>)> = state
            .instances
            .iter()
            .filter(|r| r.enabled)
            .filter_map(|r| plugins.get(&r.instance_id).map(|(_, p)| (r, p.clone())))
            .collect();
        let set = match PluginSet::new(serving.iter().map(|(_, p)| p.clone()).collect()) {
            Ok(set) => set,
            Err(err) => {
                problems.push(format!(
                    "the installed plugins cannot run together ({err}); the previous set keeps serving"
                ));
                loaded.problems = problems;
                self.publish(loaded);
                return;
            }
        };
        let now_serving: HashSet<(String, String)> = serving
            .iter()
            .map(|(r, _)| (r.instance_id.clone(), r.content_hash.clone()))
            .collect();
        for (record, plugin) in &serving {
            let key = (record.instance_id.clone(), record.content_hash.clone());
            if !loaded.serving.contains(&key) {
                run_process_hook(plugin, "Start").await;
            }
        }
        self.inner.gateway.replace(set);
        for (id, hash) in loaded.serving.difference(&now_serving) {
            if Some(id.as_str()) == already_stopped {
                continue;
            }
            let old = loaded
                .plugins
                .get(id)
                .filter(|(h, _)| h == hash)
                .map(|(_, p)| p.clone());
            if let Some(plugin) = old {
                run_process_hook(&plugin, "Stop").await;
            }
        }
        // The versions that no longer serve have stopped: their folders go.
        for (id, old) in &loaded.records {
            match state.instance(id) {
                None => self.inner.workspaces.remove_instance(id),
                Some(now) if now.workspace != old.workspace => {
                    self.inner.workspaces.remove(id, &old.workspace)
                }
                Some(_) => {}
            }
        }
        loaded.generation = state.generation;
        loaded.plugins = plugins;
        loaded.records = state
            .instances
            .iter()
            .map(|r| (r.instance_id.clone(), r.clone()))
            .collect();
        loaded.serving = now_serving;
        loaded.problems = problems;
        self.publish(loaded);
    }

    /// Makes what `loaded` holds what readers see.
    fn publish(&self, loaded: &Loaded) {
        let view = View {
            generation: loaded.generation,
            plugins: loaded
                .plugins
                .iter()
                .map(|(id, (_, plugin))| (id.clone(), plugin.clone()))
                .collect(),
            problems: loaded.problems.clone(),
            started: true,
        };
        *self.inner.view.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(view);
    }

    /// Loads an instance's version from its kept package; the workspace is
    /// unpacked first if this replica does not have it (the replicas of a
    /// database store each keep their own), over a copy of the `previous`
    /// version's files.
    async fn load_record(
        &self,
        record: &InstanceRecord,
        previous: Option<&InstanceRecord>,
    ) -> Result<Arc<Plugin>, AdminError> {
        let bytes = self
            .inner
            .store
            .package(&record.content_hash)
            .await
            .map_err(|err| self.admin_error(err))?;
        let shown = format!("package {}", record.content_hash);
        let package = package::read(&bytes, &shown)?;
        if !self.inner.workspaces.exists(record) {
            let previous = previous
                .map(|p| p.workspace.as_str())
                .filter(|p| *p != record.workspace);
            self.inner.workspaces.prepare(record, previous, &package)?;
        }
        self.load(&package, &shown, record).await
    }

    async fn load(
        &self,
        package: &Package,
        shown: &str,
        record: &InstanceRecord,
    ) -> Result<Arc<Plugin>, AdminError> {
        let config = &self.inner.config;
        let workspace = self.inner.workspaces.path(record);
        let installation = Installation {
            instance_id: record.instance_id.clone(),
            team_uuid: record.team_uuid.clone(),
            organization_uuid: config.organization_uuid.clone(),
            config: Vec::new(),
            ones: Some(OnesLink {
                base_url: config.ones_url.clone(),
                super_admins: config
                    .credentials
                    .for_instance(&record.app_id, &record.instance_id),
            }),
            workspace: Some(workspace),
        };
        let plugin = package
            .load_plugin(&self.inner.runtime, shown, installation)
            .await
            .map_err(|err| AdminError::Load(package::one_line(&err.to_string())))?;
        Ok(Arc::new(plugin))
    }

    /// Takes this process's work lock and the store's change lock, and
    /// catches up with the store.
    async fn begin_change(
        &self,
    ) -> Result<(tokio::sync::MutexGuard<'_, Loaded>, Box<dyn Change>), AdminError> {
        let mut loaded = self.inner.work.lock().await;
        let change = self
            .inner
            .store
            .begin()
            .await
            .map_err(|err| self.admin_error(err))?;
        if change.state().generation != loaded.generation {
            self.reconcile(&mut loaded, change.state(), None).await;
        }
        Ok((loaded, change))
    }

    /// Ends a change: commits `next` (its generation one more than the
    /// change began with).
    async fn commit(&self, change: Box<dyn Change>, next: &State) -> Result<(), AdminError> {
        change
            .commit(next)
            .await
            .map_err(|err| self.admin_error(err))
    }

    fn candidate_set(
        loaded: &Loaded,
        state: &State,
        replace: &str,
        with: Option<&Arc<Plugin>>,
    ) -> Result<(), AdminError> {
        let mut plugins = Vec::new();
        let mut placed = false;
        for record in state.instances.iter().filter(|r| r.enabled) {
            if record.instance_id == replace {
                plugins.extend(with.cloned());
                placed = true;
            } else if let Some((_, plugin)) = loaded.plugins.get(&record.instance_id) {
                plugins.push(plugin.clone());
            }
        }
        if !placed {
            plugins.extend(with.cloned());
        }
        PluginSet::new(plugins)?;
        Ok(())
    }

    /// Installs a package, or upgrades the instance of its app_id. `team`
    /// is required for a team-level plugin's first install.
    pub async fn install(&self, bytes: &[u8], team: Option<&str>) -> Result<Installed, AdminError> {
        let package = package::read(bytes, "the package")?;
        let (mut loaded, mut change) = self.begin_change().await?;
        let mut state = change.state().clone();
        let org = package.manifest.is_org_level();
        let scope = if org { 2 } else { 1 };
        let app_id = package.index.app_id.clone();
        if let Some(existing) = self.existing(&state, &app_id, team)? {
            return self
                .upgrade(&mut loaded, change, &state, existing, package, bytes)
                .await;
        }
        let team_uuid = match (org, team) {
            (false, None) => {
                return Err(AdminError::BadRequest(format!(
                    "{app_id} is a team-level plugin: give the team to install it in (?team=TEAM_UUID)"
                )));
            }
            (true, Some(_)) => {
                return Err(AdminError::BadRequest(format!(
                    "{app_id} is an organization-level plugin (scope 2): it is installed without ?team"
                )));
            }
            (false, Some(team)) => Some(team.to_string()),
            (true, None) => None,
        };
        let record = InstanceRecord {
            instance_id: crate::dev::random_hex()[..16].to_string(),
            app_id,
            name: package.index.name.clone(),
            version: package.index.version.clone(),
            scope,
            team_uuid,
            enabled: true,
            content_hash: package.index.content_hash.clone(),
            installed_at: now(),
            upgraded_at: None,
            workspace: Workspaces::new_name(),
        };
        state.instances.push(record.clone());
        state.generation += 1;
        let outcome = async {
            // Nothing is committed before the plugin has loaded and its
            // hooks have run.
            self.inner.workspaces.prepare(&record, None, &package)?;
            let plugin = self.load(&package, "the package", &record).await?;
            Self::candidate_set(&loaded, &state, &record.instance_id, Some(&plugin))?;
            plugin.lifecycle(Lifecycle::Install.hook(org)).await?;
            plugin.lifecycle(Lifecycle::Enable.hook(org)).await?;
            change
                .put_package(&record.content_hash, bytes)
                .await
                .map_err(|err| self.admin_error(err))?;
            self.commit(change, &state).await?;
            Ok::<_, AdminError>(plugin)
        }
        .await;
        let plugin = match outcome {
            Ok(plugin) => plugin,
            Err(err) => {
                self.inner.workspaces.remove_instance(&record.instance_id);
                return Err(err);
            }
        };
        loaded.fresh.insert(
            (record.instance_id.clone(), record.content_hash.clone()),
            plugin,
        );
        self.reconcile(&mut loaded, &state, None).await;
        tracing::info!(
            plugin = record.app_id,
            instance = record.instance_id,
            team = record.team_uuid.as_deref().unwrap_or("(organization)"),
            version = record.version,
            "installed"
        );
        log_notices(&record.app_id, &package.manifest);
        Ok(Installed {
            action: "installed",
            from: None,
            instance: record,
        })
    }

    /// The instance an install of `app_id` (into `team`) upgrades, if any.
    fn existing(
        &self,
        state: &State,
        app_id: &str,
        team: Option<&str>,
    ) -> Result<Option<InstanceRecord>, AdminError> {
        let installed: Vec<&InstanceRecord> = state.by_app_id(app_id).collect();
        match (team, installed.as_slice()) {
            (_, []) => Ok(None),
            (None, [only]) => Ok(Some((*only).clone())),
            (None, several) => Err(AdminError::BadRequest(format!(
                "{app_id} is installed in {} teams ({}): give the team to upgrade (?team=TEAM_UUID)",
                several.len(),
                several
                    .iter()
                    .map(|r| r.team_uuid.as_deref().unwrap_or("(organization)"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
            (Some(team), installed) => {
                if let Some(record) = installed
                    .iter()
                    .find(|r| r.team_uuid.as_deref() == Some(team))
                {
                    return Ok(Some((*record).clone()));
                }
                if installed.iter().any(|r| r.scope == 2) {
                    return Err(AdminError::BadRequest(format!(
                        "{app_id} is installed as an organization-level plugin: upgrade it without ?team"
                    )));
                }
                Ok(None)
            }
        }
    }

    async fn upgrade(
        &self,
        loaded: &mut Loaded,
        mut change: Box<dyn Change>,
        state: &State,
        existing: InstanceRecord,
        package: Package,
        bytes: &[u8],
    ) -> Result<Installed, AdminError> {
        let new_version = crate::manifest::parse_version(&package.index.version);
        let old_version = crate::manifest::parse_version(&existing.version);
        if new_version <= old_version {
            return Err(AdminError::Conflict(format!(
                "{} {} is installed; an upgrade needs a higher version than {}",
                existing.app_id, existing.version, package.index.version
            )));
        }
        let scope = if package.manifest.is_org_level() {
            2
        } else {
            1
        };
        if scope != existing.scope {
            return Err(AdminError::Conflict(format!(
                "{} is installed with scope {}; the new version has scope {scope}: \
                 uninstall it first to change its scope",
                existing.app_id, existing.scope
            )));
        }
        let mut record = existing.clone();
        record.version = package.index.version.clone();
        record.name = package.index.name.clone();
        record.content_hash = package.index.content_hash.clone();
        record.upgraded_at = Some(now());
        record.workspace = Workspaces::new_name();
        let mut next = state.clone();
        for slot in next
            .instances
            .iter_mut()
            .filter(|r| r.instance_id == record.instance_id)
        {
            *slot = record.clone();
        }
        next.generation += 1;
        // Nothing is committed before the new version has loaded and its
        // hook has run; it gets a fresh workspace, switched to by the
        // commit.
        let switched = async {
            self.inner
                .workspaces
                .prepare(&record, Some(&existing.workspace), &package)?;
            let plugin = self.load(&package, "the package", &record).await?;
            if record.enabled {
                Self::candidate_set(loaded, state, &record.instance_id, Some(&plugin))?;
            }
            plugin.lifecycle("Upgrade").await?;
            change
                .put_package(&record.content_hash, bytes)
                .await
                .map_err(|err| self.admin_error(err))?;
            self.commit(change, &next).await?;
            Ok::<_, AdminError>(plugin)
        }
        .await;
        let plugin = match switched {
            Ok(plugin) => plugin,
            Err(err) => {
                self.inner
                    .workspaces
                    .remove(&record.instance_id, &record.workspace);
                return Err(err);
            }
        };
        // The old version answers until the swap, then gets its `Stop`;
        // its folder goes after that.
        loaded.fresh.insert(
            (record.instance_id.clone(), record.content_hash.clone()),
            plugin,
        );
        self.reconcile(loaded, &next, None).await;
        tracing::info!(
            plugin = record.app_id,
            from = existing.version,
            to = record.version,
            "upgraded"
        );
        log_notices(&record.app_id, &package.manifest);
        Ok(Installed {
            action: "upgraded",
            from: Some(existing.version),
            instance: record,
        })
    }

    /// Enables an instance: `Enable` (`OrgEnable`), then it serves.
    pub async fn enable(&self, instance_id: &str) -> Result<InstanceRecord, AdminError> {
        let (mut loaded, change) = self.begin_change().await?;
        let mut state = change.state().clone();
        let record = state
            .instance(instance_id)
            .cloned()
            .ok_or_else(|| AdminError::NotFound(instance_id.to_string()))?;
        if record.enabled {
            return Ok(record);
        }
        let plugin = loaded
            .plugins
            .get(instance_id)
            .map(|(_, p)| p.clone())
            .ok_or_else(|| AdminError::Load(format!("instance {instance_id} is not loaded")))?;
        for r in state
            .instances
            .iter_mut()
            .filter(|r| r.instance_id == instance_id)
        {
            r.enabled = true;
        }
        Self::candidate_set(&loaded, &state, instance_id, Some(&plugin))?;
        plugin
            .lifecycle(Lifecycle::Enable.hook(record.scope == 2))
            .await?;
        state.generation += 1;
        self.commit(change, &state).await?;
        self.reconcile(&mut loaded, &state, None).await;
        Ok(state.instance(instance_id).cloned().unwrap_or(record))
    }

    /// Disables an instance: `Stop`, `Disable` (`OrgDisable`); it no
    /// longer serves.
    pub async fn disable(&self, instance_id: &str) -> Result<InstanceRecord, AdminError> {
        let (mut loaded, change) = self.begin_change().await?;
        let mut state = change.state().clone();
        let record = state
            .instance(instance_id)
            .cloned()
            .ok_or_else(|| AdminError::NotFound(instance_id.to_string()))?;
        if !record.enabled {
            return Ok(record);
        }
        if let Some((_, plugin)) = loaded.plugins.get(instance_id).cloned() {
            if record.scope == 1 {
                run_process_hook(&plugin, "Stop").await;
            }
            plugin
                .lifecycle(Lifecycle::Disable.hook(record.scope == 2))
                .await?;
        }
        for r in state
            .instances
            .iter_mut()
            .filter(|r| r.instance_id == instance_id)
        {
            r.enabled = false;
        }
        state.generation += 1;
        self.commit(change, &state).await?;
        self.reconcile(&mut loaded, &state, Some(instance_id)).await;
        Ok(state.instance(instance_id).cloned().unwrap_or(record))
    }

    /// Uninstalls an instance: `Stop`, `Disable`, `UnInstall` (or the
    /// `Org` variants), then its files go. A failing hook does not stop the
    /// removal; its error is returned in the list.
    pub async fn uninstall(
        &self,
        instance_id: &str,
    ) -> Result<(InstanceRecord, Vec<String>), AdminError> {
        let (mut loaded, change) = self.begin_change().await?;
        let mut state = change.state().clone();
        let record = state
            .instance(instance_id)
            .cloned()
            .ok_or_else(|| AdminError::NotFound(instance_id.to_string()))?;
        let mut warnings = Vec::new();
        if let Some((_, plugin)) = loaded.plugins.get(instance_id).cloned() {
            let org = record.scope == 2;
            if record.enabled && !org {
                run_process_hook(&plugin, "Stop").await;
            }
            let mut hooks = Vec::new();
            if record.enabled {
                hooks.push(Lifecycle::Disable.hook(org));
            }
            hooks.push(Lifecycle::UnInstall.hook(org));
            for hook in hooks {
                if let Err(err) = plugin.lifecycle(hook).await {
                    tracing::warn!("{err}");
                    warnings.push(err.to_string());
                }
            }
        }
        state.instances.retain(|r| r.instance_id != instance_id);
        state.generation += 1;
        self.commit(change, &state).await?;
        // The instance's files go with the reload.
        self.reconcile(&mut loaded, &state, Some(instance_id)).await;
        if state.by_app_id(&record.app_id).next().is_none() {
            crate::imports::log::forget(&record.app_id);
        }
        tracing::info!(
            plugin = record.app_id,
            instance = instance_id,
            "uninstalled"
        );
        Ok((record, warnings))
    }

    /// Runs `Stop` for every team-level instance this process serves (at
    /// shutdown, after the calls in flight).
    pub async fn stop_all(&self) {
        let loaded = self.inner.work.lock().await;
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
