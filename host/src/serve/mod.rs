//! `op serve`: the production host. Plugin instances installed from
//! packages ([`crate::package`]) into a plugins directory ([`store`]),
//! served by the gateway, changed through the admin API ([`admin`]),
//! configured by one YAML file ([`config`]).

pub mod admin;
pub mod config;
pub mod credentials;
pub mod server;
pub mod store;
pub mod workspaces;

use std::future::Future;

use anyhow::Context;

use crate::gateway;

pub use config::{LogFormat, ServeConfig};
pub use server::Server;

/// Serves until `shutdown` resolves: stops accepting, lets the calls in
/// flight finish, then runs `Stop` for the instances it served. With
/// `admin.listen`, the admin API and `/metrics` are served there only.
pub async fn run(
    config: ServeConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let listen = config.listen;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let admin = match config.admin_listen {
        Some(address) => Some(
            tokio::net::TcpListener::bind(address)
                .await
                .with_context(|| format!("cannot listen on {address} (admin.listen)"))?,
        ),
        None => None,
    };
    let server = Server::start(config).await?;
    match admin {
        None => serve(listener, &server, shutdown).await,
        Some(admin) => serve_apart(listener, admin, &server, shutdown).await,
    }
}

/// Serves `server` on `listener` (the gateway, the admin API and metrics)
/// until `shutdown`, then stops it.
pub async fn serve(
    listener: tokio::net::TcpListener,
    server: &Server,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let address = listener.local_addr()?;
    log_serving(server, address, None);
    let app = admin::app(server);
    gateway::listener::serve(listener, app, server.config().connections, shutdown).await?;
    tracing::info!("the calls in flight are done; stopping the plugins");
    server.stop_all().await;
    Ok(())
}

/// Serves the gateway (and `/healthz`, `/readyz` without details) on
/// `public`, and the admin API, `/metrics` and the detailed `/readyz` on
/// `admin`, until `shutdown`; then stops the server.
pub async fn serve_apart(
    public: tokio::net::TcpListener,
    admin: tokio::net::TcpListener,
    server: &Server,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    log_serving(server, public.local_addr()?, Some(admin.local_addr()?));
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let signal = |mut stopped: tokio::sync::watch::Receiver<bool>| async move {
        let _ = stopped.wait_for(|stop| *stop).await;
    };
    let options = server.config().connections;
    let public = gateway::listener::serve(
        public,
        admin::public_app(server),
        options,
        signal(stopped.clone()),
    );
    let admin = gateway::listener::serve(admin, admin::admin_app(server), options, signal(stopped));
    let stopper = async move {
        shutdown.await;
        let _ = stop.send(true);
        Ok::<(), std::io::Error>(())
    };
    tokio::try_join!(public, admin, stopper)?;
    tracing::info!("the calls in flight are done; stopping the plugins");
    server.stop_all().await;
    Ok(())
}

fn log_serving(
    server: &Server,
    address: std::net::SocketAddr,
    admin: Option<std::net::SocketAddr>,
) {
    let admin = admin.map(|a| a.to_string());
    tracing::info!(
        address = %address,
        admin = admin.as_deref().unwrap_or("(on address)"),
        plugins = server.plugin_count(),
        generation = server.generation(),
        store = server.store_description(),
        ones = server.config().ones_url,
        "serving"
    );
}
