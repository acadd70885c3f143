//! `op invoke run [DIR...]`.

use std::net::{Ipv4Addr, SocketAddr};
use std::process::ExitCode;

use anyhow::Context;

use super::{RunArgs, load, table, tokio_runtime};
use crate::dev::project::Project;
use crate::gateway::{self, Gateway, GatewayLimits, PluginSet};

pub fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let projects: Vec<Project> = args.dirs.iter().map(Project::new).collect();
    // Every manifest is checked before anything is built.
    for project in &projects {
        project.manifest()?;
    }
    let first = projects.first().context("no plugin project given")?;
    let runtime = load::runtime_for(first)?;
    tokio_runtime()?.block_on(async move {
        let mut plugins = Vec::new();
        for project in &projects {
            plugins.push(load::load_project(&runtime, project, None).await?);
        }
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, args.port));
        let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| {
            format!("cannot listen on {addr} (is another op running? try --port)")
        })?;
        let origin = format!("http://{}", listener.local_addr()?);
        println!();
        for plugin in &plugins {
            print!("{}", table::render(plugin.manifest(), &origin));
        }
        println!("\nserving on {origin} (GET {origin}/healthz); Ctrl-C stops");
        let gateway = Gateway::new(PluginSet::new(plugins), GatewayLimits::default());
        gateway::serve(listener, gateway, shutdown_signal()).await?;
        eprintln!("stopped");
        Ok(ExitCode::SUCCESS)
    })
}

async fn shutdown_signal() {
    if tokio::signal::ctrl_c().await.is_err() {
        std::future::pending::<()>().await;
    }
}
