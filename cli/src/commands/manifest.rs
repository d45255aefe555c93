//! `mpr manifest sign|verify`: detached OpenPGP signatures over statements.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Args, Subcommand};
use registry_api::openpgp::{self, PublicKey, VerifiedSignature, MAX_SIGNATURE_BYTES};
use registry_api::signing;
use sha2::Digest;

use super::key::SignerArgs;

#[derive(Debug, Subcommand)]
pub enum ManifestCommand {
    /// Sign a statement: a detached, ASCII-armored SHA-512 OpenPGP signature.
    Sign(SignArgs),
    /// Check detached signatures over a statement against a keyring; say which key made each.
    Verify(VerifyArgs),
}

#[derive(Debug, Args)]
pub struct SignArgs {
    #[command(flatten)]
    signer: SignerArgs,
    /// The statement to sign (signed byte for byte as it is).
    #[arg(long)]
    statement: PathBuf,
    /// Where to write the signature (replaced if it exists); default: STATEMENT.asc.
    #[arg(long)]
    out: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The signed statement.
    #[arg(long)]
    statement: PathBuf,
    /// Detached signatures (armored or binary), one file each; every one must verify.
    #[arg(long, required = true, num_args = 1..)]
    signature: Vec<PathBuf>,
    /// Public certificates (armored or binary, one or more per file) of the accepted signers.
    #[arg(long, required = true, num_args = 1..)]
    keyring: Vec<PathBuf>,
    /// A trust policy (TOML, verifier::policy): k of its n release keys (rebuilder keys for a
    /// rebuild report) must be among the signers.
    #[arg(long)]
    policy: Option<PathBuf>,
    /// An offline proof (c2sp.org/tlog-proof@v1) that the statement is in the policy's log,
    /// under a checkpoint signed by the log and cosigned by the policy's witnesses.
    #[arg(long, requires = "policy")]
    proof: Option<PathBuf>,
    /// What the statement is, as its log entry names it.
    #[arg(long, default_value = "release", value_parser = ["release", "status", "addendum", "rebuild"])]
    kind: String,
}

pub fn run(command: ManifestCommand, json: bool) -> anyhow::Result<()> {
    match command {
        ManifestCommand::Sign(args) => sign(args, json),
        ManifestCommand::Verify(args) => verify(args, json),
    }
}

fn sign(args: SignArgs, json: bool) -> anyhow::Result<()> {
    let signer = args.signer.signer("the statement")?;
    let out = args.out.clone().unwrap_or_else(|| {
        let mut name = args.statement.clone().into_os_string();
        name.push(".asc");
        PathBuf::from(name)
    });
    let signature = signer.sign(&args.statement)?;
    let backend = signer.backend();
    signing::write_replacing(&out, signature.armored.as_bytes(), 0o644)?;
    let verified = &signature.verified;
    if json {
        return super::print_json(&serde_json::json!({
            "statement": args.statement,
            "signature": out,
            "key_fingerprint": verified.key_fingerprint,
            "signing_key_fingerprint": verified.signing_key_fingerprint,
            "signed_at": verified.signed_at,
            "backend": backend,
        }));
    }
    outln!("{}", out.display())?;
    eprintln!(
        "signed {} with key {} (signing key {}, via {backend})",
        args.statement.display(),
        verified.key_fingerprint,
        verified.signing_key_fingerprint
    );
    Ok(())
}

/// The outcome for one signature file.
#[derive(serde::Serialize)]
struct SignatureReport {
    file: PathBuf,
    valid: bool,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    verified: Option<VerifiedSignature>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    user_ids: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

fn verify(args: VerifyArgs, json: bool) -> anyhow::Result<()> {
    let statement = signing::read_statement(&args.statement)?;
    let keys = read_keyrings(&args.keyring)?;
    let reports: Vec<SignatureReport> = args
        .signature
        .iter()
        .map(|file| check_signature(&keys, &statement, file))
        .collect();
    let mut signers: Vec<&str> = reports
        .iter()
        .filter_map(|r| r.verified.as_ref().map(|v| v.key_fingerprint.as_str()))
        .collect();
    signers.sort_unstable();
    signers.dedup();
    let mut failures: Vec<String> = reports
        .iter()
        .filter_map(|r| {
            r.error
                .as_ref()
                .map(|e| format!("{}: {e}", r.file.display()))
        })
        .collect();
    let statement_sha256: [u8; 32] = sha2::Sha256::digest(&statement).into();
    let trust = match &args.policy {
        Some(path) => {
            let signer_list: Vec<String> = signers.iter().map(|s| s.to_string()).collect();
            let report = check_policy(
                path,
                args.proof.as_deref(),
                &args.kind,
                &signer_list,
                statement_sha256,
            )?;
            failures.extend(report.problems.iter().cloned());
            Some(report)
        }
        None => None,
    };

    if json {
        super::print_json(&serde_json::json!({
            "statement": args.statement,
            "statement_sha256": hex::encode(statement_sha256),
            "valid": failures.is_empty(),
            "signatures": reports,
            "signers": signers,
            "policy": trust,
        }))?;
    } else {
        for report in &reports {
            if let Some(v) = &report.verified {
                let names = if report.user_ids.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", report.user_ids.join(", "))
                };
                outln!(
                    "{}: good signature by {}{names}, signing key {}, made {}",
                    report.file.display(),
                    v.key_fingerprint,
                    v.signing_key_fingerprint,
                    v.signed_at.to_rfc3339()
                )?;
            }
        }
        if let Some(trust) = &trust {
            for line in &trust.passed {
                outln!("{line}")?;
            }
        }
    }
    if !failures.is_empty() {
        let failed_signatures = reports.iter().filter(|r| !r.valid).count();
        anyhow::bail!(
            "{} over {} failed ({failed_signatures} of {} signatures bad):\n  {}",
            if failures.len() == 1 {
                "1 check"
            } else {
                "checks"
            },
            args.statement.display(),
            reports.len(),
            failures.join("\n  ")
        );
    }
    if !json {
        outln!(
            "{}: {} signature(s) verified, by {} distinct key(s)",
            args.statement.display(),
            reports.len(),
            signers.len()
        )?;
    }
    Ok(())
}

fn read_keyrings(paths: &[PathBuf]) -> anyhow::Result<Vec<PublicKey>> {
    let mut keys: Vec<PublicKey> = Vec::new();
    for path in paths {
        let bytes = signing::read_limited(path, "a keyring", openpgp::MAX_KEYRING_BYTES as u64)?;
        let parsed = openpgp::parse_keyring(&bytes)
            .with_context(|| format!("reading the keyring {}", path.display()))?;
        for key in parsed {
            if !keys.iter().any(|k| k.fingerprint == key.fingerprint) {
                keys.push(key);
            }
        }
    }
    Ok(keys)
}

fn check_signature(keys: &[PublicKey], statement: &[u8], file: &Path) -> SignatureReport {
    let outcome = signing::read_limited(file, "a signature", MAX_SIGNATURE_BYTES as u64)
        .map_err(|e| e.to_string())
        .and_then(|sig| openpgp::verify_detached(keys, statement, &sig).map_err(|e| e.to_string()));
    match outcome {
        Ok(verified) => SignatureReport {
            file: file.to_path_buf(),
            valid: true,
            user_ids: keys
                .iter()
                .find(|k| k.fingerprint == verified.key_fingerprint)
                .map(|k| k.user_ids.clone())
                .unwrap_or_default(),
            verified: Some(verified),
            error: None,
        },
        Err(error) => SignatureReport {
            file: file.to_path_buf(),
            valid: false,
            verified: None,
            user_ids: Vec::new(),
            error: Some(error),
        },
    }
}

/// What a trust policy and a proof bundle say about a statement and its signers.
#[derive(serde::Serialize)]
pub(crate) struct TrustReport {
    policy: PathBuf,
    /// Policy keys among the signers (release keys, or rebuilder keys for a rebuild report).
    matched_keys: Vec<String>,
    threshold: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    log: Option<LogReport>,
    #[serde(skip)]
    pub(crate) passed: Vec<String>,
    pub(crate) problems: Vec<String>,
}

#[derive(serde::Serialize)]
struct LogReport {
    origin: String,
    index: u64,
    tree_size: u64,
    witnesses: Vec<String>,
}

pub(crate) fn check_policy(
    path: &Path,
    proof: Option<&Path>,
    kind: &str,
    signers: &[String],
    statement_sha256: [u8; 32],
) -> anyhow::Result<TrustReport> {
    use verifier::policy::{TrustPolicy, MAX_POLICY_BYTES};
    use verifier::tlog::{proof_bundle::MAX_BUNDLE_BYTES, EntryKind, LogEntry};

    let text = read_text(path, "a trust policy", MAX_POLICY_BYTES)?;
    let policy = TrustPolicy::parse(&text)
        .with_context(|| format!("reading the trust policy {}", path.display()))?;
    let kind = EntryKind::parse(kind).context("unknown statement kind")?;
    let (role, set, outcome) = if kind == EntryKind::Rebuild {
        // One rebuilder signs one report: any policy rebuilder key will do; the threshold counts
        // reports by distinct keys (the wallet's check), not signatures on one of them.
        let matched = policy.rebuilders.among(signers);
        let outcome = if matched.is_empty() {
            Err(anyhow::anyhow!(
                "the rebuild report is signed by none of the policy's rebuilder keys ({})",
                policy.rebuilders.keys.join(", ")
            ))
        } else {
            Ok(matched)
        };
        ("rebuilder", &policy.rebuilders, outcome)
    } else {
        (
            "release",
            &policy.release,
            policy
                .check_release_signers(signers)
                .map_err(anyhow::Error::from),
        )
    };
    let mut report = TrustReport {
        policy: path.to_path_buf(),
        matched_keys: Vec::new(),
        threshold: set.threshold,
        log: None,
        passed: Vec::new(),
        problems: Vec::new(),
    };
    match outcome {
        Ok(matched) => {
            report.passed.push(format!(
                "trust policy {}: {} of the required {} {role} keys signed ({})",
                path.display(),
                matched.len(),
                set.threshold,
                matched.join(", ")
            ));
            report.matched_keys = matched;
        }
        Err(e) => report
            .problems
            .push(format!("trust policy {}: {e}", path.display())),
    }
    if let Some(proof) = proof {
        let bundle = read_text(proof, "a proof bundle", MAX_BUNDLE_BYTES)?;
        let entry = LogEntry::new(kind, statement_sha256).encode();
        match policy.verify_proof_bundle(&bundle, &entry) {
            Ok(verified) => {
                let checkpoint = &verified.checkpoint.checkpoint;
                let witnesses: Vec<String> = verified
                    .checkpoint
                    .witnesses
                    .iter()
                    .map(|w| w.name.clone())
                    .collect();
                report.passed.push(format!(
                    "log {}: the statement is entry {} of {}, cosigned by {} witness(es){}",
                    checkpoint.origin,
                    verified.index,
                    checkpoint.size,
                    witnesses.len(),
                    if witnesses.is_empty() {
                        String::new()
                    } else {
                        format!(" ({})", witnesses.join(", "))
                    }
                ));
                report.log = Some(LogReport {
                    origin: checkpoint.origin.clone(),
                    index: verified.index,
                    tree_size: checkpoint.size,
                    witnesses,
                });
            }
            Err(e) => report.problems.push(format!(
                "proof {} (log entry: {kind} statement sha256:{}): {e}",
                proof.display(),
                hex::encode(statement_sha256)
            )),
        }
    }
    Ok(report)
}

fn read_text(path: &Path, what: &'static str, limit: usize) -> anyhow::Result<String> {
    let bytes = signing::read_limited(path, what, limit as u64)?;
    String::from_utf8(bytes).with_context(|| format!("{} is not UTF-8 text", path.display()))
}
