//! From a [`Config`] to a running server: TLS identity, OHTTP key, staple, attestation device, job
//! queue, listeners.

use std::future::Future;
use std::sync::Arc;

use tokio_rustls::rustls::ServerConfig;

use crate::app::{router, AppState};
use crate::attestation::{AttestationChoice, AttestationError, Attester, DevicePaths};
use crate::config::Config;
use crate::jobs::JobQueue;
use crate::listen::{ListenAddr, Listener};
use crate::metrics::Metrics;
use crate::ohttp::{OhttpError, OhttpKeys};
use crate::proving::{ParamsConfig, Prover, ProvingError, PublicParams};
use crate::server::serve;
use crate::staple::{SnpCrls, Staple, StapleError};
use crate::tls::{TlsError, TlsIdentity};

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("public parameters: {0}")]
    Params(#[from] ProvingError),
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error(transparent)]
    Ohttp(#[from] OhttpError),
    #[error("staple: {0}")]
    Staple(#[from] StapleError),
    #[error("attestation: {0}")]
    Attestation(AttestationError),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: ListenAddr,
        source: std::io::Error,
    },
}

/// A server with its sockets bound, ready to serve.
pub struct BoundServer {
    listeners: Vec<Listener>,
    state: Arc<AppState>,
    tls_config: Option<Arc<ServerConfig>>,
    grace: std::time::Duration,
}

impl BoundServer {
    pub async fn bind(config: &Config, devices: &DevicePaths) -> Result<BoundServer, StartError> {
        let tls = if config.tls {
            Some(Arc::new(TlsIdentity::generate(&config.tls_hostnames)?))
        } else {
            None
        };
        let tls_config = tls.as_ref().map(|t| t.server_config()).transpose()?;
        let ohttp = Arc::new(OhttpKeys::generate()?);
        tracing::info!(key_config = %hex::encode(ohttp.key_config()), "OHTTP gateway key generated");
        // Read once, before anything slow, so a wrong path fails the start at once.
        let staple = Staple::load(
            config.staple_statement.as_deref(),
            &config.staple_signatures,
            config.staple_proof.as_deref(),
        )?;
        let snp_crls = SnpCrls::load(&config.snp_crls)?;
        // Opening a TPM generates its attestation key: seconds on a hardware TPM.
        let detect_paths = devices.clone();
        let attester = tokio::task::spawn_blocking(move || Attester::detect(&detect_paths))
            .await
            .map_err(|e| ProvingError::Internal(format!("attestation detection failed: {e}")))?;
        let attester = match attester {
            // An operator who named the device wants it, not a server that answers 503.
            Err(error) if devices.choice != AttestationChoice::Auto => {
                return Err(StartError::Attestation(error))
            }
            other => other,
        };
        match &attester {
            Ok(attester) => {
                tracing::info!(device = %attester.device().display(), "attestation available")
            }
            Err(error) => {
                tracing::warn!(%error, "attestation unavailable: GET /attestation answers 503")
            }
        }
        let params = PublicParams::new(&ParamsConfig {
            dir: config.params_dir.clone(),
            fetch: !config.no_fetch_params,
        })?;
        tracing::info!(dir = %params.dir().display(), fetch = params.fetch_enabled(), "public parameters");
        let params = Arc::new(params);
        if params.fetch_enabled() {
            // As upstream: fail at start-up rather than on the first request.
            let startup = Arc::clone(&params);
            tokio::task::spawn_blocking(move || startup.fetch_startup())
                .await
                .map_err(|e| {
                    ProvingError::Internal(format!("parameter fetch task failed: {e}"))
                })??;
        }
        let state = Arc::new(AppState {
            jobs: JobQueue::new(
                usize::from(config.num_workers),
                config.job_capacity,
                config.job_timeout(),
            ),
            metrics: Metrics::default(),
            prover: Prover::new(params),
            tls,
            attester,
            ohttp,
            require_encryption: config.require_encryption,
            staple,
            snp_crls,
        });
        let mut listeners = Vec::new();
        for addr in config.listen_addrs() {
            let listener = Listener::bind(addr)
                .await
                .map_err(|source| StartError::Listen { addr, source })?;
            listeners.push(listener);
        }
        Ok(BoundServer {
            listeners,
            state,
            tls_config,
            // In-flight proofs may run up to the job timeout; let them finish on shutdown.
            grace: config.job_timeout(),
        })
    }

    /// The addresses actually bound (real ports where 0 was asked for).
    pub fn local_addrs(&self) -> Vec<ListenAddr> {
        self.listeners
            .iter()
            .filter_map(|listener| listener.local_addr().ok())
            .collect()
    }

    pub fn tls_identity(&self) -> Option<Arc<TlsIdentity>> {
        self.state.tls.clone()
    }

    /// Serves until `shutdown` resolves, then drains open connections.
    pub async fn serve(self, shutdown: impl Future<Output = ()>) {
        for addr in self.local_addrs() {
            tracing::info!(
                %addr,
                tls = self.tls_config.is_some(),
                require_encryption = self.state.require_encryption,
                "listening"
            );
        }
        serve(
            self.listeners,
            self.tls_config,
            router(self.state),
            shutdown,
            self.grace,
        )
        .await;
    }
}
