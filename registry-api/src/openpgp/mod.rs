//! OpenPGP release-signing keys and detached signatures over release manifests.
//!
//! Publishers register a public key ([`parse_public_key`]) and upload, for each release, a
//! manifest with a detached signature that [`verify_detached`] checks against the registered
//! keys. Both accept ASCII armor or binary OpenPGP, refuse anything else with an error that
//! names the problem and what to do, and never panic.
//!
//! # Policy
//!
//! Everything is evaluated under Sequoia's [`StandardPolicy`] (no SHA-1 signatures, no
//! weak keys, ...).
//!
//! * A key is accepted for registration only if its primary key is valid now, not revoked,
//!   not expired, and it has at least one signing-capable (sub)key that is alive and not
//!   revoked now. Certificates with secret key material are refused.
//! * A signature is accepted if it is cryptographically good over `data` and the key that
//!   made it was valid, alive, unrevoked and signing-capable **when the signature was made**
//!   (Sequoia's rule), **and** the certificate and that key are still alive and unrevoked
//!   **now**. Signature times are chosen by the signer, so a backdated signature from an
//!   expired or revoked key must not pass: the registry records the status when the
//!   manifest is uploaded, and a later re-verification after the key expires or is revoked
//!   fails with [`OpenPgpError::KeyExpired`] / [`OpenPgpError::KeyRevoked`].
//!   GnuPG replaces a key's self-signature when its expiry is changed, so after a renewal
//!   the certificate no longer shows the key's state at an older signature's time; in that
//!   case (Sequoia: no binding signature at the signature time) the "now" rule alone
//!   applies.
//!   Signatures dated more than Sequoia's clock-skew tolerance in the future, or past their
//!   own expiry, are refused.
//! * Keys read back from storage go through [`parse_stored_key`], which checks the format
//!   but not liveness, so that an expired or revoked registered key yields a
//!   [`OpenPgpError::KeyExpired`] / [`OpenPgpError::KeyRevoked`] from [`verify_detached`]
//!   instead of failing the lookup.

mod decode;
mod keyring;
mod verify;

use chrono::{DateTime, Utc};
use sequoia_openpgp as openpgp;

use openpgp::cert::prelude::*;
use openpgp::crypto::mpi;
use openpgp::packet::Signature;
use openpgp::policy::StandardPolicy;
use openpgp::serialize::SerializeInto;
use openpgp::types::{Curve, RevocationStatus};
use openpgp::Cert;

pub use keyring::{parse_keyring, MAX_KEYRING_BYTES, MAX_KEYRING_CERTS};
pub use verify::verify_detached;

/// Largest accepted public key upload (armored or binary).
pub const MAX_KEY_BYTES: usize = 64 * 1024;
/// Largest accepted detached signature (armored or binary).
pub const MAX_SIGNATURE_BYTES: usize = 16 * 1024;
/// Largest key read back by [`parse_stored_key`] and from [`PublicKey::armored`]: an upload of
/// up to [`MAX_KEY_BYTES`] in binary grows by a third (and armor headers) once armored.
pub const MAX_STORED_KEY_BYTES: usize = 2 * MAX_KEY_BYTES;
/// Most signature packets accepted in one detached signature.
pub const MAX_SIGNATURES: usize = 32;

static POLICY: StandardPolicy<'static> = StandardPolicy::new();

/// A registered release-signing key.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PublicKey {
    /// Primary key fingerprint, upper-case hex without spaces (40 chars v4, 64 chars v6).
    pub fingerprint: String,
    /// User IDs that are validly bound and not revoked under the standard policy.
    pub user_ids: Vec<String>,
    /// Primary key algorithm, e.g. `EdDSA`, `RSA (3072 bits)`, `ECDSA (NIST P-256)`.
    pub algorithm: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    /// The public certificate re-serialised by Sequoia, ASCII armored (never secret material).
    pub armored: String,
}

/// A signature that verified.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct VerifiedSignature {
    /// Fingerprint of the registered certificate (its primary key).
    pub key_fingerprint: String,
    /// Fingerprint of the key that made the signature: a signing subkey or the primary key.
    pub signing_key_fingerprint: String,
    /// The signature's creation time.
    pub signed_at: DateTime<Utc>,
}

/// Which input an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input {
    PublicKey,
    Signature,
}

impl std::fmt::Display for Input {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Input::PublicKey => "public key",
            Input::Signature => "signature",
        })
    }
}

/// Coarse classification of [`OpenPgpError`], for mapping to HTTP statuses and
/// signature statuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The upload is not acceptable OpenPGP data (too large, garbage, secret key, wrong
    /// packet types, several certificates, unsupported algorithm). HTTP 400/413/422.
    InvalidInput,
    /// The key is well-formed but cannot be used to sign: expired, revoked, invalid under
    /// the policy, or without a signing-capable key.
    KeyUnusable,
    /// No registered key made the signature.
    UnknownKey,
    /// A registered key made the signature but it does not verify over the data, or the
    /// signature itself is not acceptable (expired, future-dated, weak hash).
    BadSignature,
    /// A stored key could not be read back: a registry bug or corrupted data. HTTP 500.
    Internal,
}

#[derive(Debug, thiserror::Error)]
pub enum OpenPgpError {
    #[error("the {what} is {len} bytes, more than the limit of {limit} bytes; upload only the {what}, as output by {}", hint(*.what))]
    TooLarge {
        what: Input,
        len: usize,
        limit: usize,
    },
    #[error("the {what} is empty; upload the ASCII-armored or binary OpenPGP {what} ({})", hint(*.what))]
    Empty { what: Input },
    #[error("the {what} is not OpenPGP data ({detail}); upload the output of {}", hint(*.what))]
    NotOpenPgp { what: Input, detail: String },
    #[error("expected a {what} but this is {found}; upload the output of {}", hint(*.what))]
    WrongKind { what: Input, found: String },
    #[error("the upload contains {count} certificates{}; upload exactly one public key (gpg --armor --export FPR)", list(.fingerprints))]
    MultipleCertificates {
        count: usize,
        fingerprints: Vec<String>,
    },
    #[error("the upload contains secret key material{}; never upload secret keys: upload only the public key (gpg --armor --export FPR), and if this secret key was sent anywhere, consider it compromised", .fingerprint.as_deref().map(|f| format!(" (key {f})")).unwrap_or_default())]
    SecretKeyMaterial { fingerprint: Option<String> },
    #[error("unsupported OpenPGP key: {detail}; use an Ed25519 or RSA (at least 2048 bits) key, e.g. gpg --quick-gen-key 'Name <email>' ed25519 sign")]
    UnsupportedKey { detail: String },
    #[error("key {fingerprint} is not valid under the standard policy: {reason}; fix its self-signatures (e.g. re-sign with a SHA-256 hash: gpg --quick-set-expire FPR <expiry>) and upload it again")]
    InvalidKey { fingerprint: String, reason: String },
    #[error("key {fingerprint} has no valid signing-capable key: {detail}; add one (gpg --quick-add-key FPR ed25519 sign) and upload the updated public key")]
    NoSigningKey { fingerprint: String, detail: String },
    #[error("key {fingerprint} expired{}; extend it (gpg --quick-set-expire {fingerprint} 1y, and for a subkey gpg --quick-set-expire {fingerprint} 1y '*') and upload the updated public key, then sign again", .expired_at.map(|t| format!(" at {}", t.to_rfc3339())).unwrap_or_default())]
    KeyExpired {
        fingerprint: String,
        expired_at: Option<DateTime<Utc>>,
    },
    #[error("key {fingerprint} is revoked ({reason}); signatures by a revoked key are not accepted: sign with another registered, valid key")]
    KeyRevoked { fingerprint: String, reason: String },
    #[error(
        "invalid detached signature: {detail}; create one with gpg --armor --detach-sign FILE"
    )]
    InvalidSignature { detail: String },
    #[error("the signature was made by {}, which is not a registered key; register the signer's public key first (gpg --armor --export FPR), or upload the updated key if the signature was made by a newly added subkey", issuers_text(.issuers))]
    UnknownSigner { issuers: Vec<String> },
    #[error("the signature by key {signer} does not match the data: the data was changed after signing, or the signature belongs to another file; sign the exact bytes uploaded")]
    SignatureMismatch { signer: String },
    #[error("the signature by key {signer} is not acceptable: {reason}; sign again with a current key and a SHA-256 (or stronger) hash")]
    SignatureRejected { signer: String, reason: String },
    #[error("stored key {fingerprint} cannot be used: {detail}")]
    StoredKey { fingerprint: String, detail: String },
}

impl OpenPgpError {
    pub fn kind(&self) -> ErrorKind {
        use OpenPgpError::*;
        match self {
            TooLarge { .. }
            | Empty { .. }
            | NotOpenPgp { .. }
            | WrongKind { .. }
            | MultipleCertificates { .. }
            | SecretKeyMaterial { .. }
            | UnsupportedKey { .. }
            | InvalidSignature { .. } => ErrorKind::InvalidInput,
            InvalidKey { .. } | NoSigningKey { .. } | KeyExpired { .. } | KeyRevoked { .. } => {
                ErrorKind::KeyUnusable
            }
            UnknownSigner { .. } => ErrorKind::UnknownKey,
            SignatureMismatch { .. } | SignatureRejected { .. } => ErrorKind::BadSignature,
            StoredKey { .. } => ErrorKind::Internal,
        }
    }
}

fn hint(what: Input) -> &'static str {
    match what {
        Input::PublicKey => "gpg --armor --export FPR",
        Input::Signature => "gpg --armor --detach-sign FILE",
    }
}

fn list(fingerprints: &[String]) -> String {
    if fingerprints.is_empty() {
        String::new()
    } else {
        format!(" ({})", fingerprints.join(", "))
    }
}

fn issuers_text(issuers: &[String]) -> String {
    match issuers {
        [] => "an unnamed key (the signature has no issuer)".to_string(),
        [one] => format!("key {one}"),
        many => format!("key {}", many.join(" / ")),
    }
}

/// Parses and validates a public key upload (one certificate, armored or binary).
///
/// Refuses secret key material, several certificates, and keys that cannot sign now
/// (invalid under the standard policy, revoked, expired, or without a live signing-capable
/// key).
pub fn parse_public_key(input: &[u8]) -> Result<PublicKey, OpenPgpError> {
    let (cert, key) = read_key(input, MAX_KEY_BYTES)?;
    let vc = cert
        .with_policy(&POLICY, None)
        .map_err(|e| OpenPgpError::InvalidKey {
            fingerprint: key.fingerprint.clone(),
            reason: error_text(&e),
        })?;
    check_valid_cert(&vc)?;
    let signing = vc.keys().supported().for_signing().count();
    let usable = vc
        .keys()
        .supported()
        .for_signing()
        .alive()
        .revoked(false)
        .count();
    if usable == 0 {
        let detail = if signing == 0 {
            "none of its keys has the signing capability".to_string()
        } else {
            format!("its {signing} signing-capable key(s) are expired or revoked")
        };
        return Err(OpenPgpError::NoSigningKey {
            fingerprint: key.fingerprint,
            detail,
        });
    }
    Ok(key)
}

/// Reads back a key that was registered earlier (e.g. the `armored` column), or an update
/// of it, without requiring it to be usable now: a registered key may since have expired
/// or been revoked, and [`verify_detached`] must then say so rather than the lookup fail.
/// Still refuses anything that is not exactly one public certificate, or larger than
/// [`MAX_STORED_KEY_BYTES`].
pub fn parse_stored_key(input: &[u8]) -> Result<PublicKey, OpenPgpError> {
    read_key(input, MAX_STORED_KEY_BYTES).map(|(_, key)| key)
}

fn read_key(input: &[u8], limit: usize) -> Result<(Cert, PublicKey), OpenPgpError> {
    let cert = decode::cert(input, limit)?;
    let fingerprint = cert.fingerprint().to_hex();
    if cert.is_tsk() {
        return Err(OpenPgpError::SecretKeyMaterial {
            fingerprint: Some(fingerprint),
        });
    }
    let vc = cert.with_policy(&POLICY, None).ok();
    let user_ids = vc
        .iter()
        .flat_map(|vc| vc.userids())
        .filter(|ua| !matches!(ua.revocation_status(), RevocationStatus::Revoked(_)))
        .map(|ua| String::from_utf8_lossy(ua.userid().value()).into_owned())
        .collect();
    let expires_at = vc
        .as_ref()
        .and_then(|vc| vc.primary_key().key_expiration_time())
        .map(to_utc);
    let armored = cert
        .armored()
        .to_vec()
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or_else(|| OpenPgpError::UnsupportedKey {
            detail: "the certificate cannot be re-serialised".to_string(),
        })?;
    let primary = cert.primary_key().key();
    let key = PublicKey {
        fingerprint,
        user_ids,
        algorithm: algorithm_name(primary.mpis(), primary.pk_algo()),
        created_at: to_utc(primary.creation_time()),
        expires_at,
        armored,
    };
    Ok((cert, key))
}

/// Refuses a certificate whose primary key is revoked or not alive at the validation time.
fn check_valid_cert(vc: &ValidCert<'_>) -> Result<(), OpenPgpError> {
    let fingerprint = vc.fingerprint().to_hex();
    if let RevocationStatus::Revoked(sigs) = vc.revocation_status() {
        return Err(OpenPgpError::KeyRevoked {
            fingerprint,
            reason: revocation_reason(&sigs),
        });
    }
    if vc.alive().is_err() {
        return Err(OpenPgpError::KeyExpired {
            fingerprint,
            expired_at: vc.primary_key().key_expiration_time().map(to_utc),
        });
    }
    Ok(())
}

fn revocation_reason(sigs: &[&Signature]) -> String {
    match sigs.first().and_then(|s| s.reason_for_revocation()) {
        Some((code, msg)) if !msg.is_empty() => {
            format!("reason: {code}: \"{}\"", sanitize(msg, 200))
        }
        Some((code, _)) => format!("reason: {code}"),
        None => "no reason given".to_string(),
    }
}

fn algorithm_name(mpis: &mpi::PublicKey, algo: openpgp::types::PublicKeyAlgorithm) -> String {
    let bits = mpis.bits().unwrap_or(0);
    match mpis {
        mpi::PublicKey::RSA { .. } => format!("RSA ({bits} bits)"),
        mpi::PublicKey::DSA { .. } => format!("DSA ({bits} bits)"),
        mpi::PublicKey::ElGamal { .. } => format!("ElGamal ({bits} bits)"),
        mpi::PublicKey::EdDSA { curve, .. } if *curve == Curve::Ed25519 => "EdDSA".to_string(),
        mpi::PublicKey::EdDSA { curve, .. } => format!("EdDSA ({curve})"),
        mpi::PublicKey::ECDSA { curve, .. } => format!("ECDSA ({curve})"),
        mpi::PublicKey::ECDH { curve, .. } => format!("ECDH ({curve})"),
        _ => algo.to_string(),
    }
}

/// OpenPGP times are 32-bit seconds (plus 32-bit validity periods), well inside chrono's
/// range; anything else is clamped rather than panicking.
fn to_utc(t: std::time::SystemTime) -> DateTime<Utc> {
    let secs = match t.duration_since(std::time::UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_secs()).unwrap_or(i64::MAX),
    };
    DateTime::from_timestamp(secs, 0).unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// Sequoia's error with its causes, on one line.
fn error_text(e: &openpgp::anyhow::Error) -> String {
    let text = e
        .chain()
        .map(|c| c.to_string())
        .collect::<Vec<_>>()
        .join(": ");
    sanitize(text.as_bytes(), 300)
}

/// Text taken from the input (revocation messages, parser errors quoting it): lossy UTF-8,
/// control characters escaped, bounded length.
fn sanitize(bytes: &[u8], max_chars: usize) -> String {
    let text = String::from_utf8_lossy(bytes);
    let mut out = String::new();
    for (i, c) in text.chars().enumerate() {
        if i == max_chars {
            out.push('…');
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}
