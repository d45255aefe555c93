//! `mpr key`: release keys made and kept by mpr (OpenPGP, sequoia).

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Args, Subcommand};
use registry_api::signing::{self, DetachedSignature, Passphrase, SecretKey, PASSPHRASE_ENV};

#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Generate a release key (Ed25519: certification primary + signing subkey, OpenPGP v4)
    /// into a new secret key file (mode 0600, passphrase-protected; never overwritten).
    Generate(GenerateArgs),
    /// Print or write the public certificate (ASCII-armored) of a secret key file.
    Export(ExportArgs),
}

#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// The key's User ID, e.g. "Release Team <release@example.org>".
    #[arg(long)]
    user_id: String,
    /// The new secret key file; an existing file is never replaced.
    #[arg(long)]
    out: PathBuf,
    #[command(flatten)]
    passphrase: PassphraseArgs,
    /// Store the secret key unencrypted (only for throwaway keys, e.g. tests).
    #[arg(long, conflicts_with = "passphrase_file")]
    no_passphrase: bool,
}

/// Which key signs: an mpr secret key file, or a key gpg holds (agent, hardware token).
/// Commands that may not sign at all say when one is required ([`SignerArgs::signer`]).
#[derive(Debug, Args)]
pub struct SignerArgs {
    /// The secret key file (from `mpr key generate`).
    #[arg(long, conflicts_with = "gpg")]
    pub key: Option<PathBuf>,
    /// Sign with gpg instead (`gpg --detach-sign --local-user KEYID`): keys in gpg-agent or on
    /// a hardware token. A passphrase is passed to gpg only if one is given.
    #[arg(long, value_name = "KEYID")]
    pub gpg: Option<String>,
    #[command(flatten)]
    pub passphrase: PassphraseArgs,
}

impl SignerArgs {
    /// The signer these arguments name; a key file is unlocked now, so that a wrong passphrase
    /// is found before long work (a build), not after it. `what` says what is signed.
    pub fn signer(&self, what: &str) -> anyhow::Result<Signer> {
        let passphrase = self.passphrase.read()?;
        Ok(match (&self.gpg, &self.key) {
            (Some(key_id), _) => Signer::Gpg {
                key_id: key_id.clone(),
                passphrase,
            },
            (None, Some(path)) => {
                let key = read_key(path)?;
                signing::sign_detached(&key, passphrase.as_ref(), b"mpr").with_context(|| {
                    format!("unlocking the key {} to sign {what}", path.display())
                })?;
                Signer::Key {
                    key: Box::new(key),
                    passphrase,
                }
            }
            (None, None) => anyhow::bail!("give --key FILE or --gpg KEYID to sign {what}"),
        })
    }
}

/// How a statement is signed: an mpr key file (sequoia), or gpg (agent, hardware token).
pub enum Signer {
    Key {
        key: Box<SecretKey>,
        passphrase: Option<Passphrase>,
    },
    Gpg {
        key_id: String,
        passphrase: Option<Passphrase>,
    },
}

impl Signer {
    /// The signing certificate's fingerprint when it is known before signing.
    pub fn fingerprint(&self) -> Option<String> {
        match self {
            Signer::Key { key, .. } => Some(key.fingerprint()),
            Signer::Gpg { .. } => None,
        }
    }

    /// Which backend signs, for people reading the output.
    pub fn backend(&self) -> &'static str {
        match self {
            Signer::Key { .. } => "sequoia",
            Signer::Gpg { .. } => "gpg",
        }
    }

    /// The ASCII-armoured public certificate of the key that made a signature by `fingerprint`.
    pub fn armored_public(&self, fingerprint: &str) -> anyhow::Result<String> {
        Ok(match self {
            Signer::Key { key, .. } => key.armored_public()?,
            Signer::Gpg { .. } => signing::gpg_export_public(fingerprint)?,
        })
    }

    /// A detached signature over the file's exact bytes.
    pub fn sign(&self, statement: &Path) -> anyhow::Result<DetachedSignature> {
        Ok(match self {
            Signer::Key { key, passphrase } => {
                let bytes = signing::read_statement(statement)?;
                signing::sign_detached(key, passphrase.as_ref(), &bytes)?
            }
            Signer::Gpg { key_id, passphrase } => {
                signing::gpg_sign_detached(key_id, passphrase.as_ref(), statement)?
            }
        })
    }
}

/// Where a passphrase comes from: a file, else the MPR_KEY_PASSPHRASE environment variable.
#[derive(Debug, Args)]
pub struct PassphraseArgs {
    /// File whose first line is the passphrase (default: the MPR_KEY_PASSPHRASE variable).
    #[arg(long)]
    pub passphrase_file: Option<PathBuf>,
}

impl PassphraseArgs {
    /// The passphrase from `--passphrase-file`, else from [`PASSPHRASE_ENV`], else none.
    pub fn read(&self) -> anyhow::Result<Option<Passphrase>> {
        if let Some(path) = &self.passphrase_file {
            return Ok(Some(Passphrase::from_file(path)?));
        }
        match std::env::var_os(PASSPHRASE_ENV) {
            Some(value) => {
                use std::os::unix::ffi::OsStringExt;
                Ok(Some(Passphrase::new(value.into_vec())?))
            }
            None => Ok(None),
        }
    }
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The secret key file (from `mpr key generate`).
    #[arg(long)]
    key: PathBuf,
    /// Write the public certificate here (replacing the file) instead of printing it.
    #[arg(long)]
    out: Option<PathBuf>,
}

pub fn run(command: KeyCommand, json: bool) -> anyhow::Result<()> {
    match command {
        KeyCommand::Generate(args) => generate(args, json),
        KeyCommand::Export(args) => export(args, json),
    }
}

fn generate(args: GenerateArgs, json: bool) -> anyhow::Result<()> {
    let passphrase = args.passphrase.read()?;
    match (&passphrase, args.no_passphrase) {
        (None, false) => anyhow::bail!(
            "no passphrase for the new secret key: give --passphrase-file FILE or set \
             {PASSPHRASE_ENV}; pass --no-passphrase to store the key unencrypted on purpose"
        ),
        (Some(_), true) => anyhow::bail!(
            "--no-passphrase was given but {PASSPHRASE_ENV} is set: unset it, or drop --no-passphrase"
        ),
        _ => {}
    }
    // Before the key exists, so a taken path costs nothing; the write checks again atomically.
    signing::refuse_existing(&args.out)?;
    let key = signing::generate_key(&args.user_id, passphrase.as_ref())?;
    key.write_secret_key_file(&args.out)?;
    tracing::info!(fingerprint = %key.fingerprint, file = %args.out.display(), "generated a release key");
    if json {
        return super::print_json(&serde_json::json!({
            "fingerprint": key.fingerprint,
            "signing_key_fingerprint": key.signing_key_fingerprint,
            "user_id": key.user_id,
            "key_file": args.out,
            "encrypted": key.encrypted,
        }));
    }
    outln!("{}", key.fingerprint)?;
    eprintln!(
        "wrote the secret key of {} ({}) to {}{}; export the public key with: mpr key export --key {}",
        key.fingerprint,
        key.user_id,
        args.out.display(),
        if key.encrypted {
            ""
        } else {
            " UNENCRYPTED"
        },
        args.out.display()
    );
    Ok(())
}

fn export(args: ExportArgs, json: bool) -> anyhow::Result<()> {
    let key = read_key(&args.key)?;
    let armored = key.armored_public()?;
    if let Some(out) = &args.out {
        signing::write_replacing(out, armored.as_bytes(), 0o644)?;
    }
    if json {
        return super::print_json(&serde_json::json!({
            "fingerprint": key.fingerprint(),
            "user_ids": key.user_ids(),
            "public_key": armored,
            "out": args.out,
        }));
    }
    match &args.out {
        Some(out) => eprintln!(
            "wrote the public key of {} to {}",
            key.fingerprint(),
            out.display()
        ),
        None => outln!("{}", armored.trim_end())?,
    }
    Ok(())
}

pub fn read_key(path: &Path) -> anyhow::Result<SecretKey> {
    Ok(SecretKey::read(path)?)
}
