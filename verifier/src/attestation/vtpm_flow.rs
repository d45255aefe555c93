//! The vTPM checks (crate::tpm): the quote and its AK, the qualifying data = SHA-256(binding),
//! the PCR values against the quote's digest and the event log, a trust path for the AK (Azure
//! HCL report with its SEV-SNP report or its TD quote, Google's AK certificate, or a CA the trust
//! policy pins), and the quoted PCRs against the published `gcp-cvm` / `azure-cvm` measurement
//! sets.

use sha2::{Digest, Sha256};

use super::envelope::Envelope;
use super::releases::{record_set_match, Candidate};
use super::tdx_flow;
use super::verdict::Verdict;
use super::vtpm_envelope::TpmEvidence;
use super::{Channel, VerifyOptions};
use crate::signature::VerifiedLinks;
use crate::snp::{parse_certificate_table, SnpCertificates};
use crate::tpm::ak_certificate::verify_ak_certificate;
use crate::tpm::attest::{parse_attest, parse_signature, Attest};
use crate::tpm::azure::{verify_azure_ak, AzureTrust};
use crate::tpm::azure_tdx::{verify_azure_tdx_ak, AzureTdxTrust};
use crate::tpm::eventlog::parse_event_log;
use crate::tpm::hcl::{parse_hcl_report, HardwareKind};
use crate::tpm::public::{parse_public, AkKey};
use crate::tpm::quote::{check_pcr_digest, check_qualifying_data, check_scheme, verify_signature};
use crate::tpm::{HashAlg, TpmError, PCR_COUNT};

/// How the AK came to be trusted, and the platforms whose measurement sets it may then match.
struct TrustPath {
    name: &'static str,
    platforms: &'static [&'static str],
}

const AZURE: TrustPath = TrustPath {
    name: "azure-hcl-snp",
    platforms: &["azure-cvm"],
};
const AZURE_TDX: TrustPath = TrustPath {
    name: "azure-hcl-tdx",
    platforms: &["azure-cvm"],
};
const GCP: TrustPath = TrustPath {
    name: "gcp-ak-certificate",
    platforms: &["gcp-cvm"],
};
/// A CA of the trust policy's own (a test CA signing swtpm AKs) vouches for no cloud in
/// particular, so either platform's sets may match.
const POLICY: TrustPath = TrustPath {
    name: "policy-ak-root",
    platforms: &["gcp-cvm", "azure-cvm"],
};

pub(super) fn verify(
    envelope: &Envelope,
    channel: Option<&Channel>,
    options: &VerifyOptions,
    verdict: &mut Verdict,
) {
    let Some(tpm) = &envelope.tpm else {
        verdict.fail(
            "evidence",
            "tpm-evidence-missing",
            "a vtpm envelope without its TPM fields",
        );
        return;
    };
    let parsed = (
        parse_attest(&envelope.evidence),
        parse_signature(&tpm.signature),
        parse_public(&tpm.ak_public),
    );
    let (Ok(attest), Ok(signature), Ok(ak)) = parsed else {
        for error in [parsed.0.err(), parsed.1.err(), parsed.2.err()]
            .into_iter()
            .flatten()
        {
            fail(verdict, "quote", &error);
        }
        return;
    };
    record(
        verdict,
        "ak attributes",
        ak.check_restricted_signing().map(|()| {
            format!(
                "a restricted signing {} key made in the TPM (name {})",
                ak.key.describe(),
                hex::encode(&ak.name)
            )
        }),
    );
    record(
        verdict,
        "quote signature",
        check_scheme(&signature, ak.scheme, ak.scheme_hash)
            .and_then(|()| verify_signature(&envelope.evidence, &signature, &ak.key))
            .map(|()| {
                format!(
                    "{} SHA-256 by the AK over the TPMS_ATTEST",
                    signature.scheme_name()
                )
            }),
    );
    if let Some(channel) = channel {
        let expected: [u8; 32] = Sha256::digest(channel.binding).into();
        record(verdict, "qualifying data", check_qualifying_data(&attest, &expected)
            .map(|()| "extraData is SHA-256 of the binding of the nonce, TLS key and OHTTP key configuration".into()));
    }
    let hash = HashAlg::from_id(signature.hash_id()).unwrap_or(HashAlg::Sha256);
    record(
        verdict,
        "pcr digest",
        check_pcr_digest(&attest, hash, &tpm.pcrs).map(|()| {
            format!(
                "the {} selected PCR values hash to pcrDigest",
                attest
                    .selections
                    .iter()
                    .map(|s| s.pcrs.len())
                    .sum::<usize>()
            )
        }),
    );
    if let Some(log) = &tpm.event_log {
        record(verdict, "event log", replay(log, tpm));
    }
    let Some(path) = trust_ak(tpm, &ak.key, envelope, options, verdict) else {
        return;
    };
    verdict.ak_trust = Some(path.name.to_owned());
    match_release(&attest, tpm, &path, options, verdict);
}

fn record(verdict: &mut Verdict, name: &str, outcome: Result<String, TpmError>) {
    match outcome {
        Ok(detail) => verdict.pass(name, detail),
        Err(error) => fail(verdict, name, &error),
    }
}

fn fail(verdict: &mut Verdict, name: &str, error: &TpmError) {
    verdict.fail(name, error.code(), error.to_string());
}

fn replay(log: &[u8], tpm: &TpmEvidence) -> Result<String, TpmError> {
    let log = parse_event_log(log)?;
    let mismatches = log.mismatches(&tpm.pcrs);
    if mismatches.is_empty() {
        return Ok(format!(
            "{} events replay to the quoted PCRs they extend",
            log.events.len()
        ));
    }
    Err(TpmError::EventLogReplayMismatch(
        mismatches
            .iter()
            .map(|m| {
                format!(
                    "{} PCR {} replays to {} but is {}",
                    m.bank.name(),
                    m.pcr,
                    hex::encode(&m.replayed),
                    hex::encode(&m.quoted)
                )
            })
            .collect::<Vec<_>>()
            .join("; "),
    ))
}

/// Runs the AK trust path the evidence offers; `None` (with the reasons recorded) when none holds.
fn trust_ak(
    tpm: &TpmEvidence,
    ak: &AkKey,
    envelope: &Envelope,
    options: &VerifyOptions,
    verdict: &mut Verdict,
) -> Option<TrustPath> {
    let at = options.now_unix_ms / 1000;
    let disabled = VerifiedLinks::disabled();
    let links = options.verified_links.unwrap_or(&disabled);
    if let Some(hcl) = &tpm.azure_hcl_report {
        if parse_hcl_report(hcl).is_ok_and(|report| report.kind == HardwareKind::Tdx) {
            return trust_tdx_ak(hcl, tpm, ak, envelope, options, verdict);
        }
        let snp_certificates = match (
            &options.snp_leaf_certificate,
            &envelope.snp_certificate_table,
        ) {
            (Some(leaf), _) => Some(SnpCertificates::leaf_only(leaf.clone())),
            (None, Some(table)) => match parse_certificate_table(table) {
                Ok(certificates) => Some(certificates),
                Err(error) => {
                    verdict.fail("ak trust", error.code(), error.to_string());
                    return None;
                }
            },
            (None, None) => None,
        };
        let mut crls = options.snp_crls.clone();
        crls.extend_from_slice(&envelope.snp_crls);
        let trust = AzureTrust {
            snp_certificates,
            snp_trust: options.settings.snp_trust(crls),
            at_unix_seconds: at,
            links,
        };
        return match verify_azure_ak(hcl, ak, &trust) {
            Ok(azure) => {
                verdict.pass("ak trust", format!(
                    "HCLAkPub of an HCL report whose SEV-SNP report (v{}, {:?} {:?}, MEASUREMENT {}) chains to a pinned AMD root and binds the runtime data",
                    azure.snp.report.version, azure.snp.product, azure.snp.key_kind, hex::encode(azure.snp.report.measurement)
                ));
                Some(AZURE)
            }
            Err(errors) => {
                errors
                    .iter()
                    .for_each(|error| fail(verdict, "ak trust", error));
                None
            }
        };
    }
    let Some(certificate) = &tpm.ak_certificate else {
        verdict.fail("ak trust", "tpm-ak-untrusted", "nothing vouches for the attestation key: send the Azure HCL report (azure_hcl_report) or an AK certificate (tpm_ak_certificate)");
        return None;
    };
    let settings = options.settings;
    let pinned: Vec<[u8; 32]> = settings
        .gcp_ak_roots
        .iter()
        .chain(&settings.tpm_ak_roots)
        .copied()
        .collect();
    let verified = match verify_ak_certificate(certificate, &tpm.ak_intermediates, &pinned, at) {
        Ok(verified) if verified.key == *ak => verified,
        Ok(_) => {
            fail(verdict, "ak trust", &TpmError::AkCertificateMismatch);
            return None;
        }
        Err(error) => {
            fail(verdict, "ak trust", &error);
            return None;
        }
    };
    let path = if settings.gcp_ak_roots.contains(&verified.anchor_sha256) {
        GCP
    } else {
        POLICY
    };
    verdict.pass(
        "ak trust",
        format!(
            "an AK certificate chained to the pinned CA {} ({})",
            hex::encode(verified.anchor_sha256),
            path.name
        ),
    );
    Some(path)
}

/// An Azure TDX VM's AK: its HCL report's TDREPORT, quoted by the TD quote the envelope carries.
fn trust_tdx_ak(
    hcl: &[u8],
    tpm: &TpmEvidence,
    ak: &AkKey,
    envelope: &Envelope,
    options: &VerifyOptions,
    verdict: &mut Verdict,
) -> Option<TrustPath> {
    let trust = AzureTdxTrust {
        td_quote: tpm.azure_td_quote.as_deref(),
        collateral: tdx_flow::collateral(options, envelope.tdx_collateral.as_ref()),
        tdx_trust: options.settings.tdx.trust(options.settings.allow_debug),
        at_unix_seconds: options.now_unix_ms / 1000,
    };
    match verify_azure_tdx_ak(hcl, ak, &trust) {
        Ok(azure) => {
            verdict.pass("ak trust", format!(
                "HCLAkPub of an HCL report whose TDREPORT (MRTD {}) is quoted by a TD quote v{} chained to the pinned Intel root, TCB {}{}",
                hex::encode(azure.td.body.mr_td),
                azure.td.body.quote_version,
                azure.td.tcb_status,
                if azure.td.advisory_ids.is_empty() { String::new() } else { format!(" (advisories {})", azure.td.advisory_ids.join(", ")) }
            ));
            Some(AZURE_TDX)
        }
        Err(errors) => {
            errors
                .iter()
                .for_each(|error| fail(verdict, "ak trust", error));
            None
        }
    }
}

/// The quoted SHA-256 PCRs must equal every register of one active set of an allowed platform.
fn match_release(
    attest: &Attest,
    tpm: &TpmEvidence,
    path: &TrustPath,
    options: &VerifyOptions,
    verdict: &mut Verdict,
) {
    // "vtpm" sets are the ad-hoc expectations a user typed (`mpr attest --expect-pcr`).
    let platforms: Vec<&str> = path.platforms.iter().copied().chain(["vtpm"]).collect();
    record_set_match(
        options.releases,
        &platforms,
        |candidate| check_registers(attest, tpm, candidate),
        (
            "the VM",
            &format!(
                "the quoted PCRs match no trusted {} measurement set",
                path.platforms.join(" or ")
            ),
        ),
        verdict,
    );
}

/// The set's register names if every one is a quoted SHA-256 PCR of the set's value.
fn check_registers(
    attest: &Attest,
    tpm: &TpmEvidence,
    candidate: &Candidate,
) -> Result<String, (&'static str, String)> {
    if candidate.registers.is_empty() {
        return Err(("no-release-matched", "the set names no register".into()));
    }
    let quoted = tpm.pcrs.get(&HashAlg::Sha256);
    for (name, value) in &candidate.registers {
        let index = name
            .strip_prefix("PCR")
            .and_then(|index| index.parse::<u8>().ok())
            .filter(|index| usize::from(*index) < PCR_COUNT && value.len() == 32)
            .ok_or_else(|| {
                (
                    "no-release-matched",
                    format!("register {name:?} is not a SHA-256 PCR"),
                )
            })?;
        if !attest.selects(HashAlg::Sha256, index) {
            let error = TpmError::PcrNotQuoted(format!("sha256 PCR {index}, which the set names"));
            return Err((error.code(), error.to_string()));
        }
        let found = quoted.and_then(|pcrs| pcrs.get(&index));
        if found != Some(value) {
            return Err((
                "tpm-pcr-mismatch",
                format!(
                    "{name} is {}, the set says {}",
                    found.map(hex::encode).unwrap_or_default(),
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
