//! Test support shared by unit tests, integration tests, fuzzing and benches: the synthetic firmware of
//! the measurement notes (§1.12), which has every metadata section type and a kernel-hashes table
//! unlike any firmware a distribution ships, and the pieces to build broken variants of it.

use super::footer::{
    FOOTER_GUID, SEV_ES_RESET_BLOCK_GUID, SEV_HASH_TABLE_RV_GUID, SEV_METADATA_GUID,
};

/// The image's size: 32 pages, at GPA 0xFFFE0000.
pub const SYNTHETIC_FIRMWARE_SIZE: usize = 0x20000;
/// SHA-256 of [`synthetic_firmware`], from the notes.
pub const SYNTHETIC_FIRMWARE_SHA256: &str =
    "c1c2e9d530e37bbd91930a20ac5c1c8cce6b6e591599469b28025f1c6d76ea79";
/// The boot inputs the notes' kernel vectors use.
pub const SYNTHETIC_KERNEL: &[u8] = b"KERNEL";
pub const SYNTHETIC_INITRD: &[u8] = b"INITRD";
pub const SYNTHETIC_APPEND: &str = "console=ttyS0";

/// Where the synthetic image's ASEV header sits.
pub const SYNTHETIC_METADATA_OFFSET: usize = 0x1000;
/// The synthetic image's sections: (gpa, size, type) in file order.
pub const SYNTHETIC_SECTIONS: [(u32, u32, u32); 6] = [
    (0x80_0000, 0x9000, 1),
    (0x80_9000, 0x1000, 2),
    (0x80_A000, 0x1000, 3),
    (0x80_B000, 0x1000, 4),
    (0x80_C000, 0x1000, 0x10),
    (0x80_D000, 0x3000, 1),
];

/// GUIDs in their stored byte order.
pub const FOOTER: [u8; 16] = FOOTER_GUID.0;
pub const SEV_METADATA: [u8; 16] = SEV_METADATA_GUID.0;
pub const SEV_HASH_TABLE_RV: [u8; 16] = SEV_HASH_TABLE_RV_GUID.0;
pub const SEV_ES_RESET_BLOCK: [u8; 16] = SEV_ES_RESET_BLOCK_GUID.0;

/// Builds the synthetic firmware image (128 KiB).
pub fn synthetic_firmware() -> Vec<u8> {
    let metadata_from_end = (SYNTHETIC_FIRMWARE_SIZE - SYNTHETIC_METADATA_OFFSET) as u32;
    let body = [
        footer_entry(&metadata_from_end.to_le_bytes(), SEV_METADATA),
        footer_entry(
            &[0x80_C400u32.to_le_bytes(), 0x400u32.to_le_bytes()].concat(),
            SEV_HASH_TABLE_RV,
        ),
        footer_entry(&0x80_B004u32.to_le_bytes(), SEV_ES_RESET_BLOCK),
    ]
    .concat();
    let mut image = stamped_image(SYNTHETIC_FIRMWARE_SIZE);
    write_at(
        &mut image,
        SYNTHETIC_METADATA_OFFSET,
        &metadata(1, &SYNTHETIC_SECTIONS),
    );
    write_table(&mut image, &body);
    image
}

/// A zero image of `size` bytes whose pages each start with their own offset (u64 LE), so no two
/// pages hash alike.
pub fn stamped_image(size: usize) -> Vec<u8> {
    let mut image = vec![0u8; size];
    for (index, page) in image.chunks_mut(0x1000).enumerate() {
        let offset = (index * 0x1000) as u64;
        write_at(page, 0, &offset.to_le_bytes());
    }
    image
}

/// An ASEV header of the given version followed by its sections.
pub fn metadata(version: u32, sections: &[(u32, u32, u32)]) -> Vec<u8> {
    let mut bytes = Vec::new();
    bytes.extend_from_slice(b"ASEV");
    bytes.extend_from_slice(&(16 + 12 * sections.len() as u32).to_le_bytes());
    bytes.extend_from_slice(&version.to_le_bytes());
    bytes.extend_from_slice(&(sections.len() as u32).to_le_bytes());
    for (gpa, size, kind) in sections {
        for field in [gpa, size, kind] {
            bytes.extend_from_slice(&field.to_le_bytes());
        }
    }
    bytes
}

/// `data ‖ u16 (len(data) + 18) ‖ GUID`: a GUID table entry.
pub fn footer_entry(data: &[u8], guid: [u8; 16]) -> Vec<u8> {
    let mut entry = data.to_vec();
    entry.extend_from_slice(&((data.len() + 18) as u16).to_le_bytes());
    entry.extend_from_slice(&guid);
    entry
}

/// Writes the table body plus its footer so that it ends 32 bytes before the end of the image.
pub fn write_table(image: &mut [u8], body: &[u8]) {
    let table = footer_entry(body, FOOTER);
    let start = image.len().saturating_sub(32 + table.len());
    write_at(image, start, &table);
}

/// Copies `bytes` into `image` at `offset`, dropping whatever falls past its end.
pub fn write_at(image: &mut [u8], offset: usize, bytes: &[u8]) {
    image
        .iter_mut()
        .skip(offset)
        .zip(bytes)
        .for_each(|(slot, byte)| *slot = *byte);
}
