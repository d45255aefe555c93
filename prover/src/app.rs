//! Shared state and the router.

use std::sync::Arc;

use axum::routing::get;
use axum::Router;

use crate::attestation::{AttestationError, Attester};
use crate::jobs::JobQueue;
use crate::metrics::Metrics;
use crate::routes::{attestation, status};
use crate::tls::TlsIdentity;

pub struct AppState {
    pub jobs: JobQueue,
    pub metrics: Metrics,
    /// Present when TLS is terminated here.
    pub tls: Option<Arc<TlsIdentity>>,
    /// The platform's attestation device, or why there is none (answered as 503).
    pub attester: Result<Attester, AttestationError>,
}

pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/", get(status::health))
        .route("/health", get(status::health))
        .route("/ready", get(status::ready))
        .route("/version", get(status::version))
        .route("/metrics", get(status::metrics))
        .route("/attestation", get(attestation::attestation))
        .with_state(state)
}
