//! `mpr diff`: what differs between two build records, images, EIFs, ramdisks, build output
//! directories or plain files — what a rebuilder runs when their build does not match the release.
//!
//! Each input's kind is detected ([`detect`]); both must be of the same kind. Whenever two files
//! differ byte-wise, the report first says so for the whole file (sizes, SHA-256, first differing
//! offset), then descends into the format: JSON documents are compared leaf by leaf, EIFs section by
//! section, ramdisks (newc cpio) and image layers (tar) entry by entry, with a unified diff for small
//! text files. Every read is streamed or bounded by [`DiffOptions`].

mod bytes;
mod eif;
mod entries;
pub mod explain;
mod image;
mod inputs;
mod json;

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::archive::{CpioError, CpioLimits, ImportError, ImportLimits};

pub use inputs::{detect, InputKind};

/// The outcome of a comparison: `identical` exactly when `differences` is empty.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DiffReport {
    pub identical: bool,
    pub differences: Vec<Difference>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DiffKind {
    /// Only in B.
    Added,
    /// Only in A.
    Removed,
    Changed,
}

impl fmt::Display for DiffKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(match self {
            DiffKind::Added => "added",
            DiffKind::Removed => "removed",
            DiffKind::Changed => "changed",
        })
    }
}

/// One side of a difference: what kind of object it is, how big, and its contents' digest.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Side {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// Hex SHA-256 of the contents (a symlink's contents are its target).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
}

/// A named field (metadata, header field or JSON value) whose values differ; `None`: absent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldChange {
    pub field: String,
    pub a: Option<serde_json::Value>,
    pub b: Option<serde_json::Value>,
}

/// One thing that differs. `path` names it from the input down, e.g.
/// `eif/section[3](ramdisk)/rootfs/usr/local/bin/hello` or `record/outputs.eif.pcrs.pcr0`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Difference {
    pub path: String,
    pub kind: DiffKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub a: Option<Side>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub b: Option<Side>,
    /// Offset, within the object at `path`, of the first byte that differs (or where the shorter ends).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_differing_offset: Option<u64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldChange>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unified_diff: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl Difference {
    pub fn new(path: impl Into<String>, kind: DiffKind) -> Self {
        Difference {
            path: path.into(),
            kind,
            a: None,
            b: None,
            first_differing_offset: None,
            fields: Vec::new(),
            unified_diff: None,
            note: None,
        }
    }

    /// Something only one side has: `Added` describes B's object, anything else A's.
    pub(crate) fn one_sided(path: impl Into<String>, kind: DiffKind, side: Side) -> Self {
        let mut diff = Difference::new(path, kind);
        if kind == DiffKind::Added {
            diff.b = Some(side);
        } else {
            diff.a = Some(side);
        }
        diff
    }

    fn with_note(mut self, note: impl Into<String>) -> Self {
        self.note = Some(note.into());
        self
    }
}

fn show(value: &Option<serde_json::Value>) -> String {
    value
        .as_ref()
        .map_or_else(|| "(absent)".to_owned(), |v| v.to_string())
}

/// Reads one detail of a [`Side`] for printing.
type SideField = fn(&Side) -> Option<String>;

fn show_side(side: &Option<Side>, get: impl Fn(&Side) -> Option<String>) -> String {
    side.as_ref()
        .and_then(get)
        .unwrap_or_else(|| "-".to_owned())
}

/// Human form: a line `kind path`, then one indented line per detail. A difference that is a single
/// JSON value prints on one line: `changed  record/outputs.eif.pcrs.pcr0: "ab…" != "cd…"`.
impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:<8} {}", self.kind, self.path)?;
        let only_value = self.a.is_none()
            && self.b.is_none()
            && self.note.is_none()
            && self.unified_diff.is_none()
            && matches!(&self.fields[..], [field] if field.field == "value");
        if let (true, Some(field)) = (only_value, self.fields.first()) {
            return match self.kind {
                DiffKind::Added => write!(f, ": {}", show(&field.b)),
                DiffKind::Removed => write!(f, ": {}", show(&field.a)),
                DiffKind::Changed => write!(f, ": {} != {}", show(&field.a), show(&field.b)),
            };
        }
        let rows: [(&str, SideField); 3] = [
            ("type", |s| s.file_type.clone()),
            ("size", |s| s.size.map(|n| n.to_string())),
            ("sha256", |s| s.sha256.clone()),
        ];
        for (name, get) in rows {
            let (a, b) = (show_side(&self.a, get), show_side(&self.b, get));
            match self.kind {
                DiffKind::Changed if a != b => write!(f, "\n    {name}: {a} != {b}")?,
                DiffKind::Added if b != "-" => write!(f, "\n    {name}: {b}")?,
                DiffKind::Removed if a != "-" => write!(f, "\n    {name}: {a}")?,
                _ => {}
            }
        }
        if let Some(offset) = self.first_differing_offset {
            write!(f, "\n    first differing offset: {offset} ({offset:#x})")?;
        }
        for field in &self.fields {
            write!(
                f,
                "\n    {}: {} != {}",
                field.field,
                show(&field.a),
                show(&field.b)
            )?;
        }
        if let Some(note) = &self.note {
            write!(f, "\n    {note}")?;
        }
        if let Some(diff) = &self.unified_diff {
            for line in diff.lines() {
                write!(f, "\n    {line}")?;
            }
        }
        Ok(())
    }
}

/// Bounds on what a comparison reads into memory or unpacks on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiffOptions {
    /// For image layers and single-file images, which are unpacked (safely) to temporary files.
    pub import_limits: ImportLimits,
    /// For ramdisks; `keep_content_up_to` also bounds what is held for text diffs.
    pub cpio_limits: CpioLimits,
    /// Both sides at most this big (and UTF-8 text): a unified diff is included.
    pub max_text_diff: u64,
    /// JSON documents (records, image configs, EIF metadata) bigger than this are refused.
    pub max_json_size: u64,
    /// Paths walked in one build output directory.
    pub max_dir_entries: usize,
}

impl Default for DiffOptions {
    fn default() -> Self {
        DiffOptions {
            import_limits: ImportLimits::default(),
            cpio_limits: CpioLimits::default(),
            max_text_diff: 64 * 1024,
            max_json_size: 16 << 20,
            max_dir_entries: 100_000,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DiffError {
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot compare {} ({a_kind}) with {} ({b_kind}): both inputs must be of the same kind", a.display(), b.display())]
    KindMismatch {
        a: PathBuf,
        a_kind: InputKind,
        b: PathBuf,
        b_kind: InputKind,
    },
    #[error("{} is a directory but neither a build output (no build-record.json) nor an OCI image layout (no oci-layout)", path.display())]
    UnknownDirectory { path: PathBuf },
    #[error("{} is not a regular file or directory", path.display())]
    NotAFile { path: PathBuf },
    #[error("{what}: {source}")]
    Eif {
        what: String,
        #[source]
        source: measurer::eif::EifError,
    },
    #[error("{what}: {source}")]
    Cpio {
        what: String,
        #[source]
        source: CpioError,
    },
    #[error("{what}: {source}")]
    Import {
        what: String,
        #[source]
        source: ImportError,
    },
    #[error("{what} is not valid JSON: {source}")]
    Json {
        what: String,
        #[source]
        source: serde_json::Error,
    },
    #[error(
        "{what} is larger than {max} bytes: raise DiffOptions::max_json_size if this is expected"
    )]
    JsonTooLarge { what: String, max: u64 },
    #[error("image {what}: {reason}")]
    BadImage { what: String, reason: String },
    #[error("{} holds more than {max} paths: raise DiffOptions::max_dir_entries if this is expected", path.display())]
    TooManyPaths { path: PathBuf, max: usize },
}

pub(crate) fn io_err(what: impl fmt::Display) -> impl FnOnce(std::io::Error) -> DiffError {
    let what = what.to_string();
    move |source| DiffError::Io { what, source }
}

/// Compares `a` and `b`, whose kinds are detected; the report's paths start with the kind's name.
pub fn diff_paths(a: &Path, b: &Path, options: &DiffOptions) -> Result<DiffReport, DiffError> {
    let a_kind = detect(a, options)?;
    let b_kind = detect(b, options)?;
    if !a_kind.same_family(b_kind) {
        return Err(DiffError::KindMismatch {
            a: a.to_owned(),
            a_kind,
            b: b.to_owned(),
            b_kind,
        });
    }
    let mut out = Vec::new();
    let family = a_kind.family();
    inputs::diff_at(
        family.name(),
        family,
        a,
        b,
        a_kind,
        b_kind,
        options,
        &mut out,
    )?;
    Ok(DiffReport {
        identical: out.is_empty(),
        differences: out,
    })
}

/// `prefix/name`, or `name` when `prefix` is empty.
pub(crate) fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_owned()
    } else if name.is_empty() {
        prefix.to_owned()
    } else {
        format!("{prefix}/{name}")
    }
}
