//! QEMU's SEV hash table: SHA-256 of the kernel, initrd and command line that QEMU writes into the
//! firmware's kernel-hashes page, so OVMF can check what it boots and the launch digest covers it.

use std::io::Read;
use std::path::Path;

use sha2::{Digest, Sha256};

use super::gctx::PAGE_SIZE;
use super::guid::Guid;
use super::SnpError;

const TABLE_HEADER_GUID: Guid = Guid::from_text("9438d606-4f22-4cc9-b479-a793d411fd21");
const CMDLINE_ENTRY_GUID: Guid = Guid::from_text("97d02dd8-bd20-4c94-aa78-e7714d36ab2a");
const INITRD_ENTRY_GUID: Guid = Guid::from_text("44baf731-3a2f-4bd7-9af1-41e29169781d");
const KERNEL_ENTRY_GUID: Guid = Guid::from_text("4de79437-abd2-427f-b835-d5b172d2045b");

/// GUID ‖ u16 length ‖ SHA-256.
const ENTRY_LEN: u16 = 16 + 2 + 32;
/// GUID ‖ u16 length ‖ three entries.
const TABLE_LEN: u16 = 16 + 2 + 3 * ENTRY_LEN;
/// QEMU pads the table to a multiple of 16 bytes.
pub const PADDED_TABLE_LEN: usize = (TABLE_LEN as usize).next_multiple_of(16);

/// QEMU loads a direct-boot kernel and initrd below 4 GiB, so larger files cannot be booted; the limit
/// also bounds how long hashing a wrong path (a disk image) can take.
pub const MAX_BOOT_FILE_SIZE: u64 = 4 << 30;

/// Streaming read buffer for the kernel and initrd.
const READ_CHUNK: usize = 1 << 20;

/// The three SHA-256 values QEMU puts in the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelHashes {
    pub kernel: [u8; 32],
    pub initrd: [u8; 32],
    pub cmdline: [u8; 32],
}

impl KernelHashes {
    /// Hashes the boot files; without an initrd QEMU hashes the empty string, and the command line is
    /// hashed with its terminating NUL exactly as given (no trimming: QEMU passes it through verbatim).
    pub fn compute(
        kernel: &Path,
        initrd: Option<&Path>,
        append: Option<&str>,
    ) -> Result<KernelHashes, SnpError> {
        let kernel = sha256_file(kernel, "kernel")?;
        let initrd = match initrd {
            Some(path) => sha256_file(path, "initrd")?,
            None => Sha256::digest(b"").into(),
        };
        let mut cmdline = Sha256::new();
        cmdline.update(append.unwrap_or_default().as_bytes());
        cmdline.update([0u8]);
        Ok(KernelHashes {
            kernel,
            initrd,
            cmdline: cmdline.finalize().into(),
        })
    }

    /// The padded table, byte for byte as QEMU writes it.
    pub fn table(&self) -> [u8; PADDED_TABLE_LEN] {
        let mut table = [0u8; PADDED_TABLE_LEN];
        let mut entries = Vec::with_capacity(usize::from(TABLE_LEN));
        entries.extend_from_slice(&TABLE_HEADER_GUID.0);
        entries.extend_from_slice(&TABLE_LEN.to_le_bytes());
        for (guid, hash) in [
            (CMDLINE_ENTRY_GUID, &self.cmdline),
            (INITRD_ENTRY_GUID, &self.initrd),
            (KERNEL_ENTRY_GUID, &self.kernel),
        ] {
            entries.extend_from_slice(&guid.0);
            entries.extend_from_slice(&ENTRY_LEN.to_le_bytes());
            entries.extend_from_slice(hash);
        }
        for (slot, byte) in table.iter_mut().zip(entries) {
            *slot = byte;
        }
        table
    }

    /// The 4 KiB page measured for the kernel-hashes section: zero but for the table at `offset`.
    pub fn page(&self, offset: u32) -> Result<[u8; PAGE_SIZE as usize], SnpError> {
        let crosses_page = || SnpError::KernelHashesTableCrossesPage {
            offset,
            table_len: PADDED_TABLE_LEN,
        };
        let start = usize::try_from(offset).map_err(|_| crosses_page())?;
        let mut page = [0u8; PAGE_SIZE as usize];
        let slot = start
            .checked_add(PADDED_TABLE_LEN)
            .and_then(|end| page.get_mut(start..end))
            .ok_or_else(crosses_page)?;
        slot.copy_from_slice(&self.table());
        Ok(page)
    }
}

/// SHA-256 of a file, read in chunks so a large initrd never sits in memory whole.
pub fn sha256_file(path: &Path, what: &'static str) -> Result<[u8; 32], SnpError> {
    let io_error = |source| SnpError::Io {
        what,
        path: path.to_owned(),
        source,
    };
    let mut file = std::fs::File::open(path).map_err(io_error)?;
    let size = file.metadata().map_err(io_error)?.len();
    if size > MAX_BOOT_FILE_SIZE {
        return Err(SnpError::BootFileTooLarge {
            what,
            path: path.to_owned(),
            size,
            max: MAX_BOOT_FILE_SIZE,
        });
    }
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; READ_CHUNK];
    let mut total: u64 = 0;
    loop {
        let read = match file.read(&mut buffer) {
            Ok(0) => break,
            Ok(read) => read,
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(io_error(error)),
        };
        total = total.saturating_add(read as u64);
        // A file that grows while being read must not slip past the limit.
        if total > MAX_BOOT_FILE_SIZE {
            return Err(SnpError::BootFileTooLarge {
                what,
                path: path.to_owned(),
                size: total,
                max: MAX_BOOT_FILE_SIZE,
            });
        }
        hasher.update(buffer.get(..read).unwrap_or_default());
    }
    Ok(hasher.finalize().into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn synthetic_inputs() -> (tempfile::TempDir, KernelHashes) {
        let dir = tempfile::tempdir().expect("temp dir");
        let kernel = dir.path().join("kernel");
        let initrd = dir.path().join("initrd");
        std::fs::write(&kernel, b"KERNEL").expect("write kernel");
        std::fs::write(&initrd, b"INITRD").expect("write initrd");
        let hashes =
            KernelHashes::compute(&kernel, Some(&initrd), Some("console=ttyS0")).expect("hashes");
        (dir, hashes)
    }

    /// §1.12: the padded table and the hash page of the synthetic inputs.
    #[test]
    fn table_and_page_match_the_reference() {
        let (_dir, hashes) = synthetic_inputs();
        let table = hashes.table();
        assert_eq!(table.len(), 176);
        assert_eq!(
            hex::encode(Sha256::digest(table)),
            "89e0c84f79edd8bfd3d0e56b7b1c7b85004a8bc60ff2abfa0f92ee746f9b4b25"
        );
        let page = hashes.page(0x400).expect("fits");
        assert_eq!(
            hex::encode(crate::sha384::sha384(&page)),
            "52a6c8d853e18e2ba0317e67bf8dec2c212ecbe4fd9ed131487a40da71807469a5ae60a3ad63a06ef5c85b3b18652019"
        );
        assert_eq!(table[16..18], 168u16.to_le_bytes());
        assert_eq!(table[168..], [0; 8]);
    }

    #[test]
    fn table_must_fit_in_its_page() {
        let (_dir, hashes) = synthetic_inputs();
        assert!(hashes.page(4096 - 176).is_ok());
        let err = hashes.page(4096 - 175).expect_err("crosses the page end");
        assert!(
            matches!(
                err,
                SnpError::KernelHashesTableCrossesPage { offset: 3921, .. }
            ),
            "{err}"
        );
    }

    #[test]
    fn cmdline_is_hashed_verbatim_with_nul() {
        let (dir, _) = synthetic_inputs();
        let kernel = dir.path().join("kernel");
        let hash = |append| {
            KernelHashes::compute(&kernel, None, append)
                .expect("hashes")
                .cmdline
        };
        let nul_only: [u8; 32] = Sha256::digest([0u8]).into();
        assert_eq!(hash(None), nul_only);
        assert_eq!(hash(Some("")), nul_only);
        let spaced: [u8; 32] = Sha256::digest(b" console=ttyS0 \0").into();
        assert_eq!(hash(Some(" console=ttyS0 ")), spaced);
        assert_eq!(
            KernelHashes::compute(&kernel, None, None)
                .expect("hashes")
                .initrd,
            <[u8; 32]>::from(Sha256::digest(b""))
        );
    }

    #[test]
    fn missing_file_names_the_path() {
        let err =
            sha256_file(Path::new("/nonexistent/bzImage"), "kernel").expect_err("no such file");
        assert!(
            err.to_string().contains("kernel /nonexistent/bzImage"),
            "{err}"
        );
    }
}
