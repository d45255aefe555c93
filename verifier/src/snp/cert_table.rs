//! The GHCB extended-report certificate table (`auxblob` of configfs-tsm, `certs` of
//! SNP_GET_EXT_REPORT): entries of (GUID, offset u32 LE, length u32 LE) ended by an all-zero
//! entry; offsets are from the start of the table.

use super::SnpError;

/// Largest table accepted. Real tables hold three certificates of under 2.5 KiB each; the
/// kernel's own buffer for them is a few pages.
pub const MAX_CERTIFICATE_TABLE_BYTES: usize = 64 * 1024;
const ENTRY_BYTES: usize = 24;

/// GUIDs in the byte order of the table: the textual order, as AMD's `uuid_parse`-based
/// tooling and virtee/sev's `Uuid::as_bytes` write them (not EFI mixed-endian).
pub const VCEK_GUID: [u8; 16] = guid("63da758d-e664-4564-adc5-f4b93be8accd");
pub const VLEK_GUID: [u8; 16] = guid("a8074bc2-a25a-483e-aae6-39c045a0b8a1");
pub const ASK_GUID: [u8; 16] = guid("4ab7b379-bbac-4fe4-a02f-05aef327c782");
pub const ARK_GUID: [u8; 16] = guid("c0b406a4-a803-4952-9743-3fb6014cd0ae");

/// The certificates a host handed out with a report. Missing ASK/ASVK and ARK are filled from
/// AMD's certificates built into this crate when verifying.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SnpCertificates {
    /// The VCEK or VLEK, DER.
    pub leaf: Vec<u8>,
    /// The ASK (for a VCEK) or ASVK (for a VLEK), DER.
    pub intermediate: Option<Vec<u8>>,
    /// The ARK, DER.
    pub ark: Option<Vec<u8>>,
}

impl SnpCertificates {
    /// Just a leaf; the intermediate and root come from the built-in AMD certificates.
    pub fn leaf_only(leaf: Vec<u8>) -> Self {
        SnpCertificates {
            leaf,
            intermediate: None,
            ark: None,
        }
    }
}

/// Parses a certificate table. Entries with other GUIDs (a host may add e.g. a CRL) are
/// bounds-checked and skipped; a table must hold exactly one VCEK or VLEK and no GUID twice.
pub fn parse_certificate_table(auxblob: &[u8]) -> Result<SnpCertificates, SnpError> {
    let malformed = |m: String| SnpError::MalformedCertificateTable(m);
    if auxblob.len() > MAX_CERTIFICATE_TABLE_BYTES {
        return Err(malformed(format!(
            "{} bytes, more than the {MAX_CERTIFICATE_TABLE_BYTES} accepted",
            auxblob.len()
        )));
    }
    let mut seen: Vec<[u8; 16]> = Vec::new();
    let mut certificates = SnpCertificates::default();
    let mut leaf_found = false;
    let mut position = 0usize;
    loop {
        let entry = auxblob
            .get(position..position + ENTRY_BYTES)
            .ok_or_else(|| {
                malformed(format!(
                    "no all-zero terminator entry before byte {}",
                    auxblob.len()
                ))
            })?;
        let (guid_bytes, rest) = entry.split_at(16);
        let (offset_bytes, length_bytes) = rest.split_at(4);
        let mut guid = [0u8; 16];
        guid.copy_from_slice(guid_bytes);
        let offset = u32::from_le_bytes(
            offset_bytes
                .try_into()
                .map_err(|_| malformed("short entry".into()))?,
        ) as usize;
        let length = u32::from_le_bytes(
            length_bytes
                .try_into()
                .map_err(|_| malformed("short entry".into()))?,
        ) as usize;
        if guid == [0u8; 16] {
            if offset != 0 || length != 0 {
                return Err(malformed(format!(
                    "terminator entry at byte {position} is not all zero"
                )));
            }
            break;
        }
        if seen.contains(&guid) {
            return Err(malformed(format!(
                "GUID {} appears twice",
                guid_text(&guid)
            )));
        }
        seen.push(guid);
        let table_end = position + ENTRY_BYTES;
        let data = offset
            .checked_add(length)
            .and_then(|end| auxblob.get(offset..end))
            .ok_or_else(|| {
                malformed(format!(
                    "entry {} points at bytes {offset}+{length}, outside the {}-byte table",
                    guid_text(&guid),
                    auxblob.len()
                ))
            })?;
        if length == 0 || offset < table_end {
            return Err(malformed(format!(
                "entry {} is empty or overlaps the entry list (offset {offset}, length {length})",
                guid_text(&guid)
            )));
        }
        match guid {
            VCEK_GUID | VLEK_GUID => {
                if leaf_found {
                    return Err(malformed("both a VCEK and a VLEK are present".into()));
                }
                leaf_found = true;
                certificates.leaf = data.to_vec();
            }
            ASK_GUID => certificates.intermediate = Some(data.to_vec()),
            ARK_GUID => certificates.ark = Some(data.to_vec()),
            _ => {}
        }
        position = table_end;
    }
    if !leaf_found {
        return Err(malformed("no VCEK or VLEK entry".into()));
    }
    Ok(certificates)
}

/// Builds a table (used by tests and by fake devices): entries in the given order, then the
/// terminator, then the certificates.
pub fn build_certificate_table(entries: &[([u8; 16], &[u8])]) -> Vec<u8> {
    let header = (entries.len() + 1) * ENTRY_BYTES;
    let mut table = Vec::new();
    let mut offset = header;
    for (guid, data) in entries {
        table.extend_from_slice(guid);
        table.extend_from_slice(&(offset as u32).to_le_bytes());
        table.extend_from_slice(&(data.len() as u32).to_le_bytes());
        offset += data.len();
    }
    table.extend_from_slice(&[0u8; ENTRY_BYTES]);
    for (_, data) in entries {
        table.extend_from_slice(data);
    }
    table
}

fn guid_text(guid: &[u8; 16]) -> String {
    let h = hex::encode(guid);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// Turns `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx` into its 16 bytes at compile time.
const fn guid(text: &str) -> [u8; 16] {
    let text = text.as_bytes();
    let mut out = [0u8; 16];
    let mut i = 0;
    let mut n = 0;
    while i < text.len() {
        if text[i] != b'-' {
            let v = match text[i] {
                b'0'..=b'9' => text[i] - b'0',
                b'a'..=b'f' => text[i] - b'a' + 10,
                _ => panic!("bad GUID digit"),
            };
            out[n / 2] |= if n % 2 == 0 { v << 4 } else { v };
            n += 1;
        }
        i += 1;
    }
    assert!(n == 32, "a GUID has 32 hex digits");
    out
}
