//! The validating, streaming EIF reader.
//!
//! Two passes over very different amounts of data: first the header and the (at most 32) 12-byte
//! section headers are read with seeks and every structural rule is checked, so a malformed file fails
//! fast with a precise message before a gigabyte is hashed; then the file is streamed once, front to
//! back, through the hashing threads. Kernels and ramdisks are never held in memory; the small sections
//! (cmdline, metadata, signature) are, within the limits of [`super::format`].
//!
//! Whatever would make the PCRs ambiguous or shows the file is not an EIF is an error. What AWS's reader
//! ignores and no PCR depends on (unused header fields, section flags, foreign metadata) is reported as
//! an [`EifWarning`] in the description instead, so every EIF nitro-cli can describe is measured.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use serde::Serialize;

use super::error::EifError;
use super::format::{
    FileHeader, SectionHeader, HEADER_CRC_COVERED, HEADER_SIZE, MAGIC, MAX_SECTIONS,
    RESERVED_OFFSET, UNUSED_OFFSET,
};
use super::format::{SECTION_HEADER_SIZE, SUPPORTED_VERSIONS};
use super::hashing::{measure_while, Measured, Progress};
use super::metadata::{read_metadata_section, EifMetadataSection};
use super::signature::{inspect_signature_section, SignatureInfo};
use super::warning::EifWarning;
use super::{Arch, SectionKind};
use crate::pcr::NitroPcrs;

/// One section as laid out in the file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SectionInfo {
    pub index: usize,
    pub kind: SectionKind,
    /// File offset of the section's 12-byte header (what the EIF header table stores).
    pub offset: u64,
    /// Data length, excluding the section header.
    pub size: u64,
    /// The section header's flags: 0 in every EIF AWS's tools write (see [`EifWarning::SectionFlags`]).
    pub flags: u16,
}

/// Everything a verified EIF says about itself, and its PCRs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EifDescription {
    pub version: u16,
    pub arch: Arch,
    pub flags: u16,
    pub default_mem: u64,
    pub default_cpus: u64,
    /// The stored CRC, which the reader has checked against the contents.
    pub crc32: u32,
    pub file_size: u64,
    pub sections: Vec<SectionInfo>,
    /// Shown lossily (U+FFFD) if the section is not UTF-8.
    pub cmdline: String,
    pub metadata: Option<EifMetadataSection>,
    pub signature: Option<SignatureInfo>,
    pub pcrs: NitroPcrs,
    /// Departures from AWS's writer that do not change the PCRs, in file order.
    pub warnings: Vec<EifWarning>,
}

/// Reads, validates and measures the EIF at `path`.
pub fn describe(path: &Path) -> Result<EifDescription, EifError> {
    describe_with_progress(path, &|_| {})
}

/// [`describe`], telling `progress` how many bytes of the file have been read so far.
pub fn describe_with_progress(
    path: &Path,
    progress: Progress<'_>,
) -> Result<EifDescription, EifError> {
    let file =
        File::open(path).map_err(|e| EifError::io(format!("opening EIF {}", path.display()), e))?;
    describe_source(file, progress)
}

/// Reads, validates and measures an EIF from any seekable source.
pub fn describe_reader<R: Read + Seek + Send>(source: R) -> Result<EifDescription, EifError> {
    describe_source(source, &|_| {})
}

fn describe_source<R: Read + Seek + Send>(
    mut source: R,
    progress: Progress<'_>,
) -> Result<EifDescription, EifError> {
    let file_len = source
        .seek(SeekFrom::End(0))
        .map_err(|e| EifError::io("finding the EIF's length", e))?;
    if file_len < HEADER_SIZE as u64 {
        return Err(EifError::TruncatedHeader { file_len });
    }
    let mut header_bytes = [0u8; HEADER_SIZE];
    seek_and_read(&mut source, 0, &mut header_bytes, "the EIF header")?;
    let header = FileHeader::decode(&header_bytes);
    let mut warnings = validate_header(&header)?;
    let sections = plan_sections(&mut source, &header, file_len)?;
    warnings.extend(
        sections
            .iter()
            .filter(|section| section.flags != 0)
            .map(|section| EifWarning::SectionFlags {
                index: section.index,
                kind: section.kind,
                flags: section.flags,
            }),
    );

    seek(&mut source, HEADER_SIZE as u64, "the first section")?;
    let (small, measured) = measure_while(progress, |feeder| {
        feeder.feed(
            header_bytes.get(..HEADER_CRC_COVERED).unwrap_or_default(),
            Measured::Unmeasured,
        )?;
        let mut small = SmallSections::default();
        let mut ramdisks_seen = 0usize;
        for section in &sections {
            let what = format!("section {} ({})", section.index, section.kind);
            let mut section_header = [0u8; SECTION_HEADER_SIZE];
            read_exact(&mut source, &mut section_header, &what)?;
            let planned = SectionHeader {
                flags: section.flags,
                ..SectionHeader::new(section.kind, section.size)
            };
            if SectionHeader::decode(&section_header) != planned {
                return Err(EifError::ChangedWhileReading {
                    what: "the EIF".into(),
                    detail: format!("the header of {what} differs from the first read"),
                });
            }
            feeder.feed(&section_header, Measured::Unmeasured)?;
            match section.kind {
                SectionKind::Kernel => feeder.copy(
                    &mut source,
                    section.size,
                    Measured::Boot,
                    &mut std::io::sink(),
                    &what,
                )?,
                SectionKind::Ramdisk => {
                    let measured = if ramdisks_seen == 0 {
                        Measured::Boot
                    } else {
                        Measured::Application
                    };
                    ramdisks_seen += 1;
                    feeder.copy(
                        &mut source,
                        section.size,
                        measured,
                        &mut std::io::sink(),
                        &what,
                    )?;
                }
                SectionKind::Cmdline => {
                    let data = read_small(&mut source, section.size, &what)?;
                    feeder.feed(&data, Measured::Boot)?;
                    small.cmdline = data;
                }
                SectionKind::Metadata => {
                    let data = read_small(&mut source, section.size, &what)?;
                    feeder.feed(&data, Measured::Unmeasured)?;
                    small.metadata = Some(data);
                }
                SectionKind::Signature => {
                    let data = read_small(&mut source, section.size, &what)?;
                    feeder.feed(&data, Measured::Unmeasured)?;
                    small.signature = Some(data);
                }
            }
        }
        Ok(small)
    })?;

    let computed = measured.crc.finalize();
    if computed != header.crc32 {
        return Err(EifError::CrcMismatch {
            stored: header.crc32,
            computed,
        });
    }
    let metadata = match small.metadata {
        Some(bytes) => {
            let (section, foreign) = read_metadata_section(bytes)?;
            warnings.extend(foreign.map(|reason| EifWarning::ForeignMetadata { reason }));
            Some(section)
        }
        None => None,
    };
    let (signature, pcr8) = match small.signature {
        Some(bytes) => {
            let (info, pcr8) = inspect_signature_section(&bytes, &measured.pcr0)?;
            (Some(info), Some(pcr8))
        }
        None => (None, None),
    };
    Ok(EifDescription {
        version: header.version,
        arch: Arch::from_flags(header.flags),
        flags: header.flags,
        default_mem: header.default_mem,
        default_cpus: header.default_cpus,
        crc32: header.crc32,
        file_size: file_len,
        sections,
        cmdline: String::from_utf8_lossy(&small.cmdline).into_owned(),
        metadata,
        signature,
        pcrs: NitroPcrs {
            pcr0: measured.pcr0,
            pcr1: measured.pcr1,
            pcr2: measured.pcr2,
            pcr8,
        },
        warnings,
    })
}

#[derive(Default)]
struct SmallSections {
    cmdline: Vec<u8>,
    metadata: Option<Vec<u8>>,
    signature: Option<Vec<u8>>,
}

/// Checks what identifies an EIF; returns what is unusual but harmless.
fn validate_header(header: &FileHeader) -> Result<Vec<EifWarning>, EifError> {
    if header.magic != MAGIC {
        return Err(EifError::BadMagic {
            found: header.magic,
        });
    }
    if !SUPPORTED_VERSIONS.contains(&header.version) {
        return Err(EifError::UnsupportedVersion(header.version));
    }
    let count = header.section_count()?;
    let mut warnings = Vec::new();
    for (field, offset, value) in [
        ("reserved", RESERVED_OFFSET, u32::from(header.reserved)),
        ("unused", UNUSED_OFFSET, header.unused),
    ] {
        if value != 0 {
            warnings.push(EifWarning::HeaderFieldNotZero {
                field,
                offset,
                value,
            });
        }
    }
    for index in count..MAX_SECTIONS {
        let offset = header.section_offsets.get(index).copied().unwrap_or(0);
        let size = header.section_sizes.get(index).copied().unwrap_or(0);
        if offset != 0 || size != 0 {
            warnings.push(EifWarning::UnusedSlotNotZero {
                index,
                num_sections: header.num_sections,
                offset,
                size,
            });
        }
    }
    Ok(warnings)
}

/// Walks the section headers (seeking, not reading data) and checks every structural rule.
fn plan_sections(
    source: &mut (impl Read + Seek),
    header: &FileHeader,
    file_len: u64,
) -> Result<Vec<SectionInfo>, EifError> {
    let count = header.section_count()?;
    let mut sections: Vec<SectionInfo> = Vec::with_capacity(count);
    let mut position = HEADER_SIZE as u64;
    let declared = header
        .section_offsets
        .iter()
        .zip(header.section_sizes.iter());
    for (index, (&declared_offset, &declared_size)) in declared.take(count).enumerate() {
        if declared_offset != position {
            return Err(EifError::SectionOffsetMismatch {
                index,
                declared: declared_offset,
                expected: position,
            });
        }
        let data_start = position
            .checked_add(SECTION_HEADER_SIZE as u64)
            .filter(|&end| end <= file_len)
            .ok_or(EifError::SectionHeaderPastEof {
                index,
                offset: position,
                file_len,
            })?;
        let mut raw = [0u8; SECTION_HEADER_SIZE];
        seek_and_read(
            source,
            position,
            &mut raw,
            &format!("the header of section {index}"),
        )?;
        let section_header = SectionHeader::decode(&raw);
        let kind = SectionKind::from_type_code(section_header.section_type).ok_or(
            EifError::UnknownSectionType {
                index,
                section_type: section_header.section_type,
            },
        )?;
        if section_header.size != declared_size {
            return Err(EifError::SectionSizeMismatch {
                index,
                table: declared_size,
                section: section_header.size,
            });
        }
        let available = file_len - data_start;
        if section_header.size > available {
            return Err(EifError::SectionPastEof {
                index,
                size: section_header.size,
                available,
            });
        }
        if let Some(limit) = kind
            .size_limit()
            .filter(|&limit| section_header.size > limit)
        {
            return Err(EifError::SectionTooLarge {
                kind,
                size: section_header.size,
                limit,
            });
        }
        if kind.min_version() > header.version {
            return Err(EifError::SectionNeedsNewerVersion {
                index,
                kind,
                version: header.version,
                min_version: kind.min_version(),
            });
        }
        check_placement(&sections, index, kind)?;
        sections.push(SectionInfo {
            index,
            kind,
            offset: position,
            size: section_header.size,
            flags: section_header.flags,
        });
        // Cannot overflow: size <= available = file_len - data_start.
        position = data_start + section_header.size;
    }
    let has = |kind: SectionKind| sections.iter().any(|section| section.kind == kind);
    for required in [
        SectionKind::Kernel,
        SectionKind::Cmdline,
        SectionKind::Ramdisk,
    ] {
        if !has(required) {
            return Err(EifError::MissingSection(required));
        }
    }
    if header.version >= SectionKind::Metadata.min_version() && !has(SectionKind::Metadata) {
        return Err(EifError::MissingSection(SectionKind::Metadata));
    }
    if position < file_len {
        return Err(EifError::TrailingBytes {
            end: position,
            file_len,
        });
    }
    Ok(sections)
}

/// At most one of each non-ramdisk kind, and no ramdisk before the kernel.
fn check_placement(
    earlier: &[SectionInfo],
    index: usize,
    kind: SectionKind,
) -> Result<(), EifError> {
    if kind == SectionKind::Ramdisk {
        if !earlier
            .iter()
            .any(|section| section.kind == SectionKind::Kernel)
        {
            return Err(EifError::RamdiskBeforeKernel { index });
        }
        return Ok(());
    }
    match earlier.iter().find(|section| section.kind == kind) {
        Some(first) => Err(EifError::DuplicateSection {
            kind,
            first: first.index,
            second: index,
        }),
        None => Ok(()),
    }
}

fn seek(source: &mut impl Seek, position: u64, what: &str) -> Result<(), EifError> {
    source
        .seek(SeekFrom::Start(position))
        .map_err(|e| EifError::io(format!("seeking to {what}"), e))?;
    Ok(())
}

fn seek_and_read(
    source: &mut (impl Read + Seek),
    position: u64,
    buffer: &mut [u8],
    what: &str,
) -> Result<(), EifError> {
    seek(source, position, what)?;
    read_exact(source, buffer, what)
}

fn read_exact(source: &mut impl Read, buffer: &mut [u8], what: &str) -> Result<(), EifError> {
    source
        .read_exact(buffer)
        .map_err(|e| EifError::io(format!("reading {what}"), e))
}

/// Reads a section already checked against its size limit.
fn read_small(source: &mut impl Read, size: u64, what: &str) -> Result<Vec<u8>, EifError> {
    let size = usize::try_from(size).map_err(|_| EifError::InputTooLarge {
        what: what.to_string(),
        size,
        limit: usize::MAX as u64,
    })?;
    let mut data = vec![0u8; size];
    read_exact(source, &mut data, what)?;
    Ok(data)
}
