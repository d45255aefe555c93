//! The `[attestation]` section of the trust policy: how strict the evidence checks are. Every field
//! is optional and defaults to the strict choice; the policy file's other sections say which
//! releases are trusted.
//!
//! ```toml
//! [attestation]
//! max_age_seconds = 300            # a Nitro document older than this is stale
//! max_future_skew_seconds = 30     # clock skew tolerated the other way
//! allow_debug = false              # never true in production: debug enclaves and VMs can be read by the host
//! nitro_roots = ["641a0321..."]    # SHA-256 of accepted root certificates (default: AWS Nitro Enclaves Root G1)
//! amd_arks = ["69d063b4...", ...]  # SHA-256 of accepted AMD root keys (default: ARK-Milan, ARK-Genoa, ARK-Turin)
//! snp_check_crl = true             # an AMD CRL must be supplied and the chain must not be revoked
//! snp_crls = ["""-----BEGIN X509 CRL-----
//! ...""", ...]                      # AMD CRLs (PEM) to use besides those the evidence or caller gives
//! snp_min_tcb = { bootloader = 4, tee = 0, snp = 22, microcode = 213 }   # fmc too on Turin
//! gcp_ak_roots = ["59475959...", ...]  # SHA-256 of accepted Google vTPM AK CA roots (default: both of Google's)
//! tpm_ak_roots = ["..."]           # SHA-256 of further AK CA certificates (a test CA for swtpm); default none
//! # GCP Confidential Space tokens (crate::confidential_space):
//! confidential_space_jwks = """{"keys": [...]}"""  # the JWKS signing OIDC tokens, inline (default: a
//!                                  # 2026-10-08 snapshot of Google's, roots/gcp/confidential_space_jwks.json;
//!                                  # Google rotates its keys, so a lasting policy pastes the current set
//!                                  # from the jwks_uri of confidentialcomputing.googleapis.com/.well-known/openid-configuration)
//! confidential_space_roots = ["..."]   # SHA-256 of roots PKI tokens (x5c) may chain to; default none (Google's
//!                                  # root: https://confidentialcomputing.googleapis.com/.well-known/attestation-pki-root)
//! confidential_space_audience = "mpr-attestation"   # the audience the prover asks the launcher for
//! confidential_space_min_support = "STABLE"         # USABLE, STABLE or LATEST: the image's support_attributes must list it
//! confidential_space_hwmodels = ["GCP_AMD_SEV", "GCP_AMD_SEV_ES", "GCP_INTEL_TDX"]   # the default; never GCP_SHIELDED_VM
//! # Intel TDX quotes (crate::tdx), bare or vouching for an Azure TDX vTPM's AK:
//! intel_roots = ["44a0196b..."]    # SHA-256 of accepted Intel roots (default: Intel SGX Root CA); another
//!                                  # root must end the collateral's issuer chains
//! tdx_allowed_tcb_statuses = ["SWHardeningNeeded"]   # accepted besides UpToDate (default: none); also
//!                                  # ConfigurationNeeded, ConfigurationAndSWHardeningNeeded, OutOfDate,
//!                                  # OutOfDateConfigurationNeeded, TDRelaunchAdvised(ConfigurationNeeded);
//!                                  # never Revoked. allow_debug above also admits debug TDs.
//! tdx_collateral = """{"tcb_info": ...}"""   # dcap-qvl QuoteCollateralV3 JSON for the hosts' FMSPC, used
//!                                  # when neither the caller nor the evidence supplies collateral
//! ```

use serde::Deserialize;

use crate::nitro::{NitroTrust, AWS_NITRO_ROOT_G1_SHA256};
use crate::snp::{SnpTrust, Tcb, MAX_CRL_BYTES};
use crate::tpm::ak_certificate::GCP_AK_ROOTS_SHA256;

use super::confidential_space_settings::{ConfidentialSpaceSettings, RawConfidentialSpace};
use super::tdx_settings::{RawTdx, TdxSettings};

pub const DEFAULT_MAX_AGE_SECONDS: u64 = 300;
pub const DEFAULT_MAX_FUTURE_SKEW_SECONDS: u64 = 30;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAttestationSettings {
    max_age_seconds: Option<u64>,
    max_future_skew_seconds: Option<u64>,
    allow_debug: Option<bool>,
    nitro_roots: Option<Vec<String>>,
    amd_arks: Option<Vec<String>>,
    snp_check_crl: Option<bool>,
    snp_crls: Option<Vec<String>>,
    snp_min_tcb: Option<RawTcb>,
    gcp_ak_roots: Option<Vec<String>>,
    tpm_ak_roots: Option<Vec<String>>,
    confidential_space_jwks: Option<String>,
    confidential_space_roots: Option<Vec<String>>,
    confidential_space_audience: Option<String>,
    confidential_space_min_support: Option<String>,
    confidential_space_hwmodels: Option<Vec<String>>,
    intel_roots: Option<Vec<String>>,
    tdx_allowed_tcb_statuses: Option<Vec<String>>,
    tdx_collateral: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTcb {
    fmc: Option<u8>,
    bootloader: u8,
    tee: u8,
    snp: u8,
    microcode: u8,
}

/// How evidence is judged; see the module documentation for the TOML.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttestationSettings {
    pub max_age_seconds: u64,
    pub max_future_skew_seconds: u64,
    pub allow_debug: bool,
    pub nitro_roots: Vec<[u8; 32]>,
    pub amd_arks: Vec<[u8; 32]>,
    pub snp_check_crl: bool,
    /// AMD CRLs (DER) the policy carries. Like every CRL, one counts only if the pinned ARK
    /// signed it and it is current, so a stale one here simply fails the check.
    pub snp_crls: Vec<Vec<u8>>,
    pub snp_min_tcb: Option<Tcb>,
    /// Google's vTPM CA roots an AK certificate may chain to (path `gcp-ak-certificate`).
    pub gcp_ak_roots: Vec<[u8; 32]>,
    /// Further AK CAs the policy pins, by the SHA-256 of their DER (path `policy-ak-root`); the
    /// certificate itself comes with the evidence (`tpm_ak_intermediates`).
    pub tpm_ak_roots: Vec<[u8; 32]>,
    /// GCP Confidential Space tokens: the pinned JWKS and roots, audience, minimum support level
    /// and hardware models.
    pub confidential_space: ConfidentialSpaceSettings,
    /// Intel TDX quotes: the pinned Intel roots, the TCB statuses accepted besides UpToDate, and
    /// collateral the policy carries.
    pub tdx: TdxSettings,
}

impl Default for AttestationSettings {
    fn default() -> Self {
        AttestationSettings {
            max_age_seconds: DEFAULT_MAX_AGE_SECONDS,
            max_future_skew_seconds: DEFAULT_MAX_FUTURE_SKEW_SECONDS,
            allow_debug: false,
            nitro_roots: vec![AWS_NITRO_ROOT_G1_SHA256],
            amd_arks: SnpTrust::default().ark_sha256,
            snp_check_crl: true,
            snp_crls: Vec::new(),
            snp_min_tcb: None,
            gcp_ak_roots: GCP_AK_ROOTS_SHA256.to_vec(),
            tpm_ak_roots: Vec::new(),
            confidential_space: ConfidentialSpaceSettings::default(),
            tdx: TdxSettings::default(),
        }
    }
}

impl AttestationSettings {
    pub(crate) fn from_raw(raw: RawAttestationSettings) -> Result<Self, String> {
        let defaults = AttestationSettings::default();
        let max_age_seconds = raw.max_age_seconds.unwrap_or(defaults.max_age_seconds);
        if max_age_seconds == 0 || max_age_seconds > 24 * 3600 {
            return Err(format!(
                "[attestation] max_age_seconds = {max_age_seconds}: use 1 to 86400 (the default is {DEFAULT_MAX_AGE_SECONDS})"
            ));
        }
        let max_future_skew_seconds = raw
            .max_future_skew_seconds
            .unwrap_or(defaults.max_future_skew_seconds);
        if max_future_skew_seconds > 3600 {
            return Err(format!(
                "[attestation] max_future_skew_seconds = {max_future_skew_seconds}: use 0 to 3600"
            ));
        }
        Ok(AttestationSettings {
            max_age_seconds,
            max_future_skew_seconds,
            allow_debug: raw.allow_debug.unwrap_or(false),
            nitro_roots: match raw.nitro_roots {
                Some(list) => fingerprints("nitro_roots", &list)?,
                None => defaults.nitro_roots,
            },
            amd_arks: match raw.amd_arks {
                Some(list) => fingerprints("amd_arks", &list)?,
                None => defaults.amd_arks,
            },
            snp_check_crl: raw.snp_check_crl.unwrap_or(true),
            snp_crls: raw
                .snp_crls
                .unwrap_or_default()
                .iter()
                .enumerate()
                .map(|(index, pem)| crl_from_pem(index, pem))
                .collect::<Result<_, _>>()?,
            snp_min_tcb: raw.snp_min_tcb.map(|t| Tcb {
                fmc: t.fmc,
                bootloader: t.bootloader,
                tee: t.tee,
                snp: t.snp,
                microcode: t.microcode,
            }),
            gcp_ak_roots: match raw.gcp_ak_roots {
                Some(list) => fingerprints("gcp_ak_roots", &list)?,
                None => defaults.gcp_ak_roots,
            },
            tpm_ak_roots: match raw.tpm_ak_roots {
                Some(list) => fingerprints("tpm_ak_roots", &list)?,
                None => Vec::new(),
            },
            confidential_space: ConfidentialSpaceSettings::from_raw(RawConfidentialSpace {
                jwks: raw.confidential_space_jwks,
                roots: raw
                    .confidential_space_roots
                    .map(|list| fingerprints("confidential_space_roots", &list))
                    .transpose()?,
                audience: raw.confidential_space_audience,
                min_support: raw.confidential_space_min_support,
                hwmodels: raw.confidential_space_hwmodels,
            })?,
            tdx: TdxSettings::from_raw(RawTdx {
                intel_roots: raw
                    .intel_roots
                    .map(|list| fingerprints("intel_roots", &list))
                    .transpose()?,
                allowed_tcb_statuses: raw.tdx_allowed_tcb_statuses,
                collateral: raw.tdx_collateral,
            })?,
        })
    }

    pub fn nitro_trust(&self) -> NitroTrust {
        NitroTrust {
            root_sha256: self.nitro_roots.clone(),
        }
    }

    /// The SEV-SNP trust for one verification: `crls` are DER CRLs from elsewhere (the caller's
    /// download from AMD KDS, the evidence), used together with the policy's own.
    pub fn snp_trust(&self, crls: Vec<Vec<u8>>) -> SnpTrust {
        let mut all = self.snp_crls.clone();
        all.extend(crls);
        SnpTrust {
            ark_sha256: self.amd_arks.clone(),
            allow_debug: self.allow_debug,
            min_tcb: self.snp_min_tcb,
            check_crl: self.snp_check_crl,
            crls: all,
        }
    }
}

fn crl_from_pem(index: usize, pem: &str) -> Result<Vec<u8>, String> {
    let fix = "paste AMD's CRL as PEM (openssl crl -inform DER -in crl.der)";
    if pem.len() > 2 * MAX_CRL_BYTES {
        return Err(format!(
            "[attestation] snp_crls[{index}] is larger than a CRL can be ({MAX_CRL_BYTES} bytes of DER)"
        ));
    }
    match der::pem::decode_vec(pem.trim().as_bytes()) {
        Ok(("X509 CRL", der)) => Ok(der),
        Ok((label, _)) => Err(format!(
            "[attestation] snp_crls[{index}] is a PEM {label:?}, not an \"X509 CRL\"; {fix}"
        )),
        Err(error) => Err(format!(
            "[attestation] snp_crls[{index}] is not PEM ({error}); {fix}"
        )),
    }
}

fn fingerprints(field: &str, list: &[String]) -> Result<Vec<[u8; 32]>, String> {
    if list.is_empty() {
        return Err(format!(
            "[attestation] {field} is empty: leave it out for the default roots, or list SHA-256 fingerprints"
        ));
    }
    list.iter()
        .map(|text| {
            let clean: String = text.chars().filter(|c| !c.is_whitespace() && *c != ':').collect();
            hex::decode(clean.to_ascii_lowercase())
                .ok()
                .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
                .ok_or_else(|| {
                    format!("[attestation] {field} entry {text:?} is not a SHA-256 fingerprint (64 hex digits)")
                })
        })
        .collect()
}
