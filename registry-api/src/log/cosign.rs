//! Witness cosignatures: a witness that checked a checkpoint's consistency with the last one it saw
//! sends its C2SP tlog-cosignature line; the registry verifies it against the witness keys it was
//! configured with, stores it, and serves it under the checkpoint.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::http::{log_of, LogError};
use super::storage;
use crate::error::{ApiError, ErrorBody};
use crate::respond::RawBody;
use crate::state::AppState;
use verifier::tlog::{Note, NoteVerifier};

/// The longest cosignature line accepted (a timestamped Ed25519 one is about 130 bytes plus the
/// witness name).
pub const MAX_LINE_BYTES: usize = 1024;

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CosignatureSubmission {
    /// The size of the checkpoint cosigned (as served by GET /log/checkpoint).
    pub size: u64,
    /// The signature line: `— <witness name> <base64(key ID ‖ timestamp ‖ signature)>`.
    pub cosignature: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CosignatureAccepted {
    pub size: u64,
    pub witness: String,
    pub timestamp: u64,
}

#[utoipa::path(post, path = "/v1/log/cosignatures", tag = "log", request_body = CosignatureSubmission,
    responses((status = 201, body = CosignatureAccepted), (status = 400, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn submit(
    State(state): State<AppState>,
    RawBody(body): RawBody,
) -> Result<Response, LogError> {
    let log = log_of(&state)?;
    let submission: CosignatureSubmission = serde_json::from_slice(&body).map_err(|error| {
        LogError::BadRequest(format!(
            "the body must be JSON {{\"size\": <checkpoint size>, \"cosignature\": \"— <witness> <base64>\"}}: {error}"
        ))
    })?;
    let line = submission.cosignature.trim_end_matches('\n');
    if line.len() > MAX_LINE_BYTES {
        return Err(LogError::BadRequest(format!(
            "the cosignature line is longer than {MAX_LINE_BYTES} bytes"
        )));
    }
    let stored = storage::checkpoint(log.pool(), submission.size)
        .await?
        .ok_or_else(|| {
            ApiError::NotFound(format!(
                "the log has no checkpoint of size {}; cosign one served by GET /log/checkpoint",
                submission.size
            ))
        })?;
    // The line is parsed as the last signature of the stored note, with the note's own parser.
    let cosigned = Note::parse(&format!("{}{line}\n", stored.note))
        .map_err(|error| LogError::BadRequest(format!("cosignature line: {error}")))?;
    let signature = cosigned
        .signatures()
        .last()
        .expect("a parsed note has signatures")
        .clone();
    let witness = log
        .witnesses()
        .iter()
        .find(|witness| witness.name() == signature.name && witness.key_id() == signature.key_id)
        .ok_or_else(|| {
            let known: Vec<String> = log.witnesses().iter().map(NoteVerifier::vkey).collect();
            ApiError::SignatureRejected(format!(
                "unknown witness key {}+{:08x}: this registry accepts cosignatures from {}",
                signature.name,
                signature.key_id,
                if known.is_empty() {
                    "no witness (start it with --witness-key VKEY)".to_owned()
                } else {
                    known.join(", ")
                }
            ))
        })?;
    let timestamp = witness
        .verify_signature(cosigned.text(), &signature.signature)
        .map_err(|error| {
            ApiError::SignatureRejected(format!(
                "the cosignature by {} does not verify for the checkpoint of size {}: {error}",
                signature.name, submission.size
            ))
        })?
        .ok_or_else(|| {
            ApiError::SignatureRejected(format!(
                "{} is not a cosignature (tlog-cosignature v1) key",
                witness.vkey()
            ))
        })?;
    storage::store_cosignature(
        log.pool(),
        submission.size,
        &signature.name,
        signature.key_id,
        &format!("{line}\n"),
    )
    .await?;
    tracing::info!(witness = %signature.name, size = submission.size, "witness cosignature stored");
    // Served at once by this server (others follow the notification): a witness that reads the
    // checkpoint right after submitting sees its cosignature.
    if let Err(error) = super::integrator::publish(log).await {
        tracing::warn!(%error, "refreshing the served checkpoint after a cosignature");
    }
    Ok((
        StatusCode::CREATED,
        axum::Json(CosignatureAccepted {
            size: submission.size,
            witness: signature.name,
            timestamp,
        }),
    )
        .into_response())
}
