//! The admin changes: install, upgrade, enable, disable, uninstall. Each
//! takes this process's work lock and the store's change lock, checks,
//! runs the lifecycle hooks, commits, and reloads.

use std::sync::Arc;

use super::{AdminError, Installed, Loaded, Server, log_notices, now, run_process_hook};
use crate::gateway::PluginSet;
use crate::package::{self, Package};
use crate::runtime::{Lifecycle, Plugin};
use crate::serve::store::{Change, InstanceRecord, State};
use crate::serve::workspaces::Workspaces;

impl Server {
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

    /// Ends a change that adds a package: keeps it, then commits `next`.
    async fn commit_with_package(
        &self,
        mut change: Box<dyn Change>,
        content_hash: &str,
        bytes: &[u8],
        next: &State,
    ) -> Result<(), AdminError> {
        change
            .put_package(content_hash, bytes)
            .await
            .map_err(|err| self.admin_error(err))?;
        self.commit(change, next).await
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
        let (mut loaded, change) = self.begin_change().await?;
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
            instance_id: crate::ids::random_hex()[..16].to_string(),
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
        let hooks = [Lifecycle::Install.hook(org), Lifecycle::Enable.hook(org)];
        self.switch_to(
            &mut loaded,
            change,
            &record,
            None,
            &package,
            bytes,
            &state,
            &hooks,
        )
        .await?;
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

    /// Makes `record` (a new instance, or a new version of one over the
    /// files of its `previous` workspace) what serves: unpacks its
    /// workspace into a fresh folder, loads it, checks it against the other
    /// plugins, runs `hooks`, keeps the package and commits `next`; then
    /// reloads. Nothing is committed before all of that succeeded, and a
    /// failure removes the folder it made.
    #[allow(clippy::too_many_arguments)]
    async fn switch_to(
        &self,
        loaded: &mut Loaded,
        change: Box<dyn Change>,
        record: &InstanceRecord,
        previous: Option<&str>,
        package: &Package,
        bytes: &[u8],
        next: &State,
        hooks: &[&str],
    ) -> Result<(), AdminError> {
        let switched = async {
            self.inner.workspaces.prepare(record, previous, package)?;
            let plugin = self.load(package, "the package", record).await?;
            // Entity storage first: a change its records refuse stops the
            // switch before anything else happened.
            if let Some(storage) = &plugin.instance().storage {
                storage
                    .prepare()
                    .await
                    .map_err(|err| AdminError::Conflict(err.to_string()))?;
            }
            if record.enabled {
                Self::candidate_set(loaded, next, &record.instance_id, Some(&plugin))?;
            }
            for hook in hooks {
                plugin.lifecycle(hook).await?;
            }
            self.commit_with_package(change, &record.content_hash, bytes, next)
                .await?;
            Ok::<_, AdminError>(plugin)
        }
        .await;
        let plugin = match switched {
            Ok(plugin) => plugin,
            Err(err) => {
                match previous {
                    None => self.inner.workspaces.remove_instance(&record.instance_id),
                    Some(_) => self
                        .inner
                        .workspaces
                        .remove(&record.instance_id, &record.workspace),
                }
                return Err(err);
            }
        };
        loaded.fresh.insert(
            (record.instance_id.clone(), record.content_hash.clone()),
            plugin,
        );
        self.reconcile(loaded, next, None).await;
        Ok(())
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
        change: Box<dyn Change>,
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
        if let Some(slot) = next.instance_mut(&record.instance_id) {
            *slot = record.clone();
        }
        next.generation += 1;
        // The old version answers until the swap, then gets its `Stop`;
        // its folder goes after that.
        let previous = Some(existing.workspace.as_str());
        self.switch_to(
            loaded,
            change,
            &record,
            previous,
            &package,
            bytes,
            &next,
            &["Upgrade"],
        )
        .await?;
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
        if let Some(r) = state.instance_mut(instance_id) {
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

    /// After `Stop` ran for a change that then failed (`why`): the
    /// instance goes on serving, so it gets its `Start` again. Its other
    /// hooks (`Disable`, `UnInstall`) cannot be taken back; the log says
    /// they ran.
    async fn serve_on(plugin: &Plugin, record: &InstanceRecord, why: &str) {
        tracing::warn!(
            plugin = record.app_id,
            instance = record.instance_id,
            "{why}: the instance is not changed and keeps serving; the hooks that ran for the \
             change are not undone"
        );
        if record.enabled && record.scope == 1 {
            run_process_hook(plugin, "Start").await;
        }
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
        let plugin = loaded.plugins.get(instance_id).map(|(_, p)| p.clone());
        if let Some(plugin) = &plugin {
            if record.scope == 1 {
                run_process_hook(plugin, "Stop").await;
            }
            if let Err(err) = plugin
                .lifecycle(Lifecycle::Disable.hook(record.scope == 2))
                .await
            {
                Self::serve_on(plugin.as_ref(), &record, "its Disable hook failed").await;
                return Err(err.into());
            }
        }
        if let Some(r) = state.instance_mut(instance_id) {
            r.enabled = false;
        }
        state.generation += 1;
        if let Err(err) = self.commit(change, &state).await {
            if let Some(plugin) = &plugin {
                Self::serve_on(plugin.as_ref(), &record, "the store refused the change").await;
            }
            return Err(err);
        }
        self.reconcile(&mut loaded, &state, Some(instance_id)).await;
        Ok(state.instance(instance_id).cloned().unwrap_or(record))
    }

    /// Uninstalls an instance: `Stop`, `Disable`, `UnInstall` (or the
    /// `Org` variants), then its files and its entity storage go. A failing hook does not stop the
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
        if let Err(err) = self.commit(change, &state).await {
            if let Some((_, plugin)) = loaded.plugins.get(instance_id) {
                Self::serve_on(plugin.as_ref(), &record, "the store refused the change").await;
            }
            return Err(err);
        }
        // The instance's files go with the reload; its entity storage now.
        self.reconcile(&mut loaded, &state, Some(instance_id)).await;
        if let Err(err) = self.inner.records.clear(instance_id).await {
            tracing::warn!(instance = instance_id, "{err}");
            warnings.push(format!("its entity storage could not be deleted: {err}"));
        }
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
}
