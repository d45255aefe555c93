//! GET /attestation?nonce=<hex>: platform evidence binding the client's nonce and this server's TLS key.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::Json;
use serde::{Deserialize, Serialize};

use crate::app::AppState;
use crate::attestation::{Nonce, Platform};
use crate::error::AppError;

#[derive(Deserialize)]
pub struct AttestationQuery {
    #[serde(default)]
    nonce: String,
}

/// Everything a wallet needs to check the binding itself.
#[derive(Serialize)]
pub struct AttestationResponse {
    platform: Platform,
    /// The nonce as received, hex.
    nonce: String,
    /// DER SubjectPublicKeyInfo of the TLS key the evidence binds, hex. The wallet compares it with
    /// the key of the TLS connection it used.
    tls_public_key: String,
    /// SEV-SNP/TDX: the REPORT_DATA = SHA-512(nonce || tls_public_key), hex.
    #[serde(skip_serializing_if = "Option::is_none")]
    report_data: Option<String>,
    /// Nitro: the COSE_Sign1 attestation document; SEV-SNP: the report; TDX: the quote. Hex.
    evidence: String,
}

pub async fn attestation(
    State(state): State<Arc<AppState>>,
    Query(query): Query<AttestationQuery>,
) -> Result<Json<AttestationResponse>, AppError> {
    let nonce = Nonce::from_hex(&query.nonce).map_err(|e| AppError::BadRequest(e.to_string()))?;
    let identity = state.tls.as_ref().ok_or_else(|| {
        AppError::Unavailable(
            "attestation binds the TLS key of the connection, and TLS is off: start the server with --tls"
                .into(),
        )
    })?;
    let attester = state
        .attester
        .as_ref()
        .map_err(|e| AppError::Unavailable(e.to_string()))?
        .clone();
    let spki = identity.spki_der().to_vec();
    let evidence_nonce = nonce.clone();
    // A device round trip: keep it off the async workers.
    let evidence = tokio::task::spawn_blocking(move || attester.attest(&evidence_nonce, &spki))
        .await
        .map_err(|e| AppError::Internal(format!("attestation task failed: {e}")))?
        .map_err(|e| AppError::Unavailable(e.to_string()))?;
    Ok(Json(AttestationResponse {
        platform: evidence.platform,
        nonce: hex::encode(nonce.as_bytes()),
        tls_public_key: hex::encode(identity.spki_der()),
        report_data: evidence.report_data.map(hex::encode),
        evidence: hex::encode(&evidence.document),
    }))
}
