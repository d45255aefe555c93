//! `POST /v1/attestations/verify`: attestation evidence judged by the registry, for clients that
//! cannot embed the verifier crate. A convenience, not a source of trust: the answer is only as
//! good as this registry and the connection to it. Wallets verify themselves (`mpr attest`, the
//! verifier crate) against signed statements and log proofs.
//!
//! The evidence is checked with the verifier's default (strict) settings against the measurement
//! sets this registry records, active ones accepted, deprecated ones named as such.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde::Deserialize;
use serde_json::Value;
use utoipa::ToSchema;
use verifier::attestation::{
    verify, AttestationSettings, Candidate, Envelope, EvidenceInput, TrustedReleases, VerifyOptions,
};

use crate::error::{ApiError, ErrorBody};
use crate::measurements::{matching, MeasurementFilter};
use crate::respond::Json;
use crate::state::AppState;

/// What a client sends: the envelope its prover answered and the nonce it sent.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyRequest {
    /// The prover's `mpr-attestation/v1` answer, as received.
    #[schema(value_type = Object)]
    pub evidence: Value,
    /// The nonce the client sent to the prover (hex).
    pub nonce: String,
    /// SEV-SNP: the VCEK (DER, standard base64) when the evidence has no certificate table.
    #[serde(default)]
    pub snp_vcek: Option<String>,
    /// SEV-SNP: AMD CRLs (DER, standard base64); without one, SEV-SNP evidence is rejected.
    #[serde(default)]
    pub snp_crls: Vec<String>,
}

#[utoipa::path(post, path = "/v1/attestations/verify", tag = "attestations", request_body = VerifyRequest,
    responses((status = 200, description = "the verdict (accepted or not, every check and reason)", body = Object),
              (status = 422, body = ErrorBody)))]
pub async fn verify_evidence(
    State(state): State<AppState>,
    Json(request): Json<VerifyRequest>,
) -> Result<Response, ApiError> {
    let envelope_bytes = serde_json::to_vec(&request.evidence).map_err(ApiError::internal)?;
    let envelope =
        Envelope::parse(&envelope_bytes).map_err(|e| ApiError::invalid(e.to_string()))?;
    let nonce = hex::decode(&request.nonce).map_err(|_| ApiError::invalid("nonce must be hex"))?;
    let decode = |field: &str, text: &str| {
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .map_err(|_| ApiError::invalid(format!("{field} must be standard base64")))
    };
    let snp_leaf_certificate = request
        .snp_vcek
        .as_deref()
        .map(|text| decode("snp_vcek", text))
        .transpose()?;
    let snp_crls = request
        .snp_crls
        .iter()
        .map(|text| decode("snp_crls", text))
        .collect::<Result<Vec<_>, _>>()?;

    let settings = AttestationSettings::default();
    let now_unix_ms = chrono::Utc::now().timestamp_millis().max(0) as u64;
    let evidence = EvidenceInput::Envelope(Box::new(envelope));
    let releases = match evidence.primary_register(&settings, now_unix_ms) {
        Some(value) => recorded_releases(&state, &hex::encode(value)).await?,
        None => TrustedReleases::default(),
    };
    let verdict = verify(
        &evidence,
        &VerifyOptions {
            expected_nonce: Some(&nonce),
            now_unix_ms,
            settings: &settings,
            releases: &releases,
            snp_leaf_certificate,
            snp_crls,
            tdx_collateral: None,
            allow_unbound: false,
            verified_links: Some(&state.attestation_links),
        },
    );
    Ok(axum::Json(verdict).into_response())
}

/// The measurement sets recorded with `value` in a register, active and deprecated.
async fn recorded_releases(state: &AppState, value: &str) -> Result<TrustedReleases, ApiError> {
    let filter = MeasurementFilter {
        status: None,
        ..MeasurementFilter::default()
    };
    let mut releases = TrustedReleases::default();
    for (_, found) in matching(&state.pool, None, &filter, Some(value)).await? {
        let candidate = Candidate {
            package: found.package,
            version: found.version,
            release_statement_sha256: found.statement.sha256,
            measurement_set: found.set,
            platform: found.measurement.platform.as_str().to_owned(),
            parameters: found.measurement.parameters.into_iter().collect(),
            registers: found
                .measurement
                .registers
                .into_iter()
                .filter_map(|(name, value)| {
                    value
                        .as_str()
                        .and_then(|hex| hex::decode(hex).ok())
                        .map(|bytes| (name, bytes))
                })
                .collect(),
        };
        if found.set_status == "active" {
            releases.active.push(candidate);
        } else {
            releases.deprecated.push(candidate);
        }
    }
    Ok(releases)
}
