//! The Azure trust path of an attestation key: the HCL report's hardware report is genuine (an
//! SEV-SNP report verified by crate::snp against AMD's pinned roots), it signs the runtime data
//! (the binding), and the runtime data's HCLAkPub is the quote's AK.
//!
//! TDX-backed HCL reports take the other path, super::azure_tdx, through their TD quote.

use super::hcl::{parse_hcl_report, HardwareKind, HclReport};
use super::public::AkKey;
use super::TpmError;
use crate::signature::VerifiedLinks;
use crate::snp::{SnpCertificates, SnpTrust, SnpVerifier, VerifiedSnpReport};

/// An AK vouched for by a verified SEV-SNP report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AzureAk {
    pub hcl: HclReport,
    pub snp: VerifiedSnpReport,
}

/// Everything [`verify_azure_ak`] needs besides the HCL report and the AK.
pub struct AzureTrust<'a> {
    /// The VCEK (and optionally ASK and ARK) of the chip; see crate::snp.
    pub snp_certificates: Option<SnpCertificates>,
    pub snp_trust: SnpTrust,
    pub at_unix_seconds: u64,
    pub links: &'a VerifiedLinks,
}

/// Checks that `hcl_report` vouches for `ak`; every failure is returned, not only the first.
pub fn verify_azure_ak(
    hcl_report: &[u8],
    ak: &AkKey,
    trust: &AzureTrust,
) -> Result<AzureAk, Vec<TpmError>> {
    let hcl = parse_hcl_report(hcl_report).map_err(|e| vec![e])?;
    let mut errors = hcl.check_binding_and_ak(ak);
    if hcl.kind == HardwareKind::Tdx {
        errors.push(TpmError::HclMalformed(
            "a TDX HCL report where an SEV-SNP one was expected: verify it with its TD quote (azure_tdx)".into(),
        ));
        return Err(errors);
    }
    let Some(certificates) = &trust.snp_certificates else {
        errors.push(TpmError::HclSnp(
            "no VCEK to verify the HCL report's SEV-SNP report with: fetch it from AMD KDS (or Azure's THIM) for the report's chip id and REPORTED_TCB".into(),
            "snp-certificates-missing",
        ));
        return Err(errors);
    };
    let verifier = SnpVerifier::without_cache(trust.snp_trust.clone());
    match verifier.verify_with_links(
        &hcl.hardware_report,
        certificates,
        trust.at_unix_seconds,
        trust.links,
    ) {
        Ok(snp) if errors.is_empty() => Ok(AzureAk { hcl, snp }),
        Ok(_) => Err(errors),
        Err(error) => {
            errors.push(TpmError::HclSnp(error.to_string(), error.code()));
            Err(errors)
        }
    }
}
