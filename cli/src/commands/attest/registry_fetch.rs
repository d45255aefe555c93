//! Fetching what a registry publishes about a measurement: the statements (exact bytes), their
//! signatures, their log proofs and the policy's release keys. The registry is only a mirror here:
//! every byte is checked by the verifier against the trust policy afterwards.

use std::collections::BTreeSet;

use anyhow::{bail, Context};
use registry_api::openpgp::{self, PublicKey, MAX_KEYRING_BYTES};
use serde::Deserialize;
use verifier::attestation::SignedStatement;
use verifier::policy::TrustPolicy;
use verifier::statement::MAX_STATEMENT_BYTES;
use verifier::tlog::proof_bundle::MAX_BUNDLE_BYTES;

use super::trust::verified_signers;
use crate::commands::http::{client, get_bytes};

/// Releases (newest first) looked up by one measurement value; more are rarely meaningful.
const MAX_RELEASES: usize = 16;

#[derive(Deserialize)]
struct LookupAnswer {
    matches: Vec<LookupMatch>,
}

#[derive(Deserialize)]
struct LookupMatch {
    version: String,
}

#[derive(Deserialize)]
struct StatementView {
    url: String,
    log_index: Option<u64>,
    signatures: Vec<SignatureView>,
}

#[derive(Deserialize)]
struct SignatureView {
    signature: String,
}

/// A build as the registry lists it; rebuilders' carry their signed report.
#[derive(Deserialize)]
struct BuildView {
    report: Option<String>,
    report_signature: Option<String>,
    log_index: Option<u64>,
}

/// Every statement of every release that has `value` in one of its registers.
pub async fn statements_for(
    registry: &str,
    policy: &TrustPolicy,
    value: &[u8],
) -> anyhow::Result<Vec<SignedStatement>> {
    let base = registry.trim_end_matches('/');
    let http = client()?;
    let lookup: LookupAnswer = json(
        &get_bytes(
            &http,
            &format!("{base}/v1/measurements/{}?status=any", hex::encode(value)),
            1 << 20,
        )
        .await?,
        "the measurement lookup",
    )?;
    let versions: BTreeSet<String> = lookup
        .matches
        .into_iter()
        .map(|m| m.version)
        .take(MAX_RELEASES)
        .collect();
    if versions.is_empty() {
        bail!(
            "{registry} knows no release with measurement {}: the prover runs something that was never published there",
            hex::encode(value)
        );
    }
    let keys = policy_keys(registry, policy).await?;
    let mut statements = Vec::new();
    for version in versions {
        let views: Vec<StatementView> = json(
            &get_bytes(
                &http,
                &format!("{base}/v1/releases/{version}/statements"),
                4 << 20,
            )
            .await?,
            "the statements list",
        )?;
        for view in views {
            let url = if view.url.starts_with("http") {
                view.url.clone()
            } else {
                format!("{base}{}", view.url)
            };
            let bytes = get_bytes(&http, &url, MAX_STATEMENT_BYTES as u64).await?;
            let proof = log_proof(&http, base, view.log_index).await?;
            let armored: Vec<String> = view.signatures.into_iter().map(|s| s.signature).collect();
            statements.push(SignedStatement {
                signers: verified_signers(&keys, &bytes, &armored),
                bytes,
                proof,
            });
        }
        if policy.rebuilders.threshold > 0 {
            statements.extend(rebuild_reports(&http, base, &version, &keys).await?);
        }
    }
    Ok(statements)
}

/// The rebuilders' signed reports on a release, for the policy's k-of-n rebuild check (the
/// verifier compares each report's artifacts with the release statement itself).
async fn rebuild_reports(
    http: &reqwest::Client,
    base: &str,
    version: &str,
    keys: &[PublicKey],
) -> anyhow::Result<Vec<SignedStatement>> {
    let builds: Vec<BuildView> = json(
        &get_bytes(
            http,
            &format!("{base}/v1/releases/{version}/builds"),
            16 << 20,
        )
        .await?,
        "the builds list",
    )?;
    let mut reports = Vec::new();
    for build in builds {
        let (Some(report), Some(signature)) = (build.report, build.report_signature) else {
            continue;
        };
        let bytes = report.into_bytes();
        reports.push(SignedStatement {
            signers: verified_signers(keys, &bytes, &[signature]),
            proof: log_proof(http, base, build.log_index).await?,
            bytes,
        });
    }
    Ok(reports)
}

/// The log proof of the entry at `index`, if the statement has one.
pub(crate) async fn log_proof(
    http: &reqwest::Client,
    base: &str,
    index: Option<u64>,
) -> anyhow::Result<Option<String>> {
    let Some(index) = index else {
        return Ok(None);
    };
    let bundle = get_bytes(
        http,
        &format!("{base}/v1/log/bundle?index={index}"),
        MAX_BUNDLE_BYTES as u64,
    )
    .await?;
    Ok(Some(
        String::from_utf8(bundle).context("the log proof is not text")?,
    ))
}

/// The OpenPGP certificates of the policy's release and rebuilder keys, as the registry serves
/// them. A key the registry lacks is left out (its signatures then count for nothing); a
/// certificate whose fingerprint is not the one asked for is refused.
pub async fn policy_keys(registry: &str, policy: &TrustPolicy) -> anyhow::Result<Vec<PublicKey>> {
    let base = registry.trim_end_matches('/');
    let http = client()?;
    let mut keys = Vec::new();
    for fingerprint in policy.release.keys.iter().chain(&policy.rebuilders.keys) {
        let url = format!("{base}/v1/keys/{fingerprint}");
        let Ok(bytes) = get_bytes(&http, &url, MAX_KEYRING_BYTES as u64).await else {
            tracing::warn!("{registry} has no certificate for policy key {fingerprint}");
            continue;
        };
        for key in openpgp::parse_keyring(&bytes).with_context(|| format!("reading {url}"))? {
            if key.fingerprint.eq_ignore_ascii_case(fingerprint) {
                keys.push(key);
            } else {
                bail!(
                    "{url} answered the certificate of {} instead: refusing it",
                    key.fingerprint
                );
            }
        }
    }
    Ok(keys)
}

fn json<T: serde::de::DeserializeOwned>(bytes: &[u8], what: &str) -> anyhow::Result<T> {
    serde_json::from_slice(bytes)
        .with_context(|| format!("the registry's answer to {what} is not the JSON expected"))
}
