//! The installation lifecycle of a project under `op invoke run`: the
//! hooks of a plugin that starts, and `.op/installed`, which remembers
//! that (and which version) the project is installed.

use anyhow::Context;

use crate::dev::project::Project;
use crate::runtime::{Lifecycle, Plugin};

/// Runs the lifecycle hooks of a starting plugin: `Install` and `Enable`
/// the first time (remembered in `.op/installed`), then `Start`; for an
/// organization-level plugin `OrgInstall` and `OrgEnable`. A failing hook
/// stops the plugin from loading.
pub(super) async fn start(project: &Project, plugin: &Plugin) -> anyhow::Result<()> {
    let marker = project.state_dir().join("installed");
    let org = plugin.manifest().is_org_level();
    if !marker.exists() {
        plugin.lifecycle(Lifecycle::Install.hook(org)).await?;
        plugin.lifecycle(Lifecycle::Enable.hook(org)).await?;
        mark_installed(project, plugin)?;
    }
    if !org {
        plugin.lifecycle("Start").await?;
    }
    Ok(())
}

/// Remembers in `.op/installed` that the project is installed, and which
/// version.
pub(super) fn mark_installed(project: &Project, plugin: &Plugin) -> anyhow::Result<()> {
    let marker = project.state_dir().join("installed");
    std::fs::create_dir_all(project.state_dir())
        .and_then(|()| std::fs::write(&marker, plugin.manifest().service.version.value.as_bytes()))
        .with_context(|| format!("cannot write {}", marker.display()))
}
