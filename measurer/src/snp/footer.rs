//! OVMF's GUID-keyed table at the end of the firmware image (the "OVMF footer table"), through which
//! the VMM finds the SEV-ES reset block, the SEV metadata and the kernel-hashes page.

use std::ops::Range;

use super::guid::Guid;
use super::SnpError;

pub const FOOTER_GUID: Guid = Guid::from_text("96b582de-1fb2-45f7-baea-a366c55a082d");
pub const SEV_ES_RESET_BLOCK_GUID: Guid = Guid::from_text("00f771de-1a7e-4fcb-890e-68c77e2fb44e");
pub const SEV_METADATA_GUID: Guid = Guid::from_text("dc886566-984a-4798-a75e-5585a7bf67cc");
pub const SEV_HASH_TABLE_RV_GUID: Guid = Guid::from_text("7255371f-3a3b-4b04-927b-1da6efa8d454");

/// `u16 size ‖ GUID`: the trailer of every entry and of the table itself.
const ENTRY_TRAILER_LEN: usize = 18;

/// The table's footer ends this many bytes before the end of the image (the reset vector lives there).
const FOOTER_END_FROM_IMAGE_END: usize = 32;

/// edk2 images carry about half a dozen entries; a table claiming more is damaged, and the limit keeps
/// the duplicate check cheap on hostile input.
pub const MAX_FOOTER_ENTRIES: usize = 64;

/// The entries of the footer table: GUID and where its data lies in the image.
#[derive(Debug, Clone, Default)]
pub struct FooterTable {
    entries: Vec<(Guid, Range<usize>)>,
}

fn broken(problem: String) -> SnpError {
    SnpError::BrokenFooterTable { problem }
}

impl FooterTable {
    /// Reads the table at the end of `image`. An image without the footer GUID has no table at all, which
    /// for SEV-SNP means it is not an SEV firmware.
    pub fn parse(image: &[u8]) -> Result<FooterTable, SnpError> {
        let footer_start = image
            .len()
            .checked_sub(FOOTER_END_FROM_IMAGE_END + ENTRY_TRAILER_LEN)
            .ok_or(SnpError::NotSnpFirmware {
                reason: "it is too small to hold an OVMF GUID table",
            })?;
        let (table_size, guid) =
            read_trailer(image, footer_start).ok_or(SnpError::NotSnpFirmware {
                reason: "it is too small to hold an OVMF GUID table",
            })?;
        if guid != FOOTER_GUID {
            return Err(SnpError::NotSnpFirmware {
                reason: "it has no OVMF GUID table (footer GUID 96b582de-1fb2-45f7-baea-a366c55a082d) 32 bytes before its end",
            });
        }
        let body_len = table_size.checked_sub(ENTRY_TRAILER_LEN).ok_or_else(|| {
            broken(format!("the table declares {table_size} bytes, less than its own {ENTRY_TRAILER_LEN}-byte footer"))
        })?;
        let body_start = footer_start.checked_sub(body_len).ok_or_else(|| {
            broken(format!(
                "the table declares {table_size} bytes, more than the {footer_start} bytes before its footer"
            ))
        })?;

        // Entries are walked from the end: each one's size is in the trailer after its data.
        let mut entries: Vec<(Guid, Range<usize>)> = Vec::new();
        let mut remaining_end = footer_start;
        while remaining_end.saturating_sub(body_start) >= ENTRY_TRAILER_LEN {
            let trailer_start = remaining_end.saturating_sub(ENTRY_TRAILER_LEN);
            let (entry_size, guid) = read_trailer(image, trailer_start).ok_or_else(|| {
                broken(format!(
                    "entry trailer at offset {trailer_start:#x} lies outside the image"
                ))
            })?;
            if entry_size < ENTRY_TRAILER_LEN {
                return Err(broken(format!(
                    "entry {guid} declares {entry_size} bytes, less than its own {ENTRY_TRAILER_LEN}-byte trailer"
                )));
            }
            let entry_start = remaining_end
                .checked_sub(entry_size)
                .filter(|start| *start >= body_start)
                .ok_or_else(|| {
                    broken(format!(
                        "entry {guid} declares {entry_size} bytes, more than the {} bytes left in the table",
                        remaining_end.saturating_sub(body_start)
                    ))
                })?;
            if entries.iter().any(|(seen, _)| *seen == guid) {
                return Err(broken(format!("entry {guid} appears twice")));
            }
            if entries.len() >= MAX_FOOTER_ENTRIES {
                return Err(broken(format!("more than {MAX_FOOTER_ENTRIES} entries")));
            }
            entries.push((guid, entry_start..trailer_start));
            remaining_end = entry_start;
        }
        Ok(FooterTable { entries })
    }

    /// The data of the entry with this GUID, if the table has one.
    pub fn entry<'a>(&self, image: &'a [u8], guid: Guid) -> Option<&'a [u8]> {
        let (_, range) = self.entries.iter().find(|(known, _)| *known == guid)?;
        image.get(range.clone())
    }

    /// The first u32 of an entry's data; an entry too short to hold one is a broken table.
    pub fn entry_u32(&self, image: &[u8], guid: Guid, name: &str) -> Result<Option<u32>, SnpError> {
        let Some(data) = self.entry(image, guid) else {
            return Ok(None);
        };
        le_u32(data, 0).map(Some).ok_or_else(|| {
            broken(format!(
                "the {name} entry holds {} bytes, too few for its 4-byte value",
                data.len()
            ))
        })
    }
}

/// `u16 size ‖ GUID` at `offset`.
fn read_trailer(image: &[u8], offset: usize) -> Option<(usize, Guid)> {
    let size = u16::from_le_bytes(image.get(offset..offset.checked_add(2)?)?.try_into().ok()?);
    let guid = Guid::from_stored(image.get(offset.checked_add(2)?..)?)?;
    Some((usize::from(size), guid))
}

/// A little-endian u32 at `offset`, if the bytes are there.
pub fn le_u32(bytes: &[u8], offset: usize) -> Option<u32> {
    let end = offset.checked_add(4)?;
    Some(u32::from_le_bytes(bytes.get(offset..end)?.try_into().ok()?))
}
