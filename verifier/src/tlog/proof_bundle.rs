//! c2sp.org/tlog-proof@v1: an offline-verifiable proof that an entry is in a log, witnessed.
//!
//! ```text
//! c2sp.org/tlog-proof@v1
//! extra <base64, optional, unauthenticated>
//! index <decimal>
//! <base64 inclusion proof hash, leaf's sibling first>
//! ...
//!
//! <signed checkpoint with cosignatures, verbatim>
//! ```

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

use super::checkpoint::{
    parse_base64_hash, parse_decimal, CheckpointVerifyError, TrustedLog, VerifiedCheckpoint,
};
use super::hash::{leaf_hash, Hash};
use super::note::{Note, NoteError, MAX_NOTE_BYTES};
use super::proof::{verify_inclusion, ProofVerifyError};

pub const HEADER: &str = "c2sp.org/tlog-proof@v1";
/// An inclusion proof in a tree below 2^64 leaves has at most 64 hashes.
pub const MAX_PROOF_HASHES: usize = 64;
/// Largest extra data accepted.
pub const MAX_EXTRA_BYTES: usize = 16 << 10;
/// Largest bundle accepted: the checkpoint note plus the proof lines.
pub const MAX_BUNDLE_BYTES: usize = MAX_NOTE_BYTES + (64 << 10);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProofBundle {
    /// Opaque, unauthenticated application data: never trust it without checking it otherwise.
    pub extra: Option<Vec<u8>>,
    pub index: u64,
    pub proof: Vec<Hash>,
    /// The signed checkpoint, verbatim.
    pub checkpoint: Note,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofBundleError {
    #[error("the proof is {0} bytes, more than the {MAX_BUNDLE_BYTES} accepted")]
    TooLarge(usize),
    #[error("the first line must be {HEADER}: this is not a tlog proof (or another version)")]
    Header,
    #[error("the extra line is not `extra <standard base64>` of at most {MAX_EXTRA_BYTES} bytes")]
    Extra,
    #[error("expected the line `index <decimal without leading zeros>`, found {0:?}")]
    Index(String),
    #[error("inclusion proof line {line} is not one standard base64 SHA-256 hash: {text:?}")]
    ProofHash { line: usize, text: String },
    #[error("the inclusion proof has more than {MAX_PROOF_HASHES} hashes")]
    TooManyHashes,
    #[error("no empty line between the inclusion proof and the checkpoint")]
    NoCheckpoint,
    #[error("the checkpoint in the proof is malformed: {0}")]
    CheckpointNote(#[from] NoteError),
    #[error("the proof's checkpoint is not trusted: {0}")]
    Checkpoint(#[from] CheckpointVerifyError),
    #[error(
        "the entry is not at index {index} of the checkpointed tree of {size} leaves: {source}"
    )]
    Inclusion {
        index: u64,
        size: u64,
        source: ProofVerifyError,
    },
}

/// What a verified proof establishes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedProof {
    pub index: u64,
    pub checkpoint: VerifiedCheckpoint,
}

impl ProofBundle {
    pub fn parse(text: &str) -> Result<Self, ProofBundleError> {
        if text.len() > MAX_BUNDLE_BYTES {
            return Err(ProofBundleError::TooLarge(text.len()));
        }
        let (head, checkpoint) = text
            .split_once("\n\n")
            .ok_or(ProofBundleError::NoCheckpoint)?;
        let mut lines = head.split('\n');
        if lines.next() != Some(HEADER) {
            return Err(ProofBundleError::Header);
        }
        let mut line = lines
            .next()
            .ok_or_else(|| ProofBundleError::Index(String::new()))?;
        let mut extra = None;
        if let Some(encoded) = line.strip_prefix("extra ") {
            if encoded.len() > MAX_EXTRA_BYTES.div_ceil(3) * 4 {
                return Err(ProofBundleError::Extra);
            }
            extra = Some(
                STANDARD
                    .decode(encoded)
                    .map_err(|_| ProofBundleError::Extra)?,
            );
            line = lines
                .next()
                .ok_or_else(|| ProofBundleError::Index(String::new()))?;
        }
        let index = line
            .strip_prefix("index ")
            .and_then(parse_decimal)
            .ok_or_else(|| ProofBundleError::Index(line.chars().take(40).collect()))?;
        let mut proof = Vec::new();
        for (i, line) in lines.enumerate() {
            if proof.len() == MAX_PROOF_HASHES {
                return Err(ProofBundleError::TooManyHashes);
            }
            let hash = parse_base64_hash(line).ok_or_else(|| ProofBundleError::ProofHash {
                line: i + 1,
                text: line.chars().take(60).collect(),
            })?;
            proof.push(hash);
        }
        let checkpoint = Note::parse(checkpoint)?;
        Ok(Self {
            extra,
            index,
            proof,
            checkpoint,
        })
    }

    pub fn format(&self) -> String {
        let mut out = format!("{HEADER}\n");
        if let Some(extra) = &self.extra {
            out.push_str(&format!("extra {}\n", STANDARD.encode(extra)));
        }
        out.push_str(&format!("index {}\n", self.index));
        for hash in &self.proof {
            out.push_str(&STANDARD.encode(hash));
            out.push('\n');
        }
        out.push('\n');
        out.push_str(&self.checkpoint.format());
        out
    }

    /// Checks that `entry` (the exact leaf bytes) is at the bundle's index in a checkpoint signed by
    /// the trusted log and cosigned by enough of its witnesses.
    pub fn verify(
        &self,
        entry: &[u8],
        log: &TrustedLog,
    ) -> Result<VerifiedProof, ProofBundleError> {
        let checkpoint = log.verify_note(&self.checkpoint)?;
        let size = checkpoint.checkpoint.size;
        verify_inclusion(
            self.index,
            size,
            &leaf_hash(entry),
            &self.proof,
            &checkpoint.checkpoint.root,
        )
        .map_err(|source| ProofBundleError::Inclusion {
            index: self.index,
            size,
            source,
        })?;
        Ok(VerifiedProof {
            index: self.index,
            checkpoint,
        })
    }
}

/// Parses and verifies a tlog-proof@v1 text for `entry` against `log`.
pub fn verify_proof_bundle(
    text: &str,
    entry: &[u8],
    log: &TrustedLog,
) -> Result<VerifiedProof, ProofBundleError> {
    ProofBundle::parse(text)?.verify(entry, log)
}
