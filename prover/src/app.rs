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
use crate::ohttp::gateway::MAX_ENCAPSULATED_REQUEST_BYTES;
use crate::ohttp::OhttpKeys;
use crate::proving::Prover;
use crate::routes::encryption::private_route;
use crate::routes::ohttp::{self, Gateway};
use crate::routes::{attestation, proving, status};
use crate::staple::{SnpCrls, Staple};
use crate::tls::TlsIdentity;

pub struct AppState {
    pub jobs: JobQueue,
    pub metrics: Metrics,
    pub prover: Prover,
    /// Present when TLS is terminated here.
    pub tls: Option<Arc<TlsIdentity>>,
    /// The platform's attestation device, or why there is none (answered as 503).
    pub attester: Result<Attester, AttestationError>,
    /// The OHTTP gateway's key pair, made at start-up.
    pub ohttp: Arc<OhttpKeys>,
    /// `--require-encryption`: private routes answer only requests that came through POST /ohttp.
    pub require_encryption: bool,
    /// The deploy-time staple returned with every attestation, if configured.
    pub staple: Option<Staple>,
    /// AMD CRLs returned with SEV-SNP evidence (`--snp-crl`).
    pub snp_crls: SnpCrls,
}

pub fn router(state: Arc<AppState>) -> Router {
    // Before routing, as actix-cors wraps the official server's router: preflights to any path are
    // answered there, and its 404s carry the CORS headers too. The access log is outside it, so it
    // records what the client got.
    // The gateway forwards to the same routes, minus itself (an OHTTP request inside an OHTTP request
    // would only hide a loop), and without the CORS compatibility layer, which concerns browsers.
    let gateway = Gateway {
        keys: Arc::clone(&state.ohttp),
        inner: routes(Arc::clone(&state)),
    };
    let with_gateway = routes(state).merge(
        Router::new()
            .route("/ohttp", post(ohttp::gateway))
            .layer(DefaultBodyLimit::max(MAX_ENCAPSULATED_REQUEST_BYTES))
            .layer(middleware::from_fn(record_route))
            .with_state(gateway),
    );
    let app = ServiceBuilder::new()
        .layer(middleware::from_fn(access_log))
        .layer(middleware::from_fn(compat::like_actix))
        .service(with_gateway);
    Router::new().fallback_service(app)
}

/// Every route but /ohttp.
fn routes(state: Arc<AppState>) -> Router {
    // Only the routes that carry private data (circuits, witnesses, transactions) are guarded.
    let private = || middleware::from_fn_with_state(Arc::clone(&state), private_route);
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
        .route("/ohttp-keys", get(ohttp::ohttp_keys))
        .route("/proof-versions", get(proving::proof_versions))
        .route("/k", post(proving::k).layer(private()))
        .route("/check", post(proving::check).layer(private()))
        .route("/prove", post(proving::prove).layer(private()))
        .route("/prove-tx", post(proving::prove_tx).layer(private()))
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
