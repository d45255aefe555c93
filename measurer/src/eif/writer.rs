//! The EIF writer: byte-identical to AWS's `EifBuilder` for the same inputs (unsigned; signed files
//! differ only in the ECDSA signature bytes, since ours are deterministic), in one streaming pass.
//!
//! The signature section's size depends on PCR0 (bytes >= 24 take two CBOR bytes), and PCR0 is known
//! only once everything has been hashed, so the sections are written first, after a header-sized gap,
//! and the header last. Its CRC is then the header's CRC combined with the sections' CRC, with no second
//! read of the file.

use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::error::EifError;
use super::format::{
    FileHeader, SectionHeader, CURRENT_VERSION, DEFAULT_CPUS, DEFAULT_MEM, HEADER_CRC_COVERED,
};
use super::format::{HEADER_SIZE, MAGIC, MAX_METADATA_SIZE, MAX_SECTIONS, SECTION_HEADER_SIZE};
use super::hashing::{measure_while, Feeder, Measured, Progress};
use super::{validate_cmdline, Arch, EifMetadata, InputFile, SectionKind, SigningMaterial};
use crate::pcr::{pcr8_of_der, NitroPcrs};

/// The inputs of an EIF.
#[derive(Debug, Clone)]
pub struct EifSpec {
    pub kernel: PathBuf,
    /// Stored as given: nitro-cli trims its blob's trailing newline before passing it.
    pub cmdline: String,
    /// In order; nitro-cli's are the bootstrap ramdisk, then the application ramdisk.
    pub ramdisks: Vec<PathBuf>,
    pub arch: Arch,
    pub metadata: EifMetadata,
    pub signing: Option<SigningMaterial>,
}

/// What [`write_eif`] produced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WrittenEif {
    pub pcrs: NitroPcrs,
    pub size: u64,
    pub crc32: u32,
}

/// Builds the EIF described by `spec` at `output`. The file appears complete or not at all: it is
/// written to a temporary file in the same directory, synced, then renamed over `output`.
pub fn write_eif(spec: &EifSpec, output: &Path) -> Result<WrittenEif, EifError> {
    write_eif_with_progress(spec, output, &|_| {})
}

/// [`write_eif`], telling `progress` how many bytes have been written so far.
pub fn write_eif_with_progress(
    spec: &EifSpec,
    output: &Path,
    progress: Progress<'_>,
) -> Result<WrittenEif, EifError> {
    validate_cmdline(&spec.cmdline)?;
    if spec.ramdisks.is_empty() {
        return Err(EifError::NoRamdisk);
    }
    let fixed_sections = if spec.signing.is_some() { 4 } else { 3 };
    let section_count = spec.ramdisks.len().saturating_add(fixed_sections);
    if section_count > MAX_SECTIONS {
        return Err(EifError::TooManySections(format!(
            "{} ramdisks make {section_count} sections but an EIF holds at most {MAX_SECTIONS}: merge ramdisks",
            spec.ramdisks.len()
        )));
    }
    let metadata = spec
        .metadata
        .to_section_bytes()
        .map_err(EifError::InvalidMetadata)?;
    if metadata.len() as u64 > MAX_METADATA_SIZE {
        return Err(EifError::InputTooLarge {
            what: "the serialised metadata".into(),
            size: metadata.len() as u64,
            limit: MAX_METADATA_SIZE,
        });
    }
    let mut kernel = InputFile::open(&spec.kernel, "kernel")?;
    let mut ramdisks = spec
        .ramdisks
        .iter()
        .enumerate()
        .map(|(index, path)| InputFile::open(path, &format!("ramdisk {index}")))
        .collect::<Result<Vec<_>, _>>()?;

    let directory = match output.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let mut temporary = tempfile::NamedTempFile::new_in(directory).map_err(|e| {
        EifError::io(
            format!("creating a temporary file in {}", directory.display()),
            e,
        )
    })?;
    let out = temporary.as_file_mut();
    let mut layout = Layout {
        out,
        position: HEADER_SIZE as u64,
        sections: Vec::with_capacity(section_count),
    };
    layout.seek_to_sections()?;

    let ((), measured) = measure_while(progress, |feeder| {
        layout.begin_section(feeder, SectionKind::Kernel, kernel.len)?;
        kernel.copy_into(feeder, Measured::Boot, &mut *layout.out)?;
        layout.small_section(
            feeder,
            SectionKind::Cmdline,
            spec.cmdline.as_bytes(),
            Measured::Boot,
        )?;
        layout.small_section(
            feeder,
            SectionKind::Metadata,
            &metadata,
            Measured::Unmeasured,
        )?;
        for (index, ramdisk) in ramdisks.iter_mut().enumerate() {
            layout.begin_section(feeder, SectionKind::Ramdisk, ramdisk.len)?;
            let measured = if index == 0 {
                Measured::Boot
            } else {
                Measured::Application
            };
            ramdisk.copy_into(feeder, measured, &mut *layout.out)?;
        }
        Ok(())
    })?;
    let mut sections_crc = measured.crc;

    let mut pcr8 = None;
    if let Some(signing) = &spec.signing {
        let section = signing.signature_section(&measured.pcr0)?;
        let header = layout.record(SectionKind::Signature, section.len() as u64)?;
        layout.write(&header)?;
        layout.write(&section)?;
        sections_crc.update(&header);
        sections_crc.update(&section);
        pcr8 = Some(pcr8_of_der(signing.certificate_der()));
    }

    let mut header = layout.file_header(spec.arch)?;
    let mut crc = crc32fast::Hasher::new();
    crc.update(
        header
            .encode()
            .get(..HEADER_CRC_COVERED)
            .unwrap_or_default(),
    );
    crc.combine(&sections_crc);
    header.crc32 = crc.finalize();
    let size = layout.position;
    layout.write_header(&header)?;
    finish_file(temporary, output)?;

    Ok(WrittenEif {
        pcrs: NitroPcrs {
            pcr0: measured.pcr0,
            pcr1: measured.pcr1,
            pcr2: measured.pcr2,
            pcr8,
        },
        size,
        crc32: header.crc32,
    })
}

/// Tracks where each section lands while they are written.
struct Layout<'a> {
    out: &'a mut std::fs::File,
    position: u64,
    /// (kind, offset of its section header, data size)
    sections: Vec<(SectionKind, u64, u64)>,
}

impl Layout<'_> {
    fn seek_to_sections(&mut self) -> Result<(), EifError> {
        self.out
            .seek(SeekFrom::Start(self.position))
            .map_err(|e| EifError::io("seeking in the new EIF", e))?;
        Ok(())
    }

    /// Notes a section and returns its encoded header.
    fn record(
        &mut self,
        kind: SectionKind,
        size: u64,
    ) -> Result<[u8; SECTION_HEADER_SIZE], EifError> {
        self.sections.push((kind, self.position, size));
        self.position = self
            .position
            .checked_add(SECTION_HEADER_SIZE as u64)
            .and_then(|position| position.checked_add(size))
            .ok_or_else(|| EifError::InputTooLarge {
                what: format!("the EIF with its {kind} section"),
                size,
                limit: u64::MAX,
            })?;
        Ok(SectionHeader::new(kind, size).encode())
    }

    fn begin_section(
        &mut self,
        feeder: &mut Feeder,
        kind: SectionKind,
        size: u64,
    ) -> Result<(), EifError> {
        let header = self.record(kind, size)?;
        self.write(&header)?;
        feeder.feed(&header, Measured::Unmeasured)
    }

    fn small_section(
        &mut self,
        feeder: &mut Feeder,
        kind: SectionKind,
        data: &[u8],
        measured: Measured,
    ) -> Result<(), EifError> {
        self.begin_section(feeder, kind, data.len() as u64)?;
        self.write(data)?;
        feeder.feed(data, measured)
    }

    fn write(&mut self, bytes: &[u8]) -> Result<(), EifError> {
        self.out
            .write_all(bytes)
            .map_err(|e| EifError::io("writing the new EIF", e))
    }

    fn file_header(&self, arch: Arch) -> Result<FileHeader, EifError> {
        let mut header = FileHeader {
            magic: MAGIC,
            version: CURRENT_VERSION,
            flags: arch.flags(),
            default_mem: DEFAULT_MEM,
            default_cpus: DEFAULT_CPUS,
            reserved: 0,
            num_sections: 0,
            section_offsets: [0; MAX_SECTIONS],
            section_sizes: [0; MAX_SECTIONS],
            unused: 0,
            crc32: 0,
        };
        header.num_sections = u16::try_from(self.sections.len())
            .map_err(|_| EifError::TooManySections(format!("{} sections", self.sections.len())))?;
        let slots = header
            .section_offsets
            .iter_mut()
            .zip(header.section_sizes.iter_mut());
        for ((offset_slot, size_slot), &(_, offset, size)) in slots.zip(&self.sections) {
            *offset_slot = offset;
            *size_slot = size;
        }
        Ok(header)
    }

    fn write_header(&mut self, header: &FileHeader) -> Result<(), EifError> {
        self.out
            .seek(SeekFrom::Start(0))
            .map_err(|e| EifError::io("seeking in the new EIF", e))?;
        self.write(&header.encode())
    }
}

/// Makes the temporary file durable and world-readable like a normally created file, then renames it.
fn finish_file(temporary: tempfile::NamedTempFile, output: &Path) -> Result<(), EifError> {
    let file = temporary.as_file();
    file.sync_all()
        .map_err(|e| EifError::io("flushing the new EIF to disk", e))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        // tempfile creates 0600; an EIF is not secret and AWS's tools create it 0644 (default umask).
        file.set_permissions(std::fs::Permissions::from_mode(0o644))
            .map_err(|e| EifError::io("setting the new EIF's permissions", e))?;
    }
    temporary.persist(output).map_err(|e| {
        EifError::io(
            format!("moving the new EIF to {}", output.display()),
            e.error,
        )
    })?;
    Ok(())
}
