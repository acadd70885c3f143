//! Loading a plugin project: manifest, build, component.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;

use crate::dev::build::build_backend;
use crate::dev::project::Project;
use crate::imports::Installation;
use crate::runtime::{CompileCache, Plugin, Runtime, RuntimeConfig};

/// Validates the manifest, builds the backend (unless `component` is given)
/// and loads the plugin.
pub async fn load_project(
    runtime: &Runtime,
    project: &Project,
    component: Option<&Path>,
    installation: Installation,
) -> anyhow::Result<Arc<Plugin>> {
    let manifest = project.manifest()?;
    let wasm: PathBuf = match component {
        Some(path) => path.to_path_buf(),
        None => {
            eprintln!("building {} ...", project.dir().join("backend").display());
            let dir = project.dir().to_path_buf();
            tokio::task::spawn_blocking(move || build_backend(&dir))
                .await
                .context("the build task failed")??
        }
    };
    let plugin = Plugin::load_installed(
        runtime,
        manifest,
        &project.manifest_shown(),
        &wasm,
        installation,
    )
    .await
    .with_context(|| format!("cannot load the plugin in {}", project.dir().display()))?;
    Ok(Arc::new(plugin))
}

/// Prints the manifest's warnings and notes (unknown keys op ignores,
/// sections it keeps without acting on them) on stderr, each with its place.
pub fn print_notices(manifest: &crate::manifest::Manifest, shown: &str) {
    for notice in &manifest.notices {
        eprintln!("{shown}:{notice}");
    }
}

/// A runtime whose compile cache lives in the first project's `.op/cache`.
pub fn runtime_for(project: &Project) -> anyhow::Result<Runtime> {
    let config = RuntimeConfig {
        cache: Some(CompileCache::new(project.state_dir().join("cache"))),
        ..RuntimeConfig::default()
    };
    Ok(Runtime::new(config)?)
}
