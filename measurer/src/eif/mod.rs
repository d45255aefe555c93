//! AWS Nitro Enclave Image Format (EIF): a streaming, validating reader ([`describe`]), a writer that is
//! byte-identical to AWS's `EifBuilder` ([`write_eif`]), and P-384 signing.
//!
//! Layout: a 548-byte header, then sections (12-byte header + data) back to back. Our writer's order is
//! EifBuilder's: kernel, cmdline, metadata, ramdisk0..N, signature. See [`format`] for the byte layout
//! and the limits enforced, and [`crate::pcr`] for what each PCR measures.

mod cbor;
mod cose;
mod error;
pub mod format;
pub(crate) mod hashing;
mod metadata;
mod reader;
pub(crate) mod signature;
mod signing;
mod warning;
mod writer;

use std::fmt;
use std::fs::File;
use std::io::Read;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

pub use error::EifError;
pub use hashing::Progress;
pub use metadata::{rfc3339_from_unix, BuildMetadata, EifMetadata, EifMetadataSection, StoredJson};
pub use reader::{describe, describe_reader, describe_with_progress, EifDescription, SectionInfo};
pub use signature::{SignatureInfo, SignatureStatus};
pub use signing::SigningMaterial;
pub use warning::EifWarning;
pub use writer::{write_eif, write_eif_with_progress, EifSpec, WrittenEif};

/// The CPU architecture an EIF boots on (header flags bit 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Arch {
    X86_64,
    Aarch64,
}

impl Arch {
    pub fn from_flags(flags: u16) -> Arch {
        if flags & format::FLAG_AARCH64 != 0 {
            Arch::Aarch64
        } else {
            Arch::X86_64
        }
    }

    pub fn flags(self) -> u16 {
        match self {
            Arch::X86_64 => 0,
            Arch::Aarch64 => format::FLAG_AARCH64,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64",
            Arch::Aarch64 => "aarch64",
        }
    }
}

impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An architecture name that is neither `x86_64` nor `aarch64`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown architecture {0:?}: use x86_64 (alias amd64) or aarch64 (alias arm64)")]
pub struct ParseArchError(pub String);

impl FromStr for Arch {
    type Err = ParseArchError;

    /// Also accepts Docker's names (`amd64`, `arm64`), which is where nitro-cli takes the flag from.
    fn from_str(name: &str) -> Result<Self, Self::Err> {
        match name {
            "x86_64" | "amd64" => Ok(Arch::X86_64),
            "aarch64" | "arm64" => Ok(Arch::Aarch64),
            other => Err(ParseArchError(other.to_string())),
        }
    }
}

/// What a section holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SectionKind {
    Kernel,
    Cmdline,
    Ramdisk,
    Signature,
    Metadata,
}

impl fmt::Display for SectionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SectionKind::Kernel => "kernel",
            SectionKind::Cmdline => "cmdline",
            SectionKind::Ramdisk => "ramdisk",
            SectionKind::Signature => "signature",
            SectionKind::Metadata => "metadata",
        })
    }
}

/// The writer's cmdline rules, shared with [`crate::pcr::measure_components`]: EifBuilder stores the
/// cmdline through `CString`, so a NUL is impossible, and the reader refuses oversized cmdlines.
pub(crate) fn validate_cmdline(cmdline: &str) -> Result<(), EifError> {
    if let Some(position) = cmdline.bytes().position(|byte| byte == 0) {
        return Err(EifError::CmdlineNul { position });
    }
    if cmdline.len() as u64 > format::MAX_CMDLINE_SIZE {
        return Err(EifError::InputTooLarge {
            what: "the kernel command line".into(),
            size: cmdline.len() as u64,
            limit: format::MAX_CMDLINE_SIZE,
        });
    }
    Ok(())
}

/// Confirms an input file has nothing beyond the length measured when it was opened.
pub(crate) fn ensure_at_end(file: &mut File, what: &str) -> Result<(), EifError> {
    let mut probe = [0u8; 1];
    loop {
        match file.read(&mut probe) {
            Ok(0) => return Ok(()),
            Ok(_) => {
                return Err(EifError::ChangedWhileReading {
                    what: what.to_string(),
                    detail: "it grew after its size was taken".into(),
                })
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(EifError::io(format!("reading {what}"), e)),
        }
    }
}

/// An input file opened for streaming, with the length its section header will declare.
pub(crate) struct InputFile {
    pub file: File,
    pub len: u64,
    /// e.g. "ramdisk 1 /tmp/app.cpio", for error messages.
    pub what: String,
}

impl InputFile {
    pub fn open(path: &std::path::Path, role: &str) -> Result<InputFile, EifError> {
        let what = format!("{role} {}", path.display());
        let file = File::open(path).map_err(|e| EifError::io(format!("opening {what}"), e))?;
        let len = file
            .metadata()
            .map_err(|e| EifError::io(format!("inspecting {what}"), e))?
            .len();
        Ok(InputFile { file, len, what })
    }

    /// Streams the whole file through the hashing threads and into `sink`.
    pub fn copy_into(
        &mut self,
        feeder: &mut hashing::Feeder,
        measured: hashing::Measured,
        sink: &mut impl std::io::Write,
    ) -> Result<(), EifError> {
        feeder.copy(&mut self.file, self.len, measured, sink, &self.what)?;
        ensure_at_end(&mut self.file, &self.what)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arch_names_and_flags() {
        assert_eq!("aarch64".parse::<Arch>().unwrap(), Arch::Aarch64);
        assert_eq!("amd64".parse::<Arch>().unwrap(), Arch::X86_64);
        assert!("riscv64"
            .parse::<Arch>()
            .unwrap_err()
            .to_string()
            .contains("riscv64"));
        assert_eq!(serde_json::to_string(&Arch::X86_64).unwrap(), "\"x86_64\"");
        assert_eq!(Arch::from_flags(Arch::Aarch64.flags()), Arch::Aarch64);
        assert_eq!(Arch::from_flags(0b10), Arch::X86_64);
        assert_eq!(SectionKind::Metadata.to_string(), "metadata");
    }

    #[test]
    fn cmdline_rules() {
        assert!(validate_cmdline("console=ttyS0").is_ok());
        assert!(matches!(
            validate_cmdline("a\0b"),
            Err(EifError::CmdlineNul { position: 1 })
        ));
    }
}
