//! OVMF's SEV metadata ("ASEV", edk2 `OvmfSevMetadata.asm`): the guest memory ranges, outside the
//! firmware image, that the VMM must add to the launch digest before the vCPUs.

use serde::{Deserialize, Serialize};

use super::footer::le_u32;
use super::gctx::PAGE_SIZE;
use super::SnpError;

/// What the VMM puts in a metadata section's pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SectionType {
    /// Firmware scratch memory, pre-validated as zero pages (unmeasured on GCE).
    SnpSecMem,
    /// The page the secure processor fills with the VM's secrets.
    SnpSecrets,
    /// The page the secure processor fills with validated CPUID results.
    Cpuid,
    /// The SVSM calling area, zero pages.
    SvsmCaa,
    /// The page holding QEMU's table of kernel, initrd and command-line hashes.
    SnpKernelHashes,
}

impl SectionType {
    fn from_u32(value: u32) -> Option<SectionType> {
        match value {
            1 => Some(SectionType::SnpSecMem),
            2 => Some(SectionType::SnpSecrets),
            3 => Some(SectionType::Cpuid),
            4 => Some(SectionType::SvsmCaa),
            0x10 => Some(SectionType::SnpKernelHashes),
            _ => None,
        }
    }
}

/// One metadata item: a page-aligned guest-physical range below 4 GiB.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetadataSection {
    pub gpa: u32,
    pub size: u32,
    pub kind: SectionType,
}

impl MetadataSection {
    pub fn gpa(&self) -> u64 {
        u64::from(self.gpa)
    }

    pub fn size(&self) -> u64 {
        u64::from(self.size)
    }
}

const SIGNATURE: &[u8; 4] = b"ASEV";
const HEADER_LEN: usize = 16;
const ITEM_LEN: usize = 12;
const SUPPORTED_VERSION: u32 = 1;

/// edk2 firmware declares 5 to 8 sections; more is a damaged table, and the limit bounds the work a
/// hostile image can cause.
pub const MAX_METADATA_SECTIONS: u32 = 64;

/// Sections describe guest memory below 4 GiB, which bounds each and, as they may not overlap, all of them.
const ADDRESS_SPACE_END: u64 = 1 << 32;

fn broken(problem: String) -> SnpError {
    SnpError::BrokenMetadata { problem }
}

/// Reads the metadata whose header starts `offset_from_end` bytes before the end of `image`.
pub fn parse_metadata(
    image: &[u8],
    offset_from_end: u32,
) -> Result<Vec<MetadataSection>, SnpError> {
    let start = usize::try_from(offset_from_end)
        .ok()
        .and_then(|offset| image.len().checked_sub(offset))
        .ok_or_else(|| {
            broken(format!(
                "its offset {offset_from_end:#x} from the end points before the start of the {}-byte image",
                image.len()
            ))
        })?;
    let header = start
        .checked_add(HEADER_LEN)
        .and_then(|end| image.get(start..end))
        .ok_or_else(|| {
            broken(format!(
                "its header at offset {start:#x} runs past the end of the image"
            ))
        })?;
    if header.get(..4) != Some(SIGNATURE.as_slice()) {
        let found = header.get(..4).unwrap_or_default();
        return Err(broken(format!(
            "the header at offset {start:#x} starts with {:?}, not \"ASEV\"",
            String::from_utf8_lossy(found)
        )));
    }
    let field = |offset| le_u32(header, offset).unwrap_or_default();
    let (declared_size, version, count) = (field(4), field(8), field(12));
    if version != SUPPORTED_VERSION {
        return Err(broken(format!(
            "version {version}, only version {SUPPORTED_VERSION} is defined"
        )));
    }
    if count > MAX_METADATA_SECTIONS {
        return Err(broken(format!(
            "{count} sections, more than the limit of {MAX_METADATA_SECTIONS}"
        )));
    }
    let needed = usize::try_from(count)
        .ok()
        .and_then(|count| count.checked_mul(ITEM_LEN))
        .and_then(|items| items.checked_add(HEADER_LEN))
        .ok_or_else(|| broken(format!("{count} sections overflow the header's size")))?;
    let declared = usize::try_from(declared_size).unwrap_or(usize::MAX);
    if declared < needed {
        return Err(broken(format!(
            "the header declares {declared_size} bytes, too few for its {count} sections ({needed} bytes)"
        )));
    }
    let items = start
        .checked_add(declared)
        .filter(|end| *end <= image.len())
        .and_then(|_| image.get(start.checked_add(HEADER_LEN)?..start.checked_add(needed)?))
        .ok_or_else(|| {
            broken(format!(
                "its {declared_size} bytes at offset {start:#x} run past the end of the image"
            ))
        })?;

    let mut sections = Vec::new();
    let mut total_size: u64 = 0;
    for (index, item) in items.chunks_exact(ITEM_LEN).enumerate() {
        let field = |offset| le_u32(item, offset).unwrap_or_default();
        let (gpa, size, type_value) = (field(0), field(4), field(8));
        let kind = SectionType::from_u32(type_value)
            .ok_or_else(|| broken(format!("section {index} has unknown type {type_value:#x}")))?;
        let section = MetadataSection { gpa, size, kind };
        if !section.gpa().is_multiple_of(PAGE_SIZE) || !section.size().is_multiple_of(PAGE_SIZE) {
            return Err(broken(format!(
                "section {index} ({kind:?} at {gpa:#x}, {size:#x} bytes) is not made of whole 4 KiB pages"
            )));
        }
        if section.gpa() + section.size() > ADDRESS_SPACE_END {
            return Err(broken(format!(
                "section {index} ({kind:?} at {gpa:#x}, {size:#x} bytes) runs past the 4 GiB its 32-bit address can describe"
            )));
        }
        total_size = total_size.saturating_add(section.size());
        if total_size > ADDRESS_SPACE_END {
            return Err(broken(
                "its sections together cover more than 4 GiB".to_owned(),
            ));
        }
        sections.push(section);
    }
    Ok(sections)
}
