//! The HTTP service: routes, the OpenAPI document generated from them, CORS for browser wallets,
//! body limits, metrics, and serving until a shutdown signal.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::http::{header, Method, Uri};
use axum::response::IntoResponse;
use axum::Router;
use sqlx::PgPool;
use tower_http::cors::{Any, CorsLayer};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::OpenApi as OpenApiDocument;
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::cache::{self, ResponseCache};
use crate::error::ApiError;
use crate::state::AppState;
use crate::{
    attestations, builds, health, keys, log, manifests, measurements, releases, statements,
    submission, tokens, web,
};

#[derive(OpenApi)]
#[openapi(
    info(title = "mpr registry", description = "Releases of the Midnight proof server with their builds, artifacts and TEE measurements (AWS Nitro PCRs, SEV-SNP launch digests, ...), rebuild reports and signed statements (in-toto Statement v1: releases, measurement-set status changes and addenda). Reads are public; writes need a token (Authorization: Bearer mpr_...) of the role the endpoint names: admin (keys, tokens), publisher (releases, statements, signatures), rebuilder (signed rebuild reports). Errors are {\"error\": {\"code\", \"message\"}}."),
    modifiers(&PublisherToken),
    tags((name = "releases"), (name = "measurements"), (name = "builds"), (name = "statements"), (name = "keys"), (name = "tokens"), (name = "log"), (name = "attestations"), (name = "operations"))
)]
struct ApiDoc;

struct PublisherToken;

impl Modify for PublisherToken {
    fn modify(&self, openapi: &mut OpenApiDocument) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "publisher_token",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("mpr_<64 hex>")
                    .build(),
            ),
        );
    }
}

/// The API routes and the OpenAPI document describing exactly them (one list for both).
fn api() -> (Router<AppState>, OpenApiDocument) {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(releases::list, releases::create))
        .routes(routes!(releases::get))
        .routes(routes!(measurements::of_release))
        .routes(routes!(measurements::lookup))
        .routes(routes!(measurements::sets))
        .routes(routes!(attestations::verify_evidence))
        .routes(routes!(builds::list))
        .routes(routes!(builds::report_rebuild))
        .routes(routes!(manifests::get))
        .routes(routes!(
            manifests::list_signatures,
            manifests::add_signature
        ))
        .routes(routes!(statements::submit))
        .routes(routes!(statements::get))
        .routes(routes!(statements::list))
        .routes(routes!(keys::list, keys::register))
        .routes(routes!(keys::get))
        .routes(routes!(keys::revoke))
        .routes(routes!(tokens::list, tokens::create))
        .routes(routes!(tokens::revoke))
        .routes(routes!(log::http::inclusion))
        .routes(routes!(log::http::consistency))
        .routes(routes!(log::http::entries))
        .routes(routes!(log::http::bundle))
        .routes(routes!(log::cosign::submit))
        .routes(routes!(health::healthz))
        .routes(routes!(health::readyz))
        .routes(routes!(health::metrics))
        .split_for_parts()
}

/// The OpenAPI 3.1 document of the served API.
pub fn openapi() -> OpenApiDocument {
    api().1
}

pub fn router(state: AppState) -> Router {
    let (api, document) = api();
    let document = Arc::new(document);
    // Wallets run in browsers on other origins; nothing here uses cookies, so any origin may read.
    let cors = CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([Method::GET, Method::HEAD, Method::POST, Method::OPTIONS])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::IF_NONE_MATCH,
        ])
        .expose_headers([header::ETAG, header::LOCATION, header::RETRY_AFTER]);
    // The release statement's paths before statements existed, kept for scripts that use them.
    let manifest_aliases = Router::new()
        .route(
            "/v1/releases/{version}/manifest",
            axum::routing::get(manifests::get),
        )
        .route(
            "/v1/releases/{version}/manifest/signatures",
            axum::routing::get(manifests::list_signatures).post(manifests::add_signature),
        );
    api.merge(manifest_aliases)
        .merge(web::routes())
        .merge(log::http::routes())
        .route(
            "/openapi.json",
            axum::routing::get(move || async move { axum::Json(document.as_ref().clone()) }),
        )
        .route_layer(axum::middleware::from_fn(health::track))
        .fallback(no_such_route)
        .layer(DefaultBodyLimit::max(submission::MAX_BODY_BYTES))
        .layer(cors)
        .with_state(state)
}

async fn no_such_route(method: Method, uri: Uri) -> impl IntoResponse {
    ApiError::NoSuchRoute(format!("{method} {}", uri.path()))
}

/// The state for a database URL: a lazy pool (the server runs while the database is away) and a
/// task that follows change notifications for the response cache.
pub fn state(pool: PgPool) -> AppState {
    let cache = Arc::new(ResponseCache::default());
    let metrics = health::prometheus();
    tokio::spawn(cache::follow_changes(pool.clone(), cache.clone()));
    tokio::spawn(health::run_upkeep(metrics.clone()));
    AppState {
        pool,
        cache,
        metrics,
        log: None,
        attestation_links: Arc::default(),
    }
}

/// Serves until `shutdown` completes, then finishes in-flight requests.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let address: Option<SocketAddr> = listener.local_addr().ok();
    tracing::info!(?address, "registry listening");
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}
