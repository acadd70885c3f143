//! `op serve`: the production host. Plugin instances installed from
//! packages ([`crate::package`]) into a plugins directory ([`store`]),
//! served by the gateway, changed through the admin API ([`admin`]),
//! configured by one YAML file ([`config`]).

pub mod admin;
pub mod config;
pub mod credentials;
pub mod server;
pub mod store;

use std::future::Future;

use anyhow::Context;

pub use config::{LogFormat, ServeConfig};
pub use server::Server;

/// Serves until `shutdown` resolves: stops accepting, lets the calls in
/// flight finish, then runs `Stop` for the instances it served.
pub async fn run(
    config: ServeConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let listen = config.listen;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let server = Server::start(config).await?;
    serve(listener, &server, shutdown).await
}

/// Serves `server` on `listener` until `shutdown`, then stops it.
pub async fn serve(
    listener: tokio::net::TcpListener,
    server: &Server,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let address = listener.local_addr()?;
    let state = server.state()?;
    tracing::info!(
        address = %address,
        plugins = state.instances.len(),
        ones = server.config().ones_url,
        "serving"
    );
    let app = admin::app(server).into_make_service_with_connect_info::<std::net::SocketAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await?;
    tracing::info!("the calls in flight are done; stopping the plugins");
    server.stop_all().await;
    Ok(())
}
