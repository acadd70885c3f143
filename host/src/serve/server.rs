//! The `op serve` host: the plugin instances of the plugins directory,
//! served by one gateway, changed through the admin API and kept in step
//! with the other replicas that share the directory.
//!
//! Lifecycle hooks: `Install`, `Enable`, `Upgrade`, `Disable`, `UnInstall`
//! (and the `Org` variants) are events of the installation: the replica
//! that takes the admin call runs them, once. `Start` and `Stop` are events
//! of a process: each replica runs `Start` when it begins serving a version
//! of a team-level instance and `Stop` when it stops serving it (disable,
//! upgrade, uninstall, shutdown).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use super::config::ServeConfig;
use super::store::{InstanceRecord, State, Store, StoreError};
use crate::gateway::{ConflictError, Gateway, Metrics, PluginSet, Upstream};
use crate::imports::{Installation, OnesLink};
use crate::package::{self, Package, PackageError};
use crate::runtime::{Lifecycle, LifecycleError, Plugin, Runtime};

/// How often a replica looks for changes made by the others.
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
    /// The plugins directory could not be used (detail in the log).
    #[error("the plugins directory could not be updated")]
    Store(#[source] StoreError),
}

impl From<StoreError> for AdminError {
    fn from(err: StoreError) -> Self {
        tracing::error!("plugins directory: {err}");
        AdminError::Store(err)
    }
}

impl From<ConflictError> for AdminError {
    fn from(err: ConflictError) -> Self {
        AdminError::Conflict(err.to_string())
    }
}

/// What this process serves.
#[derive(Default)]
struct Loaded {
    generation: u64,
    /// Instance id → (content hash, plugin), for every installed instance.
    plugins: HashMap<String, (String, Arc<Plugin>)>,
    /// (instance id, content hash) of the versions being served.
    serving: HashSet<(String, String)>,
    /// Instances that could not be loaded, and why.
    problems: Vec<String>,
    /// Whether the first load finished.
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
    store: Store,
    metrics: Arc<Metrics>,
    /// One change at a time in this process; across processes, the store's
    /// lock.
    loaded: tokio::sync::Mutex<Loaded>,
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
    /// Opens the plugins directory and loads what is installed; must be
    /// called inside a tokio runtime.
    pub async fn start(config: ServeConfig) -> anyhow::Result<Server> {
        let store = Store::open(&config.plugins_dir)?;
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
                metrics,
                loaded: tokio::sync::Mutex::new(Loaded::default()),
            }),
        };
        let state = server.inner.store.read()?;
        {
            let mut loaded = server.inner.loaded.lock().await;
            server.reconcile(&mut loaded, &state, None).await;
            loaded.started = true;
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

    /// The installed instances, as the plugins directory says.
    pub fn state(&self) -> Result<State, StoreError> {
        self.inner.store.read()
    }

    /// The loaded plugin of an instance.
    pub async fn plugin(&self, instance_id: &str) -> Option<Arc<Plugin>> {
        let loaded = self.inner.loaded.lock().await;
        loaded.plugins.get(instance_id).map(|(_, p)| p.clone())
    }

    /// Why the host is not ready, if it is not: the first load is not done
    /// or some instance did not load.
    pub async fn not_ready(&self) -> Vec<String> {
        let loaded = self.inner.loaded.lock().await;
        if !loaded.started {
            return vec!["the installed plugins are still loading".into()];
        }
        loaded.problems.clone()
    }

    async fn follow_other_replicas(&self) {
        loop {
            tokio::time::sleep(POLL).await;
            // Read under the lock: a state read before a change made here
            // finished would undo that change.
            let mut loaded = self.inner.loaded.lock().await;
            let state = match self.inner.store.read() {
                Ok(state) => state,
                Err(err) => {
                    tracing::warn!("cannot read the plugins directory: {err}");
                    continue;
                }
            };
            if state.generation != loaded.generation {
                tracing::info!(
                    generation = state.generation,
                    "the plugins directory changed; reloading"
                );
                self.reconcile(&mut loaded, &state, None).await;
            }
        }
    }

    /// Serves exactly the enabled instances of `state`: loads what is new,
    /// runs `Start` for versions that begin serving, swaps the plugin set,
    /// runs `Stop` for versions that no longer serve (except
    /// `already_stopped`).
    async fn reconcile(&self, loaded: &mut Loaded, state: &State, already_stopped: Option<&str>) {
        let mut problems = Vec::new();
        let mut plugins = HashMap::new();
        for record in &state.instances {
            let reuse = loaded
                .plugins
                .get(&record.instance_id)
                .filter(|(hash, _)| *hash == record.content_hash)
                .map(|(_, plugin)| plugin.clone());
            let plugin = match reuse {
                Some(plugin) => plugin,
                None => match self.load_record(record).await {
                    Ok(plugin) => plugin,
                    Err(err) => {
                        problems.push(format!(
                            "plugin instance {} ({} {}) cannot be loaded: {err}",
                            record.instance_id, record.app_id, record.version
                        ));
                        continue;
                    }
                },
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
        loaded.generation = state.generation;
        loaded.plugins = plugins;
        loaded.serving = now_serving;
        loaded.problems = problems;
    }

    async fn load_record(&self, record: &InstanceRecord) -> Result<Arc<Plugin>, AdminError> {
        let bytes = self.inner.store.package(&record.content_hash)?;
        let shown = format!("package {}", record.content_hash);
        let package = package::read(&bytes, &shown)?;
        self.load(&package, &shown, record).await
    }

    async fn load(
        &self,
        package: &Package,
        shown: &str,
        record: &InstanceRecord,
    ) -> Result<Arc<Plugin>, AdminError> {
        let config = &self.inner.config;
        let workspace = self.inner.store.workspace_path(record);
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

    /// Takes the cross-replica lock and catches up with the directory.
    async fn begin_change<'a>(
        &'a self,
    ) -> Result<
        (
            tokio::sync::MutexGuard<'a, Loaded>,
            super::store::StoreLock,
            State,
        ),
        AdminError,
    > {
        let mut loaded = self.inner.loaded.lock().await;
        let store = self.inner.store.clone();
        let lock = tokio::task::spawn_blocking(move || store.lock())
            .await
            .map_err(|err| AdminError::Load(format!("the lock task failed: {err}")))??;
        let state = self.inner.store.read()?;
        if state.generation != loaded.generation {
            self.reconcile(&mut loaded, &state, None).await;
        }
        Ok((loaded, lock, state))
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
        let (mut loaded, _lock, mut state) = self.begin_change().await?;
        let org = package.manifest.is_org_level();
        let scope = if org { 2 } else { 1 };
        if let Some(existing) = state.by_app_id(&package.index.app_id).cloned() {
            return self
                .upgrade(&mut loaded, &mut state, existing, package, bytes, team)
                .await;
        }
        let team_uuid = match (org, team) {
            (false, None) => {
                return Err(AdminError::BadRequest(format!(
                    "{} is a team-level plugin: give the team to install it in (?team=TEAM_UUID)",
                    package.index.app_id
                )));
            }
            (true, Some(_)) => {
                return Err(AdminError::BadRequest(format!(
                    "{} is an organization-level plugin (scope 2): it is installed without ?team",
                    package.index.app_id
                )));
            }
            (false, Some(team)) => Some(team.to_string()),
            (true, None) => None,
        };
        let record = InstanceRecord {
            instance_id: crate::dev::random_hex()[..16].to_string(),
            app_id: package.index.app_id.clone(),
            name: package.index.name.clone(),
            version: package.index.version.clone(),
            scope,
            team_uuid,
            enabled: true,
            content_hash: package.index.content_hash.clone(),
            installed_at: now(),
            upgraded_at: None,
            workspace: Store::new_workspace_name(),
        };
        let outcome = async {
            // Nothing is written before the plugin has loaded.
            let plugin = self.load(&package, "the package", &record).await?;
            Self::candidate_set(&loaded, &state, &record.instance_id, Some(&plugin))?;
            self.inner
                .store
                .prepare_workspace(&record, None, &package)?;
            plugin.lifecycle(Lifecycle::Install.hook(org)).await?;
            plugin.lifecycle(Lifecycle::Enable.hook(org)).await?;
            self.inner.store.save_package(&record.content_hash, bytes)?;
            Ok::<_, AdminError>(plugin)
        }
        .await;
        let plugin = match outcome {
            Ok(plugin) => plugin,
            Err(err) => {
                self.inner.store.remove_instance(&record.instance_id);
                return Err(err);
            }
        };
        state.instances.push(record.clone());
        state.generation += 1;
        self.inner.store.write(&state)?;
        loaded.plugins.insert(
            record.instance_id.clone(),
            (record.content_hash.clone(), plugin),
        );
        self.reconcile(&mut loaded, &state, None).await;
        tracing::info!(
            plugin = record.app_id,
            instance = record.instance_id,
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

    async fn upgrade(
        &self,
        loaded: &mut Loaded,
        state: &mut State,
        existing: InstanceRecord,
        package: Package,
        bytes: &[u8],
        team: Option<&str>,
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
        if let Some(team) = team
            && existing.team_uuid.as_deref() != Some(team)
        {
            return Err(AdminError::Conflict(format!(
                "{} is installed in team {}, not {team}; one instance per plugin",
                existing.app_id,
                existing.team_uuid.as_deref().unwrap_or("(organization)")
            )));
        }
        let mut record = existing.clone();
        record.version = package.index.version.clone();
        record.name = package.index.name.clone();
        record.content_hash = package.index.content_hash.clone();
        record.upgraded_at = Some(now());
        record.workspace = Store::new_workspace_name();
        // Nothing is written before the plugin has loaded; the new version
        // gets a fresh workspace, switched to by writing the state.
        let plugin = self.load(&package, "the package", &record).await?;
        if record.enabled {
            Self::candidate_set(loaded, state, &record.instance_id, Some(&plugin))?;
        }
        let switched = async {
            self.inner
                .store
                .prepare_workspace(&record, Some(&existing.workspace), &package)?;
            plugin.lifecycle("Upgrade").await?;
            self.inner.store.save_package(&record.content_hash, bytes)?;
            let mut next = state.clone();
            for slot in next
                .instances
                .iter_mut()
                .filter(|r| r.instance_id == record.instance_id)
            {
                *slot = record.clone();
            }
            next.generation += 1;
            self.inner.store.write(&next)?;
            Ok::<_, AdminError>(next)
        }
        .await;
        *state = match switched {
            Ok(next) => next,
            Err(err) => {
                self.inner
                    .store
                    .remove_workspace(&record.instance_id, &record.workspace);
                return Err(err);
            }
        };
        // The old version answers until the swap, then gets its `Stop`.
        let old = loaded
            .plugins
            .insert(
                record.instance_id.clone(),
                (record.content_hash.clone(), plugin),
            )
            .map(|(_, p)| p);
        let was_serving = loaded
            .serving
            .remove(&(existing.instance_id.clone(), existing.content_hash.clone()));
        self.reconcile(loaded, state, None).await;
        if let (true, Some(old)) = (was_serving, old) {
            run_process_hook(&old, "Stop").await;
        }
        self.drop_package_if_unused(state, &existing.content_hash);
        self.inner
            .store
            .remove_workspace(&record.instance_id, &existing.workspace);
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
        let (mut loaded, _lock, mut state) = self.begin_change().await?;
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
        let mut enabled_state = state.clone();
        for r in enabled_state
            .instances
            .iter_mut()
            .filter(|r| r.instance_id == instance_id)
        {
            r.enabled = true;
        }
        Self::candidate_set(&loaded, &enabled_state, instance_id, Some(&plugin))?;
        plugin
            .lifecycle(Lifecycle::Enable.hook(record.scope == 2))
            .await?;
        state = enabled_state;
        state.generation += 1;
        self.inner.store.write(&state)?;
        self.reconcile(&mut loaded, &state, None).await;
        Ok(state.instance(instance_id).cloned().unwrap_or(record))
    }

    /// Disables an instance: `Stop`, `Disable` (`OrgDisable`); it no
    /// longer serves.
    pub async fn disable(&self, instance_id: &str) -> Result<InstanceRecord, AdminError> {
        let (mut loaded, _lock, mut state) = self.begin_change().await?;
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
        self.inner.store.write(&state)?;
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
        let (mut loaded, _lock, mut state) = self.begin_change().await?;
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
        self.inner.store.write(&state)?;
        self.reconcile(&mut loaded, &state, Some(instance_id)).await;
        self.inner.store.remove_instance(instance_id);
        self.drop_package_if_unused(&state, &record.content_hash);
        crate::imports::log::forget(&record.app_id);
        tracing::info!(
            plugin = record.app_id,
            instance = instance_id,
            "uninstalled"
        );
        Ok((record, warnings))
    }

    /// Removes a kept package that no instance of `state` uses any more.
    fn drop_package_if_unused(&self, state: &State, content_hash: &str) {
        if !state
            .instances
            .iter()
            .any(|r| r.content_hash == content_hash)
        {
            self.inner.store.remove_package(content_hash);
        }
    }

    /// Runs `Stop` for every team-level instance this process serves (at
    /// shutdown, after the calls in flight).
    pub async fn stop_all(&self) {
        let loaded = self.inner.loaded.lock().await;
        for (id, hash) in &loaded.serving {
            if let Some((h, plugin)) = loaded.plugins.get(id)
                && h == hash
            {
                run_process_hook(plugin, "Stop").await;
            }
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
