//! The SEV-SNP checks: the report and its certificate chain (crate::snp), then the binding and
//! the launch measurement against the trusted releases.

use super::verdict::Verdict;
use super::{Channel, VerifyOptions};
use crate::signature::VerifiedLinks;
use crate::snp::{parse_certificate_table, SnpCertificates, SnpVerifier};

pub(super) fn verify(
    report: &[u8],
    certificate_table: Option<&[u8]>,
    evidence_crls: &[Vec<u8>],
    channel: Option<&Channel>,
    options: &VerifyOptions,
    verdict: &mut Verdict,
) {
    let certificates = match (certificate_table, &options.snp_leaf_certificate) {
        (_, Some(leaf)) => SnpCertificates {
            leaf: leaf.clone(),
            intermediate: None,
            ark: None,
        },
        (Some(table), None) => match parse_certificate_table(table) {
            Ok(certificates) => certificates,
            Err(error) => {
                verdict.fail("certificates", error.code(), error.to_string());
                return;
            }
        },
        (None, None) => {
            verdict.fail(
                "certificates",
                "snp-certificates-missing",
                "the evidence carries no certificate table and no VCEK was given: fetch the VCEK from AMD's KDS \
                 (https://kdsintf.amd.com/vcek/v1/<product>/<chip id hex>?blSPL=..&teeSPL=..&snpSPL=..&ucodeSPL=.. with the \
                 report's REPORTED_TCB) and pass it along",
            );
            return;
        }
    };
    let mut crls = options.snp_crls.clone();
    crls.extend_from_slice(evidence_crls);
    let trust = options.settings.snp_trust(crls);
    let verified = match SnpVerifier::without_cache(trust).verify_with_links(
        report,
        &certificates,
        options.now_unix_ms / 1000,
        options.verified_links.unwrap_or(&VerifiedLinks::disabled()),
    ) {
        Ok(verified) => verified,
        Err(error) => {
            verdict.fail("report", error.code(), error.to_string());
            return;
        }
    };
    verdict.pass(
        "signature and chain",
        format!(
            "report v{} signed by a {:?} of a {:?} chip, chained to a pinned AMD root",
            verified.report.version, verified.key_kind, verified.product
        ),
    );
    verdict.pass(
        "crl",
        if verified.crl_checked {
            format!(
                "the chain is not revoked in AMD's current CRL (CRLs offered: {} by the policy, {} by the caller, {} by the evidence)",
                options.settings.snp_crls.len(),
                options.snp_crls.len(),
                evidence_crls.len()
            )
        } else {
            "not checked: snp_check_crl = false in the trust policy".to_owned()
        },
    );
    verdict.pass("tcb", format!("{:?}", verified.tcb));
    verdict.pass(
        "debug",
        if verified.report.debug_allowed() {
            "the guest policy allows debugging, and so does the trust policy (never in production)"
        } else {
            "the guest policy forbids debugging"
        },
    );
    if let Some(channel) = channel {
        channel.check_report_data(&verified.report.report_data, verdict);
    }
    let measurement = verified.report.measurement;
    for candidate in options.releases.for_platform("sev-snp") {
        if candidate.registers.get("MEASUREMENT").map(Vec::as_slice) == Some(&measurement[..]) {
            verdict.pass(
                "measurements",
                format!("MEASUREMENT equal to {}", candidate.describe()),
            );
            verdict.matched = Some(candidate.matched());
            return;
        }
    }
    let deprecated = options
        .releases
        .deprecated_for("sev-snp")
        .find(|c| c.registers.get("MEASUREMENT").map(Vec::as_slice) == Some(&measurement[..]));
    match deprecated {
        Some(candidate) => verdict.fail(
            "measurements",
            "set-deprecated",
            format!("the VM runs {}, which its publisher has deprecated: upgrade the prover", candidate.describe()),
        ),
        None => verdict.fail(
            "measurements",
            "no-release-matched",
            format!(
                "MEASUREMENT {} matches no trusted sev-snp measurement set ({} active sets for this platform): \
                 a different image, firmware, vCPU count or VMM than any published one",
                hex::encode(measurement),
                options.releases.for_platform("sev-snp").count()
            ),
        ),
    }
}
