//! The envelope fields of platform `vtpm` (the contract shared with the prover's vTPM backend):
//!
//! - `evidence`: base64 of the TPMS_ATTEST TPM2_Quote returned (the TPM2B_ATTEST contents)
//! - `tpm_signature`: base64 TPMT_SIGNATURE
//! - `tpm_ak_public`: base64 TPMT_PUBLIC of the AK (the TPM2B_PUBLIC contents)
//! - `tpm_pcrs`: `{"sha256": {"0": "<hex>", …}}`, the values of the PCRs the quote selects
//! - `tpm_event_log` (optional): base64 of binary_bios_measurements
//! - `tpm_ak_certificate` (optional): base64 DER; `tpm_ak_intermediates` (optional): base64 DER list
//! - `azure_hcl_report` (optional): base64 of the raw content of vTPM NV index 0x01400001
//! - `azure_td_quote` (with a TDX HCL report): base64 of the DCAP TD quote of the HCL report's
//!   TDREPORT; its collateral comes as the envelope's `tdx_collateral`, the caller's or the policy's
//!
//! The quote's qualifying data is SHA-256(binding): TPM2B_DATA holds at most 50 bytes on vTPMs
//! without SHA-512, too few for the 64-byte binding itself.

use std::collections::BTreeMap;

use super::envelope::{base64_field, EnvelopeError, EvidencePlatform};
use crate::tpm::ak_certificate::MAX_AK_INTERMEDIATES;
use crate::tpm::{HashAlg, PcrBanks, PCR_COUNT};

/// `tpm_pcrs` as written: bank name → decimal PCR index → hex value.
pub(super) type RawPcrs = BTreeMap<String, BTreeMap<String, String>>;

pub(super) struct RawTpmFields {
    pub signature: Option<String>,
    pub ak_public: Option<String>,
    pub pcrs: Option<RawPcrs>,
    pub event_log: Option<String>,
    pub ak_certificate: Option<String>,
    pub ak_intermediates: Option<Vec<String>>,
    pub azure_hcl_report: Option<String>,
    pub azure_td_quote: Option<String>,
}

/// The decoded `vtpm` fields (the quote itself is the envelope's `evidence`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TpmEvidence {
    pub signature: Vec<u8>,
    pub ak_public: Vec<u8>,
    pub pcrs: PcrBanks,
    pub event_log: Option<Vec<u8>>,
    pub ak_certificate: Option<Vec<u8>>,
    pub ak_intermediates: Vec<Vec<u8>>,
    pub azure_hcl_report: Option<Vec<u8>>,
    pub azure_td_quote: Option<Vec<u8>>,
}

impl TpmEvidence {
    /// The fields of a `vtpm` envelope; none at all for another platform.
    pub(super) fn from_raw(
        platform: EvidencePlatform,
        raw: RawTpmFields,
    ) -> Result<Option<TpmEvidence>, EnvelopeError> {
        if platform != EvidencePlatform::Vtpm {
            let present = [
                ("tpm_signature", raw.signature.is_some()),
                ("tpm_ak_public", raw.ak_public.is_some()),
                ("tpm_pcrs", raw.pcrs.is_some()),
                ("tpm_event_log", raw.event_log.is_some()),
                ("tpm_ak_certificate", raw.ak_certificate.is_some()),
                ("tpm_ak_intermediates", raw.ak_intermediates.is_some()),
                ("azure_hcl_report", raw.azure_hcl_report.is_some()),
                ("azure_td_quote", raw.azure_td_quote.is_some()),
            ];
            if let Some((field, _)) = present.iter().find(|(_, present)| *present) {
                return Err(EnvelopeError::Field {
                    field,
                    what: format!("expected on a {} envelope", platform.as_str()),
                });
            }
            return Ok(None);
        }
        let required = |field: &'static str, value: Option<String>| {
            let text = value.ok_or_else(|| EnvelopeError::Field {
                field,
                what: "present: a vtpm envelope needs it".into(),
            })?;
            base64_field(field, &text)
        };
        let optional = |field: &'static str, value: Option<String>| {
            value.map(|text| base64_field(field, &text)).transpose()
        };
        let intermediates = raw.ak_intermediates.unwrap_or_default();
        if intermediates.len() > MAX_AK_INTERMEDIATES {
            return Err(EnvelopeError::Field {
                field: "tpm_ak_intermediates",
                what: format!("a list of at most {MAX_AK_INTERMEDIATES} certificates"),
            });
        }
        Ok(Some(TpmEvidence {
            signature: required("tpm_signature", raw.signature)?,
            ak_public: required("tpm_ak_public", raw.ak_public)?,
            pcrs: pcrs(raw.pcrs.ok_or_else(|| EnvelopeError::Field {
                field: "tpm_pcrs",
                what: "present: a vtpm envelope needs it".into(),
            })?)?,
            event_log: optional("tpm_event_log", raw.event_log)?,
            ak_certificate: optional("tpm_ak_certificate", raw.ak_certificate)?,
            ak_intermediates: intermediates
                .iter()
                .map(|text| base64_field("tpm_ak_intermediates", text))
                .collect::<Result<_, _>>()?,
            azure_hcl_report: optional("azure_hcl_report", raw.azure_hcl_report)?,
            azure_td_quote: optional("azure_td_quote", raw.azure_td_quote)?,
        }))
    }
}

fn pcrs(raw: RawPcrs) -> Result<PcrBanks, EnvelopeError> {
    let bad = |what: String| EnvelopeError::Field {
        field: "tpm_pcrs",
        what,
    };
    let mut banks = PcrBanks::new();
    for (name, values) in raw {
        let bank = HashAlg::from_name(&name).ok_or_else(|| {
            bad(format!(
                "a map of sha1, sha256 or sha384 banks (not {name:?})"
            ))
        })?;
        let mut pcrs = BTreeMap::new();
        for (index, value) in values {
            let pcr = index
                .parse::<u8>()
                .ok()
                .filter(|pcr| usize::from(*pcr) < PCR_COUNT && pcr.to_string() == index)
                .ok_or_else(|| bad(format!("indexed by PCR numbers 0 to 23 (not {index:?})")))?;
            let value = hex::decode(&value)
                .ok()
                .filter(|value| value.len() == bank.size())
                .ok_or_else(|| {
                    bad(format!(
                        "{name} PCR {index} as {} bytes of hex",
                        bank.size()
                    ))
                })?;
            pcrs.insert(pcr, value);
        }
        banks.insert(bank, pcrs);
    }
    Ok(banks)
}
