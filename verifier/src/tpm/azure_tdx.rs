//! The Azure TDX trust path of an attestation key: the HCL report's TDREPORT carries
//! SHA-256(runtime data) in its report_data, but a TDREPORT is MACed for the local platform only,
//! so the paravisor also has it quoted: the TD quote (DCAP, crate::tdx) is what a remote verifier
//! can check. The quote must be genuine and current, and carry the TDREPORT's report_data and
//! MRTD; the runtime data's HCLAkPub must be the quote's AK.

use super::hcl::{parse_hcl_report, HardwareKind, HclReport};
use super::public::AkKey;
use super::TpmError;
use crate::tdx::{parse_quote, verify_quote, TdxCollateral, TdxError, TdxTrust, VerifiedTdQuote};

/// MRTD in a TDREPORT: TDINFO starts at 512, after ATTRIBUTES and XFAM (8 bytes each).
const TDREPORT_MRTD_OFFSET: usize = 528;

/// An AK vouched for by a verified TD quote of the HCL report's TDREPORT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AzureTdxAk {
    pub hcl: HclReport,
    pub td: VerifiedTdQuote,
}

/// Everything [`verify_azure_tdx_ak`] needs besides the HCL report and the AK.
pub struct AzureTdxTrust<'a> {
    /// The TD quote of the TDREPORT (the envelope's `azure_td_quote`).
    pub td_quote: Option<&'a [u8]>,
    pub collateral: Option<&'a TdxCollateral>,
    pub tdx_trust: TdxTrust,
    pub at_unix_seconds: u64,
}

/// Checks that a TDX `hcl_report` and its TD quote vouch for `ak`; every failure is returned.
pub fn verify_azure_tdx_ak(
    hcl_report: &[u8],
    ak: &AkKey,
    trust: &AzureTdxTrust,
) -> Result<AzureTdxAk, Vec<TpmError>> {
    let hcl = parse_hcl_report(hcl_report).map_err(|e| vec![e])?;
    if hcl.kind != HardwareKind::Tdx {
        return Err(vec![TpmError::HclMalformed(
            "an SEV-SNP HCL report where a TDX one was expected".into(),
        )]);
    }
    let mut errors = hcl.check_binding_and_ak(ak);
    let Some(quote) = trust.td_quote else {
        errors.push(TpmError::AzureTdQuoteMissing);
        return Err(errors);
    };
    let tdx = |error: TdxError| TpmError::HclTdx(error.to_string(), error.code());
    let body = match parse_quote(quote) {
        Ok(body) => body,
        Err(error) => {
            errors.push(tdx(error));
            return Err(errors);
        }
    };
    let tdreport_mrtd = &hcl.hardware_report[TDREPORT_MRTD_OFFSET..TDREPORT_MRTD_OFFSET + 48];
    if body.mr_td[..] != *tdreport_mrtd {
        errors.push(TpmError::AzureTdQuoteMismatch(format!(
            "its MRTD is {}, the TDREPORT's {}",
            hex::encode(body.mr_td),
            hex::encode(tdreport_mrtd)
        )));
    }
    if body.report_data != hcl.report_data {
        errors.push(TpmError::AzureTdQuoteMismatch(format!(
            "its report_data is {}, the TDREPORT's {}",
            hex::encode(body.report_data),
            hex::encode(hcl.report_data)
        )));
    }
    let Some(collateral) = trust.collateral else {
        errors.push(tdx(TdxError::CollateralMissing));
        return Err(errors);
    };
    match verify_quote(quote, collateral, &trust.tdx_trust, trust.at_unix_seconds) {
        Ok(td) if errors.is_empty() => Ok(AzureTdxAk { hcl, td }),
        Ok(_) => Err(errors),
        Err(error) => {
            errors.push(tdx(error));
            Err(errors)
        }
    }
}
