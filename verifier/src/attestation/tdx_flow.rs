//! The TDX checks: the DCAP quote with its collateral (crate::tdx), then REPORT_DATA = the
//! binding and MRTD/RTMR0-3 against the published `tdx` measurement sets.

use super::releases::{record_set_match, Candidate};
use super::verdict::Verdict;
use super::{Channel, VerifyOptions};
use crate::tdx::{parse_quote, verify_quote, TdQuoteBody, TdxCollateral, TdxError};

/// The collateral to use: the caller's (freshest, fetched for this check), else the evidence's,
/// else the policy's. Each proves itself, so the order only picks the likeliest to be current.
pub(super) fn collateral<'a>(
    options: &'a VerifyOptions,
    from_evidence: Option<&'a TdxCollateral>,
) -> Option<&'a TdxCollateral> {
    options
        .tdx_collateral
        .as_ref()
        .or(from_evidence)
        .or(options.settings.tdx.collateral.as_ref())
}

pub(super) fn verify(
    quote: &[u8],
    evidence_collateral: Option<&TdxCollateral>,
    channel: Option<&Channel>,
    options: &VerifyOptions,
    verdict: &mut Verdict,
) {
    let body = match parse_quote(quote) {
        Ok(body) => body,
        Err(error) => {
            fail(verdict, "quote", &error);
            return;
        }
    };
    check_quote(
        quote,
        collateral(options, evidence_collateral),
        options,
        verdict,
    );
    if let Some(channel) = channel {
        channel.check_report_data(&body.report_data, verdict);
    }
    match_release(&body, options, verdict);
}

/// Verifies the quote and records the signature, TCB and debug checks; the shared part of the
/// bare TDX flow and the Azure vTPM path.
pub(super) fn check_quote(
    quote: &[u8],
    collateral: Option<&TdxCollateral>,
    options: &VerifyOptions,
    verdict: &mut Verdict,
) -> bool {
    let Some(collateral) = collateral else {
        fail(verdict, "collateral", &TdxError::CollateralMissing);
        return false;
    };
    let trust = options.settings.tdx.trust(options.settings.allow_debug);
    match verify_quote(quote, collateral, &trust, options.now_unix_ms / 1000) {
        Ok(verified) => {
            verdict.pass(
                "signature and chain",
                format!(
                    "quote v{} (TD {}.{}) signed by a Quoting Enclave whose PCK chains to the pinned Intel root {}, with current collateral",
                    verified.body.quote_version,
                    verified.body.td_version / 10,
                    verified.body.td_version % 10,
                    hex::encode(verified.root_sha256)
                ),
            );
            verdict.pass(
                "tcb",
                format!(
                    "{}{}",
                    verified.tcb_status,
                    if verified.advisory_ids.is_empty() {
                        " (no advisories)".to_owned()
                    } else {
                        format!(" (advisories {})", verified.advisory_ids.join(", "))
                    }
                ),
            );
            verdict.pass(
                "debug",
                if verified.body.debug() {
                    "the TD is debuggable, and the trust policy allows that (never in production)"
                } else {
                    "the TD is not debuggable"
                },
            );
            true
        }
        Err(error) => {
            fail(verdict, "quote", &error);
            false
        }
    }
}

fn fail(verdict: &mut Verdict, name: &str, error: &TdxError) {
    verdict.fail(name, error.code(), error.to_string());
}

fn match_release(body: &TdQuoteBody, options: &VerifyOptions, verdict: &mut Verdict) {
    record_set_match(
        options.releases,
        &["tdx"],
        |candidate| check_registers(body, candidate),
        (
            "the TD",
            &format!(
                "the TD (MRTD {}) matches no trusted tdx measurement set",
                hex::encode(body.mr_td)
            ),
        ),
        verdict,
    );
}

/// The set's register names if every one is a TD register of the set's value.
fn check_registers(
    body: &TdQuoteBody,
    candidate: &Candidate,
) -> Result<String, (&'static str, String)> {
    if candidate.registers.is_empty() {
        return Err(("no-release-matched", "the set names no register".into()));
    }
    for (name, value) in &candidate.registers {
        let Some(found) = body.register(name) else {
            return Err((
                "no-release-matched",
                format!("register {name:?} is not MRTD or RTMR0-3"),
            ));
        };
        if found[..] != value[..] {
            return Err((
                "tdx-register-mismatch",
                format!(
                    "{name} is {}, the set says {}",
                    hex::encode(found),
                    hex::encode(value)
                ),
            ));
        }
    }
    Ok(candidate
        .registers
        .keys()
        .cloned()
        .collect::<Vec<_>>()
        .join(", "))
}
