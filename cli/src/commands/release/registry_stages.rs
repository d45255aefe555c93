//! The release's registry stages: record the release, sign its statement, and wait for the
//! statement's log entry and proof. Each asks the registry what is already there first, so that
//! a re-run repeats nothing and a half-finished run finishes.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;
use registry_api::signing;
use registry_api::submission::ReleaseSubmission;
use serde_json::Value;

use crate::commands::http::read_body;
use crate::commands::registry::publish::{self, Recorded};

use super::journal::Outcome;
use crate::commands::key::Signer;

/// Statements are small; the registry limits bodies to 1 MiB.
const MAX_STATEMENT_BYTES: u64 = 1 << 20;
const MAX_ANSWER_BYTES: u64 = 4 << 20;

/// Where the registry is and how to write to it.
pub struct Registry {
    pub client: reqwest::Client,
    pub base: String,
    pub token: String,
}

/// Records the release (or finds it recorded with the same content) and saves its statement,
/// exactly as the registry serves it, to `statement_path`.
pub async fn record(
    registry: &Registry,
    submission: &ReleaseSubmission,
    statement_path: &Path,
) -> anyhow::Result<(Outcome, String, String)> {
    let base = &registry.base;
    let (outcome, sha256, detail) =
        match publish::record_release(&registry.client, base, &registry.token, submission).await? {
            Recorded::New {
                statement_sha256, ..
            } => (
                Outcome::Done,
                statement_sha256,
                format!("recorded release {} in {base}", submission.version),
            ),
            Recorded::Existing { statement_sha256 } => (
                Outcome::Skipped,
                statement_sha256,
                format!(
                    "release {} was already recorded with this content",
                    submission.version
                ),
            ),
        };
    // What gets signed is what the registry serves, checked against what this build rendered:
    // a registry that changed one byte would get a signature over its own words otherwise.
    let url = format!("{base}/v1/releases/{}/statement", submission.version);
    let served =
        crate::commands::http::get_bytes(&registry.client, &url, MAX_STATEMENT_BYTES).await?;
    let served_sha256 = registry_api::statement::sha256(&served);
    if served_sha256 != sha256 {
        anyhow::bail!(
            "{url} serves a statement with sha256 {served_sha256}, not the one this build renders ({sha256}): refusing to sign it; check which registry this is"
        );
    }
    signing::write_replacing(statement_path, &served, 0o644)?;
    Ok((outcome, sha256, detail))
}

/// Signs the statement and adds the signature to the release, unless the signer's key already
/// signed it there. Returns the signing key's fingerprint.
pub async fn sign(
    registry: &Registry,
    version: &str,
    signer: &Signer,
    statement_path: &Path,
    signature_path: &Path,
) -> anyhow::Result<(Outcome, String, String)> {
    let url = format!(
        "{}/v1/releases/{version}/statement/signatures",
        registry.base
    );
    let listed: Vec<Value> = serde_json::from_slice(
        &crate::commands::http::get_bytes(&registry.client, &url, MAX_ANSWER_BYTES).await?,
    )
    .with_context(|| format!("{url} did not answer a list of signatures"))?;
    let stored = |fingerprint: &str| {
        listed.iter().find_map(|signature| {
            (signature["key_fingerprint"].as_str() == Some(fingerprint))
                .then(|| signature["signature"].as_str().map(str::to_owned))
                .flatten()
        })
    };
    if let Some(fingerprint) = signer.fingerprint() {
        if let Some(armored) = stored(&fingerprint) {
            return already_signed(signature_path, &armored, fingerprint);
        }
    }
    let signature = signer.sign(statement_path)?;
    let fingerprint = signature.verified.key_fingerprint.clone();
    if let Some(armored) = stored(&fingerprint) {
        // A gpg key, whose fingerprint is known only now.
        return already_signed(signature_path, &armored, fingerprint);
    }
    signing::write_replacing(signature_path, signature.armored.as_bytes(), 0o644)?;
    let response = registry
        .client
        .post(&url)
        .bearer_auth(&registry.token)
        .header(reqwest::header::CONTENT_TYPE, "application/pgp-signature")
        .body(signature.armored.clone())
        .send()
        .await
        .with_context(|| format!("sending the signature to {url}"))?;
    let status = response.status();
    if status == reqwest::StatusCode::CONFLICT {
        return Ok((
            Outcome::Skipped,
            fingerprint.clone(),
            format!("a concurrent run stored a signature by {fingerprint} first"),
        ));
    }
    if let Err(error) = read_body(response, &url, MAX_ANSWER_BYTES).await {
        let hint = if status == reqwest::StatusCode::UNPROCESSABLE_ENTITY {
            format!(
                "\nis key {fingerprint} registered as a release key? An admin registers it with `curl -H \"Authorization: Bearer $ADMIN_TOKEN\" --data-binary @KEY.pub.asc {}/v1/keys?role=release`",
                registry.base
            )
        } else {
            String::new()
        };
        return Err(error.context(format!("the registry refused the signature{hint}")));
    }
    Ok((
        Outcome::Done,
        fingerprint.clone(),
        format!("signed by {fingerprint}; the registry verified and stored it"),
    ))
}

/// The sign stage's answer when the registry holds a signature by this key already.
fn already_signed(
    path: &Path,
    stored: &str,
    fingerprint: String,
) -> anyhow::Result<(Outcome, String, String)> {
    keep_signature(path, stored)?;
    let detail = format!("the registry already holds a signature by {fingerprint}");
    Ok((Outcome::Skipped, fingerprint, detail))
}

/// The signature file of an earlier run stays as it is (its bytes are what was published); the
/// registry's copy fills in for a missing one.
fn keep_signature(path: &Path, stored: &str) -> anyhow::Result<()> {
    if !path.exists() {
        signing::write_replacing(path, stored.as_bytes(), 0o644)?;
    }
    Ok(())
}

/// Waits until the statement is in a checkpoint the registry serves (cosigned, when it has
/// witnesses), then saves its offline proof bundle. Returns the log index.
pub async fn log(
    registry: &Registry,
    statement_sha256: &str,
    proof_path: &Path,
    wait: Duration,
) -> anyhow::Result<(u64, String)> {
    let base = &registry.base;
    let started = Instant::now();
    let entries_url = format!("{base}/v1/log/entries?statement=sha256:{statement_sha256}");
    let mut last;
    loop {
        match proof_once(registry, &entries_url).await? {
            Ok((index, bundle)) => {
                signing::write_replacing(proof_path, bundle.as_bytes(), 0o644)?;
                let waited = started.elapsed().as_secs_f64();
                return Ok((
                    index,
                    format!("log entry {index}; proof saved after waiting {waited:.1} s"),
                ));
            }
            Err(not_yet) => last = not_yet,
        }
        if started.elapsed() >= wait {
            anyhow::bail!(
                "the release statement (sha256 {statement_sha256}) has no log proof after {} s: {last}. If the registry has witnesses, run them (`mpr log witness`); then run `mpr release` again, or give it longer with --log-wait",
                wait.as_secs()
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// One look: the entry's index and proof bundle, or what the registry says is missing.
async fn proof_once(
    registry: &Registry,
    entries_url: &str,
) -> anyhow::Result<Result<(u64, String), String>> {
    let answer: Value = serde_json::from_slice(
        &crate::commands::http::get_bytes(&registry.client, entries_url, MAX_ANSWER_BYTES).await?,
    )
    .with_context(|| format!("{entries_url} did not answer JSON"))?;
    let index = answer["entries"].as_array().and_then(|entries| {
        entries
            .iter()
            .find(|entry| entry["kind"] == "release")
            .and_then(|entry| entry["index"].as_u64())
    });
    let Some(index) = index else {
        return Ok(Err(
            "the statement is not in a published checkpoint yet".to_owned()
        ));
    };
    let url = format!("{}/v1/log/bundle?index={index}", registry.base);
    let response = registry
        .client
        .get(&url)
        .send()
        .await
        .with_context(|| format!("fetching {url}"))?;
    if response.status() == reqwest::StatusCode::NOT_FOUND {
        let body = read_body_lossy(response).await;
        return Ok(Err(format!("entry {index}: {body}")));
    }
    let bundle = read_body(response, &url, MAX_ANSWER_BYTES).await?;
    let bundle = String::from_utf8(bundle).with_context(|| format!("{url} is not text"))?;
    Ok(Ok((index, bundle)))
}

async fn read_body_lossy(response: reqwest::Response) -> String {
    let text = response.text().await.unwrap_or_default();
    serde_json::from_str::<Value>(&text)
        .ok()
        .and_then(|v| {
            v.pointer("/error/message")
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .unwrap_or(text)
}
