//! Signed-note keys and their text forms (the formats of Go's golang.org/x/mod/sumdb/note):
//! verifier keys `<name>+<hex key ID>+base64(type ‖ public key)` and secret keys
//! `PRIVATE+KEY+<name>+<hex key ID>+base64(type ‖ 32-byte Ed25519 seed)`.
//!
//! Two signature types: 0x01, Ed25519 over the note text (the log's checkpoint signature), and
//! 0x04, timestamped Ed25519 cosignatures (c2sp.org/tlog-cosignature, witnesses).

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};
use rand_core::CryptoRngCore;
use sha2::{Digest, Sha256};

use super::cosignature;
use super::note::NoteSignature;

/// Signature type byte of plain Ed25519 note signatures.
pub const TYPE_ED25519: u8 = 0x01;
/// Signature type byte of timestamped Ed25519 cosignatures (cosignature/v1).
pub const TYPE_COSIGNATURE_V1: u8 = 0x04;
/// Longest key name accepted.
pub const MAX_KEY_NAME_BYTES: usize = 256;
const SECRET_PREFIX: &str = "PRIVATE+KEY+";

/// What a key signs: the note text (0x01) or a timestamped cosignature message (0x04).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    Ed25519,
    CosignatureV1,
}

impl KeyKind {
    pub fn type_byte(self) -> u8 {
        match self {
            KeyKind::Ed25519 => TYPE_ED25519,
            KeyKind::CosignatureV1 => TYPE_COSIGNATURE_V1,
        }
    }

    fn from_type_byte(byte: u8) -> Result<Self, KeyError> {
        match byte {
            TYPE_ED25519 => Ok(KeyKind::Ed25519),
            TYPE_COSIGNATURE_V1 => Ok(KeyKind::CosignatureV1),
            other => Err(KeyError::UnsupportedType(other)),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("a verifier key has three '+'-separated parts, <name>+<8 hex digit key ID>+<base64 key>; this one has {0}")]
    VkeyShape(usize),
    #[error("a secret key starts with PRIVATE+KEY+ and has five '+'-separated parts: <name>+<key ID>+<base64 key> after the prefix")]
    SecretKeyShape,
    #[error("invalid key name: {0}")]
    BadName(String),
    #[error("the key ID {0:?} is not 8 hexadecimal digits")]
    BadKeyIdText(String),
    #[error("the key material is not standard padded base64: {0}")]
    BadBase64(String),
    #[error("the key material is {0} bytes; an Ed25519 key is one type byte and 32 key bytes")]
    BadKeyLength(usize),
    #[error("signature type 0x{0:02x} is not supported: use 0x01 (Ed25519) or 0x04 (Ed25519 cosignature/v1) keys")]
    UnsupportedType(u8),
    #[error("the bytes are not a valid Ed25519 public key")]
    BadPublicKey,
    #[error("the key ID {given:08x} does not match the key (computed {computed:08x}): the key text was altered or mixes two keys")]
    KeyIdMismatch { given: u32, computed: u32 },
    #[error("this is a cosigner (type 0x04) key; a plain Ed25519 (type 0x01) key is needed here")]
    WrongKind,
}

/// Checks a key name: non-empty, at most 256 bytes, no Unicode space and no '+'.
pub fn check_key_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("the key name is empty".into());
    }
    if name.len() > MAX_KEY_NAME_BYTES {
        return Err(format!(
            "the key name is longer than {MAX_KEY_NAME_BYTES} bytes"
        ));
    }
    if let Some(c) = name
        .chars()
        .find(|c| c.is_whitespace() || *c == '+' || c.is_control())
    {
        return Err(format!("the key name {name:?} contains {c:?}; names allow no spaces, '+' or control characters"));
    }
    Ok(())
}

/// SHA-256(name ‖ 0x0A ‖ type ‖ public key)[:4], big-endian.
pub fn key_id(name: &str, type_byte: u8, public_key: &[u8]) -> u32 {
    let mut hasher = Sha256::new();
    hasher.update(name.as_bytes());
    hasher.update([b'\n', type_byte]);
    hasher.update(public_key);
    let digest = hasher.finalize();
    u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]])
}

fn parse_key_id(text: &str) -> Result<u32, KeyError> {
    if text.len() != 8 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(KeyError::BadKeyIdText(text.chars().take(16).collect()));
    }
    u32::from_str_radix(text, 16).map_err(|_| KeyError::BadKeyIdText(text.into()))
}

fn decode_key(text: &str) -> Result<(KeyKind, [u8; 32]), KeyError> {
    if text.len() > 64 {
        return Err(KeyError::BadKeyLength(text.len() * 3 / 4));
    }
    let bytes = STANDARD
        .decode(text)
        .map_err(|e| KeyError::BadBase64(e.to_string()))?;
    if bytes.len() != 33 {
        return Err(KeyError::BadKeyLength(bytes.len()));
    }
    let kind = KeyKind::from_type_byte(bytes[0])?;
    let mut key = [0u8; 32];
    key.copy_from_slice(&bytes[1..]);
    Ok((kind, key))
}

fn encode_key(kind: KeyKind, key: &[u8; 32]) -> String {
    let mut bytes = Vec::with_capacity(33);
    bytes.push(kind.type_byte());
    bytes.extend_from_slice(key);
    STANDARD.encode(bytes)
}

/// A configured public key that can verify note signatures of one (name, key ID).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteVerifier {
    name: String,
    key_id: u32,
    kind: KeyKind,
    key: VerifyingKey,
}

impl NoteVerifier {
    pub fn new(name: &str, kind: KeyKind, key: VerifyingKey) -> Result<Self, KeyError> {
        check_key_name(name).map_err(KeyError::BadName)?;
        let key_id = key_id(name, kind.type_byte(), key.as_bytes());
        Ok(Self {
            name: name.to_owned(),
            key_id,
            kind,
            key,
        })
    }

    /// Parses a verifier key (`name+hexid+base64`), type 0x01 or 0x04, checking its key ID.
    pub fn from_vkey(vkey: &str) -> Result<Self, KeyError> {
        let parts: Vec<&str> = vkey.trim().splitn(3, '+').collect();
        let [name, id, key] = parts[..] else {
            return Err(KeyError::VkeyShape(parts.len()));
        };
        check_key_name(name).map_err(KeyError::BadName)?;
        let given = parse_key_id(id)?;
        let (kind, key) = decode_key(key)?;
        let key = VerifyingKey::from_bytes(&key).map_err(|_| KeyError::BadPublicKey)?;
        let verifier = Self::new(name, kind, key)?;
        if verifier.key_id != given {
            return Err(KeyError::KeyIdMismatch {
                given,
                computed: verifier.key_id,
            });
        }
        Ok(verifier)
    }

    /// The key's text form, `name+hexid+base64(type ‖ key)`.
    pub fn vkey(&self) -> String {
        format!(
            "{}+{:08x}+{}",
            self.name,
            self.key_id,
            encode_key(self.kind, self.key.as_bytes())
        )
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    pub fn kind(&self) -> KeyKind {
        self.kind
    }

    pub fn public_key(&self) -> &VerifyingKey {
        &self.key
    }

    /// Verifies `signature` (the bytes after the key ID) over the note `text`. Returns the
    /// cosignature timestamp for cosigner keys.
    pub fn verify_signature(
        &self,
        text: &str,
        signature: &[u8],
    ) -> Result<Option<u64>, SignatureInvalid> {
        match self.kind {
            KeyKind::Ed25519 => {
                let signature = ed25519_dalek::Signature::from_slice(signature)
                    .map_err(|_| SignatureInvalid)?;
                self.key
                    .verify_strict(text.as_bytes(), &signature)
                    .map_err(|_| SignatureInvalid)?;
                Ok(None)
            }
            KeyKind::CosignatureV1 => cosignature::verify(&self.key, text, signature).map(Some),
        }
    }
}

/// A signature that did not verify (the caller knows which key and note).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the signature does not verify")]
pub struct SignatureInvalid;

/// A secret signing key with its name, type 0x01 (log checkpoints) or 0x04 (witness cosignatures).
#[derive(Clone)]
pub struct NoteSigner {
    name: String,
    key_id: u32,
    kind: KeyKind,
    key: SigningKey,
}

impl std::fmt::Debug for NoteSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "NoteSigner({}+{:08x}, secret key hidden)",
            self.name, self.key_id
        )
    }
}

/// A freshly generated key pair in text form.
#[derive(Clone, PartialEq, Eq)]
pub struct GeneratedKey {
    /// `PRIVATE+KEY+name+hexid+base64(type ‖ seed)`: keep secret.
    pub secret_key: String,
    /// `name+hexid+base64(type ‖ public key)`: publish.
    pub verifier_key: String,
}

impl std::fmt::Debug for GeneratedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "GeneratedKey({}, secret key hidden)", self.verifier_key)
    }
}

impl NoteSigner {
    pub fn new(name: &str, kind: KeyKind, key: SigningKey) -> Result<Self, KeyError> {
        let verifier = NoteVerifier::new(name, kind, key.verifying_key())?;
        Ok(Self {
            name: name.to_owned(),
            key_id: verifier.key_id,
            kind,
            key,
        })
    }

    /// A new random key of this kind.
    pub fn generate(
        name: &str,
        kind: KeyKind,
        rng: &mut impl CryptoRngCore,
    ) -> Result<GeneratedKey, KeyError> {
        let signer = Self::new(name, kind, SigningKey::generate(rng))?;
        Ok(GeneratedKey {
            secret_key: signer.secret_key_text(),
            verifier_key: signer.verifier().vkey(),
        })
    }

    /// Parses `PRIVATE+KEY+name+hexid+base64(type ‖ seed)`, checking the key ID.
    pub fn from_secret_key_text(text: &str) -> Result<Self, KeyError> {
        let rest = text
            .trim()
            .strip_prefix(SECRET_PREFIX)
            .ok_or(KeyError::SecretKeyShape)?;
        let parts: Vec<&str> = rest.splitn(3, '+').collect();
        let [name, id, key] = parts[..] else {
            return Err(KeyError::SecretKeyShape);
        };
        check_key_name(name).map_err(KeyError::BadName)?;
        let given = parse_key_id(id)?;
        let (kind, seed) = decode_key(key)?;
        let signer = Self::new(name, kind, SigningKey::from_bytes(&seed))?;
        if signer.key_id != given {
            return Err(KeyError::KeyIdMismatch {
                given,
                computed: signer.key_id,
            });
        }
        Ok(signer)
    }

    pub fn secret_key_text(&self) -> String {
        format!(
            "{SECRET_PREFIX}{}+{:08x}+{}",
            self.name,
            self.key_id,
            encode_key(self.kind, self.key.as_bytes())
        )
    }

    pub fn verifier(&self) -> NoteVerifier {
        NoteVerifier {
            name: self.name.clone(),
            key_id: self.key_id,
            kind: self.kind,
            key: self.key.verifying_key(),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    pub fn kind(&self) -> KeyKind {
        self.kind
    }

    /// Signs a note text with a type 0x01 key.
    pub fn sign(&self, text: &str) -> Result<NoteSignature, KeyError> {
        if self.kind != KeyKind::Ed25519 {
            return Err(KeyError::WrongKind);
        }
        Ok(NoteSignature {
            name: self.name.clone(),
            key_id: self.key_id,
            signature: self.key.sign(text.as_bytes()).to_bytes().to_vec(),
        })
    }

    /// Cosigns a checkpoint text at POSIX time `timestamp` (cosignature/v1); needs a type 0x04 key.
    pub fn cosign(
        &self,
        checkpoint_text: &str,
        timestamp: u64,
    ) -> Result<NoteSignature, cosignature::CosignError> {
        if self.kind != KeyKind::CosignatureV1 {
            return Err(cosignature::CosignError::NotACosignerKey);
        }
        let signature = cosignature::sign(&self.key, checkpoint_text, timestamp)?;
        Ok(NoteSignature {
            name: self.name.clone(),
            key_id: self.key_id,
            signature,
        })
    }
}
