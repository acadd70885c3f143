//! `op invoke timer ID [DIR]`: one tick of a timer task, now.

use std::process::ExitCode;

use anyhow::Context;

use super::invoke::installation;
use super::{TimerArgs, load, tokio_runtime};
use crate::dev::local;
use crate::dev::project::Project;
use crate::dev::simulator::Simulator;
use crate::manifest::did_you_mean;
use crate::timers::{self, Ended};

/// Builds and loads the project, then calls the timer task's function
/// once, as a tick of its schedule would (with `manual: true` in the
/// request); the exit code says whether the tick went well.
pub fn run(args: TimerArgs) -> anyhow::Result<ExitCode> {
    let project = Project::new(&args.dir);
    let manifest = project.manifest()?;
    let Some(timer) = manifest.timers.iter().find(|t| t.id == args.id).cloned() else {
        let ids: Vec<&str> = manifest.timers.iter().map(|t| t.id.as_str()).collect();
        let hint = did_you_mean(&args.id, ids.iter().copied())
            .map(|s| format!(" (did you mean `{s}`?)"))
            .unwrap_or_default();
        let list = if ids.is_empty() {
            "it declares none".to_string()
        } else {
            format!("it declares: {}", ids.join(", "))
        };
        anyhow::bail!(
            "{} has no TimerTask ability `{}`{hint}; {list}",
            project.manifest_shown(),
            args.id
        );
    };
    let settings = local::settings(project.dir(), args.ones_url.as_deref(), |name| {
        std::env::var(name).ok()
    })?;
    let runtime = load::runtime_for(&project)?;
    tokio_runtime()?.block_on(async {
        let simulator = match settings.ones_url {
            Some(_) => None,
            None => Some(
                Simulator::start(Some(project.state_dir().join("simulator.json")))
                    .await
                    .context("cannot start the ONES simulator")?,
            ),
        };
        let installation = installation(&project, &manifest, &settings, simulator.as_ref())?;
        let plugin = load::load_project(&runtime, &project, None, installation).await?;
        load::print_notices(plugin.manifest(), &project.manifest_shown());
        match timers::fire(&plugin, &timer).await {
            Ended::Ok => Ok(ExitCode::SUCCESS),
            Ended::Failed => Ok(ExitCode::FAILURE),
        }
    })
}
