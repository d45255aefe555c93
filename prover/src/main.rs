//! `proof-server`: the Midnight-compatible proof server for TEEs.

use anyhow::Context;
use clap::Parser;
use prover::config::Config;
use prover::startup::BoundServer;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::parse();
    init_logging(config.verbose);
    let devices = config.devices();
    let server = BoundServer::bind(&config, &devices)
        .await
        .context("cannot start the proof server")?;
    server.serve(shutdown_signal()).await;
    Ok(())
}

/// Structured (JSON) logs on stderr; the `zkir` target is as noisy as in the official server.
fn init_logging(verbose: bool) {
    let default = if verbose {
        "debug,zkir=warn"
    } else {
        "info,zkir=warn"
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

/// SIGTERM (docker stop, systemd) or Ctrl-C.
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::warn!(%error, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
}
