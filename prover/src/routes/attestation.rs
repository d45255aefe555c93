//! GET /attestation?nonce=<hex>: platform evidence binding the client's nonce, this server's TLS key
//! (when TLS is on) and its OHTTP key config, in the `mpr-attestation/v1` envelope.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::Json;
use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::app::AppState;
use crate::attestation::{Nonce, Platform, TpmEvidence};
use crate::error::AppError;
use crate::staple::Staple;

/// The envelope's format name; a new layout gets a new name.
pub const ENVELOPE_FORMAT: &str = "mpr-attestation/v1";

#[derive(Deserialize)]
pub struct AttestationQuery {
    #[serde(default)]
    nonce: String,
}

/// Everything a wallet needs to check the evidence and recompute the binding itself; nothing here is
/// trusted before the wallet has verified it.
#[derive(Serialize)]
pub struct AttestationEnvelope {
    format: &'static str,
    platform: Platform,
    /// The nonce as received, hex.
    nonce: String,
    /// DER SubjectPublicKeyInfo of the TLS key, hex; null when the server runs without TLS (the
    /// binding then covers an empty key).
    tls_public_key: Option<String>,
    /// One encoded OHTTP KeyConfig (RFC 9458 §3), hex: the key the wallet encrypts proving requests to.
    ohttp_key_config: String,
    /// SHA-512 binding v1 of nonce, TLS key and key config, hex (see `attestation::binding`).
    binding: String,
    /// Nitro: the COSE_Sign1 attestation document; SEV-SNP: the report: hex.
    /// TDX: the DCAP quote, base64. vTPM: the quote's TPMS_ATTEST, base64 (as every `tpm_*` field).
    /// GCP Confidential Space: the token's ASCII bytes, base64.
    evidence: String,
    /// SEV-SNP: the host's certificate table (configfs-tsm auxblob), hex, when the host gave one.
    #[serde(skip_serializing_if = "Option::is_none")]
    snp_certificate_table: Option<String>,
    /// SEV-SNP: AMD CRLs given at deploy time (`--snp-crl`), hex DER each.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    snp_crls: Vec<String>,
    /// The deploy-time release statement, signatures and log proof, when configured.
    #[serde(skip_serializing_if = "Option::is_none")]
    staple: Option<Staple>,
    #[serde(flatten)]
    tpm: Option<TpmFields>,
}

/// The vTPM's part of the envelope (platform `vtpm`), binary fields base64.
#[derive(Serialize)]
struct TpmFields {
    /// TPMT_SIGNATURE over `evidence` by the AK.
    tpm_signature: String,
    /// TPMT_PUBLIC of the AK.
    tpm_ak_public: String,
    /// `{"sha256": {"0": hex, …, "15": hex}}`: the PCRs whose digest the quote signs.
    tpm_pcrs: BTreeMap<&'static str, BTreeMap<u32, String>>,
    /// The firmware's TCG event log, when the kernel exposes one.
    #[serde(skip_serializing_if = "Option::is_none")]
    tpm_event_log: Option<String>,
    /// GCE: the AK certificate (DER) Google provisioned in NV; absent elsewhere.
    #[serde(skip_serializing_if = "Option::is_none")]
    tpm_ak_certificate: Option<String>,
    /// Azure: the HCL report from NV 0x01400001 (SEV-SNP/TDX report whose REPORT_DATA covers the
    /// runtime JSON naming the AK).
    #[serde(skip_serializing_if = "Option::is_none")]
    azure_hcl_report: Option<String>,
    /// Azure TDX: the TD quote (DCAP) of the HCL report's TDREPORT, from IMDS; absent on SEV-SNP.
    #[serde(skip_serializing_if = "Option::is_none")]
    azure_td_quote: Option<String>,
}

impl TpmFields {
    fn new(tpm: &TpmEvidence) -> TpmFields {
        let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
        let pcrs = tpm
            .pcrs
            .iter()
            .map(|(pcr, value)| (*pcr, hex::encode(value)))
            .collect();
        TpmFields {
            tpm_signature: b64(&tpm.signature),
            tpm_ak_public: b64(&tpm.ak_public),
            tpm_pcrs: BTreeMap::from([("sha256", pcrs)]),
            tpm_event_log: tpm.event_log.as_deref().map(b64),
            tpm_ak_certificate: tpm.ak_certificate.as_deref().map(b64),
            azure_hcl_report: tpm.azure_hcl_report.as_deref().map(b64),
            azure_td_quote: tpm.azure_td_quote.as_deref().map(b64),
        }
    }
}

pub async fn attestation(
    State(state): State<Arc<AppState>>,
    Query(query): Query<AttestationQuery>,
) -> Result<Json<AttestationEnvelope>, AppError> {
    let nonce = Nonce::from_hex(&query.nonce).map_err(|e| AppError::BadRequest(e.to_string()))?;
    let attester = state
        .attester
        .as_ref()
        .map_err(|e| AppError::Unavailable(e.to_string()))?
        .clone();
    let tls_spki = state
        .tls
        .as_ref()
        .map(|identity| identity.spki_der().to_vec());
    let key_config = state.ohttp.key_config().to_vec();
    let evidence_nonce = nonce.clone();
    let evidence_spki = tls_spki.clone();
    let evidence_key_config = key_config.clone();
    let crl_files = state.snp_crls.clone();
    // A device round trip and file reads: keep them off the async workers.
    let (evidence, snp_crls) = tokio::task::spawn_blocking(move || {
        let evidence = attester
            .attest(
                &evidence_nonce,
                evidence_spki.as_deref(),
                &evidence_key_config,
            )
            .map_err(|e| AppError::Unavailable(e.to_string()))?;
        let crls = match evidence.platform {
            Platform::SevSnp => crl_files.read().map_err(|e| {
                AppError::Unavailable(format!(
                    "--snp-crl: {e}; replace the file with a current CRL from AMD KDS"
                ))
            })?,
            _ => Vec::new(),
        };
        Ok::<_, AppError>((evidence, crls))
    })
    .await
    .map_err(|e| AppError::Internal(format!("attestation task failed: {e}")))??;
    Ok(Json(AttestationEnvelope {
        format: ENVELOPE_FORMAT,
        platform: evidence.platform,
        nonce: hex::encode(nonce.as_bytes()),
        tls_public_key: tls_spki.map(hex::encode),
        ohttp_key_config: hex::encode(key_config),
        binding: hex::encode(evidence.binding),
        // The encodings agreed with the verifier: hex where it came first, base64 since.
        evidence: match evidence.platform {
            Platform::Vtpm | Platform::Tdx | Platform::GcpConfidentialSpace => {
                base64::engine::general_purpose::STANDARD.encode(&evidence.document)
            }
            Platform::AwsNitro | Platform::SevSnp => hex::encode(&evidence.document),
        },
        snp_certificate_table: evidence.snp_certificate_table.map(hex::encode),
        snp_crls: snp_crls.iter().map(hex::encode).collect(),
        // Cloned per answer (at most ~2 MiB): attestation is asked once per session, not per proof.
        staple: state.staple.clone(),
        tpm: evidence.tpm.as_ref().map(TpmFields::new),
    }))
}
