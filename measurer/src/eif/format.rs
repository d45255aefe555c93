//! The on-disk layout of an EIF: the 548-byte file header, the 12-byte section headers, and the limits
//! this crate enforces. All integers are big-endian.

use super::error::EifError;
use super::SectionKind;

/// `.eif`
pub const MAGIC: [u8; 4] = *b".eif";
/// The version our writer produces (v4: the metadata section is mandatory).
pub const CURRENT_VERSION: u16 = 4;
/// Versions the reader accepts: v2 added the CRC, v3 the signature section, v4 the metadata section.
pub const SUPPORTED_VERSIONS: std::ops::RangeInclusive<u16> = 2..=4;
/// Header table capacity (`MAX_NUM_SECTIONS` in AWS's crate).
pub const MAX_SECTIONS: usize = 32;
pub const HEADER_SIZE: usize = 548;
/// The CRC covers the header up to, but excluding, its own trailing field.
pub const HEADER_CRC_COVERED: usize = 544;
pub const SECTION_HEADER_SIZE: usize = 12;
/// Where the header's u16 `reserved` field sits (0 in every EIF AWS's tools write; nothing reads it).
pub const RESERVED_OFFSET: usize = 0x18;
/// Where the header's u32 `unused` field sits, just before the CRC (likewise always 0).
pub const UNUSED_OFFSET: usize = 0x21c;
/// EifBuilder's value; neither the hypervisor nor nitro-cli reads it.
pub const DEFAULT_MEM: u64 = 1 << 30;
/// EifBuilder's value; unused like `DEFAULT_MEM`.
pub const DEFAULT_CPUS: u64 = 2;
/// Header flags bit 0: set for aarch64 images.
pub const FLAG_AARCH64: u16 = 1;

/// Metadata is a small JSON document; anything bigger is corrupt or hostile and is not parsed.
pub const MAX_METADATA_SIZE: u64 = 1 << 20;
/// Linux caps command lines at a few KiB; 1 MiB bounds memory while never rejecting a real one.
pub const MAX_CMDLINE_SIZE: u64 = 1 << 20;
/// `SIGNATURE_MAX_SIZE` from the EIF specification.
pub const MAX_SIGNATURE_SIZE: u64 = 32768;

const SECTION_TYPE_KERNEL: u16 = 1;
const SECTION_TYPE_CMDLINE: u16 = 2;
const SECTION_TYPE_RAMDISK: u16 = 3;
const SECTION_TYPE_SIGNATURE: u16 = 4;
const SECTION_TYPE_METADATA: u16 = 5;

impl SectionKind {
    pub(crate) fn type_code(self) -> u16 {
        match self {
            SectionKind::Kernel => SECTION_TYPE_KERNEL,
            SectionKind::Cmdline => SECTION_TYPE_CMDLINE,
            SectionKind::Ramdisk => SECTION_TYPE_RAMDISK,
            SectionKind::Signature => SECTION_TYPE_SIGNATURE,
            SectionKind::Metadata => SECTION_TYPE_METADATA,
        }
    }

    pub(crate) fn from_type_code(code: u16) -> Option<SectionKind> {
        match code {
            SECTION_TYPE_KERNEL => Some(SectionKind::Kernel),
            SECTION_TYPE_CMDLINE => Some(SectionKind::Cmdline),
            SECTION_TYPE_RAMDISK => Some(SectionKind::Ramdisk),
            SECTION_TYPE_SIGNATURE => Some(SectionKind::Signature),
            SECTION_TYPE_METADATA => Some(SectionKind::Metadata),
            _ => None,
        }
    }

    /// The first EIF version that may contain this kind of section.
    pub(crate) fn min_version(self) -> u16 {
        match self {
            SectionKind::Kernel | SectionKind::Cmdline | SectionKind::Ramdisk => 2,
            SectionKind::Signature => 3,
            SectionKind::Metadata => 4,
        }
    }

    /// The size above which a section of this kind is rejected, for the kinds held in memory.
    pub(crate) fn size_limit(self) -> Option<u64> {
        match self {
            SectionKind::Cmdline => Some(MAX_CMDLINE_SIZE),
            SectionKind::Metadata => Some(MAX_METADATA_SIZE),
            SectionKind::Signature => Some(MAX_SIGNATURE_SIZE),
            SectionKind::Kernel | SectionKind::Ramdisk => None,
        }
    }
}

/// The file header, decoded but not yet validated against the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FileHeader {
    pub magic: [u8; 4],
    pub version: u16,
    pub flags: u16,
    pub default_mem: u64,
    pub default_cpus: u64,
    pub reserved: u16,
    pub num_sections: u16,
    pub section_offsets: [u64; MAX_SECTIONS],
    pub section_sizes: [u64; MAX_SECTIONS],
    pub unused: u32,
    pub crc32: u32,
}

impl FileHeader {
    pub fn decode(bytes: &[u8; HEADER_SIZE]) -> FileHeader {
        let mut cursor = ByteCursor { bytes, position: 0 };
        let magic = cursor.array::<4>();
        let version = cursor.u16();
        let flags = cursor.u16();
        let default_mem = cursor.u64();
        let default_cpus = cursor.u64();
        let reserved = cursor.u16();
        let num_sections = cursor.u16();
        let section_offsets = std::array::from_fn(|_| cursor.u64());
        let section_sizes = std::array::from_fn(|_| cursor.u64());
        let unused = cursor.u32();
        let crc32 = cursor.u32();
        FileHeader {
            magic,
            version,
            flags,
            default_mem,
            default_cpus,
            reserved,
            num_sections,
            section_offsets,
            section_sizes,
            unused,
            crc32,
        }
    }

    pub fn encode(&self) -> [u8; HEADER_SIZE] {
        let mut out = Vec::with_capacity(HEADER_SIZE);
        out.extend_from_slice(&self.magic);
        out.extend_from_slice(&self.version.to_be_bytes());
        out.extend_from_slice(&self.flags.to_be_bytes());
        out.extend_from_slice(&self.default_mem.to_be_bytes());
        out.extend_from_slice(&self.default_cpus.to_be_bytes());
        out.extend_from_slice(&self.reserved.to_be_bytes());
        out.extend_from_slice(&self.num_sections.to_be_bytes());
        for offset in &self.section_offsets {
            out.extend_from_slice(&offset.to_be_bytes());
        }
        for size in &self.section_sizes {
            out.extend_from_slice(&size.to_be_bytes());
        }
        out.extend_from_slice(&self.unused.to_be_bytes());
        out.extend_from_slice(&self.crc32.to_be_bytes());
        let mut header = [0u8; HEADER_SIZE];
        header.copy_from_slice(&out);
        header
    }

    /// The number of declared sections, checked against the table capacity.
    pub fn section_count(&self) -> Result<usize, EifError> {
        let count = usize::from(self.num_sections);
        if count == 0 || count > MAX_SECTIONS {
            return Err(EifError::SectionCount(self.num_sections));
        }
        Ok(count)
    }
}

/// The 12-byte header in front of every section's data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SectionHeader {
    pub section_type: u16,
    pub flags: u16,
    pub size: u64,
}

impl SectionHeader {
    pub fn new(kind: SectionKind, size: u64) -> SectionHeader {
        SectionHeader {
            section_type: kind.type_code(),
            flags: 0,
            size,
        }
    }

    pub fn decode(bytes: &[u8; SECTION_HEADER_SIZE]) -> SectionHeader {
        let mut cursor = ByteCursor { bytes, position: 0 };
        SectionHeader {
            section_type: cursor.u16(),
            flags: cursor.u16(),
            size: cursor.u64(),
        }
    }

    pub fn encode(&self) -> [u8; SECTION_HEADER_SIZE] {
        let mut out = [0u8; SECTION_HEADER_SIZE];
        out[..2].copy_from_slice(&self.section_type.to_be_bytes());
        out[2..4].copy_from_slice(&self.flags.to_be_bytes());
        out[4..].copy_from_slice(&self.size.to_be_bytes());
        out
    }
}

/// Reads big-endian fields from a buffer whose length the caller fixed at compile time, so no read
/// can run past its end (the field list above sums exactly to the array length).
struct ByteCursor<'a, const N: usize> {
    bytes: &'a [u8; N],
    position: usize,
}

impl<const N: usize> ByteCursor<'_, N> {
    fn array<const M: usize>(&mut self) -> [u8; M] {
        let mut out = [0u8; M];
        for byte in out.iter_mut() {
            *byte = self.bytes.get(self.position).copied().unwrap_or(0);
            self.position += 1;
        }
        out
    }

    fn u16(&mut self) -> u16 {
        u16::from_be_bytes(self.array())
    }

    fn u32(&mut self) -> u32 {
        u32::from_be_bytes(self.array())
    }

    fn u64(&mut self) -> u64 {
        u64::from_be_bytes(self.array())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_encoding_round_trips_and_places_fields_at_the_documented_offsets() {
        let mut header = FileHeader {
            magic: MAGIC,
            version: 4,
            flags: 1,
            default_mem: DEFAULT_MEM,
            default_cpus: DEFAULT_CPUS,
            reserved: 0x0a0b,
            num_sections: 2,
            section_offsets: [0; MAX_SECTIONS],
            section_sizes: [0; MAX_SECTIONS],
            unused: 0x0c0d_0e0f,
            crc32: 0xdead_beef,
        };
        header.section_offsets[1] = 0x0102_0304;
        header.section_sizes[31] = 7;
        let bytes = header.encode();
        assert_eq!(&bytes[0..4], b".eif");
        assert_eq!(bytes[0x1b], 2, "num_sections at 0x1A");
        assert_eq!(&bytes[0x1c + 8..0x1c + 16], &[0, 0, 0, 0, 1, 2, 3, 4]);
        assert_eq!(bytes[0x11c + 31 * 8 + 7], 7);
        assert_eq!(&bytes[0x220..], &[0xde, 0xad, 0xbe, 0xef]);
        assert_eq!(&bytes[RESERVED_OFFSET..RESERVED_OFFSET + 2], &[0x0a, 0x0b]);
        assert_eq!(
            &bytes[UNUSED_OFFSET..UNUSED_OFFSET + 4],
            &[0x0c, 0x0d, 0x0e, 0x0f]
        );
        assert_eq!(FileHeader::decode(&bytes), header);

        let section = SectionHeader::new(SectionKind::Metadata, 234);
        assert_eq!(section.encode(), [0, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 234]);
        assert_eq!(SectionHeader::decode(&section.encode()), section);
    }
}
