//! `op pack [DIR]`: build the project and write one package file.

use std::process::ExitCode;

use anyhow::Context;

use super::{PackArgs, load, tokio_runtime};
use crate::dev::project::Project;
use crate::package::{self, Package};

pub fn run(args: PackArgs) -> anyhow::Result<ExitCode> {
    let project = Project::new(&args.dir);
    project.manifest()?;
    let manifest_path = project.manifest_path();
    let manifest_text = std::fs::read_to_string(&manifest_path)
        .with_context(|| format!("cannot read {}", manifest_path.display()))?;
    // The package holds only what loads: the same checks as `op check`.
    let runtime = load::runtime_for(&project)?;
    let (_, code) = tokio_runtime()?
        .block_on(load::build_and_load(
            &runtime,
            &project,
            None,
            Default::default(),
        ))
        .context("the plugin does not load, so it is not packed")?;
    let workspace = project.dir().join("workspace");
    let (bytes, index) = package::pack(
        &manifest_text,
        &project.manifest_shown(),
        &code,
        Some(workspace.as_path()).filter(|dir| dir.is_dir()),
    )?;
    let out = args
        .output
        .unwrap_or_else(|| project.dir().join(Package::file_name(&index)));
    std::fs::write(&out, &bytes).with_context(|| format!("cannot write {}", out.display()))?;
    let workspace_files = index
        .files
        .keys()
        .filter(|path| path.starts_with(package::WORKSPACE))
        .count();
    println!(
        "packed {} {} (app_id {}) into {}",
        index.name,
        index.version,
        index.app_id,
        out.display()
    );
    let kind = match code {
        crate::code::PluginCode::Component(_) => "component",
        crate::code::PluginCode::JavaScript(_) => "bundle",
    };
    println!(
        "  {} bytes; {kind} {} bytes; {} workspace file(s)",
        bytes.len(),
        code.len(),
        workspace_files
    );
    println!("  content hash {}", index.content_hash);
    Ok(ExitCode::SUCCESS)
}
