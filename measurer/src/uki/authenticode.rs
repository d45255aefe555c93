//! The Authenticode SHA-256 of a PE image, streamed from a file: what UEFI firmware extends into
//! PCR 4 for each EFI application it starts (EV_EFI_BOOT_SERVICES_APPLICATION).
//!
//! The hashed ranges are those of Microsoft's "Windows Authenticode Portable Executable Signature
//! Format": the headers without the checksum field and the certificate-table directory entry, then
//! every section's raw data in file order, then whatever follows except the certificate table.
//! The `authenticode` crate computes the same over an in-memory image (the tests compare both);
//! this streams, so a UKI of any size is hashed without being loaded.

use std::io::{self, Read, Seek, SeekFrom};

use sha2::{Digest, Sha256};

use super::pe::{PeError, PeHeaders};
use super::slice::DigestWriter;

fn hash_range(
    image: &mut (impl Read + Seek),
    hasher: &mut Sha256,
    start: u64,
    end: u64,
) -> Result<(), PeError> {
    if end < start {
        return Err(PeError::NotPe("overlapping ranges"));
    }
    image.seek(SeekFrom::Start(start))?;
    let copied = io::copy(&mut image.take(end - start), &mut DigestWriter(hasher))?;
    if copied != end - start {
        return Err(PeError::NotPe(
            "a section's data lies beyond the end of the file",
        ));
    }
    Ok(())
}

/// The Authenticode SHA-256 of the image whose headers are `headers` and whose length is `len`.
pub fn authenticode_sha256(
    mut image: impl Read + Seek,
    headers: &PeHeaders,
    len: u64,
) -> Result<[u8; 32], PeError> {
    let mut hasher = Sha256::new();
    let head = &headers.bytes;
    let checksum = headers.checksum_offset();
    hasher.update(&head[..checksum]);
    match headers.security_entry_offset {
        Some(security) => {
            hasher.update(&head[checksum + 4..security]);
            hasher.update(&head[security + 8..]);
        }
        None => hasher.update(&head[checksum + 4..]),
    }
    let mut sections: Vec<_> = headers.sections.iter().filter(|s| s.raw_size > 0).collect();
    sections.sort_by_key(|s| s.raw_offset);
    let mut hashed = head.len() as u64;
    for section in sections {
        let start = u64::from(section.raw_offset);
        hash_range(
            &mut image,
            &mut hasher,
            start,
            start + u64::from(section.raw_size),
        )?;
        hashed += u64::from(section.raw_size);
    }
    let certificates = headers
        .certificate_table
        .map_or(0, |(start, end)| end - start);
    let trailing_end = len
        .checked_sub(certificates)
        .filter(|&end| end >= hashed)
        .ok_or(PeError::NotPe(
            "the sections and certificate table exceed the file",
        ))?;
    hash_range(&mut image, &mut hasher, hashed, trailing_end)?;
    Ok(hasher.finalize().into())
}
