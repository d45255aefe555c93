//! The release's signing and registry stages: sign the release statement this build renders,
//! record the release with that signature, and wait for the statement's log entry and proof.
//! Each looks at what is already there first (the files, the registry), so that a re-run repeats
//! nothing and a half-finished run finishes.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;
use registry_api::signing::{self, DetachedSignature};
use registry_api::submission::ReleaseSubmission;
use serde_json::Value;

use crate::commands::http::read_body;
use crate::commands::registry::publish::{self, Recorded, MAX_ANSWER_BYTES};

use super::journal::Outcome;
use crate::commands::key::Signer;

/// Statements are small; the registry limits bodies to 1 MiB.
const MAX_STATEMENT_BYTES: u64 = 1 << 20;

/// Where the registry is and how to write to it.
pub struct Registry {
    pub client: reqwest::Client,
    pub base: String,
    pub token: String,
}

/// Renders the release statement this build makes and signs it, unless the files of an earlier
/// run already hold exactly that statement with a signature by this signer (a key in a hardware
/// token is not asked twice). The public certificate goes beside it, so the GitHub release
/// carries what verifies it.
pub fn sign(
    signer: &Signer,
    submission: &ReleaseSubmission,
    files: &SignedFiles<'_>,
) -> anyhow::Result<(Outcome, DetachedSignature, String)> {
    if let Some(signature) = earlier_signature(signer, submission, files) {
        let detail = format!(
            "{} already holds this statement's signature by {}",
            files.signature.display(),
            signature.verified.key_fingerprint
        );
        return Ok((Outcome::Skipped, signature, detail));
    }
    let signature = publish::sign_statement(signer, submission, files.statement)?;
    let fingerprint = &signature.verified.key_fingerprint;
    signing::write_replacing(files.signature, signature.armored.as_bytes(), 0o644)?;
    let armored = signer.armored_public(fingerprint)?;
    signing::write_replacing(files.public_key, armored.as_bytes(), 0o644)?;
    let detail = format!(
        "signed the release statement with {fingerprint} ({})",
        signer.backend()
    );
    Ok((Outcome::Done, signature, detail))
}

/// Where the sign stage writes: the statement, its detached signature, the signer's certificate.
pub struct SignedFiles<'a> {
    pub statement: &'a Path,
    pub signature: &'a Path,
    pub public_key: &'a Path,
}

/// An earlier run's signature, if it signs exactly the statement this build renders and was made
/// by this signer's key.
fn earlier_signature(
    signer: &Signer,
    submission: &ReleaseSubmission,
    files: &SignedFiles<'_>,
) -> Option<DetachedSignature> {
    let statement = std::fs::read(files.statement).ok()?;
    if statement != registry_api::statement::render(submission) {
        return None;
    }
    let armored = std::fs::read_to_string(files.signature).ok()?;
    let key =
        registry_api::openpgp::parse_public_key(&std::fs::read(files.public_key).ok()?).ok()?;
    let verified =
        registry_api::openpgp::verify_detached(&[key], &statement, armored.as_bytes()).ok()?;
    if signer
        .fingerprint()
        .is_some_and(|fingerprint| fingerprint != verified.key_fingerprint)
    {
        return None;
    }
    Some(DetachedSignature { armored, verified })
}

/// Records the signed release, or finds it recorded with the same content and makes sure it
/// carries this key's signature. The statement the registry serves must be the one signed.
pub async fn record(
    registry: &Registry,
    submission: &ReleaseSubmission,
    signature: &DetachedSignature,
    statement_path: &Path,
) -> anyhow::Result<(Outcome, String, String)> {
    let base = &registry.base;
    let mut signed = submission.clone();
    signed.signatures = vec![signature.armored.clone()];
    let fingerprint = &signature.verified.key_fingerprint;
    let (outcome, sha256, detail) =
        match publish::record_release(&registry.client, base, &registry.token, &signed).await? {
            Recorded::New {
                statement_sha256, ..
            } => (
                Outcome::Done,
                statement_sha256,
                format!(
                    "recorded release {} in {base}, signed by {fingerprint}",
                    submission.version
                ),
            ),
            Recorded::Existing { statement_sha256 } => {
                let stored = publish::add_signature_if_missing(
                    &registry.client,
                    base,
                    &registry.token,
                    &submission.version,
                    signature,
                )
                .await?;
                let (outcome, signed) = match stored {
                    publish::SignatureStored::Now => (
                        Outcome::Done,
                        format!("added the signature by {fingerprint}"),
                    ),
                    publish::SignatureStored::Before => (
                        Outcome::Skipped,
                        format!("it holds a signature by {fingerprint}"),
                    ),
                };
                let detail = format!(
                    "release {} was already recorded with this content; {signed}",
                    submission.version
                );
                (outcome, statement_sha256, detail)
            }
        };
    // The registry rendered the statement itself; it must be byte for byte the one signed here.
    let url = format!("{base}/v1/releases/{}/statement", submission.version);
    let served =
        crate::commands::http::get_bytes(&registry.client, &url, MAX_STATEMENT_BYTES).await?;
    let local = signing::read_statement(statement_path)?;
    if served != local {
        anyhow::bail!(
            "{url} serves a statement with sha256 {}, not the one signed here ({}, {}); check which registry this is",
            registry_api::statement::sha256(&served),
            registry_api::statement::sha256(&local),
            statement_path.display()
        );
    }
    Ok((outcome, sha256, detail))
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
