//! C2SP signed notes (c2sp.org/signed-note): a text, a blank line, and signature lines
//! `— <key name> base64(key ID ‖ signature)`.
//!
//! Verification follows the spec: signatures from unknown keys (name and key ID not both matching a
//! configured key) are ignored; a known key whose signature fails rejects the whole note; a note with
//! no verified known signature is rejected.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

use super::keys::{check_key_name, NoteVerifier};

/// Largest note accepted: far above any checkpoint with its cosignatures, small enough to parse
/// from an untrusted peer.
pub const MAX_NOTE_BYTES: usize = 1 << 20;
/// Most signature lines accepted (C2SP requires at least 16; Go's x/mod/sumdb/note allows 100).
pub const MAX_SIGNATURES: usize = 100;
/// Longest decoded signature (key ID included): room for post-quantum signatures (ML-DSA-44
/// cosignatures are 4 + 8 + 2420 bytes).
pub const MAX_SIGNATURE_BYTES: usize = 8 << 10;

const SIGNATURE_PREFIX: &str = "\u{2014} ";

/// One signature line: who (name and key ID) and the signature bytes after the key ID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteSignature {
    pub name: String,
    pub key_id: u32,
    pub signature: Vec<u8>,
}

impl NoteSignature {
    /// The line as it appears in a note, with its final newline.
    pub fn line(&self) -> String {
        let mut bytes = Vec::with_capacity(4 + self.signature.len());
        bytes.extend_from_slice(&self.key_id.to_be_bytes());
        bytes.extend_from_slice(&self.signature);
        format!(
            "{SIGNATURE_PREFIX}{} {}\n",
            self.name,
            STANDARD.encode(bytes)
        )
    }
}

/// A parsed note. Its text is still untrusted until [`Note::verify`] succeeds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    text: String,
    signatures: Vec<NoteSignature>,
}

/// A signature that verified against a configured key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedSignature {
    pub name: String,
    pub key_id: u32,
    /// The cosigner's POSIX time for timestamped cosignatures (type 0x04), None for plain Ed25519.
    pub timestamp: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoteError {
    #[error("the note is {size} bytes, more than the {MAX_NOTE_BYTES} accepted: this is not a checkpoint or signed note")]
    TooLarge { size: usize },
    #[error("the note contains control character U+{code:04X} at byte {offset}: signed notes allow no ASCII control character except newline (check for CR LF line endings)")]
    ControlCharacter { code: u32, offset: usize },
    #[error("the note does not end with a newline: a signed note's last signature line ends with \\n (was it truncated?)")]
    NoFinalNewline,
    #[error("the note has no blank line before its signatures: a signed note is text, a blank line, then signature lines")]
    NoSignatureBlock,
    #[error("the note has no signature lines: it is unsigned")]
    NoSignatures,
    #[error("the note has more than {MAX_SIGNATURES} signature lines: refusing it as malformed")]
    TooManySignatures,
    #[error(
        "signature line {line} does not start with an em dash (U+2014) and a space: {problem}"
    )]
    BadSignatureLine { line: usize, problem: String },
    #[error("signature line {line} has an invalid key name: {problem}")]
    BadSignatureName { line: usize, problem: String },
    #[error("signature line {line} is not standard padded base64 of a key ID and a signature (4 to {MAX_SIGNATURE_BYTES} bytes): {problem}")]
    BadSignatureEncoding { line: usize, problem: String },
    #[error(
        "the note text must end with a newline and contain no blank line at its end: {problem}"
    )]
    BadText { problem: String },
    #[error("the signature of known key {name} (key ID {key_id:08x}) does not verify: the note was altered or signed by another key with the same name and ID")]
    BadSignature { name: String, key_id: u32 },
    #[error("no signature of a trusted key verifies (trusted: {trusted}; signed by: {found}): configure the right verifier key or fetch the note from the right log")]
    NoTrustedSignature { trusted: String, found: String },
}

impl Note {
    /// A note with this text and no signatures yet. The text must end with a newline.
    pub fn new(text: &str) -> Result<Self, NoteError> {
        check_text(text)?;
        Ok(Self {
            text: text.to_owned(),
            signatures: Vec::new(),
        })
    }

    /// Parses a signed note (no verification).
    pub fn parse(input: &str) -> Result<Self, NoteError> {
        if input.len() > MAX_NOTE_BYTES {
            return Err(NoteError::TooLarge { size: input.len() });
        }
        check_characters(input)?;
        if !input.ends_with('\n') {
            return Err(NoteError::NoFinalNewline);
        }
        let split = input.rfind("\n\n").ok_or(NoteError::NoSignatureBlock)?;
        let (text, block) = (&input[..split + 1], &input[split + 2..]);
        if block.is_empty() {
            return Err(NoteError::NoSignatures);
        }
        let mut signatures = Vec::new();
        for (number, line) in block
            .strip_suffix('\n')
            .unwrap_or(block)
            .split('\n')
            .enumerate()
        {
            if signatures.len() == MAX_SIGNATURES {
                return Err(NoteError::TooManySignatures);
            }
            signatures.push(parse_signature_line(number + 1, line)?);
        }
        Ok(Self {
            text: text.to_owned(),
            signatures,
        })
    }

    /// The signed text, with its final newline. Untrusted until verified.
    pub fn text(&self) -> &str {
        &self.text
    }

    pub fn signatures(&self) -> &[NoteSignature] {
        &self.signatures
    }

    /// Adds a signature line (for example a cosignature over the same text).
    pub fn add_signature(&mut self, signature: NoteSignature) -> Result<(), NoteError> {
        if self.signatures.len() == MAX_SIGNATURES {
            return Err(NoteError::TooManySignatures);
        }
        self.signatures.push(signature);
        Ok(())
    }

    /// The note as text: the text, a blank line, the signature lines.
    pub fn format(&self) -> String {
        let mut out = String::with_capacity(self.text.len() + 1 + 100 * self.signatures.len());
        out.push_str(&self.text);
        out.push('\n');
        for signature in &self.signatures {
            out.push_str(&signature.line());
        }
        out
    }

    /// Verifies the signatures of the known keys among `verifiers`; unknown signatures are ignored.
    /// Returns the verified signatures (each key once), or an error if a known key's signature
    /// fails or none verifies.
    pub fn verify(&self, verifiers: &[NoteVerifier]) -> Result<Vec<VerifiedSignature>, NoteError> {
        let mut verified: Vec<VerifiedSignature> = Vec::new();
        for signature in &self.signatures {
            let Some(verifier) = verifiers
                .iter()
                .find(|v| v.name() == signature.name && v.key_id() == signature.key_id)
            else {
                continue;
            };
            let timestamp = verifier
                .verify_signature(&self.text, &signature.signature)
                .map_err(|_| NoteError::BadSignature {
                    name: signature.name.clone(),
                    key_id: signature.key_id,
                })?;
            if !verified
                .iter()
                .any(|v| v.name == signature.name && v.key_id == signature.key_id)
            {
                verified.push(VerifiedSignature {
                    name: signature.name.clone(),
                    key_id: signature.key_id,
                    timestamp,
                });
            }
        }
        if verified.is_empty() {
            return Err(NoteError::NoTrustedSignature {
                trusted: list(
                    verifiers
                        .iter()
                        .map(|v| format!("{}+{:08x}", v.name(), v.key_id())),
                ),
                found: list(
                    self.signatures
                        .iter()
                        .map(|s| format!("{}+{:08x}", s.name, s.key_id)),
                ),
            });
        }
        Ok(verified)
    }
}

fn list(items: impl Iterator<Item = String>) -> String {
    let items: Vec<String> = items.collect();
    if items.is_empty() {
        "none".to_owned()
    } else {
        items.join(", ")
    }
}

fn check_characters(input: &str) -> Result<(), NoteError> {
    match input.bytes().position(|b| b < 0x20 && b != b'\n') {
        Some(offset) => Err(NoteError::ControlCharacter {
            code: u32::from(input.as_bytes()[offset]),
            offset,
        }),
        None => Ok(()),
    }
}

pub(crate) fn check_text(text: &str) -> Result<(), NoteError> {
    if text.len() > MAX_NOTE_BYTES {
        return Err(NoteError::TooLarge { size: text.len() });
    }
    check_characters(text)?;
    if !text.ends_with('\n') {
        return Err(NoteError::BadText {
            problem: "it does not end with a newline".into(),
        });
    }
    if text.ends_with("\n\n") || text == "\n" {
        return Err(NoteError::BadText {
            problem: "it ends with a blank line, which would be taken for the signature separator"
                .into(),
        });
    }
    Ok(())
}

fn parse_signature_line(line: usize, text: &str) -> Result<NoteSignature, NoteError> {
    let rest = text
        .strip_prefix(SIGNATURE_PREFIX)
        .ok_or_else(|| NoteError::BadSignatureLine {
            line,
            problem: format!("found {:?}", text.chars().take(20).collect::<String>()),
        })?;
    let (name, encoded) = rest
        .split_once(' ')
        .ok_or_else(|| NoteError::BadSignatureLine {
            line,
            problem: "no space between key name and signature".into(),
        })?;
    check_key_name(name).map_err(|problem| NoteError::BadSignatureName { line, problem })?;
    if encoded.len() > MAX_SIGNATURE_BYTES.div_ceil(3) * 4 {
        return Err(NoteError::BadSignatureEncoding {
            line,
            problem: "too long".into(),
        });
    }
    let bytes = STANDARD
        .decode(encoded)
        .map_err(|e| NoteError::BadSignatureEncoding {
            line,
            problem: e.to_string(),
        })?;
    if bytes.len() < 5 {
        return Err(NoteError::BadSignatureEncoding {
            line,
            problem: format!("only {} bytes", bytes.len()),
        });
    }
    let key_id = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    Ok(NoteSignature {
        name: name.to_owned(),
        key_id,
        signature: bytes[4..].to_vec(),
    })
}
