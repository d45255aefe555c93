//! Serving the router on every listener, over TLS when configured, until shutdown; then letting
//! in-flight requests finish (proofs can take a while) up to a grace period.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use hyper_util::service::TowerToHyperService;
use tokio::sync::watch;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::TlsAcceptor;

use crate::listen::{Connection, Listener};

/// A client that opens a connection and never finishes the handshake must not hold it forever.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves `app` on `listeners` until `shutdown` resolves, then waits up to `grace` for open
/// connections to finish.
pub async fn serve(
    listeners: Vec<Listener>,
    tls: Option<Arc<ServerConfig>>,
    app: Router,
    shutdown: impl Future<Output = ()>,
    grace: Duration,
) {
    let graceful = Arc::new(GracefulShutdown::new());
    let (stop, stopped) = watch::channel(false);
    let acceptor = tls.map(TlsAcceptor::from);
    let mut accept_loops = Vec::new();
    for listener in listeners {
        accept_loops.push(tokio::spawn(accept_loop(
            listener,
            acceptor.clone(),
            app.clone(),
            Arc::clone(&graceful),
            stopped.clone(),
        )));
    }
    shutdown.await;
    tracing::info!("shutting down: no new connections; waiting for open ones");
    let _ = stop.send(true);
    for accept_loop in accept_loops {
        let _ = accept_loop.await;
    }
    // The accept loops have ended, so this is the last reference.
    if let Ok(graceful) = Arc::try_unwrap(graceful) {
        if tokio::time::timeout(grace, graceful.shutdown())
            .await
            .is_err()
        {
            tracing::warn!(
                ?grace,
                "connections still open after the grace period; closing them"
            );
        }
    }
}

async fn accept_loop(
    listener: Listener,
    acceptor: Option<TlsAcceptor>,
    app: Router,
    graceful: Arc<GracefulShutdown>,
    mut stopped: watch::Receiver<bool>,
) {
    loop {
        let accepted = tokio::select! {
            _ = stopped.changed() => return,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((io, peer)) => {
                let task =
                    serve_connection(io, peer, acceptor.clone(), app.clone(), graceful.watcher());
                tokio::spawn(task);
            }
            Err(error) => {
                // Typically out of file descriptors: back off instead of spinning.
                tracing::warn!(%error, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

async fn serve_connection(
    io: Box<dyn Connection>,
    peer: String,
    acceptor: Option<TlsAcceptor>,
    app: Router,
    watcher: Watcher,
) {
    let service = TowerToHyperService::new(app);
    let builder = auto::Builder::new(TokioExecutor::new());
    let result = match acceptor {
        Some(acceptor) => {
            let stream =
                match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(io)).await {
                    Ok(Ok(stream)) => stream,
                    Ok(Err(error)) => {
                        tracing::debug!(%peer, %error, "TLS handshake failed");
                        return;
                    }
                    Err(_) => {
                        tracing::debug!(%peer, "TLS handshake timed out");
                        return;
                    }
                };
            let connection = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
            watcher.watch(connection.into_owned()).await
        }
        None => {
            let connection = builder.serve_connection_with_upgrades(TokioIo::new(io), service);
            watcher.watch(connection.into_owned()).await
        }
    };
    if let Err(error) = result {
        tracing::debug!(%peer, %error, "connection ended with an error");
    }
}
