//! Detached signatures with a secret key file.

use sequoia_openpgp as openpgp;

use openpgp::armor;
use openpgp::serialize::Serialize;
use openpgp::types::{HashAlgorithm, SignatureType};
use openpgp::Packet;

use super::{Passphrase, SecretKey, SigningError};
use crate::openpgp::{verify_detached, VerifiedSignature};

/// A detached signature made by [`sign_detached`], already checked by
/// [`crate::openpgp::verify_detached`].
#[derive(Debug, Clone)]
pub struct DetachedSignature {
    /// The signature, ASCII-armored (`-----BEGIN PGP SIGNATURE-----`).
    pub armored: String,
    pub verified: VerifiedSignature,
}

/// Signs `data` with the key's signing key: a binary-document signature over SHA-512, detached
/// and ASCII-armored, what `gpg --armor --detach-sign --digest-algo SHA512` makes.
///
/// An encrypted secret key needs its `passphrase`; an unencrypted one ignores it.
pub fn sign_detached(
    key: &SecretKey,
    passphrase: Option<&Passphrase>,
    data: &[u8],
) -> Result<DetachedSignature, SigningError> {
    let signing_key = key.signing_key()?;
    let unlocked = if signing_key.has_unencrypted_secret() {
        signing_key
    } else {
        let Some(passphrase) = passphrase else {
            return Err(SigningError::PassphraseRequired {
                fingerprint: key.fingerprint(),
            });
        };
        // Sequoia reports a wrong passphrase as a failed checksum or decryption; either way
        // nothing else can be wrong with a key that parsed, so the message says what to fix.
        signing_key
            .decrypt_secret(passphrase.password())
            .map_err(|_| SigningError::WrongPassphrase {
                fingerprint: key.fingerprint(),
            })?
    };
    let mut keypair = unlocked
        .into_keypair()
        .map_err(SigningError::openpgp("unlocking the signing key"))?;
    let signature = openpgp::packet::signature::SignatureBuilder::new(SignatureType::Binary)
        .set_hash_algo(HashAlgorithm::SHA512)
        .sign_message(&mut keypair, data)
        .map_err(SigningError::openpgp("signing"))?;

    let armor_failed = |e: std::io::Error| SigningError::OpenPgp {
        action: "armoring the signature",
        detail: e.to_string(),
    };
    let mut writer =
        armor::Writer::new(Vec::new(), armor::Kind::Signature).map_err(armor_failed)?;
    Packet::from(signature)
        .serialize(&mut writer)
        .map_err(SigningError::openpgp("serialising the signature"))?;
    let bytes = writer.finalize().map_err(armor_failed)?;
    let armored = String::from_utf8(bytes).map_err(|_| SigningError::OpenPgp {
        action: "armoring the signature",
        detail: "the armor is not UTF-8".into(),
    })?;

    let public = key.public_cert()?;
    let verified = verify_detached(std::slice::from_ref(&public), data, armored.as_bytes())
        .map_err(|source| SigningError::SelfCheck {
            fingerprint: key.fingerprint(),
            source,
        })?;
    Ok(DetachedSignature { armored, verified })
}
