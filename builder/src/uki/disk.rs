//! The bootable disk: a GPT disk whose one partition, an EFI system partition (FAT32), holds the
//! UKI at the removable-media default path `EFI/BOOT/BOOTX64.EFI`, which UEFI firmware boots when
//! the disk has no boot entries of its own (a freshly imported cloud image never has).
//!
//! Every byte is determined by the UKI, `SOURCE_DATE_EPOCH` and the recipe: the GPT GUIDs and the
//! FAT volume serial are derived from a seed (see [`DiskIdentity`]), FAT timestamps are
//! `SOURCE_DATE_EPOCH`, and nothing else varies (no random GUIDs, no clock).

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::io::{self, Seek, SeekFrom, Write};
use std::path::Path;

use fscommon::StreamSlice;
use gpt::disk::LogicalBlockSize;
use gpt::mbr::ProtectiveMBR;
use gpt::partition::Partition;
use gpt::partition_types;
use sha2::{Digest, Sha256};

const SECTOR: u64 = 512;
/// The first partition starts at 1 MiB, as every partitioning tool aligns it.
const FIRST_LBA: u64 = 2048;
/// GPT keeps 33 sectors at the end (backup entries and header).
const BACKUP_SECTORS: u64 = 33;
/// GCP imports only disks whose size is a whole number of GiB; Azure wants whole MiB. A whole
/// GiB satisfies both.
pub const DISK_SIZE_UNIT: u64 = 1 << 30;
/// Where UEFI firmware looks on removable media and on a disk without boot entries (x86-64).
pub const DEFAULT_LOADER: &str = "EFI/BOOT/BOOTX64.EFI";
/// FAT32 needs at least 65,525 clusters of 4 KiB (and FAT space for them).
const MIN_FAT32_BYTES: u64 = super::esp::MIN_FAT32_CLUSTERS * 4096 + (2 << 20);

#[derive(Debug, thiserror::Error)]
pub enum DiskError {
    #[error("writing the disk image {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: io::Error,
    },
    #[error("the partition table: {0}")]
    Gpt(String),
    #[error("the disk would be {0} bytes; the limit is {max} (set [uki] disk_size_gib lower, or make the UKI smaller)", max = MAX_DISK_BYTES)]
    TooLarge(u64),
    #[error("[uki] disk_size_gib = {asked} is too small for a {uki}-byte UKI; {needed} GiB or more is needed")]
    TooSmall { asked: u64, uki: u64, needed: u64 },
}

/// Images past this size would not be a boot disk but a mistake (and GCP caps image imports).
pub const MAX_DISK_BYTES: u64 = 64 << 30;

/// What makes one disk's identifiers differ from another's: derived, never random.
#[derive(Debug, Clone)]
pub struct DiskIdentity {
    seed: [u8; 32],
}

impl DiskIdentity {
    /// From the build's `SOURCE_DATE_EPOCH` and the UKI's SHA-256 (which covers the recipe's
    /// kernel, initrd, command line and os-release).
    pub fn new(source_date_epoch: u64, uki_sha256: &str) -> DiskIdentity {
        let mut hasher = Sha256::new();
        hasher.update(b"mpr disk identity v1\0");
        hasher.update(source_date_epoch.to_le_bytes());
        hasher.update(uki_sha256.as_bytes());
        DiskIdentity {
            seed: hasher.finalize().into(),
        }
    }

    fn derive(&self, label: &str) -> [u8; 32] {
        let mut hasher = Sha256::new();
        hasher.update(self.seed);
        hasher.update(label.as_bytes());
        hasher.finalize().into()
    }

    /// A version-4-shaped GUID, so tools that check the variant bits accept it.
    pub fn guid(&self, label: &str) -> uuid::Uuid {
        let bytes: [u8; 16] = self.derive(label)[..16].try_into().expect("16 of 32 bytes");
        uuid::Builder::from_random_bytes(bytes).into_uuid()
    }

    pub fn volume_serial(&self) -> u32 {
        let bytes = self.derive("fat volume serial");
        u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]])
    }
}

/// The disk size for a UKI of `uki_len` bytes: `asked_gib` when given, else the smallest whole
/// number of GiB that holds it with room for the file system's own structures.
pub fn disk_size(uki_len: u64, asked_gib: Option<u64>) -> Result<u64, DiskError> {
    // FAT32 with 4 KiB clusters: two FATs of 4 bytes per cluster, plus 1 MiB of slack.
    let needed_bytes = (FIRST_LBA + BACKUP_SECTORS) * SECTOR
        + uki_len.max(MIN_FAT32_BYTES) * 1003 / 1000
        + (1 << 20);
    let needed_gib = needed_bytes.div_ceil(DISK_SIZE_UNIT);
    let size = match asked_gib {
        Some(asked) if asked < needed_gib => {
            return Err(DiskError::TooSmall {
                asked,
                uki: uki_len,
                needed: needed_gib,
            })
        }
        Some(asked) => asked.saturating_mul(DISK_SIZE_UNIT),
        None => needed_gib * DISK_SIZE_UNIT,
    };
    if size > MAX_DISK_BYTES {
        return Err(DiskError::TooLarge(size));
    }
    Ok(size)
}

/// Writes `path`: a sparse `size`-byte GPT disk with the ESP holding `uki` as the default loader.
pub fn write_disk(
    path: &Path,
    size: u64,
    uki: &[u8],
    identity: &DiskIdentity,
    source_date_epoch: u64,
) -> Result<(), DiskError> {
    let io_err = |source| DiskError::Io {
        path: path.display().to_string(),
        source,
    };
    let gpt_err = |e: gpt::GptError| DiskError::Gpt(e.to_string());
    // Read and write: the GPT library reads back what it wrote.
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
        .map_err(io_err)?;
    file.set_len(size).map_err(io_err)?;
    let sectors = size / SECTOR;
    let last_lba = sectors - 1 - BACKUP_SECTORS;

    let protective = ProtectiveMBR::with_lb_size(u32::try_from(sectors - 1).unwrap_or(u32::MAX));
    protective
        .overwrite_lba0(&mut file)
        .map_err(|e| DiskError::Gpt(e.to_string()))?;
    let mut disk = gpt::GptConfig::new()
        .writable(true)
        .logical_block_size(LogicalBlockSize::Lb512)
        .create_from_device(&mut file, Some(identity.guid("gpt disk")))
        .map_err(gpt_err)?;
    let esp = Partition {
        part_type_guid: partition_types::EFI,
        part_guid: identity.guid("gpt esp partition"),
        first_lba: FIRST_LBA,
        last_lba,
        flags: 0,
        name: "EFI System Partition".to_owned(),
    };
    disk.update_partitions(BTreeMap::from([(1, esp)]))
        .map_err(gpt_err)?;
    disk.write().map_err(gpt_err)?;

    let start = FIRST_LBA * SECTOR;
    let end = (last_lba + 1) * SECTOR;
    let partition = StreamSlice::new(&mut file, start, end).map_err(io_err)?;
    super::esp::write_esp(
        partition,
        last_lba + 1 - FIRST_LBA,
        FIRST_LBA as u32,
        uki,
        identity.volume_serial(),
        source_date_epoch,
    )
    .map_err(io_err)?;
    file.seek(SeekFrom::End(0)).map_err(io_err)?;
    file.flush().map_err(io_err)?;
    file.sync_all().map_err(io_err)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identities_are_derived_and_distinct() {
        let a = DiskIdentity::new(1_700_000_000, "ab");
        let b = DiskIdentity::new(1_700_000_000, "ab");
        let c = DiskIdentity::new(1_700_000_001, "ab");
        assert_eq!(a.guid("x"), b.guid("x"));
        assert_ne!(a.guid("x"), a.guid("y"));
        assert_ne!(a.guid("x"), c.guid("x"));
        assert_eq!(a.guid("x").get_version_num(), 4);
        assert_ne!(a.volume_serial(), c.volume_serial());
    }

    #[test]
    fn the_size_is_whole_gib_and_checked() {
        assert_eq!(disk_size(100 << 20, None).unwrap(), 1 << 30);
        assert_eq!(disk_size(1 << 30, None).unwrap(), 2 << 30);
        assert_eq!(disk_size(100 << 20, Some(3)).unwrap(), 3 << 30);
        let err = disk_size(3 << 30, Some(2)).unwrap_err().to_string();
        assert!(err.contains("4 GiB or more"), "{err}");
        assert!(matches!(
            disk_size(100, Some(65)),
            Err(DiskError::TooLarge(_))
        ));
    }
}
