//! The evidence envelope a prover answers `GET /attestation?nonce=<hex>` with
//! (`mpr-attestation/v1`): the platform's raw evidence plus what the wallet needs to recompute the
//! binding. Nothing in it is trusted as such: the binding is recomputed, the evidence verified and
//! the staple's statement checked against the trust policy like any other.

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use super::vtpm_envelope::{RawPcrs, RawTpmFields, TpmEvidence};
use crate::tdx::TdxCollateral;

pub const ENVELOPE_FORMAT: &str = "mpr-attestation/v1";
/// Largest envelope accepted: evidence (a few KiB), certificates and a stapled release statement
/// (at most 1 MiB, base64) with its signatures and log proof.
pub const MAX_ENVELOPE_BYTES: usize = 2 << 20;
/// AMD publishes one CRL per product and key kind; more than this is not a deployment.
pub const MAX_ENVELOPE_CRLS: usize = 8;
/// The nonce lengths the binding accepts: long enough to be unguessable, short enough for NSM.
pub const MIN_NONCE_BYTES: usize = 16;
pub const MAX_NONCE_BYTES: usize = 64;

/// Which TEE produced the evidence (the registry's platform names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EvidencePlatform {
    AwsNitro,
    SevSnp,
    Tdx,
    /// A TPM 2.0 quote by a confidential VM's vTPM (GCP, Azure), with what vouches for its AK.
    Vtpm,
    /// A Confidential Space attestation token (the JWT's ASCII bytes), requested from the
    /// launcher with `eat_nonce` = lowercase hex of SHA-256(binding).
    GcpConfidentialSpace,
}

impl EvidencePlatform {
    pub fn as_str(self) -> &'static str {
        match self {
            EvidencePlatform::AwsNitro => "aws-nitro",
            EvidencePlatform::SevSnp => "sev-snp",
            EvidencePlatform::Tdx => "tdx",
            EvidencePlatform::Vtpm => "vtpm",
            EvidencePlatform::GcpConfidentialSpace => "gcp-confidential-space",
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEnvelope {
    format: String,
    platform: EvidencePlatform,
    nonce: String,
    tls_public_key: Option<String>,
    ohttp_key_config: String,
    binding: String,
    evidence: String,
    #[serde(default)]
    snp_certificate_table: Option<String>,
    #[serde(default)]
    snp_crls: Vec<String>,
    #[serde(default)]
    staple: Option<RawStaple>,
    // Platform `vtpm` (see super::vtpm_envelope): listed here, not flattened, because serde
    // cannot combine `flatten` with `deny_unknown_fields`.
    #[serde(default)]
    tpm_signature: Option<String>,
    #[serde(default)]
    tpm_ak_public: Option<String>,
    #[serde(default)]
    tpm_pcrs: Option<RawPcrs>,
    #[serde(default)]
    tpm_event_log: Option<String>,
    #[serde(default)]
    tpm_ak_certificate: Option<String>,
    #[serde(default)]
    tpm_ak_intermediates: Option<Vec<String>>,
    #[serde(default)]
    azure_hcl_report: Option<String>,
    /// Platform `vtpm` with a TDX HCL report: base64 of the TD quote of its TDREPORT.
    #[serde(default)]
    azure_td_quote: Option<String>,
    /// Platforms `tdx` and `vtpm` (Azure TDX): dcap-qvl QuoteCollateralV3 JSON.
    #[serde(default)]
    tdx_collateral: Option<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStaple {
    statement: String,
    signatures: Vec<String>,
    proof: String,
}

/// A release statement the prover was deployed with, returned beside its evidence so a wallet
/// needs no other fetch. The wallet checks the signatures and the proof itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Staple {
    pub statement: Vec<u8>,
    /// ASCII-armored OpenPGP signatures over `statement`.
    pub signatures: Vec<String>,
    /// A tlog-proof@v1 text for the statement's log entry.
    pub proof: String,
}

/// A decoded envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    pub platform: EvidencePlatform,
    pub nonce: Vec<u8>,
    pub tls_public_key: Option<Vec<u8>>,
    pub ohttp_key_config: Vec<u8>,
    /// The binding the server says it used; the verifier recomputes it and compares.
    pub binding: [u8; 64],
    pub evidence: Vec<u8>,
    pub snp_certificate_table: Option<Vec<u8>>,
    /// AMD CRLs (DER) the prover was given at deploy time. Safe to take from an untrusted
    /// server: a CRL counts only when AMD's pinned ARK signed it and it is current at the
    /// verification time, and dropping it makes the check fail, not pass.
    pub snp_crls: Vec<Vec<u8>>,
    pub staple: Option<Staple>,
    /// Platform `vtpm` only: the quote's signature, the AK and what vouches for it, the PCRs.
    pub tpm: Option<TpmEvidence>,
    /// Intel collateral for a TDX quote (platform `tdx`, or the TD quote of an Azure TDX vTPM).
    /// Safe to take from the server like the CRLs: it counts only if it chains to the pinned
    /// Intel root and is current, and a wallet's own collateral is preferred.
    pub tdx_collateral: Option<TdxCollateral>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    #[error("the evidence envelope is {0} bytes, more than the {MAX_ENVELOPE_BYTES} accepted")]
    TooLarge(usize),
    #[error("the evidence envelope is not valid {ENVELOPE_FORMAT} JSON: {0}")]
    Malformed(String),
    #[error("the evidence envelope's format is {0:?}; this verifier reads {ENVELOPE_FORMAT:?} (upgrade mpr, or the prover)")]
    UnknownFormat(String),
    #[error("the envelope's {field} is not {what}")]
    Field { field: &'static str, what: String },
}

impl EnvelopeError {
    pub fn code(&self) -> &'static str {
        "envelope-malformed"
    }
}

impl Envelope {
    pub fn parse(bytes: &[u8]) -> Result<Envelope, EnvelopeError> {
        if bytes.len() > MAX_ENVELOPE_BYTES {
            return Err(EnvelopeError::TooLarge(bytes.len()));
        }
        let raw: RawEnvelope = serde_json::from_slice(bytes)
            .map_err(|error| EnvelopeError::Malformed(error.to_string()))?;
        if raw.format != ENVELOPE_FORMAT {
            return Err(EnvelopeError::UnknownFormat(raw.format));
        }
        let nonce = hex_field("nonce", &raw.nonce)?;
        if !(MIN_NONCE_BYTES..=MAX_NONCE_BYTES).contains(&nonce.len()) {
            return Err(EnvelopeError::Field {
                field: "nonce",
                what: format!(
                    "{MIN_NONCE_BYTES} to {MAX_NONCE_BYTES} bytes (it has {})",
                    nonce.len()
                ),
            });
        }
        let binding = hex_field("binding", &raw.binding)?
            .try_into()
            .map_err(|_| EnvelopeError::Field {
                field: "binding",
                what: "64 bytes of hex".into(),
            })?;
        if raw.snp_crls.len() > MAX_ENVELOPE_CRLS {
            return Err(EnvelopeError::Field {
                field: "snp_crls",
                what: format!(
                    "a list of at most {MAX_ENVELOPE_CRLS} CRLs (it has {})",
                    raw.snp_crls.len()
                ),
            });
        }
        let snp_crls = raw
            .snp_crls
            .iter()
            .map(|text| hex_field("snp_crls", text))
            .collect::<Result<Vec<_>, _>>()?;
        let staple = match raw.staple {
            None => None,
            Some(staple) => Some(Staple {
                statement: base64_field("staple.statement", &staple.statement)?,
                signatures: staple.signatures,
                proof: staple.proof,
            }),
        };
        let tpm = TpmEvidence::from_raw(
            raw.platform,
            RawTpmFields {
                signature: raw.tpm_signature,
                ak_public: raw.tpm_ak_public,
                pcrs: raw.tpm_pcrs,
                event_log: raw.tpm_event_log,
                ak_certificate: raw.tpm_ak_certificate,
                ak_intermediates: raw.tpm_ak_intermediates,
                azure_hcl_report: raw.azure_hcl_report,
                azure_td_quote: raw.azure_td_quote,
            },
        )?;
        let tdx_collateral = match (raw.platform, raw.tdx_collateral) {
            (_, None) => None,
            (EvidencePlatform::Tdx | EvidencePlatform::Vtpm, Some(json)) => Some(
                TdxCollateral::from_value(json).map_err(|e| EnvelopeError::Field {
                    field: "tdx_collateral",
                    what: e.to_string(),
                })?,
            ),
            (platform, Some(_)) => {
                return Err(EnvelopeError::Field {
                    field: "tdx_collateral",
                    what: format!("expected on a {} envelope", platform.as_str()),
                })
            }
        };
        // A TPM quote and a Confidential Space token travel as base64 (the contract shared with
        // the prover's vTPM and Confidential Space backends); the other platforms' evidence as hex.
        let evidence = match raw.platform {
            EvidencePlatform::Vtpm | EvidencePlatform::GcpConfidentialSpace => {
                base64_field("evidence", &raw.evidence)?
            }
            _ => hex_field("evidence", &raw.evidence)?,
        };
        Ok(Envelope {
            platform: raw.platform,
            nonce,
            tls_public_key: raw
                .tls_public_key
                .map(|text| hex_field("tls_public_key", &text))
                .transpose()?,
            ohttp_key_config: hex_field("ohttp_key_config", &raw.ohttp_key_config)?,
            binding,
            evidence,
            snp_certificate_table: raw
                .snp_certificate_table
                .map(|text| hex_field("snp_certificate_table", &text))
                .transpose()?,
            snp_crls,
            staple,
            tpm,
            tdx_collateral,
        })
    }
}

pub(super) fn base64_field(field: &'static str, text: &str) -> Result<Vec<u8>, EnvelopeError> {
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|e| EnvelopeError::Field {
            field,
            what: format!("standard base64 ({e})"),
        })
}

pub(super) fn hex_field(field: &'static str, text: &str) -> Result<Vec<u8>, EnvelopeError> {
    hex::decode(text).map_err(|e| EnvelopeError::Field {
        field,
        what: format!("hex ({e})"),
    })
}
