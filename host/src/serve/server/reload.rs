//! Keeping this process in step with the store: following the changes
//! other replicas commit, loading what is new, swapping the plugin set and
//! publishing what readers see.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use super::{AdminError, Loaded, Server, View, run_process_hook};
use crate::gateway::PluginSet;
use crate::imports::{Installation, OnesLink};
use crate::package::{self, Package};
use crate::runtime::Plugin;
use crate::serve::store::{InstanceRecord, State};

/// How often instances that could not be loaded are tried again.
const LOAD_RETRY: std::time::Duration = std::time::Duration::from_secs(10);

impl Server {
    pub(super) async fn follow_other_replicas(&self) {
        let mut failing = false;
        let mut last_retry = std::time::Instant::now();
        loop {
            self.inner.store.changed().await;
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
            // An instance that could not be loaded (a package fetch that
            // failed, say) is tried again now and then, not only at the
            // next change.
            let retry = !loaded.failed.is_empty() && last_retry.elapsed() >= LOAD_RETRY;
            if state.generation != loaded.generation || retry {
                last_retry = std::time::Instant::now();
                let started = std::time::Instant::now();
                self.reconcile(&mut loaded, &state, None).await;
                tracing::info!(
                    generation = state.generation,
                    took_ms = started.elapsed().as_secs_f64() * 1e3,
                    "the plugin store changed; reloaded"
                );
            }
        }
    }

    /// Serves exactly the enabled instances of `state`: loads what is new,
    /// runs `Start` for versions that begin serving, swaps the plugin set,
    /// runs `Stop` for versions that no longer serve (except
    /// `already_stopped`), then removes the workspaces no record names any
    /// more.
    pub(super) async fn reconcile(
        &self,
        loaded: &mut Loaded,
        state: &State,
        already_stopped: Option<&str>,
    ) {
        let mut problems = Vec::new();
        let mut failed = HashSet::new();
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
                            failed.insert(record.instance_id.clone());
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
        self.inner
            .timers
            .follow(self.inner.gateway.current().plugins());
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
        // The versions that no longer serve have stopped: their folders go,
        // except those of instances whose new version did not load (the
        // next try unpacks it over them).
        for (id, old) in &loaded.records {
            if failed.contains(id) {
                continue;
            }
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
        let mut records: HashMap<String, InstanceRecord> = state
            .instances
            .iter()
            .filter(|r| !failed.contains(&r.instance_id))
            .map(|r| (r.instance_id.clone(), r.clone()))
            .collect();
        // A failed instance keeps the record of the folder it has.
        for id in &failed {
            if let Some(old) = loaded.records.get(id) {
                records.insert(id.clone(), old.clone());
            }
        }
        loaded.records = records;
        loaded.serving = now_serving;
        loaded.problems = problems;
        loaded.failed = failed;
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
        let started = std::time::Instant::now();
        let bytes = self
            .inner
            .store
            .package(&record.content_hash)
            .await
            .map_err(|err| self.admin_error(err))?;
        let fetched = started.elapsed();
        let shown = format!("package {}", record.content_hash);
        let package = package::read(&bytes, &shown)?;
        let read = started.elapsed();
        if !self.inner.workspaces.exists(record) {
            // The plugin's files come from the folder of the version this
            // replica served last; after a restart that missed upgrades, it
            // is the one folder the instance still has here.
            let on_disk = self.inner.workspaces.folders(&record.instance_id);
            let previous = previous
                .map(|p| p.workspace.clone())
                .filter(|p| *p != record.workspace && on_disk.contains(p))
                .or_else(|| match on_disk.as_slice() {
                    [only] if *only != record.workspace => Some(only.clone()),
                    _ => None,
                });
            self.inner
                .workspaces
                .prepare(record, previous.as_deref(), &package)?;
        }
        let unpacked = started.elapsed();
        let plugin = self.load(&package, &shown, record).await?;
        tracing::debug!(
            instance = record.instance_id,
            version = record.version,
            fetched_ms = fetched.as_secs_f64() * 1e3,
            read_ms = (read - fetched).as_secs_f64() * 1e3,
            unpacked_ms = (unpacked - read).as_secs_f64() * 1e3,
            loaded_ms = (started.elapsed() - unpacked).as_secs_f64() * 1e3,
            "loaded a version from the store"
        );
        Ok(plugin)
    }

    pub(super) async fn load(
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
            records: Some(self.inner.records.clone()),
        };
        let plugin = package
            .load_plugin(&self.inner.runtime, shown, installation)
            .await
            .map_err(|err| AdminError::Load(package::one_line(&err.to_string())))?;
        Ok(Arc::new(plugin))
    }
}
