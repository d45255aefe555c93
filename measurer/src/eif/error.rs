//! Everything that can go wrong reading, writing or measuring an EIF.

use std::io;

use super::SectionKind;

/// Why an EIF (or its inputs) could not be read, written or measured. Every message names the problem
/// and, where one exists, the fix.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EifError {
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },

    #[error("the file is {file_len} bytes but an EIF header alone is 548 bytes: the EIF is truncated or not an EIF")]
    TruncatedHeader { file_len: u64 },

    #[error("bad magic {found:02x?}: an EIF starts with \".eif\" (2e 65 69 66); this is not an EIF file")]
    BadMagic { found: [u8; 4] },

    #[error("EIF version {0} is not supported: only versions 2, 3 and 4 exist")]
    UnsupportedVersion(u16),

    #[error("the header declares {0} sections but an EIF has 1 to 32: the header is corrupt")]
    SectionCount(u16),

    #[error("the header says section {index} starts at byte {declared}, but the previous sections end at byte {expected}: sections must be contiguous and in table order")]
    SectionOffsetMismatch {
        index: usize,
        declared: u64,
        expected: u64,
    },

    #[error("section {index}: the header table says {table} data bytes but the section header says {section}: one of them is corrupt")]
    SectionSizeMismatch {
        index: usize,
        table: u64,
        section: u64,
    },

    #[error("section {index} starts at byte {offset}, but the file is only {file_len} bytes, too short for its 12-byte section header: the EIF is truncated")]
    SectionHeaderPastEof {
        index: usize,
        offset: u64,
        file_len: u64,
    },

    #[error("section {index} claims {size} bytes but the file ends {available} bytes after its header: the EIF is truncated")]
    SectionPastEof {
        index: usize,
        size: u64,
        available: u64,
    },

    #[error("section sizes add up to {end} bytes but the file has {file_len}: {} trailing bytes follow the last section (truncate them or rebuild the EIF)", file_len - end)]
    TrailingBytes { end: u64, file_len: u64 },

    #[error("section {index} has unknown type {section_type}: valid types are 1 (kernel), 2 (cmdline), 3 (ramdisk), 4 (signature) and 5 (metadata)")]
    UnknownSectionType { index: usize, section_type: u16 },

    #[error("section {second} is a second {kind} section (the first is section {first}): an EIF has at most one")]
    DuplicateSection {
        kind: SectionKind,
        first: usize,
        second: usize,
    },

    #[error("the EIF has no {0} section: it is required")]
    MissingSection(SectionKind),

    #[error("ramdisk section {index} comes before the kernel section: all ramdisks must follow the kernel")]
    RamdiskBeforeKernel { index: usize },

    #[error("section {index} is a {kind} section, which EIF version {version} cannot contain (it needs version {min_version} or later)")]
    SectionNeedsNewerVersion {
        index: usize,
        kind: SectionKind,
        version: u16,
        min_version: u16,
    },

    #[error("the {kind} section is {size} bytes but at most {limit} are accepted: the EIF is corrupt or malicious")]
    SectionTooLarge {
        kind: SectionKind,
        size: u64,
        limit: u64,
    },

    #[error("CRC mismatch: the header stores {stored:#010x} but the contents give {computed:#010x}: the EIF is corrupt or was modified after it was built")]
    CrcMismatch { stored: u32, computed: u32 },

    #[error("the metadata section is not JSON ({0}): AWS's reader and nitro-cli refuse such an EIF too; rebuild it with JSON metadata")]
    InvalidMetadata(#[source] serde_json::Error),

    #[error("the signature section is malformed: {0}")]
    MalformedSignature(String),

    #[error("the signing certificate is unusable: {0}")]
    Certificate(String),

    #[error("the signing key is unusable: {0}")]
    SigningKey(String),

    #[error("the private key does not belong to the signing certificate: pass the key the certificate was issued for")]
    KeyCertificateMismatch,

    #[error("the kernel command line has a NUL byte at position {position}: remove it (the cmdline section is a C string)")]
    CmdlineNul { position: usize },

    #[error("{what} is {size} bytes but at most {limit} are allowed")]
    InputTooLarge { what: String, size: u64, limit: u64 },

    #[error("{0}")]
    TooManySections(String),

    #[error("no ramdisk given: a Nitro enclave image needs at least one (nitro-cli puts its bootstrap ramdisk first)")]
    NoRamdisk,

    #[error(
        "{what} changed while it was being read ({detail}): retry when nothing is writing to it"
    )]
    ChangedWhileReading { what: String, detail: String },

    #[error("a hashing thread failed unexpectedly: {0}")]
    HashingThread(String),
}

impl EifError {
    /// Wraps an I/O error with what was being done, so messages say which file failed.
    pub(crate) fn io(context: impl Into<String>, source: io::Error) -> Self {
        EifError::Io {
            context: context.into(),
            source,
        }
    }
}
