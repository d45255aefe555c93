//! GET /, /health, /ready, /version, /metrics: the same answers as the official server (plus metrics).

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use serde::Serialize;
use time::OffsetDateTime;

use crate::app::AppState;

/// The ledger version whose proof-server API this server implements (answered by GET /version).
pub const COMPATIBLE_VERSION: &str = "8.1.0";

#[derive(Serialize)]
struct Health {
    status: &'static str,
    /// Serialised the way the official server does (time's `serde-human-readable` format).
    timestamp: OffsetDateTime,
}

pub async fn health() -> impl IntoResponse {
    Json(Health {
        status: "ok",
        timestamp: OffsetDateTime::now_utc(),
    })
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Ready {
    status: &'static str,
    jobs_processing: usize,
    jobs_pending: usize,
    job_capacity: usize,
    /// Serialised the way the official server does (time's `serde-human-readable` format).
    timestamp: OffsetDateTime,
}

pub async fn ready(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    let queue = state.jobs.status();
    let busy = queue.is_busy();
    let body = Ready {
        status: if busy { "busy" } else { "ok" },
        jobs_processing: queue.processing,
        jobs_pending: queue.pending,
        job_capacity: queue.capacity,
        timestamp: OffsetDateTime::now_utc(),
    };
    let status = if busy {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    (status, Json(body))
}

pub async fn version() -> &'static str {
    COMPATIBLE_VERSION
}

pub async fn metrics(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.render(state.jobs.status()),
    )
}
