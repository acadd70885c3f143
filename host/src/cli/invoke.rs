//! `op invoke run [DIR...]`.

use std::net::{Ipv4Addr, SocketAddr};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;

use super::lifecycle::start;
use super::reload::{self, Reloader, Served};
use super::{ClearArgs, RunArgs, load, table, tokio_runtime};
use crate::dev::local::{self, LocalSettings};
use crate::dev::project::Project;
use crate::dev::simulator::Simulator;
use crate::gateway::{self, Gateway, GatewayLimits, PluginSet, Upstream};
use crate::imports::{
    Credentials, Installation, NoSuperAdmin, OnesLink, SingleSuperAdmin, SuperAdmins,
};
use crate::manifest::{Manifest, Method};
use crate::runtime::Lifecycle;
use crate::storage::SqliteFiles;
use crate::timers::{self, OneProcess, Timers};

pub fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let projects: Vec<Project> = args.dirs.iter().map(Project::new).collect();
    // Every manifest and local setting is checked before anything is built.
    let mut prepared = Vec::new();
    for project in &projects {
        let manifest = project.manifest()?;
        let settings = local::settings(project.dir(), args.ones_url.as_deref(), |name| {
            std::env::var(name).ok()
        })?;
        prepared.push((project, manifest, settings));
    }
    let first = projects.first().context("no plugin project given")?;
    let runtime = load::runtime_for(first)?;
    tokio_runtime()?.block_on(async move {
        let simulator = if prepared.iter().any(|(_, _, s)| s.ones_url.is_none()) {
            let sim = Simulator::start(Some(first.state_dir().join("simulator.json")))
                .await
                .context("cannot start the ONES simulator")?;
            Some(sim)
        } else {
            None
        };
        let mut plugins = Vec::new();
        let mut served = Vec::new();
        for (project, manifest, settings) in &prepared {
            let installation = installation(project, manifest, settings, simulator.as_ref())?;
            served.push(Served {
                project: (*project).clone(),
                installation: installation.clone(),
                app_id: manifest.app_id().to_string(),
            });
            let plugin = load::load_project(&runtime, project, None, installation).await?;
            load::print_notices(plugin.manifest(), &project.manifest_shown());
            // A plugin whose lifecycle hooks fail is left out; the others run.
            match start(project, &plugin).await {
                Ok(()) => plugins.push(plugin),
                Err(err) => eprintln!("error: {err:#}; {} is not loaded", project.dir().display()),
            }
        }
        if plugins.is_empty() && args.no_watch {
            anyhow::bail!("no plugin could be started");
        }
        let upstream = match (&prepared[0].2.ones_url, &simulator) {
            (Some(url), _) => url.clone(),
            (None, Some(sim)) => sim.url(),
            (None, None) => anyhow::bail!("no ONES server and no simulator"),
        };
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, args.port));
        let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| {
            format!("cannot listen on {addr} (is another op running? try --port)")
        })?;
        let origin = format!("http://{}", listener.local_addr()?);
        println!();
        for plugin in &plugins {
            print!("{}", table::render(plugin.manifest(), &origin));
        }
        if let Some(sim) = &simulator {
            println!(
                "\nONES simulator on {} (organization {}, team {})",
                sim.url(),
                sim.organization_uuid(),
                sim.team_uuid()
            );
            if let Some(curl) =
                sample_curl(&origin, plugins.first().map(|p| p.manifest().as_ref()), sim)
            {
                println!("try, as the sample user:\n  {curl}");
            }
        }
        // Listen for Ctrl-C (and SIGTERM) before saying we serve, so that a
        // signal sent right after that line stops us cleanly.
        let shutdown = shutdown_signal()?;
        let set = PluginSet::new(plugins).context("these plugins cannot run together")?;
        let gateway =
            Gateway::with_upstream(set, GatewayLimits::default(), Upstream::new(upstream));
        // The timers of the plugins under development run in this process.
        let timers = Arc::new(Timers::new(Arc::new(OneProcess), None));
        timers.follow(gateway.current().plugins());
        for plugin in gateway.current().plugins() {
            for line in timers::describe(plugin) {
                println!("{line}");
            }
        }
        if args.no_watch {
            println!("\nserving on {origin} (GET {origin}/healthz); Ctrl-C stops");
        } else {
            println!(
                "\nserving on {origin} (GET {origin}/healthz); watching backend/ and config/plugin.yaml; Ctrl-C stops"
            );
            let reloader = Arc::new(Reloader {
                gateway: gateway.clone(),
                runtime: runtime.clone(),
                origin: origin.clone(),
                lock: tokio::sync::Mutex::new(()),
                timers: timers.clone(),
            });
            for served in served {
                tokio::spawn(reload::watch(reloader.clone(), served));
            }
        }
        gateway::serve(listener, gateway.clone(), shutdown).await?;
        timers.stop_all();
        for plugin in gateway.current().plugins() {
            if !plugin.manifest().is_org_level()
                && let Err(err) = plugin.lifecycle("Stop").await
            {
                eprintln!("warning: {err}");
            }
        }
        eprintln!("stopped");
        Ok(ExitCode::SUCCESS)
    })
}

/// `op invoke clear [DIR]`: `Stop`, `Disable`, `UnInstall` (or `OrgDisable`,
/// `OrgUnInstall`) when the project is installed, then `.op/` is removed.
pub fn clear(args: ClearArgs) -> anyhow::Result<ExitCode> {
    let project = Project::new(&args.dir);
    let manifest = project.manifest()?;
    let state = project.state_dir();
    if state.join("installed").exists() {
        let settings = local::settings(project.dir(), args.ones_url.as_deref(), |name| {
            std::env::var(name).ok()
        })?;
        let runtime = load::runtime_for(&project)?;
        tokio_runtime()?.block_on(async {
            let simulator = match settings.ones_url {
                Some(_) => None,
                None => Some(
                    Simulator::start(Some(state.join("simulator.json")))
                        .await
                        .context("cannot start the ONES simulator")?,
                ),
            };
            let mut installation =
                installation(&project, &manifest, &settings, simulator.as_ref())?;
            // The hooks run without the entity storage: it is about to go,
            // and a version its records refuse must still be clearable.
            installation.records = None;
            let plugin = load::load_project(&runtime, &project, None, installation).await?;
            let org = manifest.is_org_level();
            let mut hooks = Vec::new();
            if !org {
                hooks.push("Stop");
            }
            hooks.push(Lifecycle::Disable.hook(org));
            hooks.push(Lifecycle::UnInstall.hook(org));
            let mut ran = 0;
            for hook in &hooks {
                if plugin.lifecycle(hook).await? {
                    println!("ran {hook}");
                    ran += 1;
                }
            }
            if ran == 0 {
                println!(
                    "the plugin exports none of {}; no hooks to run",
                    hooks.join(", ")
                );
            }
            anyhow::Ok(())
        })?;
    } else {
        println!(
            "{} is not installed; no hooks to run",
            project.dir().display()
        );
    }
    if state.exists() {
        std::fs::remove_dir_all(&state)
            .with_context(|| format!("cannot remove {}", state.display()))?;
        println!("removed {}", state.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// Where a project's plugin is installed: a real ONES from the settings, or
/// the simulator, which issues the plugin's super-admin.
pub(super) fn installation(
    project: &Project,
    manifest: &Manifest,
    settings: &LocalSettings,
    simulator: Option<&Simulator>,
) -> anyhow::Result<Installation> {
    let instance_id = project.instance_id().with_context(|| {
        format!(
            "cannot keep the instance id in {}",
            project.state_dir().display()
        )
    })?;
    let (ones, team, organization) = match (&settings.ones_url, simulator) {
        (Some(url), _) => {
            let super_admins: Arc<dyn SuperAdmins> = match &settings.super_admin {
                Some(credentials) => Arc::new(SingleSuperAdmin(credentials.clone())),
                None => Arc::new(NoSuperAdmin),
            };
            let link = OnesLink {
                base_url: url.clone(),
                super_admins,
            };
            (
                link,
                settings.team_uuid.clone(),
                settings.organization_uuid.clone(),
            )
        }
        (None, Some(sim)) => {
            let admin = sim.install(manifest.app_id());
            let link = OnesLink {
                base_url: sim.url(),
                super_admins: Arc::new(SingleSuperAdmin(admin)),
            };
            let team = settings.team_uuid.clone().or_else(|| Some(sim.team_uuid()));
            let organization = settings
                .organization_uuid
                .clone()
                .or_else(|| Some(sim.organization_uuid()));
            (link, team, organization)
        }
        (None, None) => anyhow::bail!("no ONES server and no simulator"),
    };
    Ok(Installation {
        instance_id,
        team_uuid: if manifest.is_org_level() { None } else { team },
        organization_uuid: organization,
        config: settings.config.clone(),
        ones: Some(ones),
        workspace: Some(project.dir().join("workspace")).filter(|dir| dir.is_dir()),
        records: Some(Arc::new(SqliteFiles::new(
            project.state_dir().join("storage"),
        ))),
    })
}

/// A curl for the first route, as the simulator's sample user.
fn sample_curl(origin: &str, manifest: Option<&Manifest>, sim: &Simulator) -> Option<String> {
    let manifest = manifest?;
    let api = manifest
        .apis
        .iter()
        .filter(|api| api.kind.is_route())
        .min_by_key(|api| {
            !api.methods
                .iter()
                .any(|m| Method::parse(m) == Some(Method::Get))
        })?;
    let team = sim.team_uuid();
    let path: String = crate::manifest::UrlPattern::parse(&api.url)
        .ok()?
        .segments
        .iter()
        .map(|segment| match segment {
            crate::manifest::Segment::Literal(l) => format!("/{l}"),
            crate::manifest::Segment::Param(p) if p == "teamUUID" => format!("/{team}"),
            crate::manifest::Segment::Param(p) => format!("/{p}"),
        })
        .collect();
    let Credentials { user_id, token } = sim.sample_user();
    let method = api
        .methods
        .iter()
        .filter_map(|m| Method::parse(m))
        .find(|m| *m == Method::Get)
        .or_else(|| api.methods.first().and_then(|m| Method::parse(m)))?;
    let extra = match method {
        Method::Get => String::new(),
        other => format!(" -X {other} -H 'Content-Type: application/json' -d '{{}}'"),
    };
    Some(format!(
        "curl{extra} -H 'Ones-User-Id: {user_id}' -H 'Ones-Auth-Token: {token}' {origin}{}{path}",
        api.scope.base()
    ))
}

/// Resolves at the first SIGINT or SIGTERM; the handlers are installed
/// when this is called, not when it is first polled.
pub(super) fn shutdown_signal()
-> std::io::Result<impl std::future::Future<Output = ()> + Send + 'static> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
    })
}
