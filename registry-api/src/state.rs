//! What every handler shares.

use std::sync::Arc;

use sqlx::PgPool;

use crate::cache::ResponseCache;

#[derive(Clone)]
pub struct AppState {
    pub pool: PgPool,
    pub cache: Arc<ResponseCache>,
    pub metrics: metrics_exporter_prometheus::PrometheusHandle,
    /// The transparency log, when this server runs one (`mpr serve` always does).
    pub log: Option<Arc<crate::log::Log>>,
    /// Certificate signatures POST /v1/attestations/verify has already checked, so a fleet's
    /// evidence costs one signature each (names, validity and pinning are checked every time).
    pub attestation_links: Arc<verifier::signature::VerifiedLinks>,
}
