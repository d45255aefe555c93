//! `mpr manifest sign|verify`: detached OpenPGP signatures over statements.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Args, Subcommand};
use registry_api::openpgp::{self, PublicKey, VerifiedSignature, MAX_SIGNATURE_BYTES};
use registry_api::signing::{self, DetachedSignature};
use sha2::Digest;

use super::key::{read_key, PassphraseArgs};

#[derive(Debug, Subcommand)]
pub enum ManifestCommand {
    /// Sign a statement: a detached, ASCII-armored SHA-512 OpenPGP signature.
    Sign(SignArgs),
    /// Check detached signatures over a statement against a keyring; say which key made each.
    Verify(VerifyArgs),
}

#[derive(Debug, Args)]
pub struct SignArgs {
    /// The secret key file (from `mpr key generate`).
    #[arg(long, required_unless_present = "gpg", conflicts_with = "gpg")]
    key: Option<PathBuf>,
    /// Sign with gpg instead (`gpg --detach-sign --local-user KEYID`): keys in gpg-agent or on
    /// a hardware token. A passphrase is passed to gpg only if one is given.
    #[arg(long, value_name = "KEYID")]
    gpg: Option<String>,
    #[command(flatten)]
    passphrase: PassphraseArgs,
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
}

pub fn run(command: ManifestCommand, json: bool) -> anyhow::Result<()> {
    match command {
        ManifestCommand::Sign(args) => sign(args, json),
        ManifestCommand::Verify(args) => verify(args, json),
    }
}

fn sign(args: SignArgs, json: bool) -> anyhow::Result<()> {
    let passphrase = args.passphrase.read()?;
    let out = args.out.clone().unwrap_or_else(|| {
        let mut name = args.statement.clone().into_os_string();
        name.push(".asc");
        PathBuf::from(name)
    });
    let (signature, backend): (DetachedSignature, &str) = match (&args.gpg, &args.key) {
        (Some(key_id), _) => (
            signing::gpg_sign_detached(key_id, passphrase.as_ref(), &args.statement)?,
            "gpg",
        ),
        (None, Some(key_path)) => {
            let key = read_key(key_path)?;
            let statement = signing::read_statement(&args.statement)?;
            (
                signing::sign_detached(&key, passphrase.as_ref(), &statement)?,
                "sequoia",
            )
        }
        (None, None) => anyhow::bail!("give --key FILE or --gpg KEYID"),
    };
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
    let failures: Vec<String> = reports
        .iter()
        .filter_map(|r| {
            r.error
                .as_ref()
                .map(|e| format!("{}: {e}", r.file.display()))
        })
        .collect();

    if json {
        super::print_json(&serde_json::json!({
            "statement": args.statement,
            "statement_sha256": hex::encode(sha2::Sha256::digest(&statement)),
            "valid": failures.is_empty(),
            "signatures": reports,
            "signers": signers,
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
    }
    if !failures.is_empty() {
        anyhow::bail!(
            "{} of {} signatures over {} failed:\n  {}",
            failures.len(),
            reports.len(),
            args.statement.display(),
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
        .and_then(|sig| {
            openpgp::verify_detached(keys, statement, &sig).map_err(|e| e.to_string())
        });
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
