//! Intel TDX DCAP quotes (v4 with a TD 1.0 body, v5 with TD 1.0 or 1.5): read and verified with
//! dcap-qvl's pure-Rust backend against collateral the caller supplies (nothing is fetched) and
//! an Intel root the trust policy pins by SHA-256. What dcap-qvl checks: the quote's signature
//! by its attestation key, the QE report's signature by the PCK and its hash of that key, the
//! PCK chain and the collateral's chains and signatures to the root, both CRLs, the collateral's
//! validity at the given time, the QE identity, the TDX module identity and the platform's TCB
//! level. What is decided here: which TCB statuses the policy accepts (only UpToDate by
//! default; Revoked never) and debug TDs (refused unless allow_debug).

mod error;

use dcap_qvl::configs::RustCryptoConfig;
use dcap_qvl::quote::{Quote, Report};
use dcap_qvl::verify::QuoteVerifier;
use dcap_qvl::QuoteCollateralV3;
use sha2::{Digest, Sha256};
use x509_cert::der::Encode as _;
use x509_cert::Certificate;

pub use dcap_qvl::TcbStatus;
pub use error::TdxError;

/// Largest quote accepted: header, a TD 1.5 body, the signatures, the QE report and a PEM PCK
/// chain of three certificates are about 5 KiB; configfs-tsm pads to 8 KiB.
pub const MAX_QUOTE_BYTES: usize = 64 << 10;
/// Largest collateral JSON accepted: chains, TCB info, QE identity and two CRLs are about 20 KB
/// (hex); Intel's Processor CA CRL is the only part that grows.
pub const MAX_COLLATERAL_BYTES: usize = 1 << 20;
/// The quote header's TEE type for TDX.
pub const TEE_TYPE_TDX: u32 = 0x81;

/// Intel SGX Root CA (valid 2018-05-21 to 2049-12-31), the root of every PCK and collateral chain.
pub const INTEL_SGX_ROOT_CA_DER: &[u8] = include_bytes!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/roots/intel/sgx-root-ca.der"
));
/// SHA-256 of [`INTEL_SGX_ROOT_CA_DER`]: the default `intel_roots` pin.
pub const INTEL_SGX_ROOT_CA_SHA256: [u8; 32] =
    crate::snp::hex_literal("44a0196b2b99f889b8e149e95b807a350e7424964399e885a7cbb8ccfab674d3");

/// The TCB statuses a policy may accept besides UpToDate. Revoked is not among them.
pub const ACCEPTABLE_TCB_STATUSES: [TcbStatus; 7] = [
    TcbStatus::SWHardeningNeeded,
    TcbStatus::ConfigurationNeeded,
    TcbStatus::ConfigurationAndSWHardeningNeeded,
    TcbStatus::OutOfDate,
    TcbStatus::OutOfDateConfigurationNeeded,
    TcbStatus::TDRelaunchAdvised,
    TcbStatus::TDRelaunchAdvisedConfigurationNeeded,
];

/// The collateral one quote is verified with (dcap-qvl's `QuoteCollateralV3`). It proves
/// itself: it counts only if its chains end at the pinned root and it is current, so it is safe
/// to take from the prover.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TdxCollateral(QuoteCollateralV3);

impl TdxCollateral {
    /// dcap-qvl's JSON form: PEM chains, TCB info and QE identity as JSON text, signatures and
    /// CRLs as hex.
    pub fn from_json(bytes: &[u8]) -> Result<TdxCollateral, TdxError> {
        if bytes.len() > MAX_COLLATERAL_BYTES {
            return Err(TdxError::CollateralTooLarge {
                found: bytes.len(),
                limit: MAX_COLLATERAL_BYTES,
            });
        }
        serde_json::from_slice(bytes)
            .map(TdxCollateral)
            .map_err(|e| TdxError::CollateralMalformed(e.to_string()))
    }

    /// The same, from JSON already parsed (an envelope's or a policy's field).
    pub fn from_value(value: serde_json::Value) -> Result<TdxCollateral, TdxError> {
        Self::from_json(value.to_string().as_bytes())
    }

    pub fn as_dcap(&self) -> &QuoteCollateralV3 {
        &self.0
    }

    /// The roots its issuer chains end in (the last certificate of each), DER.
    fn offered_roots(&self) -> Vec<Vec<u8>> {
        let c = &self.0;
        let mut roots: Vec<Vec<u8>> = Vec::new();
        for chain in [
            &c.tcb_info_issuer_chain,
            &c.qe_identity_issuer_chain,
            &c.pck_crl_issuer_chain,
        ] {
            let last = Certificate::load_pem_chain(chain.as_bytes())
                .ok()
                .and_then(|certificates| certificates.last().and_then(|c| c.to_der().ok()));
            if let Some(der) = last.filter(|der| !roots.contains(der)) {
                roots.push(der);
            }
        }
        roots
    }
}

/// The TD fields of a quote body that releases and bindings are compared with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TdQuoteBody {
    /// The quote format: 4 or 5.
    pub quote_version: u16,
    /// 10 for a TD 1.0 body, 15 for TD 1.5.
    pub td_version: u8,
    pub mr_td: [u8; 48],
    pub rtmrs: [[u8; 48]; 4],
    pub report_data: [u8; 64],
    pub td_attributes: [u8; 8],
    pub mr_seam: [u8; 48],
    pub tee_tcb_svn: [u8; 16],
}

impl TdQuoteBody {
    /// The registry's register names (platform `tdx`) and their values.
    pub fn registers(&self) -> [(&'static str, &[u8; 48]); 5] {
        [
            ("MRTD", &self.mr_td),
            ("RTMR0", &self.rtmrs[0]),
            ("RTMR1", &self.rtmrs[1]),
            ("RTMR2", &self.rtmrs[2]),
            ("RTMR3", &self.rtmrs[3]),
        ]
    }

    pub fn register(&self, name: &str) -> Option<&[u8; 48]> {
        self.registers()
            .into_iter()
            .find(|(known, _)| *known == name)
            .map(|(_, value)| value)
    }

    /// TD_ATTRIBUTES bit 0: the host can read and change the TD.
    pub fn debug(&self) -> bool {
        self.td_attributes[0] & 1 != 0
    }
}

/// Reads a quote's header and TD body without verifying anything: for knowing which releases to
/// fetch and for comparing with other evidence; trust comes from [`verify_quote`] only.
pub fn parse_quote(bytes: &[u8]) -> Result<TdQuoteBody, TdxError> {
    let quote = decode(bytes)?;
    body(&quote)
}

fn decode(bytes: &[u8]) -> Result<Quote, TdxError> {
    if bytes.len() > MAX_QUOTE_BYTES {
        return Err(TdxError::QuoteTooLarge {
            found: bytes.len(),
            limit: MAX_QUOTE_BYTES,
        });
    }
    let quote = Quote::parse(bytes).map_err(|e| TdxError::QuoteMalformed(format!("{e:#}")))?;
    if quote.header.tee_type != TEE_TYPE_TDX || !matches!(quote.header.version, 4 | 5) {
        return Err(TdxError::QuoteMalformed(format!(
            "version {} with TEE type {:#x}, not a TDX quote (version 4 or 5, TEE type 0x81)",
            quote.header.version, quote.header.tee_type
        )));
    }
    Ok(quote)
}

fn body(quote: &Quote) -> Result<TdQuoteBody, TdxError> {
    let (td, td_version) = match &quote.report {
        Report::TD10(td) => (td, 10),
        Report::TD15(td) => (&td.base, 15),
        Report::TD15Ex(td) => (&td.base.base, 15),
        Report::SgxEnclave(_) => {
            return Err(TdxError::QuoteMalformed(
                "an SGX enclave report, not a TD report".into(),
            ))
        }
    };
    Ok(TdQuoteBody {
        quote_version: quote.header.version,
        td_version,
        mr_td: td.mr_td,
        rtmrs: [td.rt_mr0, td.rt_mr1, td.rt_mr2, td.rt_mr3],
        report_data: td.report_data,
        td_attributes: td.td_attributes,
        mr_seam: td.mr_seam,
        tee_tcb_svn: td.tee_tcb_svn,
    })
}

/// What the trust policy says about TDX quotes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TdxTrust {
    /// SHA-256 of the Intel roots accepted (default: [`INTEL_SGX_ROOT_CA_SHA256`]).
    pub root_sha256: Vec<[u8; 32]>,
    /// TCB statuses accepted besides UpToDate (from [`ACCEPTABLE_TCB_STATUSES`]).
    pub allowed_tcb_statuses: Vec<TcbStatus>,
    pub allow_debug: bool,
}

impl Default for TdxTrust {
    fn default() -> Self {
        TdxTrust {
            root_sha256: vec![INTEL_SGX_ROOT_CA_SHA256],
            allowed_tcb_statuses: Vec::new(),
            allow_debug: false,
        }
    }
}

/// A quote that verified, with the TCB status the policy accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedTdQuote {
    pub body: TdQuoteBody,
    pub tcb_status: TcbStatus,
    /// Intel security advisories (INTEL-SA-…) that apply to the platform's TCB level.
    pub advisory_ids: Vec<String>,
    /// SHA-256 of the pinned root every chain ended in.
    pub root_sha256: [u8; 32],
}

/// Verifies `quote` with `collateral` at `at_unix_seconds`, then judges its TCB status.
pub fn verify_quote(
    quote: &[u8],
    collateral: &TdxCollateral,
    trust: &TdxTrust,
    at_unix_seconds: u64,
) -> Result<VerifiedTdQuote, TdxError> {
    let parsed = body(&decode(quote)?)?;
    let (root, root_sha256) = pinned_root(collateral, &trust.root_sha256)?;
    let report = QuoteVerifier::new(root)
        .with_config::<RustCryptoConfig>()
        .allow_debug(trust.allow_debug)
        .verify(quote, &collateral.0, at_unix_seconds)
        .map_err(|error| TdxError::from_dcap(&error, at_unix_seconds))?;
    let tcb_status: TcbStatus =
        serde_json::from_value(serde_json::Value::String(report.status.clone()))
            .map_err(|_| TdxError::Invalid(format!("unknown TCB status {:?}", report.status)))?;
    judge_status(tcb_status, &report.advisory_ids, trust)?;
    Ok(VerifiedTdQuote {
        body: parsed,
        tcb_status,
        advisory_ids: report.advisory_ids,
        root_sha256,
    })
}

/// UpToDate passes; another status only if the policy lists it; Revoked never.
pub(crate) fn judge_status(
    status: TcbStatus,
    advisory_ids: &[String],
    trust: &TdxTrust,
) -> Result<(), TdxError> {
    let advisories = if advisory_ids.is_empty() {
        String::new()
    } else {
        format!(" (advisories {})", advisory_ids.join(", "))
    };
    match status {
        TcbStatus::UpToDate => Ok(()),
        TcbStatus::Revoked => Err(TdxError::TcbRevoked(advisories)),
        status if trust.allowed_tcb_statuses.contains(&status) => Ok(()),
        status => Err(TdxError::TcbStatusNotAllowed {
            status: status.to_string(),
            advisories,
        }),
    }
}

/// The root to verify against: Intel's built-in one or one the collateral's chains end in,
/// whichever the policy pins. Pinning by digest lets a test or private PCCS root be used
/// without shipping it here.
fn pinned_root(
    collateral: &TdxCollateral,
    pinned: &[[u8; 32]],
) -> Result<(Vec<u8>, [u8; 32]), TdxError> {
    let mut offered = vec![INTEL_SGX_ROOT_CA_DER.to_vec()];
    offered.extend(collateral.offered_roots());
    let mut digests = Vec::new();
    for root in offered {
        let digest: [u8; 32] = Sha256::digest(&root).into();
        if pinned.contains(&digest) {
            return Ok((root, digest));
        }
        if !digests.contains(&digest) {
            digests.push(digest);
        }
    }
    let list = |digests: &[[u8; 32]]| {
        digests
            .iter()
            .map(hex::encode)
            .collect::<Vec<_>>()
            .join(", ")
    };
    Err(TdxError::RootNotPinned {
        offered: list(&digests),
        pinned: if pinned.is_empty() {
            "none".into()
        } else {
            list(pinned)
        },
    })
}

#[cfg(test)]
pub(crate) mod tests;
