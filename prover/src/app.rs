//! Shared state and the router.

use std::sync::Arc;

use std::time::Instant;

use axum::extract::DefaultBodyLimit;
use axum::extract::{MatchedPath, Request};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;

use crate::attestation::{AttestationError, Attester};
use crate::jobs::JobQueue;
use crate::metrics::Metrics;
use crate::proving::Prover;
use crate::routes::{attestation, proving, status};
use crate::tls::TlsIdentity;

pub struct AppState {
    pub jobs: JobQueue,
    pub metrics: Metrics,
    pub prover: Prover,
    /// Present when TLS is terminated here.
    pub tls: Option<Arc<TlsIdentity>>,
    /// The platform's attestation device, or why there is none (answered as 503).
    pub attester: Result<Attester, AttestationError>,
}

pub fn router(state: Arc<AppState>) -> Router {
    let mut router = Router::new();
    // Like the official server, only offered when fetching is on.
    if state.prover.params().fetch_enabled() {
        router = router.route("/fetch-params/{k}", get(proving::fetch_params));
    }
    router
        .route("/", get(status::health))
        .route("/health", get(status::health))
        .route("/ready", get(status::ready))
        .route("/version", get(status::version))
        .route("/metrics", get(status::metrics))
        .route("/attestation", get(attestation::attestation))
        .route("/proof-versions", get(proving::proof_versions))
        .route("/k", post(proving::k))
        .route("/check", post(proving::check))
        .route("/prove", post(proving::prove))
        .route("/prove-tx", post(proving::prove_tx))
        .layer(DefaultBodyLimit::max(proving::MAX_BODY_BYTES))
        .layer(middleware::from_fn(access_log))
        .with_state(state)
}

/// One structured line per request: method, route, status, duration. Never bodies or query strings
/// (proof requests carry private witnesses).
async fn access_log(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |path| path.as_str().to_string());
    let response = next.run(request).await;
    tracing::info!(
        %method,
        %route,
        status = response.status().as_u16(),
        millis = started.elapsed().as_millis() as u64,
        "request"
    );
    response
}
