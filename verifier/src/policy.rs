//! The trust policy wallets and `mpr manifest verify` take: who must sign releases, how many
//! rebuilders must agree, which transparency log (and witnesses) must have logged the statements.
//!
//! ```toml
//! # k of these OpenPGP release keys must sign every release and status statement.
//! [release]
//! keys = ["0123456789ABCDEF0123456789ABCDEF01234567", "..."]  # fingerprints, 40 or 64 hex digits
//! threshold = 2
//!
//! # m of these rebuilders must have reproduced the release (0: no rebuild agreement required).
//! # Optional; absent means threshold 0.
//! [rebuilders]
//! keys = ["..."]
//! threshold = 1
//!
//! # The log every statement must be in: its checkpoint origin and Ed25519 verifier key (whose
//! # name must equal the origin).
//! [log]
//! origin = "mpr.dev/log"
//! key = "mpr.dev/log+1a2b3c4d+AXx..."
//!
//! # w of these witnesses must have cosigned the checkpoint. Optional; absent means the log's own
//! # signature suffices (no protection against a log showing different views to different users).
//! [witnesses]
//! keys = ["witness.example+89abcdef+BAx..."]
//! threshold = 1
//!
//! # How strict attestation checks are; optional, every field defaults to the strict choice.
//! # See verifier::attestation::AttestationSettings.
//! [attestation]
//! max_age_seconds = 300
//! ```
//!
//! Fingerprints may be written in any case and with spaces; they are compared as upper-case hex.
//! Unknown fields, duplicate keys and impossible thresholds are errors, so a typo never silently
//! weakens a policy.

use serde::Deserialize;

use crate::attestation::{AttestationSettings, RawAttestationSettings};
use crate::tlog::checkpoint::{CheckpointVerifyError, TrustedLog, VerifiedCheckpoint};
use crate::tlog::keys::{KeyError, KeyKind, NoteVerifier};
use crate::tlog::proof_bundle::{ProofBundle, ProofBundleError, VerifiedProof};

/// Largest policy file accepted.
pub const MAX_POLICY_BYTES: usize = 64 << 10;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    release: RawKeySet,
    rebuilders: Option<RawKeySet>,
    log: RawLog,
    witnesses: Option<RawKeySet>,
    attestation: Option<RawAttestationSettings>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKeySet {
    keys: Vec<String>,
    threshold: usize,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLog {
    origin: String,
    key: String,
}

/// A set of OpenPGP fingerprints of which `threshold` must have signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignerSet {
    /// Upper-case hex fingerprints, no spaces.
    pub keys: Vec<String>,
    pub threshold: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustPolicy {
    pub release: SignerSet,
    pub rebuilders: SignerSet,
    pub log: TrustedLog,
    /// How attestation evidence is judged (the optional `[attestation]` section).
    pub attestation: AttestationSettings,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error("the trust policy is {0} bytes, more than the {MAX_POLICY_BYTES} accepted: is this the right file?")]
    TooLarge(usize),
    #[error("the trust policy is not valid: {0}")]
    Syntax(String),
    #[error("[{section}] key {value:?} is not an OpenPGP fingerprint: write 40 (v4) or 64 (v6) hex digits")]
    BadFingerprint {
        section: &'static str,
        value: String,
    },
    #[error("[{section}] lists key {key} twice: remove the duplicate (each key counts once towards the threshold)")]
    DuplicateKey { section: &'static str, key: String },
    #[error(
        "[{section}] threshold {threshold} is impossible with {keys} keys: use {min} to {keys}"
    )]
    Threshold {
        section: &'static str,
        threshold: usize,
        keys: usize,
        min: usize,
    },
    #[error("[log] key is not a valid signed-note verifier key: {0}")]
    LogKey(KeyError),
    #[error("[log] key must be a plain Ed25519 (type 0x01) verifier key, not a cosigner key")]
    LogKeyKind,
    #[error("[log] key is named {name:?} but the origin is {origin:?}: the log's key name must equal its checkpoint origin")]
    LogKeyName { origin: String, name: String },
    #[error("[log] origin must be a non-empty single line")]
    Origin,
    #[error("[witnesses] key {key:?} is not a valid signed-note verifier key: {source}")]
    WitnessKey { key: String, source: KeyError },
    #[error("[witnesses] key {0} is the log's own key: a log cannot witness itself")]
    WitnessIsLog(String),
    #[error("{found} of the {needed} required {role} signatures are from keys in the trust policy (matched: {matched}; policy keys: {trusted})")]
    NotEnoughSigners {
        role: &'static str,
        needed: usize,
        found: usize,
        matched: String,
        trusted: String,
    },
    #[error("{0}")]
    Attestation(String),
    #[error(transparent)]
    Checkpoint(#[from] CheckpointVerifyError),
    #[error(transparent)]
    ProofBundle(#[from] ProofBundleError),
}

/// Upper-case hex without spaces, if `text` is a v4 or v6 fingerprint.
pub fn normalize_fingerprint(text: &str) -> Option<String> {
    let hex: String = text
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_uppercase();
    (matches!(hex.len(), 40 | 64) && hex.bytes().all(|b| b.is_ascii_hexdigit())).then_some(hex)
}

fn signer_set(
    section: &'static str,
    raw: RawKeySet,
    min_threshold: usize,
) -> Result<SignerSet, PolicyError> {
    let mut keys: Vec<String> = Vec::with_capacity(raw.keys.len());
    for value in raw.keys {
        let key =
            normalize_fingerprint(&value).ok_or(PolicyError::BadFingerprint { section, value })?;
        if keys.contains(&key) {
            return Err(PolicyError::DuplicateKey { section, key });
        }
        keys.push(key);
    }
    check_threshold(section, raw.threshold, keys.len(), min_threshold)?;
    Ok(SignerSet {
        keys,
        threshold: raw.threshold,
    })
}

fn check_threshold(
    section: &'static str,
    threshold: usize,
    keys: usize,
    min: usize,
) -> Result<(), PolicyError> {
    if threshold < min || threshold > keys {
        return Err(PolicyError::Threshold {
            section,
            threshold,
            keys,
            min,
        });
    }
    Ok(())
}

impl SignerSet {
    /// The distinct policy keys among `signers` (fingerprints in any case and spacing).
    pub fn among(&self, signers: &[String]) -> Vec<String> {
        let mut matched: Vec<String> = Vec::new();
        for signer in signers {
            if let Some(key) = normalize_fingerprint(signer) {
                if self.keys.contains(&key) && !matched.contains(&key) {
                    matched.push(key);
                }
            }
        }
        matched
    }

    /// The distinct policy keys among `signers` (fingerprints in any case and spacing), or an error
    /// saying how many were needed and found.
    fn check(&self, role: &'static str, signers: &[String]) -> Result<Vec<String>, PolicyError> {
        let matched = self.among(signers);
        if matched.len() < self.threshold {
            return Err(PolicyError::NotEnoughSigners {
                role,
                needed: self.threshold,
                found: matched.len(),
                matched: if matched.is_empty() {
                    "none".into()
                } else {
                    matched.join(", ")
                },
                trusted: if self.keys.is_empty() {
                    "none".into()
                } else {
                    self.keys.join(", ")
                },
            });
        }
        Ok(matched)
    }
}

impl TrustPolicy {
    pub fn parse(text: &str) -> Result<Self, PolicyError> {
        if text.len() > MAX_POLICY_BYTES {
            return Err(PolicyError::TooLarge(text.len()));
        }
        let raw: RawPolicy =
            toml::from_str(text).map_err(|e| PolicyError::Syntax(e.to_string()))?;
        let release = signer_set("release", raw.release, 1)?;
        let rebuilders = match raw.rebuilders {
            Some(raw) => signer_set("rebuilders", raw, 0)?,
            None => SignerSet {
                keys: Vec::new(),
                threshold: 0,
            },
        };
        if raw.log.origin.is_empty() || raw.log.origin.contains(['\n', '\r']) {
            return Err(PolicyError::Origin);
        }
        let log_key = NoteVerifier::from_vkey(&raw.log.key).map_err(PolicyError::LogKey)?;
        if log_key.kind() != KeyKind::Ed25519 {
            return Err(PolicyError::LogKeyKind);
        }
        if log_key.name() != raw.log.origin {
            return Err(PolicyError::LogKeyName {
                origin: raw.log.origin,
                name: log_key.name().into(),
            });
        }
        let (witnesses, witness_threshold) = match raw.witnesses {
            Some(set) => {
                let mut keys: Vec<NoteVerifier> = Vec::with_capacity(set.keys.len());
                for text in set.keys {
                    let key = NoteVerifier::from_vkey(&text).map_err(|source| {
                        PolicyError::WitnessKey {
                            key: text.clone(),
                            source,
                        }
                    })?;
                    if key.public_key() == log_key.public_key() {
                        return Err(PolicyError::WitnessIsLog(text));
                    }
                    if keys.iter().any(|k| {
                        k.public_key() == key.public_key()
                            || (k.name() == key.name() && k.key_id() == key.key_id())
                    }) {
                        return Err(PolicyError::DuplicateKey {
                            section: "witnesses",
                            key: text,
                        });
                    }
                    keys.push(key);
                }
                check_threshold("witnesses", set.threshold, keys.len(), 1)?;
                (keys, set.threshold)
            }
            None => (Vec::new(), 0),
        };
        let attestation = AttestationSettings::from_raw(raw.attestation.unwrap_or_default())
            .map_err(PolicyError::Attestation)?;
        Ok(Self {
            attestation,
            release,
            rebuilders,
            log: TrustedLog {
                origin: raw.log.origin,
                log_key,
                witnesses,
                witness_threshold,
            },
        })
    }

    /// Checks that the OpenPGP fingerprints that signed a release or status statement include at
    /// least `release.threshold` distinct policy keys; returns the matched keys.
    pub fn check_release_signers(&self, signers: &[String]) -> Result<Vec<String>, PolicyError> {
        self.release.check("release", signers)
    }

    /// Checks that the rebuilders whose attestations agree include at least
    /// `rebuilders.threshold` distinct policy keys; returns the matched keys.
    pub fn check_rebuilders(&self, rebuilders: &[String]) -> Result<Vec<String>, PolicyError> {
        self.rebuilders.check("rebuilder", rebuilders)
    }

    /// Verifies a signed checkpoint: the log's signature and the witness threshold.
    pub fn verify_checkpoint(&self, note_text: &str) -> Result<VerifiedCheckpoint, PolicyError> {
        Ok(self.log.verify_checkpoint(note_text)?)
    }

    /// Verifies a tlog-proof@v1 text for the exact entry bytes (see [`crate::tlog::LogEntry::encode`]).
    pub fn verify_proof_bundle(
        &self,
        text: &str,
        entry: &[u8],
    ) -> Result<VerifiedProof, PolicyError> {
        Ok(ProofBundle::parse(text)?.verify(entry, &self.log)?)
    }
}
