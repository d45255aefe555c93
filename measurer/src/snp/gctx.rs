//! The launch digest chain the AMD secure processor keeps while a guest's pages are added
//! (SNP_LAUNCH_UPDATE): for every page, LD := SHA-384(PAGE_INFO), PAGE_INFO holding the previous LD.

use crate::sha384::sha384;
use crate::Digest384;

/// Every measured page is 4 KiB.
pub const PAGE_SIZE: u64 = 0x1000;

/// The GPA KVM reports for every VMSA page (48-bit: the same on Milan and Genoa).
pub const VMSA_GPA: u64 = 0xFFFF_FFFF_F000;

/// PAGE_INFO.PAGE_TYPE, as SNP_LAUNCH_UPDATE receives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum PageType {
    /// Contents measured: CONTENTS = SHA-384 of the page.
    Normal = 0x01,
    Vmsa = 0x02,
    Zero = 0x03,
    Unmeasured = 0x04,
    Secrets = 0x05,
    Cpuid = 0x06,
}

const PAGE_INFO_LEN: u16 = 0x70;

/// The running launch digest.
#[derive(Debug, Clone)]
pub struct Gctx {
    launch_digest: [u8; 48],
}

impl Gctx {
    /// A digest chain starting from zero, as at LAUNCH_START.
    pub fn new() -> Gctx {
        Gctx::from_seed(Digest384::ZERO)
    }

    /// A chain continuing from an earlier digest (sev-snp-measure's `--snp-ovmf-hash`).
    pub fn from_seed(seed: Digest384) -> Gctx {
        Gctx {
            launch_digest: seed.0,
        }
    }

    pub fn launch_digest(&self) -> Digest384 {
        Digest384(self.launch_digest)
    }

    /// Adds one page whose contents hash (or 48 zero bytes for page types without contents) is known.
    pub fn update(&mut self, page_type: PageType, gpa: u64, contents: &[u8; 48]) {
        let mut page_info = [0u8; PAGE_INFO_LEN as usize];
        let (previous, rest) = page_info.split_at_mut(48);
        previous.copy_from_slice(&self.launch_digest);
        let (contents_slot, rest) = rest.split_at_mut(48);
        contents_slot.copy_from_slice(contents);
        // rest: u16 length, u8 page type, u8 IMI, three VMPL permission bytes, a reserved byte (all zero
        // here: no VMPL permissions are granted at launch), then the u64 GPA.
        let (length, rest) = rest.split_at_mut(2);
        length.copy_from_slice(&PAGE_INFO_LEN.to_le_bytes());
        let (flags, gpa_slot) = rest.split_at_mut(6);
        if let Some(page_type_slot) = flags.first_mut() {
            *page_type_slot = page_type as u8;
        }
        gpa_slot.copy_from_slice(&gpa.to_le_bytes());
        self.launch_digest = sha384(&page_info);
    }

    /// Adds `size / 4096` pages of a type without contents (ZERO, UNMEASURED) from `gpa` on.
    /// Callers guarantee `gpa + size` does not overflow and `size` is page-aligned (see metadata parsing).
    pub fn update_empty_pages(&mut self, page_type: PageType, gpa: u64, size: u64) {
        let end = gpa.saturating_add(size);
        let mut page_gpa = gpa;
        while page_gpa < end {
            self.update(page_type, page_gpa, &[0; 48]);
            page_gpa = page_gpa.saturating_add(PAGE_SIZE);
        }
    }

    /// Adds pages whose contents hashes were computed beforehand, at consecutive GPAs from `gpa` on.
    pub fn update_normal_pages(&mut self, gpa: u64, page_hashes: &[[u8; 48]]) {
        let mut page_gpa = gpa;
        for page_hash in page_hashes {
            self.update(PageType::Normal, page_gpa, page_hash);
            page_gpa = page_gpa.wrapping_add(PAGE_SIZE);
        }
    }
}

impl Default for Gctx {
    fn default() -> Self {
        Gctx::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_info_layout_matches_the_spec() {
        // One ZERO page at GPA 0x1234000 from a zero LD: hash the 112-byte PAGE_INFO written out by hand.
        let mut expected_info = [0u8; 0x70];
        expected_info[0x60] = 0x70;
        expected_info[0x62] = PageType::Zero as u8;
        expected_info[0x68..0x70].copy_from_slice(&0x1234000u64.to_le_bytes());
        // sha2 here, not the module under test: an independent implementation.
        let expected: [u8; 48] = <sha2::Sha384 as sha2::Digest>::digest(expected_info).into();

        let mut gctx = Gctx::new();
        gctx.update(PageType::Zero, 0x1234000, &[0; 48]);
        assert_eq!(gctx.launch_digest().0, expected);
    }

    #[test]
    fn empty_pages_advance_the_gpa_per_page() {
        let mut by_range = Gctx::new();
        by_range.update_empty_pages(PageType::Zero, 0x800000, 0x3000);
        let mut by_page = Gctx::new();
        for gpa in [0x800000, 0x801000, 0x802000] {
            by_page.update(PageType::Zero, gpa, &[0; 48]);
        }
        assert_eq!(by_range.launch_digest(), by_page.launch_digest());
    }
}
