//! Liveness, readiness and Prometheus metrics.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;

/// Latency buckets in seconds, fine-grained below 10 ms where a cached answer lands.
const LATENCY_BUCKETS: [f64; 14] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

#[derive(Debug, Serialize, ToSchema)]
pub struct Status {
    pub status: &'static str,
}

/// The process-wide Prometheus recorder: `metrics` has one global recorder, so servers started in
/// the same process (tests) share it.
pub fn prometheus() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new();
            let builder = builder
                .set_buckets_for_metric(
                    Matcher::Full("mpr_http_request_duration_seconds".to_owned()),
                    &LATENCY_BUCKETS,
                )
                .unwrap_or_else(|_| PrometheusBuilder::new());
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!("another metrics recorder is installed; /metrics will be empty");
            }
            handle
        })
        .clone()
}

/// Counts and times every routed request by method, route template and status.
pub async fn track(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str)
        .to_owned();
    let method = request.method().as_str().to_owned();
    let response = next.run(request).await;
    let status = response.status().as_str().to_owned();
    metrics::histogram!("mpr_http_request_duration_seconds", "method" => method.clone(), "route" => route.clone())
        .record(started.elapsed().as_secs_f64());
    metrics::counter!("mpr_http_requests_total", "method" => method, "route" => route, "status" => status).increment(1);
    response
}

/// Histograms are summarised lazily; without upkeep their samples would pile up between scrapes.
pub async fn run_upkeep(handle: PrometheusHandle) {
    let mut ticker = tokio::time::interval(Duration::from_secs(5));
    loop {
        ticker.tick().await;
        handle.run_upkeep();
    }
}

#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, body = Status)))]
pub async fn healthz() -> axum::Json<Status> {
    axum::Json(Status { status: "ok" })
}

#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses((status = 200, body = Status), (status = 503, body = ErrorBody)))]
pub async fn readyz(State(state): State<AppState>) -> Result<axum::Json<Status>, ApiError> {
    sqlx::query_scalar!("SELECT 1 AS \"one!\"")
        .fetch_one(&state.pool)
        .await?;
    Ok(axum::Json(Status { status: "ready" }))
}

#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain", body = String)))]
pub async fn metrics(State(state): State<AppState>) -> Response {
    metrics::gauge!("mpr_db_pool_connections").set(f64::from(state.pool.size()));
    metrics::gauge!("mpr_db_pool_idle_connections").set(state.pool.num_idle() as f64);
    metrics::gauge!("mpr_db_pool_max_connections")
        .set(f64::from(state.pool.options().get_max_connections()));
    metrics::gauge!("mpr_response_cache_following_changes").set(if state.cache.is_listening() {
        1.0
    } else {
        0.0
    });
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
        .into_response()
}
