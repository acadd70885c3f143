//! `op check [DIR | PACKAGE]`.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;

use super::{CheckArgs, load, table, tokio_runtime};
use crate::dev::project::Project;
use crate::package;
use crate::runtime::{Runtime, RuntimeConfig};

pub fn run(args: CheckArgs) -> anyhow::Result<ExitCode> {
    if args.dir.is_file() {
        if args.component.is_some() {
            anyhow::bail!("--component is for a project; a package holds its own component");
        }
        return check_package(&args.dir);
    }
    let project = Project::new(&args.dir);
    // Report manifest errors before spending time on a build.
    project.manifest()?;
    let runtime = load::runtime_for(&project)?;
    let plugin = tokio_runtime()?.block_on(load::load_project(
        &runtime,
        &project,
        args.component.as_deref(),
        Default::default(),
    ))?;
    load::print_notices(plugin.manifest(), &project.manifest_shown());
    println!("{}: ok", project.manifest_shown());
    println!("functions: {}", plugin.functions().join(", "));
    print!("{}", table::render(plugin.manifest(), ""));
    Ok(ExitCode::SUCCESS)
}

/// Reads a package (index, content hash, manifest) and loads its component.
fn check_package(path: &Path) -> anyhow::Result<ExitCode> {
    let shown = path.display().to_string();
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {shown}"))?;
    let package = package::read(&bytes, &shown)?;
    let runtime = Runtime::new(RuntimeConfig::default())?;
    let plugin = tokio_runtime()?
        .block_on(package.load_plugin(&runtime, &shown, Default::default()))
        .with_context(|| format!("the component in {shown} does not load"))?;
    load::print_notices(plugin.manifest(), &format!("{shown}!config/plugin.yaml"));
    println!(
        "{shown}: ok ({} {}, content hash {}, {} workspace file(s))",
        package.index.name,
        package.index.version,
        package.index.content_hash,
        package.workspace.len()
    );
    println!("functions: {}", plugin.functions().join(", "));
    print!("{}", table::render(plugin.manifest(), ""));
    Ok(ExitCode::SUCCESS)
}
