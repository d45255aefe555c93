//! Which systemd-stub a UKI carries, and what that stub measures into PCR 11.

use std::io::{Read, Seek};

use super::pe::PeHeaders;
use super::slice::FileSlice;

/// The sections systemd-stub 252 measures into PCR 11, in the order it measures them (its
/// `unified_sections` table without `.pcrsig`, which it never measures). Later stubs measure more
/// (`.uname`, `.sbat`, `.ucode`, ...), so a prediction is only made for a stub whose list this is.
pub const MEASURED_SECTIONS: &[&str] = &[
    ".linux", ".osrel", ".cmdline", ".initrd", ".splash", ".dtb", ".pcrpkey",
];
/// systemd-stub major versions whose measurements [`MEASURED_SECTIONS`] describes (Debian bookworm).
pub const SUPPORTED_STUB_MAJORS: &[u32] = &[252];
const MAGIC_PREFIX: &str = "#### LoaderInfo: ";
const MAX_MAGIC_LEN: u32 = 256;

/// The stub's own description (`systemd-stub 252.39-1~deb12u2`) from its `.sdmagic` section,
/// checked to be a version this prediction is right for.
pub fn stub_version(file: &mut std::fs::File, headers: &PeHeaders) -> Result<String, String> {
    let section = headers.section(".sdmagic").ok_or(
        "no .sdmagic section: the UKI was not made from systemd-stub (use Debian's systemd-boot-efi linuxx64.efi.stub)",
    )?;
    let mut text = Vec::new();
    let clone = file.try_clone().map_err(|e| e.to_string())?;
    FileSlice::new(
        clone,
        section.raw_offset,
        section.data_len().min(MAX_MAGIC_LEN),
    )
    .read_to_end(&mut text)
    .map_err(|e| e.to_string())?;
    file.rewind().map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&text);
    let version = text
        .trim_end_matches('\0')
        .strip_prefix(MAGIC_PREFIX)
        .and_then(|rest| rest.strip_suffix(" ####"))
        .filter(|v| v.starts_with("systemd-stub "))
        .ok_or_else(|| format!(".sdmagic says {text:?}, not a systemd-stub version"))?;
    let major: u32 = version["systemd-stub ".len()..]
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .and_then(|m| m.parse().ok())
        .ok_or_else(|| format!("cannot read the major version of {version:?}"))?;
    if !SUPPORTED_STUB_MAJORS.contains(&major) {
        return Err(format!(
            "{version} measures a different set of sections than this mpr predicts (systemd-stub {SUPPORTED_STUB_MAJORS:?}); \
             pin Debian bookworm's systemd-boot-efi stub, or upgrade mpr"
        ));
    }
    Ok(version.to_owned())
}
