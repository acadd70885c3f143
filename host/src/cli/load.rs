//! Loading a plugin project: manifest, build, component.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;

use crate::code::PluginCode;
use crate::dev::build::build_backend;
use crate::dev::project::Project;
use crate::imports::Installation;
use crate::runtime::{CompileCache, Plugin, Runtime, RuntimeConfig};

/// Validates the manifest, builds the backend (unless `code` names a built
/// component, or a bundle ending in `.js`) and loads the plugin.
pub async fn load_project(
    runtime: &Runtime,
    project: &Project,
    code: Option<&Path>,
    installation: Installation,
) -> anyhow::Result<Arc<Plugin>> {
    let (plugin, _) = build_and_load(runtime, project, code, installation).await?;
    Ok(plugin)
}

/// [`load_project`], also giving back the code that was loaded.
pub async fn build_and_load(
    runtime: &Runtime,
    project: &Project,
    code: Option<&Path>,
    installation: Installation,
) -> anyhow::Result<(Arc<Plugin>, PluginCode)> {
    let manifest = project.manifest()?;
    let (code, shown) = match code {
        Some(path) => (read_code(path)?, path.display().to_string()),
        None => {
            eprintln!("building {} ...", project.dir().join("backend").display());
            let dir = project.dir().to_path_buf();
            let for_build = manifest.clone();
            let built = tokio::task::spawn_blocking(move || build_backend(&dir, &for_build))
                .await
                .context("the build task failed")??;
            (built.code, built.artifact.display().to_string())
        }
    };
    let plugin = code
        .load(
            runtime,
            manifest,
            &project.manifest_shown(),
            &shown,
            installation,
        )
        .await
        .with_context(|| format!("cannot load the plugin in {}", project.dir().display()))?;
    // The entity storage is made ready for this version before it serves;
    // a change its records refuse keeps the version that serves now.
    if let Some(storage) = &plugin.instance().storage {
        storage.prepare().await.with_context(|| {
            format!(
                "cannot use this version of {}'s storage.entities",
                project.manifest_shown()
            )
        })?;
    }
    Ok((Arc::new(plugin), code))
}

/// A built component, or a bundle when the file ends in `.js` or `.mjs`.
pub fn read_code(path: &Path) -> anyhow::Result<PluginCode> {
    let is_js = path
        .extension()
        .is_some_and(|ext| ext == "js" || ext == "mjs");
    if is_js {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        Ok(PluginCode::JavaScript(text))
    } else {
        let bytes =
            std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        Ok(PluginCode::Component(bytes))
    }
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
