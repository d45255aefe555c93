//! The mpr log's entry: what each leaf of the tree is (the leaf hash is RFC 6962's hash of these
//! exact bytes). An entry names the statement's kind and the SHA-256 of the signed statement; the
//! statement itself is served next to the log.
//!
//! ```text
//! mpr.dev/log-entry/v1
//! kind <release|status|addendum|rebuild>
//! statement sha256:<64 lowercase hex>
//! ```

use super::hash::{leaf_hash, Hash};

const HEADER: &str = "mpr.dev/log-entry/v1\n";
/// Every entry has the same length: header, longest kind line and statement line bound it.
pub const MAX_ENTRY_BYTES: usize = 128;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EntryKind {
    Release,
    Status,
    Addendum,
    Rebuild,
}

impl EntryKind {
    pub const ALL: [EntryKind; 4] = [
        EntryKind::Release,
        EntryKind::Status,
        EntryKind::Addendum,
        EntryKind::Rebuild,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EntryKind::Release => "release",
            EntryKind::Status => "status",
            EntryKind::Addendum => "addendum",
            EntryKind::Rebuild => "rebuild",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == text)
    }
}

impl std::fmt::Display for EntryKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LogEntry {
    pub kind: EntryKind,
    pub statement_sha256: [u8; 32],
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EntryError {
    #[error("a log entry is at most {MAX_ENTRY_BYTES} bytes; this one has {0}")]
    TooLong(usize),
    #[error("a log entry starts with the line mpr.dev/log-entry/v1: this is not an mpr log entry (or a newer version)")]
    Header,
    #[error("the second line must be `kind <release|status|addendum|rebuild>`; found {0:?}")]
    Kind(String),
    #[error("the third line must be `statement sha256:<64 lowercase hex digits>`; found {0:?}")]
    Statement(String),
    #[error("a log entry has exactly three lines, each ending with a newline")]
    Lines,
}

impl LogEntry {
    pub fn new(kind: EntryKind, statement_sha256: [u8; 32]) -> Self {
        Self {
            kind,
            statement_sha256,
        }
    }

    /// The exact bytes hashed as the leaf.
    pub fn encode(&self) -> Vec<u8> {
        format!(
            "{HEADER}kind {}\nstatement sha256:{}\n",
            self.kind,
            hex::encode(self.statement_sha256)
        )
        .into_bytes()
    }

    /// Parses the exact canonical encoding (anything else is refused, so an entry has one form).
    pub fn parse(bytes: &[u8]) -> Result<Self, EntryError> {
        if bytes.len() > MAX_ENTRY_BYTES {
            return Err(EntryError::TooLong(bytes.len()));
        }
        let text = std::str::from_utf8(bytes).map_err(|_| EntryError::Header)?;
        let rest = text.strip_prefix(HEADER).ok_or(EntryError::Header)?;
        let rest = rest.strip_suffix('\n').ok_or(EntryError::Lines)?;
        let mut lines = rest.split('\n');
        let (Some(kind_line), Some(statement_line), None) =
            (lines.next(), lines.next(), lines.next())
        else {
            return Err(EntryError::Lines);
        };
        let kind = kind_line
            .strip_prefix("kind ")
            .and_then(EntryKind::parse)
            .ok_or_else(|| EntryError::Kind(kind_line.into()))?;
        let digest = statement_line
            .strip_prefix("statement sha256:")
            .filter(|h| {
                h.len() == 64
                    && h.bytes()
                        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            })
            .and_then(|h| hex::decode(h).ok())
            .and_then(|d| <[u8; 32]>::try_from(d).ok())
            .ok_or_else(|| EntryError::Statement(statement_line.into()))?;
        Ok(Self {
            kind,
            statement_sha256: digest,
        })
    }

    /// RFC 6962 leaf hash of [`LogEntry::encode`].
    pub fn leaf_hash(&self) -> Hash {
        leaf_hash(&self.encode())
    }
}
