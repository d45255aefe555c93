//! Shared state and the router.

use std::sync::Arc;

use std::time::Instant;

use axum::extract::DefaultBodyLimit;
use axum::extract::{MatchedPath, Request};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use tower::ServiceBuilder;

use crate::attestation::{AttestationError, Attester};
use crate::compat;
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
    // Before routing, as actix-cors wraps the official server's router: preflights to any path are
    // answered there, and its 404s carry the CORS headers too. The access log is outside it, so it
    // records what the client got.
    let app = ServiceBuilder::new()
        .layer(middleware::from_fn(access_log))
        .layer(middleware::from_fn(compat::like_actix))
        .service(routes(state));
    Router::new().fallback_service(app)
}

fn routes(state: Arc<AppState>) -> Router {
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
        .layer(middleware::from_fn(record_route))
        .with_state(state)
}

/// The route is known only inside the router; the access log, outside it, reads it from the answer.
async fn record_route(request: Request, next: Next) -> Response {
    let route = request.extensions().get::<MatchedPath>().cloned();
    let mut response = next.run(request).await;
    if let Some(route) = route {
        response.extensions_mut().insert(route);
    }
    response
}

/// One structured line per request: method, route, status, duration. Never bodies or query strings
/// (proof requests carry private witnesses). Preflights and wrong methods have no route.
async fn access_log(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let response = next.run(request).await;
    let route = response
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str);
    tracing::info!(
        %method,
        %route,
        status = response.status().as_u16(),
        millis = started.elapsed().as_millis() as u64,
        "request"
    );
    response
}
