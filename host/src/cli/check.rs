//! `op check [DIR]`.

use std::process::ExitCode;

use super::{CheckArgs, load, table, tokio_runtime};
use crate::dev::project::Project;

pub fn run(args: CheckArgs) -> anyhow::Result<ExitCode> {
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
    println!("{}: ok", project.manifest_shown());
    println!("functions: {}", plugin.functions().join(", "));
    print!("{}", table::render(plugin.manifest(), ""));
    Ok(ExitCode::SUCCESS)
}
