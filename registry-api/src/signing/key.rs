//! Release keys: generation, secret key files, the public certificate.
//!
//! A generated key is an OpenPGP v4 certificate whose Ed25519 primary key can only certify,
//! with one Ed25519 subkey that signs. The fingerprint that trust policies and the registry pin
//! is the primary's, so the signing subkey can be replaced (a new subkey bound by the primary,
//! the old one revoked) without every verifier changing its policy, and the primary can be kept
//! offline if the key is moved to gpg or a token. It is the shape GnuPG and Sequoia make by
//! default and every OpenPGP implementation reads (v4, not v6: Debian bookworm's gpg 2.2 and
//! sqv 1.1 cannot read v6 keys). The key does not expire: the registry and `mpr manifest
//! verify` require the signing key to be valid *now*, so an expiry would silently invalidate
//! every old release; a compromised key is revoked instead.

use std::path::{Path, PathBuf};

use sequoia_openpgp as openpgp;

use openpgp::cert::prelude::*;
use openpgp::crypto::mem::Protected;
use openpgp::packet::key::SecretParts;
use openpgp::packet::Key;
use openpgp::parse::Parse;
use openpgp::serialize::SerializeInto;
use openpgp::types::KeyFlags;
use openpgp::{Cert, Profile};

use super::POLICY;
use super::{files, Passphrase, SigningError, MAX_SECRET_KEY_BYTES, MAX_USER_ID_BYTES};

/// A freshly generated key: the ASCII-armored secret key (TSK) to write to a file, and what to
/// tell the user about it.
pub struct GeneratedKey {
    /// Primary key fingerprint, upper-case hex: what trust policies and the registry name.
    pub fingerprint: String,
    /// The signing subkey's fingerprint.
    pub signing_key_fingerprint: String,
    pub user_id: String,
    /// Whether the secret parts are encrypted under a passphrase.
    pub encrypted: bool,
    armored_secret: Protected,
    armored_public: String,
}

impl std::fmt::Debug for GeneratedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GeneratedKey")
            .field("fingerprint", &self.fingerprint)
            .field("signing_key_fingerprint", &self.signing_key_fingerprint)
            .field("user_id", &self.user_id)
            .field("encrypted", &self.encrypted)
            .finish_non_exhaustive()
    }
}

impl GeneratedKey {
    /// The ASCII-armored secret key (encrypted under the passphrase if one was given).
    pub fn armored_secret(&self) -> &[u8] {
        &self.armored_secret
    }

    /// The ASCII-armored public certificate.
    pub fn armored_public(&self) -> &str {
        &self.armored_public
    }

    /// The key, ready to sign, without a round trip through a file.
    pub fn secret_key(&self) -> Result<SecretKey, SigningError> {
        SecretKey::parse(&self.armored_secret, Path::new("(generated key)"))
    }

    /// Writes the secret key to a new file, mode 0600; never replaces an existing file.
    pub fn write_secret_key_file(&self, path: &Path) -> Result<(), SigningError> {
        files::write_new_private_file(path, &self.armored_secret)
    }
}

/// Generates a new release key for `user_id` (e.g. `"Release Team <release@example.org>"`).
/// Without a passphrase the secret parts are stored in the clear; callers must make that an
/// explicit choice.
pub fn generate_key(
    user_id: &str,
    passphrase: Option<&Passphrase>,
) -> Result<GeneratedKey, SigningError> {
    check_user_id(user_id)?;
    let (cert, _revocation) = CertBuilder::new()
        .set_profile(Profile::RFC4880)
        .map_err(SigningError::openpgp("key generation"))?
        .set_cipher_suite(CipherSuite::Cv25519)
        .set_primary_key_flags(KeyFlags::empty().set_certification())
        .add_userid(user_id)
        .add_signing_subkey()
        .set_validity_period(None)
        .set_password(passphrase.map(|p| p.password().clone()))
        .generate()
        .map_err(SigningError::openpgp("key generation"))?;
    let signing_key_fingerprint = cert
        .keys()
        .subkeys()
        .next()
        .map(|k| k.key().fingerprint().to_hex())
        .ok_or_else(|| SigningError::OpenPgp {
            action: "key generation",
            detail: "the new certificate has no signing subkey".into(),
        })?;
    let armored_secret = cert
        .as_tsk()
        .armored()
        .to_vec()
        .map(Protected::from)
        .map_err(SigningError::openpgp("serialising the secret key"))?;
    Ok(GeneratedKey {
        fingerprint: cert.fingerprint().to_hex(),
        signing_key_fingerprint,
        user_id: user_id.to_string(),
        encrypted: passphrase.is_some(),
        armored_secret,
        armored_public: armored_public(&cert)?,
    })
}

fn check_user_id(user_id: &str) -> Result<(), SigningError> {
    let invalid = |detail: &str| {
        Err(SigningError::InvalidUserId {
            detail: detail.to_string(),
        })
    };
    if user_id.trim().is_empty() {
        return invalid("it is empty");
    }
    if user_id.len() > MAX_USER_ID_BYTES {
        return invalid(&format!(
            "it is {} bytes, more than {MAX_USER_ID_BYTES}",
            user_id.len()
        ));
    }
    if user_id.chars().any(char::is_control) {
        return invalid("it contains control characters (a newline?)");
    }
    Ok(())
}

fn armored_public(cert: &Cert) -> Result<String, SigningError> {
    let bytes = cert
        .clone()
        .strip_secret_key_material()
        .armored()
        .to_vec()
        .map_err(SigningError::openpgp("serialising the public key"))?;
    String::from_utf8(bytes).map_err(|_| SigningError::OpenPgp {
        action: "serialising the public key",
        detail: "the armor is not UTF-8".into(),
    })
}

/// A secret key read from a key file: one certificate with secret key material.
pub struct SecretKey {
    cert: Cert,
    path: PathBuf,
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretKey")
            .field("fingerprint", &self.fingerprint())
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl SecretKey {
    /// Reads a secret key file (ASCII-armored or binary, at most [`MAX_SECRET_KEY_BYTES`]).
    pub fn read(path: &Path) -> Result<Self, SigningError> {
        let bytes = Protected::from(files::read_limited(
            path,
            "a secret key file",
            MAX_SECRET_KEY_BYTES,
        )?);
        Self::parse(&bytes, path)
    }

    /// Parses a secret key's bytes; `origin` names where they came from in errors.
    fn parse(bytes: &[u8], origin: &Path) -> Result<Self, SigningError> {
        let path = origin;
        let not_secret = |detail: String| SigningError::NotASecretKey {
            path: path.to_path_buf(),
            detail,
        };
        let cert = Cert::from_bytes(bytes).map_err(|e| {
            not_secret(
                e.chain()
                    .map(|c| c.to_string())
                    .collect::<Vec<_>>()
                    .join(": "),
            )
        })?;
        if !cert.is_tsk() {
            return Err(not_secret(format!(
                "it holds only the public certificate of key {}",
                cert.fingerprint().to_hex()
            )));
        }
        Ok(SecretKey {
            cert,
            path: path.to_path_buf(),
        })
    }

    /// Primary key fingerprint, upper-case hex.
    pub fn fingerprint(&self) -> String {
        self.cert.fingerprint().to_hex()
    }

    /// User IDs validly bound now.
    pub fn user_ids(&self) -> Vec<String> {
        self.cert
            .with_policy(&POLICY, None)
            .map(|vc| {
                vc.userids()
                    .map(|ua| String::from_utf8_lossy(ua.userid().value()).into_owned())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The public certificate, ASCII-armored: what verifiers import and the registry registers.
    pub fn armored_public(&self) -> Result<String, SigningError> {
        armored_public(&self.cert)
    }

    /// The newest secret key that may sign now under the standard policy (GnuPG's choice when
    /// a certificate has several).
    pub(super) fn signing_key(&self) -> Result<Key<SecretParts, KeyRole>, SigningError> {
        let fingerprint = self.fingerprint();
        let vc = self
            .cert
            .with_policy(&POLICY, None)
            .map_err(|e| SigningError::NoSigningKey {
                fingerprint: fingerprint.clone(),
                detail: format!("the certificate is not valid under the standard policy: {e}"),
            })?;
        let candidates = || vc.keys().supported().alive().revoked(false).for_signing();
        let newest = candidates()
            .secret()
            .max_by_key(|ka| ka.key().creation_time())
            .map(|ka| ka.key().clone().role_into_unspecified());
        newest.ok_or_else(|| SigningError::NoSigningKey {
            fingerprint,
            detail: if candidates().next().is_some() {
                "the file holds the signing key's public part only".into()
            } else {
                "no signing-capable key is alive and unrevoked".into()
            },
        })
    }

    pub(super) fn public_cert(&self) -> Result<crate::openpgp::PublicKey, SigningError> {
        let armored = self.armored_public()?;
        crate::openpgp::parse_stored_key(armored.as_bytes()).map_err(|source| {
            SigningError::SelfCheck {
                fingerprint: self.fingerprint(),
                source,
            }
        })
    }
}

type KeyRole = openpgp::packet::key::UnspecifiedRole;
