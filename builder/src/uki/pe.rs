//! Appending sections to a PE32+ image: how a unified kernel image is made from systemd-stub (as
//! `ukify` and `objcopy --add-section` do). The stub is left as it is; new section headers go into
//! the room the stub leaves after its own, each section's data is placed after the previous one,
//! aligned as the optional header asks, and the header fields that describe the image's extent
//! (section count, image size, initialised-data size, checksum) are updated.

use measurer::uki::pe::{
    PeHeaders, OPT_CHECKSUM, OPT_SIZE_OF_IMAGE, OPT_SIZE_OF_INITIALIZED_DATA, SECTION_HEADER_LEN,
};

/// `IMAGE_SCN_CNT_INITIALIZED_DATA | IMAGE_SCN_MEM_READ`: what ukify gives every UKI section.
const DATA_SECTION: u32 = 0x4000_0040;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PeError {
    #[error("the stub: {0}")]
    NotPe(#[from] measurer::uki::PeError),
    #[error("the stub already has a section named {0:?}: use a plain systemd-stub (linuxx64.efi.stub), not a UKI")]
    DuplicateSection(String),
    #[error("section name {0:?} is longer than the 8 bytes a PE section header holds")]
    LongName(String),
    #[error("the stub has room for {room} more section headers, {wanted} are needed")]
    NoHeaderRoom { room: usize, wanted: usize },
    #[error("the stub's header room after its section table is not empty")]
    HeaderRoomUsed,
    #[error("the stub is signed (it has an Authenticode certificate table); sections cannot be added to a signed image: use the unsigned stub and sign the UKI afterwards")]
    Signed,
    #[error("the image would be larger than the 4 GiB a PE32+ image can address")]
    TooLarge,
}

/// A section to append: its name (`.linux`, `.initrd`, ...) and contents.
pub struct NewSection<'a> {
    pub name: &'a str,
    pub data: &'a [u8],
}

/// Little-endian field writers, shared with the ESP writer.
pub(super) fn put_u16(image: &mut [u8], at: usize, value: u16) {
    image[at..at + 2].copy_from_slice(&value.to_le_bytes());
}

pub(super) fn put_u32(image: &mut [u8], at: usize, value: u32) {
    image[at..at + 4].copy_from_slice(&value.to_le_bytes());
}

fn align(value: u64, to: u32) -> u64 {
    value.div_ceil(u64::from(to)) * u64::from(to)
}

/// `stub` with `sections` appended, in the given order.
pub fn append_sections(stub: &[u8], sections: &[NewSection<'_>]) -> Result<Vec<u8>, PeError> {
    let headers = PeHeaders::parse(stub)?;
    for section in sections {
        if section.name.len() > 8 {
            return Err(PeError::LongName(section.name.to_owned()));
        }
        if headers.section(section.name).is_some() {
            return Err(PeError::DuplicateSection(section.name.to_owned()));
        }
    }
    if headers.certificate_table.is_some() {
        return Err(PeError::Signed);
    }
    // Room for section headers ends where the headers or the first section's data end.
    let first_data = headers
        .sections
        .iter()
        .map(|s| s.raw_offset as usize)
        .filter(|&pointer| pointer != 0)
        .chain([headers.bytes.len()])
        .min()
        .expect("at least the headers' end");
    let table_end = headers.section_table_offset + headers.sections.len() * SECTION_HEADER_LEN;
    let room = first_data.saturating_sub(table_end) / SECTION_HEADER_LEN;
    if room < sections.len() {
        return Err(PeError::NoHeaderRoom {
            room,
            wanted: sections.len(),
        });
    }
    if stub[table_end..table_end + sections.len() * SECTION_HEADER_LEN]
        .iter()
        .any(|&b| b != 0)
    {
        return Err(PeError::HeaderRoomUsed);
    }

    // New virtual addresses start after the image's last section, new data after the file's end.
    let mut next_rva = headers
        .sections
        .iter()
        .map(|s| u64::from(s.virtual_address) + u64::from(s.virtual_size))
        .fold(u64::from(headers.size_of_image), u64::max);
    let optional = headers.optional_offset;
    let initialized_at = optional + OPT_SIZE_OF_INITIALIZED_DATA;
    let mut image = stub.to_vec();
    let mut initialized = u64::from(u32::from_le_bytes(
        image[initialized_at..initialized_at + 4]
            .try_into()
            .expect("4 bytes"),
    ));
    for (i, section) in sections.iter().enumerate() {
        let rva = align(next_rva, headers.section_alignment);
        let offset = align(image.len() as u64, headers.file_alignment);
        let raw_size = align(section.data.len() as u64, headers.file_alignment);
        let virtual_size = section.data.len() as u64;
        next_rva = rva + virtual_size;
        initialized += raw_size;
        if offset + raw_size > u64::from(u32::MAX) || next_rva > u64::from(u32::MAX) {
            return Err(PeError::TooLarge);
        }
        image.resize(offset as usize, 0);
        image.extend_from_slice(section.data);
        image.resize((offset + raw_size) as usize, 0);

        let at = table_end + i * SECTION_HEADER_LEN;
        let mut name = [0u8; 8];
        name[..section.name.len()].copy_from_slice(section.name.as_bytes());
        image[at..at + 8].copy_from_slice(&name);
        put_u32(&mut image, at + 8, virtual_size as u32);
        put_u32(&mut image, at + 12, rva as u32);
        put_u32(&mut image, at + 16, raw_size as u32);
        put_u32(&mut image, at + 20, offset as u32);
        put_u32(&mut image, at + 36, DATA_SECTION);
    }
    let count =
        u16::try_from(headers.sections.len() + sections.len()).map_err(|_| PeError::TooLarge)?;
    put_u16(&mut image, headers.coff_offset + 2, count);
    let size_of_image = align(next_rva, headers.section_alignment);
    put_u32(
        &mut image,
        optional + OPT_SIZE_OF_IMAGE,
        size_of_image as u32,
    );
    put_u32(
        &mut image,
        initialized_at,
        u32::try_from(initialized).map_err(|_| PeError::TooLarge)?,
    );
    let checksum = pe_checksum(&image, headers.checksum_offset());
    put_u32(&mut image, optional + OPT_CHECKSUM, checksum);
    Ok(image)
}

/// The PE image checksum (as Windows' `CheckSumMappedFile` computes it): a 16-bit folded sum of the
/// file's little-endian words with the checksum field taken as zero, plus the file's length.
fn pe_checksum(image: &[u8], checksum_at: usize) -> u32 {
    let mut sum: u64 = 0;
    for (i, chunk) in image.chunks(2).enumerate() {
        let offset = i * 2;
        if offset == checksum_at || offset == checksum_at + 2 {
            continue;
        }
        let word = u16::from_le_bytes([chunk[0], *chunk.get(1).unwrap_or(&0)]);
        sum += u64::from(word);
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum = (sum & 0xffff) + (sum >> 16);
    (sum as u32).wrapping_add(image.len() as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PE32_PLUS_MAGIC: u16 = 0x20b;
    const OPT_SECTION_ALIGNMENT: usize = 32;
    const OPT_FILE_ALIGNMENT: usize = 36;
    const OPT_SIZE_OF_HEADERS: usize = 60;
    const OPT_NUMBER_OF_RVA_AND_SIZES: usize = 108;
    const OPT_DATA_DIRECTORIES: usize = 112;

    /// A minimal PE32+ image: headers only, one `.text` section, room for four more headers.
    pub(crate) fn tiny_stub() -> Vec<u8> {
        let mut image = vec![0u8; 0x400];
        image[..2].copy_from_slice(b"MZ");
        put_u32(&mut image, 0x3c, 0x80);
        image[0x80..0x84].copy_from_slice(b"PE\0\0");
        let coff = 0x84;
        put_u16(&mut image, coff, 0x8664);
        put_u16(&mut image, coff + 2, 1);
        put_u16(&mut image, coff + 16, 0xf0);
        let opt = coff + 20;
        put_u16(&mut image, opt, PE32_PLUS_MAGIC);
        put_u32(&mut image, opt + OPT_SECTION_ALIGNMENT, 0x1000);
        put_u32(&mut image, opt + OPT_FILE_ALIGNMENT, 0x200);
        put_u32(&mut image, opt + OPT_SIZE_OF_IMAGE, 0x2000);
        put_u32(&mut image, opt + OPT_SIZE_OF_HEADERS, 0x400);
        put_u32(&mut image, opt + OPT_NUMBER_OF_RVA_AND_SIZES, 16);
        let table = opt + 0xf0;
        image[table..table + 5].copy_from_slice(b".text");
        put_u32(&mut image, table + 8, 0x10);
        put_u32(&mut image, table + 12, 0x1000);
        put_u32(&mut image, table + 16, 0x200);
        put_u32(&mut image, table + 20, 0x400);
        image.resize(0x600, 0xcc);
        image
    }

    #[test]
    fn sections_are_appended_aligned_and_described() {
        let stub = tiny_stub();
        let uki = append_sections(
            &stub,
            &[
                NewSection {
                    name: ".osrel",
                    data: b"ID=test\n",
                },
                NewSection {
                    name: ".linux",
                    data: &[7u8; 0x1234],
                },
            ],
        )
        .unwrap();
        let names: Vec<_> = PeHeaders::parse(&uki)
            .unwrap()
            .sections
            .into_iter()
            .map(|s| s.name)
            .collect();
        assert_eq!(names, [".text", ".osrel", ".linux"]);
        let headers = PeHeaders::parse(&uki).unwrap();
        let osrel = headers.section(".osrel").unwrap();
        assert_eq!((osrel.virtual_address, osrel.virtual_size), (0x2000, 8));
        let at = osrel.raw_offset as usize;
        assert_eq!(&uki[at..at + 8], b"ID=test\n");
        let linux = headers.section(".linux").unwrap();
        assert_eq!((linux.virtual_address, linux.raw_size), (0x3000, 0x1400));
        assert_eq!(PeHeaders::parse(&uki).unwrap().size_of_image, 0x5000);
        assert_eq!(uki.len() % 0x200, 0);
    }

    #[test]
    fn bad_stubs_are_refused_with_the_reason() {
        let stub = tiny_stub();
        let section = |name| NewSection { name, data: b"x" };
        assert_eq!(
            append_sections(&stub, &[section(".text")])
                .map(|_| ())
                .unwrap_err(),
            PeError::DuplicateSection(".text".into())
        );
        assert_eq!(
            append_sections(&stub, &[section(".verylongname")])
                .map(|_| ())
                .unwrap_err(),
            PeError::LongName(".verylongname".into())
        );
        let names: Vec<String> = (0..20).map(|i| format!(".s{i}")).collect();
        let many: Vec<_> = names
            .iter()
            .map(|name| NewSection { name, data: b"x" })
            .collect();

        assert!(matches!(
            append_sections(&stub, &many).map(|_| ()).unwrap_err(),
            PeError::NoHeaderRoom {
                room: 14,
                wanted: 20
            }
        ));
        let mut signed = stub.clone();
        put_u32(
            &mut signed,
            0x84 + 20 + OPT_DATA_DIRECTORIES + 4 * 8 + 4,
            0x100,
        );
        assert_eq!(
            append_sections(&signed, &[section(".osrel")])
                .map(|_| ())
                .unwrap_err(),
            PeError::Signed
        );
        assert!(matches!(
            append_sections(b"MZ", &[section(".osrel")]).unwrap_err(),
            PeError::NotPe(_)
        ));
        assert!(matches!(
            append_sections(b"not an image", &[]).unwrap_err(),
            PeError::NotPe(_)
        ));
    }

    #[test]
    fn the_checksum_matches_the_classic_algorithm() {
        // The checksum field's own value must not count: the same image with any checksum yields one value.
        let mut a = tiny_stub();
        let mut b = tiny_stub();
        put_u32(&mut b, 0x84 + 20 + OPT_CHECKSUM, 0xdead_beef);
        let at = 0x84 + 20 + OPT_CHECKSUM;
        assert_eq!(pe_checksum(&a, at), pe_checksum(&b, at));
        a.push(1);
        assert_ne!(pe_checksum(&a, at), pe_checksum(&b, at));
    }
}
