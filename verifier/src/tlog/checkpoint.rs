//! c2sp.org/tlog-checkpoint: the note text `<origin>\n<tree size>\n<base64 root hash>\n` followed by
//! optional non-empty extension lines, and [`TrustedLog`], which verifies a signed checkpoint against
//! a log key and a k-of-n witness policy.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

use super::hash::Hash;
use super::keys::{KeyError, KeyKind, NoteSigner, NoteVerifier};
use super::note::{check_text, Note, NoteError, VerifiedSignature};

/// Most extension lines accepted (checkpoints rarely carry any).
pub const MAX_EXTENSION_LINES: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub origin: String,
    pub size: u64,
    pub root: Hash,
    pub extensions: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    #[error("a checkpoint text has at least three lines (origin, tree size, root hash); this one has {0}")]
    TooFewLines(usize),
    #[error("the checkpoint text must end with a newline")]
    NoFinalNewline,
    #[error("the checkpoint origin (first line) is empty")]
    EmptyOrigin,
    #[error(
        "the tree size {0:?} is not a decimal number without leading zeros that fits in 64 bits"
    )]
    BadSize(String),
    #[error("the root hash {0:?} is not standard padded base64 of 32 bytes")]
    BadRoot(String),
    #[error("extension line {0} is empty: checkpoint extension lines must be non-empty")]
    EmptyExtension(usize),
    #[error("the checkpoint has more than {MAX_EXTENSION_LINES} extension lines")]
    TooManyExtensions,
    #[error("the checkpoint text is not valid note text: {0}")]
    Note(#[from] NoteError),
}

/// Parses a decimal without sign, spaces or leading zeros.
pub(crate) fn parse_decimal(text: &str) -> Option<u64> {
    if text.is_empty()
        || !text.bytes().all(|b| b.is_ascii_digit())
        || (text.len() > 1 && text.starts_with('0'))
    {
        return None;
    }
    text.parse().ok()
}

/// Decodes one standard padded base64 SHA-256 hash.
pub(crate) fn parse_base64_hash(text: &str) -> Option<Hash> {
    if text.len() != 44 {
        return None;
    }
    STANDARD.decode(text).ok()?.try_into().ok()
}

impl Checkpoint {
    pub fn new(origin: &str, size: u64, root: Hash) -> Self {
        Self {
            origin: origin.to_owned(),
            size,
            root,
            extensions: Vec::new(),
        }
    }

    /// Parses a checkpoint note text (without its signatures).
    pub fn parse(text: &str) -> Result<Self, CheckpointError> {
        let body = text
            .strip_suffix('\n')
            .ok_or(CheckpointError::NoFinalNewline)?;
        check_text(text)?;
        let lines: Vec<&str> = body.split('\n').collect();
        if lines.len() < 3 {
            return Err(CheckpointError::TooFewLines(lines.len()));
        }
        if lines.len() - 3 > MAX_EXTENSION_LINES {
            return Err(CheckpointError::TooManyExtensions);
        }
        if lines[0].is_empty() {
            return Err(CheckpointError::EmptyOrigin);
        }
        let size =
            parse_decimal(lines[1]).ok_or_else(|| CheckpointError::BadSize(truncated(lines[1])))?;
        let root = parse_base64_hash(lines[2])
            .ok_or_else(|| CheckpointError::BadRoot(truncated(lines[2])))?;
        let mut extensions = Vec::new();
        for (i, line) in lines[3..].iter().enumerate() {
            if line.is_empty() {
                return Err(CheckpointError::EmptyExtension(i + 1));
            }
            extensions.push((*line).to_owned());
        }
        Ok(Self {
            origin: lines[0].to_owned(),
            size,
            root,
            extensions,
        })
    }

    /// The checkpoint as a note signed by the log's key (type 0x01). Witnesses add their
    /// cosignatures with [`Note::add_signature`]; [`Note::format`] gives the text to serve.
    pub fn sign(&self, log_key: &NoteSigner) -> Result<Note, CheckpointSignError> {
        let text = self.format();
        // A checkpoint that would not parse back (a newline in the origin or an extension, an empty
        // line) must never be signed.
        if Checkpoint::parse(&text).as_ref() != Ok(self) {
            return Err(CheckpointSignError::NotCanonical);
        }
        let mut note = Note::new(&text).map_err(|_| CheckpointSignError::NotCanonical)?;
        note.add_signature(log_key.sign(&text)?)
            .map_err(|_| CheckpointSignError::NotCanonical)?;
        Ok(note)
    }

    /// The note text: origin, size, root and extension lines, each ending with a newline.
    pub fn format(&self) -> String {
        let mut out = format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            STANDARD.encode(self.root)
        );
        for line in &self.extensions {
            out.push_str(line);
            out.push('\n');
        }
        out
    }
}

fn truncated(text: &str) -> String {
    text.chars().take(80).collect()
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointSignError {
    #[error("the checkpoint would not parse back as itself (empty origin or extension, a newline or control character in one): fix the origin or extensions")]
    NotCanonical,
    #[error("the log key cannot sign checkpoints: {0}")]
    Key(#[from] KeyError),
}

/// A log as a client trusts it: its origin, its checkpoint key, and the witnesses of which at least
/// `witness_threshold` must have cosigned a checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedLog {
    pub origin: String,
    pub log_key: NoteVerifier,
    pub witnesses: Vec<NoteVerifier>,
    pub witness_threshold: usize,
}

/// A checkpoint whose log signature and witness threshold were verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedCheckpoint {
    pub checkpoint: Checkpoint,
    /// The checkpoint text exactly as signed.
    pub text: String,
    /// The trusted witnesses whose cosignatures verified, with their timestamps.
    pub witnesses: Vec<VerifiedSignature>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointVerifyError {
    #[error("the signed checkpoint is malformed: {0}")]
    Note(NoteError),
    #[error("the checkpoint is not signed by the log key {key}: {source}")]
    LogSignature { key: String, source: NoteError },
    #[error("the log key {key} is a cosigner (type 0x04) key: a log signs checkpoints with a plain Ed25519 (type 0x01) key")]
    LogKeyKind { key: String },
    #[error("the checkpoint text is malformed: {0}")]
    Checkpoint(#[from] CheckpointError),
    #[error("the checkpoint is for log {found:?}, the trust policy expects {expected:?}: use a checkpoint of the configured log")]
    WrongOrigin { expected: String, found: String },
    #[error("a trusted witness cosignature does not verify: {0}")]
    WitnessSignature(NoteError),
    #[error("{found} of the {needed} required witness cosignatures verify (cosigned by: {cosigned}; trusted witnesses: {trusted}): wait for more witnesses to cosign, or fetch the checkpoint from a witnessed source")]
    NotEnoughWitnesses {
        needed: usize,
        found: usize,
        cosigned: String,
        trusted: String,
    },
}

impl TrustedLog {
    /// Verifies a signed checkpoint note: the log's own signature (type 0x01), the origin, and at
    /// least `witness_threshold` distinct trusted witness cosignatures. Unknown signatures are ignored.
    pub fn verify_checkpoint(
        &self,
        note_text: &str,
    ) -> Result<VerifiedCheckpoint, CheckpointVerifyError> {
        let note = Note::parse(note_text).map_err(CheckpointVerifyError::Note)?;
        self.verify_note(&note)
    }

    pub fn verify_note(&self, note: &Note) -> Result<VerifiedCheckpoint, CheckpointVerifyError> {
        if self.log_key.kind() != KeyKind::Ed25519 {
            return Err(CheckpointVerifyError::LogKeyKind {
                key: self.log_key.vkey(),
            });
        }
        note.verify(std::slice::from_ref(&self.log_key))
            .map_err(|source| CheckpointVerifyError::LogSignature {
                key: self.log_key.vkey(),
                source,
            })?;
        let checkpoint = Checkpoint::parse(note.text())?;
        if checkpoint.origin != self.origin {
            return Err(CheckpointVerifyError::WrongOrigin {
                expected: self.origin.clone(),
                found: checkpoint.origin,
            });
        }
        let witnesses = if self.witnesses.is_empty() {
            Vec::new()
        } else {
            match note.verify(&self.witnesses) {
                Ok(verified) => verified,
                Err(NoteError::NoTrustedSignature { .. }) => Vec::new(),
                Err(e) => return Err(CheckpointVerifyError::WitnessSignature(e)),
            }
        };
        // Each public key counts once, even if configured twice under two names.
        let mut seen_keys: Vec<[u8; 32]> = Vec::new();
        let mut distinct: Vec<&VerifiedSignature> = Vec::new();
        for w in &witnesses {
            let key = self
                .witnesses
                .iter()
                .find(|v| v.name() == w.name && v.key_id() == w.key_id);
            if let Some(key) = key.map(|v| v.public_key().to_bytes()) {
                if !seen_keys.contains(&key) {
                    seen_keys.push(key);
                    distinct.push(w);
                }
            }
        }
        if distinct.len() < self.witness_threshold {
            return Err(CheckpointVerifyError::NotEnoughWitnesses {
                needed: self.witness_threshold,
                found: distinct.len(),
                cosigned: names(distinct.iter().map(|w| w.name.as_str())),
                trusted: names(self.witnesses.iter().map(|w| w.name())),
            });
        }
        Ok(VerifiedCheckpoint {
            checkpoint,
            text: note.text().to_owned(),
            witnesses,
        })
    }
}

fn names<'a>(items: impl Iterator<Item = &'a str>) -> String {
    let items: Vec<&str> = items.collect();
    if items.is_empty() {
        "none".into()
    } else {
        items.join(", ")
    }
}
