//! POST /k, /check, /prove, /prove-tx; GET /proof-versions, /fetch-params/{k}: the official server's proving API.
//! Bodies are raw tagged Midnight encodings (the Content-Type is not checked, as upstream); every job
//! goes through the bounded queue, /k included (big circuits take most of a second to size).

use std::sync::Arc;
use std::time::Instant;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::Uri;
use axum::response::Response;
use percent_encoding::percent_decode_str;

use crate::app::AppState;
use crate::error::AppError;
use crate::jobs::JobError;
use crate::proving::{Prover, ProvingError, PublicParams};

/// Largest request body: a /prove with its own key material carries the prover key (5.7 MB for the
/// k = 14 zswap output circuit, far more for large contracts).
pub const MAX_BODY_BYTES: usize = 256 << 20;

pub async fn k(State(state): State<Arc<AppState>>, body: Bytes) -> Result<Response, AppError> {
    let k = run_job(&state, "k", move || Prover::k(&body)).await?;
    Ok(untyped(k))
}

pub async fn check(State(state): State<Arc<AppState>>, body: Bytes) -> Result<Response, AppError> {
    binary_job(&state, "check", move |prover| prover.check(&body)).await
}

pub async fn prove(State(state): State<Arc<AppState>>, body: Bytes) -> Result<Response, AppError> {
    binary_job(&state, "prove", move |prover| prover.prove(&body)).await
}

pub async fn prove_tx(
    State(state): State<Arc<AppState>>,
    body: Bytes,
) -> Result<Response, AppError> {
    binary_job(&state, "prove-tx", move |prover| prover.prove_tx(&body)).await
}

/// A job whose answer is a tagged binary encoding.
async fn binary_job(
    state: &AppState,
    endpoint: &'static str,
    job: impl FnOnce(&Prover) -> Result<Vec<u8>, ProvingError> + Send + 'static,
) -> Result<Response, AppError> {
    let prover = state.prover.clone();
    let answer = run_job(state, endpoint, move || job(&prover)).await?;
    Ok(untyped(answer))
}

/// The official server answers /k, /check, /prove and /prove-tx with a bare body, no Content-Type
/// (actix's `HttpResponse::Ok().body(…)`); clients see the header, and CORS exposes the list.
fn untyped(body: impl Into<Body>) -> Response {
    Response::new(body.into())
}

pub async fn proof_versions() -> String {
    Prover::proof_versions()
}

/// The route matches one segment whatever it holds, so the extraction errors are upstream's: actix's
/// path extractor decodes the segment lossily and answers 404 when it is not a u8.
pub async fn fetch_params(
    State(state): State<Arc<AppState>>,
    uri: Uri,
) -> Result<&'static str, AppError> {
    let segment = uri.path().rsplit('/').next().unwrap_or_default();
    let segment = percent_decode_str(segment).decode_utf8_lossy();
    let Ok(k) = segment.parse::<u8>() else {
        return Err(AppError::NotFound(format!(
            "can not parse {segment:?} to a u8"
        )));
    };
    // Refused before queueing, as upstream does.
    PublicParams::check_fetchable(k)?;
    let prover = state.prover.clone();
    run_job(&state, "fetch-params", move || prover.params().fetch_k(k)).await?;
    Ok("success")
}

/// Runs a job on the queue and records its outcome and latency.
async fn run_job<T: Send + 'static>(
    state: &AppState,
    endpoint: &'static str,
    job: impl FnOnce() -> Result<T, ProvingError> + Send + 'static,
) -> Result<T, AppError> {
    let started = Instant::now();
    let result = state.jobs.run(job).await;
    let outcome = match &result {
        Ok(Ok(_)) => "ok",
        Ok(Err(ProvingError::BadInput(_))) => "bad_input",
        Err(JobError::QueueFull { .. }) => "rejected",
        Err(JobError::TimedOut(_)) => "timed_out",
        Ok(Err(ProvingError::Internal(_))) | Err(_) => "error",
    };
    state
        .metrics
        .record_job(endpoint, outcome, started.elapsed());
    Ok(result??)
}
