//! Detached signature verification against registered keys. See the module documentation
//! of [`super`] for the policy.

use super::{
    check_valid_cert, decode, error_text, revocation_reason, to_utc, OpenPgpError, PublicKey,
    VerifiedSignature, MAX_SIGNATURE_BYTES, MAX_STORED_KEY_BYTES, POLICY,
};
use sequoia_openpgp as openpgp;

use openpgp::cert::prelude::*;
use openpgp::parse::stream::{
    DetachedVerifierBuilder, MessageLayer, MessageStructure, VerificationError, VerificationHelper,
};
use openpgp::parse::Parse;
use openpgp::policy::Policy;
use openpgp::types::RevocationStatus;
use openpgp::{Cert, Fingerprint, KeyHandle};
use std::time::SystemTime;

/// Verifies a detached signature (armored or binary) over `data` made by one of `keys`.
///
/// The key that made the signature must have been valid when the signature was made and
/// must still be valid (alive, not revoked) now; see the [module documentation](super).
/// If the upload holds several signatures, the first that verifies wins; if none does, the
/// error is about the most relevant one (a registered key's bad signature before an
/// unusable key before an unknown signer).
pub fn verify_detached(
    keys: &[PublicKey],
    data: &[u8],
    signature: &[u8],
) -> Result<VerifiedSignature, OpenPgpError> {
    let (binary, sigs) = decode::signatures(signature, MAX_SIGNATURE_BYTES)?;

    let issuers: Vec<KeyHandle> = sigs.iter().flat_map(|s| s.get_issuers()).collect();
    let mut certs = Vec::new();
    for key in keys {
        let cert = stored_cert(key)?;
        // Only certificates that can possibly have made the signature.
        if cert
            .keys()
            .key_handles(issuers.iter().cloned())
            .next()
            .is_some()
        {
            certs.push(cert);
        }
    }

    let invalid = |e: openpgp::anyhow::Error| OpenPgpError::InvalidSignature {
        detail: error_text(&e),
    };
    let helper = Helper {
        certs,
        outcomes: Vec::new(),
    };
    let mut verifier = DetachedVerifierBuilder::from_bytes(&binary)
        .map_err(invalid)?
        .with_policy(&POLICY, None, helper)
        .map_err(invalid)?;
    verifier.verify_bytes(data).map_err(invalid)?;
    let outcomes = verifier.into_helper().outcomes;

    let mut best: Option<OpenPgpError> = None;
    for outcome in outcomes {
        match outcome {
            Ok(good) => return Ok(good),
            Err(e) if best.as_ref().is_none_or(|b| rank(&e) > rank(b)) => best = Some(e),
            Err(_) => {}
        }
    }
    Err(best.unwrap_or_else(|| OpenPgpError::InvalidSignature {
        detail: "no signature packet".into(),
    }))
}

/// Which error to report when no signature verifies: the higher, the more relevant.
fn rank(e: &OpenPgpError) -> u8 {
    match e {
        OpenPgpError::SignatureMismatch { .. } => 5,
        OpenPgpError::SignatureRejected { .. } => 4,
        OpenPgpError::KeyRevoked { .. } => 3,
        OpenPgpError::KeyExpired { .. } => 2,
        OpenPgpError::UnknownSigner { .. } => 0,
        _ => 1,
    }
}

fn stored_cert(key: &PublicKey) -> Result<Cert, OpenPgpError> {
    let stored = |detail: String| OpenPgpError::StoredKey {
        fingerprint: key.fingerprint.clone(),
        detail,
    };
    let cert = decode::cert(key.armored.as_bytes(), MAX_STORED_KEY_BYTES)
        .map_err(|e| stored(format!("its armored certificate does not parse: {e}")))?;
    if cert.fingerprint().to_hex() != key.fingerprint {
        return Err(stored(format!(
            "its armored certificate is key {}",
            cert.fingerprint().to_hex()
        )));
    }
    Ok(cert)
}

struct Helper {
    certs: Vec<Cert>,
    outcomes: Vec<Result<VerifiedSignature, OpenPgpError>>,
}

impl VerificationHelper for Helper {
    fn get_certs(&mut self, _ids: &[KeyHandle]) -> openpgp::Result<Vec<Cert>> {
        Ok(std::mem::take(&mut self.certs))
    }

    fn check(&mut self, structure: MessageStructure) -> openpgp::Result<()> {
        for layer in structure {
            if let MessageLayer::SignatureGroup { results } = layer {
                for result in results {
                    self.outcomes.push(classify(result));
                }
            }
        }
        Ok(())
    }
}

fn classify(
    result: Result<openpgp::parse::stream::GoodChecksum<'_>, VerificationError<'_>>,
) -> Result<VerifiedSignature, OpenPgpError> {
    match result {
        Ok(good) => {
            let cert = good.ka.cert();
            let key = good.ka.key().fingerprint();
            // Sequoia checked the key at the signature's time; the registry also wants it
            // valid now.
            check_key(cert, &key, None)?;
            Ok(VerifiedSignature {
                key_fingerprint: cert.fingerprint().to_hex(),
                signing_key_fingerprint: key.to_hex(),
                signed_at: to_utc(
                    good.sig
                        .signature_creation_time()
                        .unwrap_or(SystemTime::UNIX_EPOCH),
                ),
            })
        }
        Err(VerificationError::MissingKey { sig }) => Err(OpenPgpError::UnknownSigner {
            issuers: issuer_names(sig),
        }),
        Err(VerificationError::UnboundKey { sig, cert, error }) => {
            unbound_at_signature_time(sig, cert, &error)
        }
        Err(VerificationError::BadKey { sig, ka, error }) => {
            let key = ka.key().fingerprint();
            let at = sig.signature_creation_time();
            Err(check_key(ka.cert(), &key, at)
                .err()
                .unwrap_or_else(|| OpenPgpError::InvalidKey {
                    fingerprint: ka.cert().fingerprint().to_hex(),
                    reason: error_text(&error),
                }))
        }
        Err(VerificationError::BadSignature { ka, error, .. }) => {
            Err(bad_signature(ka.key().fingerprint().to_hex(), &error))
        }
        Err(VerificationError::MalformedSignature { error, .. }) => {
            Err(OpenPgpError::InvalidSignature {
                detail: format!("malformed signature: {}", error_text(&error)),
            })
        }
        Err(VerificationError::UnknownSignature { sig, .. }) => {
            Err(OpenPgpError::InvalidSignature {
                detail: format!("unsupported signature: {}", error_text(sig.error())),
            })
        }
        Err(other) => Err(OpenPgpError::InvalidSignature {
            detail: super::sanitize(other.to_string().as_bytes(), 300),
        }),
    }
}

/// Why a signature by a registered key does not verify.
fn bad_signature(signer: String, error: &openpgp::anyhow::Error) -> OpenPgpError {
    let cause = error
        .chain()
        .find_map(|c| c.downcast_ref::<openpgp::Error>());
    match cause {
        // The digest prefix or the cryptographic check failed: the data is not what was
        // signed. Crypto backends report the latter with their own error types (the RustCrypto
        // RSA backend: "verification error"), hence `None`.
        None | Some(openpgp::Error::ManipulatedMessage) => {
            OpenPgpError::SignatureMismatch { signer }
        }
        Some(openpgp::Error::BadSignature(detail)) if !detail.contains("predates") => {
            OpenPgpError::SignatureMismatch { signer }
        }
        Some(openpgp::Error::Expired(t)) => OpenPgpError::SignatureRejected {
            signer,
            reason: format!("the signature expired at {}", to_utc(*t).to_rfc3339()),
        },
        Some(openpgp::Error::NotYetLive(t)) => OpenPgpError::SignatureRejected {
            signer,
            reason: format!(
                "the signature is dated in the future ({}); check the signer's clock",
                to_utc(*t).to_rfc3339()
            ),
        },
        _ => OpenPgpError::SignatureRejected {
            signer,
            reason: error_text(error),
        },
    }
}

/// Sequoia found no binding signature valid at the signature's time. GnuPG *replaces* a
/// key's self-signature when its expiry is changed (`--quick-set-expire`), so after a
/// routine renewal the certificate no longer documents the key's state at the time of
/// older signatures. The registry then falls back to its own rule alone: the signature must
/// be good over the data, alive, acceptable under the policy, and made by a key that is
/// valid, alive, unrevoked and signing-capable now.
fn unbound_at_signature_time(
    sig: &openpgp::packet::Signature,
    cert: &Cert,
    error: &openpgp::anyhow::Error,
) -> Result<VerifiedSignature, OpenPgpError> {
    let unbound = || {
        OpenPgpError::InvalidKey {
        fingerprint: cert.fingerprint().to_hex(),
        reason: format!(
            "its signing key is not validly bound to it, neither when the signature was made nor now: {}",
            error_text(error)
        ),
    }
    };
    let vc = cert.with_policy(&POLICY, None).map_err(|_| unbound())?;
    let candidates: Vec<Fingerprint> = vc
        .keys()
        .key_handles(sig.get_issuers())
        .map(|ka| ka.key().fingerprint())
        .collect();
    let Some(key) = candidates.first() else {
        return Err(unbound());
    };
    check_key(cert, key, None)?;
    let signer = key.to_hex();
    let ka = vc
        .keys()
        .key_handle(key.clone())
        .next()
        .ok_or_else(unbound)?;
    sig.verify_document(ka.key())
        .map_err(|e| bad_signature(signer.clone(), &e))?;
    sig.signature_alive(None, None)
        .map_err(|e| bad_signature(signer.clone(), &e))?;
    POLICY
        .signature(sig, Default::default())
        .map_err(|e| bad_signature(signer.clone(), &e))?;
    Ok(VerifiedSignature {
        key_fingerprint: cert.fingerprint().to_hex(),
        signing_key_fingerprint: signer,
        signed_at: to_utc(
            sig.signature_creation_time()
                .unwrap_or(SystemTime::UNIX_EPOCH),
        ),
    })
}

/// Issuer fingerprints of the signature, or its issuer key IDs if it names no fingerprint.
fn issuer_names(sig: &openpgp::packet::Signature) -> Vec<String> {
    let fprs: Vec<String> = sig.issuer_fingerprints().map(Fingerprint::to_hex).collect();
    if !fprs.is_empty() {
        return fprs;
    }
    let mut ids: Vec<String> = sig.issuers().map(|id| id.to_hex()).collect();
    ids.dedup();
    ids
}

/// Why `key` of `cert` cannot sign at `at` (`None`: now), if it cannot.
fn check_key(cert: &Cert, key: &Fingerprint, at: Option<SystemTime>) -> Result<(), OpenPgpError> {
    let fingerprint = cert.fingerprint().to_hex();
    let vc = cert
        .with_policy(&POLICY, at)
        .map_err(|e| OpenPgpError::InvalidKey {
            fingerprint: fingerprint.clone(),
            reason: error_text(&e),
        })?;
    check_valid_cert(&vc)?;
    let Some(ka) = vc.keys().key_handle(key.clone()).next() else {
        return Err(OpenPgpError::InvalidKey {
            fingerprint,
            reason: format!("its key {} is not validly bound to it", key.to_hex()),
        });
    };
    if let RevocationStatus::Revoked(sigs) = ka.revocation_status() {
        return Err(OpenPgpError::KeyRevoked {
            fingerprint: key.to_hex(),
            reason: revocation_reason(&sigs),
        });
    }
    if ka.alive().is_err() {
        return Err(OpenPgpError::KeyExpired {
            fingerprint: key.to_hex(),
            expired_at: ka.key_expiration_time().map(to_utc),
        });
    }
    if !ka.for_signing() {
        return Err(OpenPgpError::NoSigningKey {
            fingerprint,
            detail: format!("its key {} is not signing-capable", key.to_hex()),
        });
    }
    Ok(())
}
