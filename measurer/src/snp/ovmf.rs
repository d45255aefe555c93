//! A parsed OVMF image: its bytes, which are measured as the pages just below 4 GiB, and the SEV
//! structures its GUID table points to.

use std::fmt;
use std::io::Read;
use std::path::Path;
use std::sync::OnceLock;

use sha2::{Digest, Sha256};

use super::footer::{
    FooterTable, SEV_ES_RESET_BLOCK_GUID, SEV_HASH_TABLE_RV_GUID, SEV_METADATA_GUID,
};
use super::gctx::{Gctx, PAGE_SIZE};
use super::image_hashing::hash_image;
use super::metadata::{parse_metadata, MetadataSection};
use super::SnpError;
use crate::Digest384;

/// Where the firmware image ends in guest-physical memory: the reset vector sits just below 4 GiB.
const FIRMWARE_END_GPA: u64 = 1 << 32;

/// An OVMF image that carries everything an SEV-SNP launch digest needs: the GUID table, valid SEV
/// metadata and the SEV-ES reset block.
#[derive(Clone)]
pub struct Firmware {
    bytes: Vec<u8>,
    sections: Vec<MetadataSection>,
    ap_reset_eip: u32,
    kernel_hashes_table_gpa: Option<u32>,
    /// Both hashes cover the whole image; they are computed on first use and kept, so measuring many
    /// parameter sets against one firmware hashes its pages once.
    sha256: OnceLock<[u8; 32]>,
    pages_digest: OnceLock<Digest384>,
}

impl Firmware {
    /// Firmware is read whole; OVMF images are 2-4 MiB, so anything past this is the wrong file.
    pub const MAX_SIZE: usize = 64 << 20;

    /// Parses and validates an image. Never panics, whatever the bytes.
    pub fn parse(bytes: Vec<u8>) -> Result<Firmware, SnpError> {
        if bytes.len() > Firmware::MAX_SIZE {
            return Err(SnpError::FirmwareTooLarge {
                size: bytes.len() as u64,
                max: Firmware::MAX_SIZE as u64,
            });
        }
        if bytes.is_empty() || !(bytes.len() as u64).is_multiple_of(PAGE_SIZE) {
            return Err(SnpError::FirmwareNotPageSized { size: bytes.len() });
        }
        let table = FooterTable::parse(&bytes)?;
        let metadata_offset = table.entry_u32(&bytes, SEV_METADATA_GUID, "SEV metadata")?.ok_or(
            SnpError::NotSnpFirmware {
                reason: "its GUID table has no SEV metadata entry (dc886566-984a-4798-a75e-5585a7bf67cc)",
            },
        )?;
        let sections = parse_metadata(&bytes, metadata_offset)?;
        let ap_reset_eip = table
            .entry_u32(&bytes, SEV_ES_RESET_BLOCK_GUID, "SEV-ES reset block")?
            .ok_or(SnpError::MissingResetBlock)?;
        let kernel_hashes_table_gpa =
            table.entry_u32(&bytes, SEV_HASH_TABLE_RV_GUID, "SEV hash table")?;
        Ok(Firmware {
            bytes,
            sections,
            ap_reset_eip,
            kernel_hashes_table_gpa,
            sha256: OnceLock::new(),
            pages_digest: OnceLock::new(),
        })
    }

    /// Reads and parses an image, refusing files over [`Firmware::MAX_SIZE`] before reading them.
    pub fn open(path: &Path) -> Result<Firmware, SnpError> {
        let io_error = |source| SnpError::Io {
            what: "firmware",
            path: path.to_owned(),
            source,
        };
        let file = std::fs::File::open(path).map_err(io_error)?;
        let size = file.metadata().map_err(io_error)?.len();
        let max = Firmware::MAX_SIZE as u64;
        if size > max {
            return Err(SnpError::FirmwareTooLarge { size, max });
        }
        let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
        // The take() guards against a file that grows between the size check and the read.
        file.take(max.saturating_add(1))
            .read_to_end(&mut bytes)
            .map_err(io_error)?;
        Firmware::parse(bytes)
    }

    /// SHA-256 of the image file, to identify it next to a digest.
    pub fn sha256(&self) -> [u8; 32] {
        *self
            .sha256
            .get_or_init(|| Sha256::digest(&self.bytes).into())
    }

    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Always false: an empty image does not parse. Present because `len` is.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The guest-physical address of the image's first byte (the image ends at 4 GiB).
    pub fn gpa_base(&self) -> u64 {
        // MAX_SIZE is far below 4 GiB, so this cannot underflow.
        FIRMWARE_END_GPA.saturating_sub(self.bytes.len() as u64)
    }

    /// The SEV metadata sections, in file order (the order they are measured in).
    pub fn sections(&self) -> &[MetadataSection] {
        &self.sections
    }

    /// Where the APs start (from the SEV-ES reset block); goes into every AP's VMSA.
    pub fn ap_reset_eip(&self) -> u32 {
        self.ap_reset_eip
    }

    /// The GPA of the kernel-hashes table from the GUID table, if the entry exists (0 means the build
    /// has no such table).
    pub fn kernel_hashes_table_gpa(&self) -> Option<u32> {
        self.kernel_hashes_table_gpa
    }

    /// The launch digest after the image's pages alone (sev-snp-measure's `--mode snp:ovmf-hash`).
    pub fn pages_digest(&self) -> Digest384 {
        self.hash_pages(false)
    }

    /// [`Firmware::pages_digest`], computing the image's SHA-256 alongside on a spare thread, for
    /// callers that need both.
    pub(crate) fn pages_digest_and_sha256(&self) -> (Digest384, [u8; 32]) {
        let pages_digest = self.hash_pages(true);
        (pages_digest, self.sha256())
    }

    fn hash_pages(&self, with_sha256: bool) -> Digest384 {
        *self.pages_digest.get_or_init(|| {
            let hashes = hash_image(&self.bytes, with_sha256 && self.sha256.get().is_none());
            if let Some(sha256) = hashes.sha256 {
                // Only fails if another thread got there first, with the same value.
                let _ = self.sha256.set(sha256);
            }
            let mut gctx = Gctx::new();
            gctx.update_normal_pages(self.gpa_base(), &hashes.page_hashes);
            gctx.launch_digest()
        })
    }
}

impl fmt::Debug for Firmware {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Firmware")
            .field("len", &self.bytes.len())
            // Only if already known: printing must not hash megabytes.
            .field("sha256", &self.sha256.get().map(hex::encode))
            .field("sections", &self.sections)
            .field("ap_reset_eip", &format_args!("{:#x}", self.ap_reset_eip))
            .field("kernel_hashes_table_gpa", &self.kernel_hashes_table_gpa)
            .finish()
    }
}
