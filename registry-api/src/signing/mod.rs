//! mpr as the signer: OpenPGP release keys made and kept by mpr, and detached signatures over
//! statements, made with Sequoia or through `gpg` (keys in an agent or on a hardware token).
//!
//! Checking signatures is not done here: [`crate::openpgp::verify_detached`] does it for the
//! registry and for `mpr manifest verify` alike, and every signature made here is checked by it
//! before it is returned, so mpr never writes a signature it would itself refuse.
//!
//! # Secrets
//!
//! Passphrases ([`Passphrase`]) and secret keys ([`SecretKey`], [`GeneratedKey`]) live in
//! Sequoia's protected memory (encrypted while unused, zeroed on drop). Their `Debug` output
//! is written here and names only fingerprints: Sequoia's own `Debug` shows the bytes in builds
//! with debug assertions. Errors ([`SigningError`]) never carry key material or passphrases.

mod files;
mod gpg;
mod key;
mod sign;

use std::path::PathBuf;

use sequoia_openpgp as openpgp;

pub use files::{
    read_limited, read_statement, refuse_existing, write_new_private_file, write_replacing,
};
pub use gpg::{gpg_export_public, gpg_sign_detached};
pub use key::{generate_key, GeneratedKey, SecretKey};
pub use sign::{sign_detached, DetachedSignature};

/// Largest secret key file read (an Ed25519 key with a signing subkey is about 1 KiB armored).
pub const MAX_SECRET_KEY_BYTES: u64 = 64 * 1024;
/// Largest passphrase file read: a passphrase is one line.
pub const MAX_PASSPHRASE_FILE_BYTES: u64 = 4096;
/// Largest statement signed or verified: statements are JSON documents of a few KiB.
pub const MAX_STATEMENT_BYTES: u64 = 16 * 1024 * 1024;
/// Longest accepted User ID.
pub const MAX_USER_ID_BYTES: usize = 256;
static POLICY: openpgp::policy::StandardPolicy<'static> = openpgp::policy::StandardPolicy::new();

/// The environment variable `mpr` reads a passphrase from when no passphrase file is given.
pub const PASSPHRASE_ENV: &str = "MPR_KEY_PASSPHRASE";

#[derive(Debug, thiserror::Error)]
pub enum SigningError {
    #[error("cannot {action} {}: {source}", .path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{} already exists; mpr never overwrites a key file: choose another path with --out (or move the existing file away first if you really mean to replace that key)", .path.display())]
    AlreadyExists { path: PathBuf },
    #[error("{} is {len} bytes, more than the limit of {limit} bytes for {what}", .path.display())]
    TooLarge {
        what: &'static str,
        path: PathBuf,
        len: u64,
        limit: u64,
    },
    #[error("invalid User ID: {detail}; use the form \"Name <email>\"")]
    InvalidUserId { detail: String },
    #[error("the passphrase is empty; {hint}")]
    EmptyPassphrase { hint: String },
    #[error("{} is not an OpenPGP secret key file: {detail}; sign with the file written by mpr key generate", .path.display())]
    NotASecretKey { path: PathBuf, detail: String },
    #[error("key {fingerprint} has no usable secret signing key: {detail}")]
    NoSigningKey { fingerprint: String, detail: String },
    #[error("secret key {fingerprint} is protected by a passphrase; give it with --passphrase-file FILE or the {PASSPHRASE_ENV} environment variable")]
    PassphraseRequired { fingerprint: String },
    #[error("wrong passphrase: it does not unlock secret key {fingerprint}; check --passphrase-file or {PASSPHRASE_ENV}")]
    WrongPassphrase { fingerprint: String },
    #[error("OpenPGP {action} failed: {detail}")]
    OpenPgp {
        action: &'static str,
        detail: String,
    },
    #[error("the new signature does not verify against key {fingerprint}: {source}")]
    SelfCheck {
        fingerprint: String,
        source: crate::openpgp::OpenPgpError,
    },
    #[error(
        "cannot run gpg ({source}); install GnuPG (apt-get install gnupg) or sign with --key FILE"
    )]
    GpgMissing { source: std::io::Error },
    #[error("invalid gpg key ID {key_id:?}: {detail}")]
    InvalidGpgKeyId { key_id: String, detail: String },
    #[error("gpg --detach-sign failed ({status}): {stderr}")]
    GpgFailed { status: String, stderr: String },
    #[error("gpg printed no ASCII-armored signature ({detail})")]
    GpgOutput { detail: String },
}

impl SigningError {
    fn io(action: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| SigningError::Io {
            action,
            path,
            source,
        }
    }

    fn openpgp(action: &'static str) -> impl Fn(openpgp::anyhow::Error) -> Self {
        move |e| SigningError::OpenPgp {
            action,
            detail: e
                .chain()
                .map(|c| c.to_string())
                .collect::<Vec<_>>()
                .join(": "),
        }
    }
}

/// A passphrase protecting a secret key file. Kept encrypted in memory; `Debug` shows nothing.
#[derive(Clone)]
pub struct Passphrase(openpgp::crypto::Password);

impl std::fmt::Debug for Passphrase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Passphrase(<redacted>)")
    }
}

impl Passphrase {
    /// A passphrase given directly (e.g. from [`PASSPHRASE_ENV`]). Refuses an empty one.
    pub fn new(bytes: Vec<u8>) -> Result<Self, SigningError> {
        if bytes.is_empty() {
            return Err(SigningError::EmptyPassphrase {
                hint: format!("set {PASSPHRASE_ENV} to a non-empty passphrase"),
            });
        }
        Ok(Passphrase(bytes.into()))
    }

    /// The first line of `path` (without its line ending), like `gpg --passphrase-file`.
    pub fn from_file(path: &std::path::Path) -> Result<Self, SigningError> {
        let mut bytes = files::read_limited(path, "a passphrase file", MAX_PASSPHRASE_FILE_BYTES)?;
        let end = bytes
            .iter()
            .position(|&b| b == b'\n')
            .unwrap_or(bytes.len());
        let end = if end > 0 && bytes[end - 1] == b'\r' {
            end - 1
        } else {
            end
        };
        // Truncating alone would leave the rest of the file in the freed allocation.
        bytes[end..].fill(0);
        bytes.truncate(end);
        if bytes.is_empty() {
            return Err(SigningError::EmptyPassphrase {
                hint: format!(
                    "write the passphrase on the first line of {}",
                    path.display()
                ),
            });
        }
        Ok(Passphrase(bytes.into()))
    }

    fn password(&self) -> &openpgp::crypto::Password {
        &self.0
    }
}

#[cfg(test)]
mod tests;
