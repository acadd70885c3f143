//! `op serve --config FILE`.

use std::process::ExitCode;

use super::{ServeArgs, tokio_runtime};
use crate::serve::{self, LogFormat, ServeConfig};

pub fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let config = match serve::config::load(&args.config, |name| std::env::var(name).ok()) {
        Ok(config) => config,
        Err(err) => {
            // Every problem on its own line, with its place; then exit 1.
            eprintln!("{err}");
            eprintln!("error: {} was not accepted", args.config.display());
            return Ok(ExitCode::FAILURE);
        }
    };
    init_logging(&config);
    tokio_runtime()?.block_on(async move {
        let shutdown = super::invoke::shutdown_signal()?;
        serve::run(config, shutdown).await?;
        anyhow::Ok(ExitCode::SUCCESS)
    })
}

/// Text or JSON lines on stderr; `RUST_LOG` wins over `log.level`.
fn init_logging(config: &ServeConfig) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env()
        .ok()
        .or_else(|| {
            config
                .log_level
                .as_deref()
                .and_then(|l| EnvFilter::try_new(l).ok())
        })
        .unwrap_or_else(|| EnvFilter::new("warn,op=info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match config.log_format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder
            .with_ansi(super::console::stderr_colour())
            .try_init(),
    };
}
