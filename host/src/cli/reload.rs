//! Hot swap for `op invoke run`: when a project's `backend/` or
//! `config/plugin.yaml` changes, rebuild it, load the new version and serve
//! new calls with it; calls in flight finish on the old one. Anything that
//! fails (manifest, build, load, hook conflicts, the `Upgrade` hook) is
//! printed and the old version keeps serving.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;

use super::{lifecycle, load, table};
use crate::dev::project::Project;
use crate::dev::watch::Watcher;
use crate::gateway::{Gateway, PluginSet};
use crate::imports::Installation;
use crate::runtime::{Plugin, Runtime};

/// A project being served and where it is installed.
pub struct Served {
    /// The project.
    pub project: Project,
    /// Its installation, kept for every new version.
    pub installation: Installation,
    /// Its `service.app_id`, which a new version must keep.
    pub app_id: String,
}

/// What every watcher shares.
pub struct Reloader {
    /// The gateway whose plugin set is replaced.
    pub gateway: Gateway,
    /// The runtime new versions are loaded into.
    pub runtime: Runtime,
    /// The origin printed in route tables (`http://127.0.0.1:3001`).
    pub origin: String,
    /// One reload at a time: each builds a set from the one before.
    pub lock: tokio::sync::Mutex<()>,
    /// The timer tasks of the plugins served, restarted with each version.
    pub timers: Arc<crate::timers::Timers>,
}

/// Watches `served` for ever, swapping in each good new version.
pub async fn watch(reloader: Arc<Reloader>, served: Served) {
    let mut watcher = Watcher::new(served.project.dir());
    loop {
        let changed = watcher.changed().await;
        let _one_at_a_time = reloader.lock.lock().await;
        println!(
            "\n{} changed in {}; rebuilding",
            describe(&changed),
            served.project.dir().display()
        );
        let started = Instant::now();
        match reloader.reload(&served).await {
            Ok(()) => println!("reloaded in {:.1?}", started.elapsed()),
            Err(err) => {
                eprintln!("error: {err:#}");
                println!("the previous version keeps serving; waiting for the next change");
            }
        }
        // Saves made during the build are picked up by the next round;
        // files the build itself wrote are not watched.
    }
}

fn describe(changed: &[PathBuf]) -> String {
    match changed {
        [one] => one.display().to_string(),
        [first, rest @ ..] => format!("{} and {} more", first.display(), rest.len()),
        [] => "nothing".to_string(),
    }
}

impl Reloader {
    async fn reload(&self, served: &Served) -> anyhow::Result<()> {
        let manifest = served.project.manifest()?;
        if manifest.app_id() != served.app_id {
            anyhow::bail!(
                "service.app_id changed from `{}` to `{}`: that is another plugin; \
                 run `op invoke clear` and start again to install it",
                served.app_id,
                manifest.app_id()
            );
        }
        let plugin = load::load_project(
            &self.runtime,
            &served.project,
            None,
            served.installation.clone(),
        )
        .await?;
        let current = self.gateway.current();
        let old = current
            .plugins()
            .iter()
            .find(|p| p.app_id() == served.app_id)
            .cloned();
        let mut plugins: Vec<Arc<Plugin>> = current.plugins().to_vec();
        match &old {
            Some(_) => {
                for slot in plugins.iter_mut().filter(|p| p.app_id() == served.app_id) {
                    *slot = plugin.clone();
                }
            }
            None => plugins.push(plugin.clone()),
        }
        // Built (and so checked) before any hook runs, so that a refused
        // version leaves no trace; reloads are serialized, so it is still
        // the right set after the hooks.
        let set = PluginSet::new(plugins)
            .context("the new version cannot run beside the other plugins")?;
        match &old {
            Some(old) => {
                if plugin.manifest().version() > old.manifest().version() {
                    if plugin.lifecycle("Upgrade").await? {
                        println!("ran Upgrade");
                    }
                    lifecycle::mark_installed(&served.project, &plugin)?;
                }
            }
            // It did not start before (a failing lifecycle hook); it starts
            // now.
            None => lifecycle::start(&served.project, &plugin).await?,
        }
        self.gateway.replace(set);
        self.timers.follow(self.gateway.current().plugins());
        // Warnings and notes are said once: again only when they changed.
        if old
            .as_ref()
            .is_none_or(|old| old.manifest().notices != plugin.manifest().notices)
        {
            load::print_notices(plugin.manifest(), &served.project.manifest_shown());
        }
        let before = old.map_or_else(String::new, |old| {
            table::render(old.manifest(), &self.origin)
        });
        let after = table::render(plugin.manifest(), &self.origin);
        print!("{}", table::diff(&before, &after));
        for line in crate::timers::describe(&plugin) {
            println!("{line}");
        }
        Ok(())
    }
}
