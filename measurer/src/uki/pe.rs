//! The parts of a PE32+ image's headers that measured boot depends on: the section table (what
//! systemd-stub measures) and the header fields Authenticode leaves out of its hash. Read from the
//! headers alone, so images of any size are handled without loading them.

use std::io::{self, Read, Seek, SeekFrom};

const PE32_PLUS_MAGIC: u16 = 0x20b;
pub const SECTION_HEADER_LEN: usize = 40;
/// Optional-header offsets (PE32+).
pub const OPT_SIZE_OF_INITIALIZED_DATA: usize = 8;
const OPT_SECTION_ALIGNMENT: usize = 32;
const OPT_FILE_ALIGNMENT: usize = 36;
pub const OPT_SIZE_OF_IMAGE: usize = 56;
const OPT_SIZE_OF_HEADERS: usize = 60;
pub const OPT_CHECKSUM: usize = 64;
const OPT_NUMBER_OF_RVA_AND_SIZES: usize = 108;
const OPT_DATA_DIRECTORIES: usize = 112;
const SECURITY_DIRECTORY: usize = 4;
/// Real images have a few KiB of headers; more is not a PE image we should trust.
pub const MAX_HEADERS_LEN: usize = 64 << 10;
/// 96 sections is the Windows loader's limit.
const MAX_SECTIONS: usize = 96;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PeError {
    #[error("not a PE32+ image: {0}")]
    NotPe(&'static str),
    #[error("reading the image: {0}")]
    Io(String),
}

impl From<io::Error> for PeError {
    fn from(error: io::Error) -> Self {
        PeError::Io(error.to_string())
    }
}

/// One section header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    pub name: String,
    pub virtual_size: u32,
    pub virtual_address: u32,
    pub raw_size: u32,
    pub raw_offset: u32,
}

impl Section {
    /// The bytes the section holds when loaded (its virtual size), as far as the file has them:
    /// what systemd-stub measures.
    pub fn data_len(&self) -> u32 {
        self.virtual_size.min(self.raw_size)
    }
}

/// The parsed headers of a PE32+ image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeHeaders {
    /// The header bytes themselves (`SizeOfHeaders` long).
    pub bytes: Vec<u8>,
    pub coff_offset: usize,
    pub optional_offset: usize,
    pub section_table_offset: usize,
    pub section_alignment: u32,
    pub file_alignment: u32,
    pub size_of_image: u32,
    /// Where the security (certificate table) data-directory entry is, when the image has one.
    pub security_entry_offset: Option<usize>,
    /// The certificate table's file range, when the image is signed.
    pub certificate_table: Option<(u64, u64)>,
    pub sections: Vec<Section>,
}

fn u16_at(bytes: &[u8], at: usize) -> Result<u16, PeError> {
    bytes
        .get(at..at + 2)
        .map(|b| u16::from_le_bytes([b[0], b[1]]))
        .ok_or(PeError::NotPe("truncated header"))
}

fn u32_at(bytes: &[u8], at: usize) -> Result<u32, PeError> {
    bytes
        .get(at..at + 4)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .ok_or(PeError::NotPe("truncated header"))
}

impl PeHeaders {
    /// Parses the headers at the start of `image`.
    pub fn read(mut image: impl Read + Seek) -> Result<PeHeaders, PeError> {
        image.seek(SeekFrom::Start(0))?;
        let mut start = Vec::with_capacity(4096);
        (&mut image)
            .take(MAX_HEADERS_LEN as u64)
            .read_to_end(&mut start)?;
        let headers = PeHeaders::parse(&start)?;
        Ok(headers)
    }

    /// Parses headers from the image's first bytes (at least `SizeOfHeaders` of them).
    pub fn parse(start: &[u8]) -> Result<PeHeaders, PeError> {
        if start.get(..2) != Some(b"MZ") {
            return Err(PeError::NotPe("no MZ signature"));
        }
        let pe = u32_at(start, 0x3c)? as usize;
        if start.get(pe..pe + 4) != Some(b"PE\0\0") {
            return Err(PeError::NotPe("no PE signature"));
        }
        let coff_offset = pe + 4;
        let count = usize::from(u16_at(start, coff_offset + 2)?);
        if count > MAX_SECTIONS {
            return Err(PeError::NotPe("more than 96 sections"));
        }
        let optional_len = usize::from(u16_at(start, coff_offset + 16)?);
        let optional_offset = coff_offset + 20;
        if u16_at(start, optional_offset)? != PE32_PLUS_MAGIC {
            return Err(PeError::NotPe("not PE32+ (64-bit)"));
        }
        if optional_len < OPT_DATA_DIRECTORIES {
            return Err(PeError::NotPe("optional header too short"));
        }
        let section_alignment = u32_at(start, optional_offset + OPT_SECTION_ALIGNMENT)?;
        let file_alignment = u32_at(start, optional_offset + OPT_FILE_ALIGNMENT)?;
        if !section_alignment.is_power_of_two() || !file_alignment.is_power_of_two() {
            return Err(PeError::NotPe("alignment is not a power of two"));
        }
        let size_of_headers = u32_at(start, optional_offset + OPT_SIZE_OF_HEADERS)? as usize;
        let section_table_offset = optional_offset + optional_len;
        if size_of_headers > MAX_HEADERS_LEN || size_of_headers > start.len() {
            return Err(PeError::NotPe(
                "SizeOfHeaders beyond the image or over 64 KiB",
            ));
        }
        if section_table_offset + count * SECTION_HEADER_LEN > size_of_headers {
            return Err(PeError::NotPe("section table outside the headers"));
        }
        let directories = u32_at(start, optional_offset + OPT_NUMBER_OF_RVA_AND_SIZES)? as usize;
        let security_entry_offset = (directories > SECURITY_DIRECTORY
            && OPT_DATA_DIRECTORIES + (SECURITY_DIRECTORY + 1) * 8 <= optional_len)
            .then_some(optional_offset + OPT_DATA_DIRECTORIES + SECURITY_DIRECTORY * 8);
        let certificate_table = match security_entry_offset {
            Some(at) => {
                let offset = u64::from(u32_at(start, at)?);
                let size = u64::from(u32_at(start, at + 4)?);
                (size != 0).then_some((offset, offset + size))
            }
            None => None,
        };
        let sections = (0..count)
            .map(|i| {
                let at = section_table_offset + i * SECTION_HEADER_LEN;
                let raw = &start[at..at + 8];
                let end = raw.iter().position(|&b| b == 0).unwrap_or(8);
                Ok(Section {
                    name: String::from_utf8_lossy(&raw[..end]).into_owned(),
                    virtual_size: u32_at(start, at + 8)?,
                    virtual_address: u32_at(start, at + 12)?,
                    raw_size: u32_at(start, at + 16)?,
                    raw_offset: u32_at(start, at + 20)?,
                })
            })
            .collect::<Result<Vec<_>, PeError>>()?;
        Ok(PeHeaders {
            bytes: start[..size_of_headers].to_vec(),
            coff_offset,
            optional_offset,
            section_table_offset,
            section_alignment,
            file_alignment,
            size_of_image: u32_at(start, optional_offset + OPT_SIZE_OF_IMAGE)?,
            security_entry_offset,
            certificate_table,
            sections,
        })
    }

    pub fn section(&self, name: &str) -> Option<&Section> {
        self.sections.iter().find(|s| s.name == name)
    }

    /// The file offset of the image's checksum field.
    pub fn checksum_offset(&self) -> usize {
        self.optional_offset + OPT_CHECKSUM
    }
}
