//! The Nitro checks, in the order of the wallet checklist (shared notes, nitro-attestation §5).

use std::collections::BTreeMap;

use super::releases::{summarize_misses, Candidate};
use super::verdict::Verdict;
use super::{Channel, VerifyOptions};
use crate::nitro::{verify_with_links, NitroDocument};
use crate::signature::VerifiedLinks;

pub(super) fn verify(
    document: &[u8],
    channel: Option<&Channel>,
    options: &VerifyOptions,
    verdict: &mut Verdict,
) {
    let settings = options.settings;
    let doc = match verify_with_links(
        document,
        &settings.nitro_trust(),
        options.now_unix_ms / 1000,
        options.verified_links.unwrap_or(&VerifiedLinks::disabled()),
    ) {
        Ok(doc) => doc,
        Err(error) => {
            verdict.fail("document", error.code(), error.to_string());
            return;
        }
    };
    verdict.pass(
        "certificate chain",
        "leaf, cabundle and a pinned root, every link signed and valid at the given time",
    );
    verdict.pass("signature", "COSE_Sign1 ES384 by the leaf certificate");
    match doc.check_freshness(
        options.now_unix_ms,
        settings.max_age_seconds * 1000,
        settings.max_future_skew_seconds * 1000,
    ) {
        Ok(()) => verdict.pass(
            "freshness",
            format!(
                "made {} ms before the given time (at most {} s allowed)",
                options.now_unix_ms.saturating_sub(doc.timestamp_ms),
                settings.max_age_seconds
            ),
        ),
        Err(error) => verdict.fail("freshness", error.code(), error.to_string()),
    }
    if doc.is_debug() {
        if settings.allow_debug {
            verdict.pass(
                "debug",
                "a debug enclave, allowed by the trust policy (never do this in production)",
            );
        } else {
            verdict.fail(
                "debug",
                "nitro-debug",
                "the enclave runs in debug mode (PCR0, PCR1 and PCR2 are zero): its memory is readable by the parent instance",
            );
        }
    } else {
        verdict.pass("debug", "debug mode off");
    }
    match channel {
        Some(channel) => {
            let checks = [
                ("nonce", doc.check_nonce(channel.nonce)),
                ("binding", doc.check_user_data(&channel.binding)),
                ("tls key", doc.check_public_key(channel.tls_public_key)),
            ];
            for (name, outcome) in checks {
                match outcome {
                    Ok(()) => verdict.pass(name, "equal to the channel's"),
                    Err(error) => verdict.fail(name, error.code(), error.to_string()),
                }
            }
        }
        None => {
            if let Some(nonce) = options.expected_nonce {
                match doc.check_nonce(nonce) {
                    Ok(()) => verdict.pass("nonce", "equal to the expected nonce"),
                    Err(error) => verdict.fail("nonce", error.code(), error.to_string()),
                }
            }
        }
    }
    match_release(&doc, options, verdict);
}

/// Evidence must satisfy ONE complete set: every register of it present and equal.
fn match_release(doc: &NitroDocument, options: &VerifyOptions, verdict: &mut Verdict) {
    let mut misses = Vec::new();
    for candidate in options.releases.for_platform("aws-nitro") {
        let expected = match expected_pcrs(candidate) {
            Ok(expected) => expected,
            Err(message) => {
                misses.push((
                    "no-release-matched",
                    format!("{}: {message}", candidate.describe()),
                ));
                continue;
            }
        };
        match doc.check_pcrs(&expected) {
            Ok(()) => {
                verdict.pass(
                    "measurements",
                    format!(
                        "{} equal to {}",
                        expected
                            .keys()
                            .map(|i| format!("PCR{i}"))
                            .collect::<Vec<_>>()
                            .join(", "),
                        candidate.describe()
                    ),
                );
                verdict.matched = Some(candidate.matched());
                return;
            }
            Err(error) => misses.push((error.code(), format!("{}: {error}", candidate.describe()))),
        }
    }
    for candidate in options.releases.deprecated_for("aws-nitro") {
        if let Ok(expected) = expected_pcrs(candidate) {
            if doc.check_pcrs(&expected).is_ok() {
                verdict.fail(
                    "measurements",
                    "set-deprecated",
                    format!("the enclave runs {}, which its publisher has deprecated: upgrade the prover", candidate.describe()),
                );
                return;
            }
        }
    }
    let pcr0 = doc
        .pcrs
        .get(&0)
        .map(hex::encode)
        .unwrap_or_else(|| "absent".into());
    let (code, details) = summarize_misses(misses);
    verdict.fail(
        "measurements",
        code,
        if details.is_empty() {
            format!("no trusted release has an aws-nitro measurement set (the enclave's PCR0 is {pcr0})")
        } else {
            format!(
                "the enclave (PCR0 {pcr0}) matches no trusted aws-nitro measurement set: {}",
                details.join("; ")
            )
        },
    );
}

fn expected_pcrs(candidate: &Candidate) -> Result<BTreeMap<u8, Vec<u8>>, String> {
    candidate
        .registers
        .iter()
        .map(|(name, value)| {
            name.strip_prefix("PCR")
                .and_then(|index| index.parse::<u8>().ok())
                .filter(|index| *index < 32)
                .map(|index| (index, value.clone()))
                .ok_or_else(|| format!("register {name:?} is not a Nitro PCR"))
        })
        .collect()
}
