//! The release to rebuild, as its maintainers signed it: the statement, its signatures and its
//! log proof, read from a release directory (a downloaded GitHub release, or `mpr release`'s
//! output) or fetched from a registry, kept in `OUT/official`, and checked against the trust
//! policy before anything is built. Nothing the registry says unsigned is believed: keys fetched
//! from it count only if their fingerprints are in the policy.

use std::path::{Path, PathBuf};

use anyhow::Context;
use registry_api::openpgp::{self, PublicKey};
use registry_api::signing;
use serde_json::Value;
use verifier::statement::{parse_release_statement, ReleaseStatement};

use crate::commands::http::get_bytes;
use crate::commands::manifest::check_policy;

const MAX_STATEMENT_BYTES: u64 = 1 << 20;
const MAX_ANSWER_BYTES: u64 = 4 << 20;

/// Where the release comes from.
pub enum Origin {
    Directory(PathBuf),
    /// `record`: the release's build-record.json from elsewhere (its GitHub release), if at hand.
    Registry {
        url: String,
        version: String,
        record: Option<PathBuf>,
    },
}

/// A verified release statement and what it was checked with.
pub struct Official {
    pub bytes: Vec<u8>,
    pub statement: ReleaseStatement,
    pub signers: Vec<String>,
    /// The official build record, when the release directory has it or `--record` names it (for
    /// the builder image's inputs and the file-level diff): a copy in the evidence directory
    /// whose SHA-256 is the one the signed statement gives.
    pub record: Option<PathBuf>,
    pub checks: Vec<String>,
}

/// Copies or downloads the evidence into `dir` and verifies it.
pub async fn load(
    origin: &Origin,
    dir: &Path,
    policy: &Path,
    keyrings: &[PathBuf],
) -> anyhow::Result<Official> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let statement_path = dir.join("statement.json");
    let proof_path = dir.join("statement.proof");
    let (signatures, keys, record) = match origin {
        Origin::Directory(release) => {
            let read = |name: &str| -> anyhow::Result<Vec<u8>> {
                let path = release.join(name);
                signing::read_limited(&path, "a release file", MAX_ANSWER_BYTES).with_context(|| {
                    format!("the release directory {} lacks {name} (a release's GitHub assets, or mpr release's --out)", release.display())
                })
            };
            signing::write_replacing(&statement_path, &read("statement.json")?, 0o644)?;
            signing::write_replacing(&proof_path, &read("statement.proof")?, 0o644)?;
            let signature = String::from_utf8(read("statement.json.asc")?)
                .context("statement.json.asc is not text")?;
            let record = [
                release.join("build-record.json"),
                release.join("build/build-record.json"),
            ]
            .into_iter()
            .find(|path| path.exists());
            (vec![signature], read_keyrings(keyrings)?, record)
        }
        Origin::Registry {
            url,
            version,
            record,
        } => {
            let client = crate::commands::http::client()?;
            let base = url.trim_end_matches('/');
            let statement = get_bytes(
                &client,
                &format!("{base}/v1/releases/{version}/statement"),
                MAX_STATEMENT_BYTES,
            )
            .await?;
            signing::write_replacing(&statement_path, &statement, 0o644)?;
            let listed: Vec<Value> = serde_json::from_slice(
                &get_bytes(
                    &client,
                    &format!("{base}/v1/releases/{version}/statement/signatures"),
                    MAX_ANSWER_BYTES,
                )
                .await?,
            )
            .context("the registry's signature list is not JSON")?;
            let signatures: Vec<String> = listed
                .iter()
                .filter_map(|s| s["signature"].as_str().map(str::to_owned))
                .collect();
            let digest = verifier::statement::sha256_hex(&statement);
            let bundle = fetch_proof(&client, base, &digest).await?;
            signing::write_replacing(&proof_path, bundle.as_bytes(), 0o644)?;
            let mut keys = read_keyrings(keyrings)?;
            if keys.is_empty() {
                keys = fetch_policy_keys(base, policy).await?;
            }
            (signatures, keys, record.clone())
        }
    };
    for (n, signature) in signatures.iter().enumerate() {
        signing::write_replacing(
            &dir.join(format!("statement.json.{n}.asc")),
            signature.as_bytes(),
            0o644,
        )?;
    }
    let bytes = std::fs::read(&statement_path)?;
    let statement = parse_release_statement(&bytes)
        .with_context(|| format!("{} is not a release statement", statement_path.display()))?;
    let mut signers: Vec<String> = signatures
        .iter()
        .filter_map(|signature| openpgp::verify_detached(&keys, &bytes, signature.as_bytes()).ok())
        .map(|verified| verified.key_fingerprint)
        .collect();
    signers.sort();
    signers.dedup();
    let digest: [u8; 32] = <sha2::Sha256 as sha2::Digest>::digest(&bytes).into();
    let report = check_policy(policy, Some(&proof_path), "release", &signers, digest)?;
    if !report.problems.is_empty() {
        anyhow::bail!(
            "the release statement does not pass the trust policy {}, so there is nothing trustworthy to rebuild against:\n  {}",
            policy.display(),
            report.problems.join("\n  ")
        );
    }
    let record = match record {
        Some(path) => authenticated_record(&path, &statement, dir)?,
        None => None,
    };
    Ok(Official {
        bytes,
        statement,
        signers,
        record,
        checks: report.passed.clone(),
    })
}

/// Largest build record read (the prover's is about 100 KiB).
const MAX_RECORD_BYTES: u64 = 64 << 20;

/// The build record at `path`, copied into `dir` once its SHA-256 is the one the signed statement
/// gives it: the builder image is made and files are compared from nothing the statement does not
/// vouch for. A statement that names no record digest leaves the record unused.
fn authenticated_record(
    path: &Path,
    statement: &ReleaseStatement,
    dir: &Path,
) -> anyhow::Result<Option<PathBuf>> {
    let Some(signed) = &statement.predicate.build_record else {
        tracing::warn!(
            record = %path.display(),
            "the release statement names no build record digest: the record is not used"
        );
        return Ok(None);
    };
    let bytes = signing::read_limited(path, "a build record", MAX_RECORD_BYTES)?;
    let found = verifier::statement::sha256_hex(&bytes);
    if found != signed.sha256 {
        anyhow::bail!(
            "{} has sha256 {found}, but the signed release statement names the build record sha256 {}: it is not this release's record; use the build-record.json of the release's GitHub assets (or mpr release's --out)",
            path.display(),
            signed.sha256
        );
    }
    let copy = dir.join(builder::record::RECORD_FILE);
    signing::write_replacing(&copy, &bytes, 0o644)?;
    Ok(Some(copy))
}

fn read_keyrings(paths: &[PathBuf]) -> anyhow::Result<Vec<PublicKey>> {
    let mut keys = Vec::new();
    for path in paths {
        let bytes = signing::read_limited(path, "a keyring", openpgp::MAX_KEYRING_BYTES as u64)?;
        keys.extend(
            openpgp::parse_keyring(&bytes)
                .with_context(|| format!("reading the keyring {}", path.display()))?,
        );
    }
    Ok(keys)
}

/// The policy's keys as the registry has them (the wallets' fetch: each only if it is the key
/// asked for).
async fn fetch_policy_keys(base: &str, policy: &Path) -> anyhow::Result<Vec<PublicKey>> {
    let text = signing::read_limited(
        policy,
        "a trust policy",
        verifier::policy::MAX_POLICY_BYTES as u64,
    )?;
    let policy = verifier::policy::TrustPolicy::parse(&String::from_utf8_lossy(&text))
        .with_context(|| format!("reading the trust policy {}", policy.display()))?;
    crate::commands::attest::registry_fetch::policy_keys(base, &policy).await
}

async fn fetch_proof(client: &reqwest::Client, base: &str, digest: &str) -> anyhow::Result<String> {
    let url = format!("{base}/v1/log/entries?statement=sha256:{digest}");
    let entries: Value = serde_json::from_slice(&get_bytes(client, &url, MAX_ANSWER_BYTES).await?)
        .with_context(|| format!("{url} is not JSON"))?;
    let index = entries["entries"]
        .as_array()
        .and_then(|e| e.iter().find(|e| e["kind"] == "release"))
        .and_then(|e| e["index"].as_u64())
        .with_context(|| {
            format!("the release statement sha256:{digest} is not in the registry's log yet")
        })?;
    crate::commands::attest::registry_fetch::log_proof(client, base, Some(index))
        .await
        .map(|proof| proof.unwrap_or_default())
}
