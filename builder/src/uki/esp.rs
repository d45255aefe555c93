//! The EFI system partition: a FAT32 file system holding only the UKI, at the default loader path.
//!
//! Written directly (Microsoft's "FAT: General Overview of On-Disk Format", FAT32 parts), not with
//! the `fatfs` crate: its 0.3 release writes long-name entries for `.` and `..` and points the `..`
//! of first-level directories at the root's cluster, which fsck.fat reports as corruption. With one
//! file in two directories the layout is fixed, so every byte is chosen here: clusters 2, 3 and 4
//! hold the root, `EFI` and `EFI/BOOT`, and the UKI follows contiguously from cluster 5. Checked
//! by fsck.fat and mtools (builder/tests/uki_image.rs) and booted by OVMF (cli/tests/uki_boot.rs).

use std::io::{self, Seek, SeekFrom, Write};

use super::pe::{put_u16, put_u32};

const SECTOR: u64 = 512;
const SECTORS_PER_CLUSTER: u64 = 8;
const CLUSTER: u64 = SECTOR * SECTORS_PER_CLUSTER;
const RESERVED_SECTORS: u64 = 32;
const FATS: u64 = 2;
const FSINFO_SECTOR: u64 = 1;
const BACKUP_BOOT_SECTOR: u64 = 6;
/// Fewer clusters than this make a FAT16 volume, whatever the BPB says.
pub const MIN_FAT32_CLUSTERS: u64 = 65_525;
/// FAT32 cluster numbers have 28 bits.
const MAX_FAT32_CLUSTERS: u64 = 0x0FFF_FFF5;
const END_OF_CHAIN: u32 = 0x0FFF_FFFF;
const ROOT_CLUSTER: u32 = 2;
const EFI_CLUSTER: u32 = 3;
const BOOT_CLUSTER: u32 = 4;
const FIRST_FILE_CLUSTER: u32 = 5;
const ATTR_DIRECTORY: u8 = 0x10;
const ATTR_ARCHIVE: u8 = 0x20;
const ATTR_VOLUME_ID: u8 = 0x08;

/// A time as FAT stores it: DOS date and time (two-second resolution), from 1980 to 2107.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FatTime {
    pub date: u16,
    pub time: u16,
}

impl FatTime {
    /// From Unix seconds (UTC; FAT has no zone); outside FAT's range, the nearest end.
    pub fn from_unix(unix_seconds: u64) -> FatTime {
        const FAT_FIRST: i64 = 315_532_800; // 1980-01-01T00:00:00Z
        const FAT_LAST: i64 = 4_354_819_198; // 2107-12-31T23:59:58Z
        let clamped = i64::try_from(unix_seconds)
            .unwrap_or(FAT_LAST)
            .clamp(FAT_FIRST, FAT_LAST);
        let at = time::OffsetDateTime::from_unix_timestamp(clamped).expect("within FAT's range");
        let date = ((at.year() - 1980) as u16) << 9
            | u16::from(u8::from(at.month())) << 5
            | u16::from(at.day());
        let time =
            u16::from(at.hour()) << 11 | u16::from(at.minute()) << 5 | u16::from(at.second() / 2);
        FatTime { date, time }
    }
}

/// The geometry of a FAT32 volume of `sectors` sectors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Geometry {
    pub sectors: u64,
    pub fat_sectors: u64,
    pub clusters: u64,
}

impl Geometry {
    /// The FAT size as the specification computes it, and the clusters that leaves.
    pub fn new(sectors: u64) -> io::Result<Geometry> {
        let available = sectors.saturating_sub(RESERVED_SECTORS);
        let per_fat_sector = (256 * SECTORS_PER_CLUSTER + FATS) / 2;
        let fat_sectors = available.div_ceil(per_fat_sector);
        let clusters = available.saturating_sub(FATS * fat_sectors) / SECTORS_PER_CLUSTER;
        if !(MIN_FAT32_CLUSTERS..=MAX_FAT32_CLUSTERS).contains(&clusters) {
            return Err(io::Error::other(format!(
                "a {sectors}-sector partition makes {clusters} clusters of 4 KiB; FAT32 needs {MIN_FAT32_CLUSTERS} to {MAX_FAT32_CLUSTERS}"
            )));
        }
        Ok(Geometry {
            sectors,
            fat_sectors,
            clusters,
        })
    }

    fn data_start(&self) -> u64 {
        (RESERVED_SECTORS + FATS * self.fat_sectors) * SECTOR
    }

    fn cluster_offset(&self, cluster: u32) -> u64 {
        self.data_start() + u64::from(cluster - 2) * CLUSTER
    }
}

fn boot_sector(geometry: &Geometry, hidden_sectors: u32, volume_serial: u32) -> [u8; 512] {
    let mut sector = [0u8; 512];
    sector[0..3].copy_from_slice(&[0xEB, 0x58, 0x90]);
    sector[3..11].copy_from_slice(b"MSWIN4.1");
    put_u16(&mut sector, 11, SECTOR as u16);
    sector[13] = SECTORS_PER_CLUSTER as u8;
    put_u16(&mut sector, 14, RESERVED_SECTORS as u16);
    sector[16] = FATS as u8;
    sector[21] = 0xF8; // fixed disk
    put_u16(&mut sector, 24, 63); // sectors per track (unused by UEFI, conventional)
    put_u16(&mut sector, 26, 255); // heads
    put_u32(&mut sector, 28, hidden_sectors);
    put_u32(&mut sector, 32, geometry.sectors as u32);
    put_u32(&mut sector, 36, geometry.fat_sectors as u32);
    put_u32(&mut sector, 44, ROOT_CLUSTER);
    put_u16(&mut sector, 48, FSINFO_SECTOR as u16);
    put_u16(&mut sector, 50, BACKUP_BOOT_SECTOR as u16);
    sector[64] = 0x80; // drive number
    sector[66] = 0x29; // extended boot signature: the next three fields are present
    put_u32(&mut sector, 67, volume_serial);
    sector[71..82].copy_from_slice(b"ESP        ");
    sector[82..90].copy_from_slice(b"FAT32   ");
    sector[510..512].copy_from_slice(&[0x55, 0xAA]);
    sector
}

fn fsinfo_sector(free_clusters: u32, next_free: u32) -> [u8; 512] {
    let mut sector = [0u8; 512];
    put_u32(&mut sector, 0, 0x4161_5252);
    put_u32(&mut sector, 484, 0x6141_7272);
    put_u32(&mut sector, 488, free_clusters);
    put_u32(&mut sector, 492, next_free);
    put_u32(&mut sector, 508, 0xAA55_0000);
    sector
}

fn entry(name: &[u8; 11], attributes: u8, cluster: u32, size: u32, at: FatTime) -> [u8; 32] {
    let mut entry = [0u8; 32];
    entry[..11].copy_from_slice(name);
    entry[11] = attributes;
    put_u16(&mut entry, 14, at.time); // created
    put_u16(&mut entry, 16, at.date);
    put_u16(&mut entry, 18, at.date); // last accessed
    put_u16(&mut entry, 20, (cluster >> 16) as u16);
    put_u16(&mut entry, 22, at.time); // written
    put_u16(&mut entry, 24, at.date);
    put_u16(&mut entry, 26, cluster as u16);
    put_u32(&mut entry, 28, size);
    entry
}

fn directory(entries: &[[u8; 32]]) -> Vec<u8> {
    entries.concat()
}

/// Writes a FAT32 file system of `sectors` sectors into `partition` (which reads as zeros where
/// nothing is written), holding `uki` as `EFI/BOOT/BOOTX64.EFI`, every timestamp `source_date_epoch`.
/// `hidden_sectors` is the partition's first LBA on its disk.
pub fn write_esp<T: Write + Seek>(
    mut partition: T,
    sectors: u64,
    hidden_sectors: u32,
    uki: &[u8],
    volume_serial: u32,
    source_date_epoch: u64,
) -> io::Result<()> {
    let geometry = Geometry::new(sectors)?;
    let file_clusters = (uki.len() as u64).div_ceil(CLUSTER).max(1);
    let used = u64::from(FIRST_FILE_CLUSTER - 2) + file_clusters;
    let file_size =
        u32::try_from(uki.len()).map_err(|_| io::Error::other("FAT32 holds files up to 4 GiB"))?;
    if used > geometry.clusters {
        return Err(io::Error::other(format!(
            "the UKI needs {file_clusters} clusters; the partition has {}",
            geometry.clusters
        )));
    }
    let at = FatTime::from_unix(source_date_epoch);
    let mut write_at = |offset: u64, bytes: &[u8]| -> io::Result<()> {
        partition.seek(SeekFrom::Start(offset))?;
        partition.write_all(bytes)
    };

    let boot = boot_sector(&geometry, hidden_sectors, volume_serial);
    let free = (geometry.clusters - used) as u32;
    let next_free = (used + 2) as u32;
    for base in [0, BACKUP_BOOT_SECTOR] {
        write_at(base * SECTOR, &boot)?;
        write_at(
            (base + FSINFO_SECTOR) * SECTOR,
            &fsinfo_sector(free, next_free),
        )?;
    }

    // The FAT: the two reserved entries, three one-cluster directories, then the file's chain.
    let last_cluster = FIRST_FILE_CLUSTER + file_clusters as u32 - 1;
    let mut fat: Vec<u32> = vec![
        0x0FFF_FFF8,
        END_OF_CHAIN,
        END_OF_CHAIN,
        END_OF_CHAIN,
        END_OF_CHAIN,
    ];
    fat.extend((FIRST_FILE_CLUSTER + 1..=last_cluster).chain([END_OF_CHAIN]));
    let fat_bytes: Vec<u8> = fat.iter().flat_map(|e| e.to_le_bytes()).collect();
    for copy in 0..FATS {
        write_at(
            (RESERVED_SECTORS + copy * geometry.fat_sectors) * SECTOR,
            &fat_bytes,
        )?;
    }

    let root = directory(&[
        entry(b"ESP        ", ATTR_VOLUME_ID, 0, 0, at),
        entry(b"EFI        ", ATTR_DIRECTORY, EFI_CLUSTER, 0, at),
    ]);
    // `..` of a directory in the root names cluster 0, whatever the root's cluster is.
    let efi = directory(&[
        entry(b".          ", ATTR_DIRECTORY, EFI_CLUSTER, 0, at),
        entry(b"..         ", ATTR_DIRECTORY, 0, 0, at),
        entry(b"BOOT       ", ATTR_DIRECTORY, BOOT_CLUSTER, 0, at),
    ]);
    let boot_dir = directory(&[
        entry(b".          ", ATTR_DIRECTORY, BOOT_CLUSTER, 0, at),
        entry(b"..         ", ATTR_DIRECTORY, EFI_CLUSTER, 0, at),
        entry(
            b"BOOTX64 EFI",
            ATTR_ARCHIVE,
            FIRST_FILE_CLUSTER,
            file_size,
            at,
        ),
    ]);
    write_at(geometry.cluster_offset(ROOT_CLUSTER), &root)?;
    write_at(geometry.cluster_offset(EFI_CLUSTER), &efi)?;
    write_at(geometry.cluster_offset(BOOT_CLUSTER), &boot_dir)?;
    write_at(geometry.cluster_offset(FIRST_FILE_CLUSTER), uki)?;
    partition.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fat_times_are_utc_two_second_and_clamped() {
        // 2023-11-14T22:13:20Z
        let t = FatTime::from_unix(1_700_000_000);
        assert_eq!(t.date, (43 << 9) | (11 << 5) | 14);
        assert_eq!(t.time, (22 << 11) | (13 << 5) | 10);
        assert_eq!(
            FatTime::from_unix(0),
            FatTime {
                date: (1 << 5) | 1,
                time: 0
            }
        );
        assert_eq!(FatTime::from_unix(u64::MAX).date >> 9, 127);
    }

    #[test]
    fn the_geometry_is_fat32_or_refused() {
        let geometry = Geometry::new(2_095_071).unwrap();
        // The specification's formula: ceil((2,095,071 - 32) / 1025).
        assert_eq!(geometry.fat_sectors, 2044);
        assert!(geometry.clusters >= MIN_FAT32_CLUSTERS);
        assert!(
            geometry.fat_sectors * SECTOR / 4 >= geometry.clusters + 2,
            "the FAT covers every cluster"
        );
        let err = Geometry::new(100_000).unwrap_err().to_string();
        assert!(err.contains("FAT32 needs 65525"), "{err}");
    }

    #[test]
    fn the_file_lies_contiguously_after_the_directories() {
        let sectors = 600_000;
        let mut storage = io::Cursor::new(vec![0u8; (sectors * SECTOR) as usize]);
        let uki: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
        write_esp(
            &mut storage,
            sectors,
            2048,
            &uki,
            0x1234_5678,
            1_700_000_000,
        )
        .unwrap();
        let image = storage.into_inner();
        let geometry = Geometry::new(sectors).unwrap();
        let start = geometry.cluster_offset(FIRST_FILE_CLUSTER) as usize;
        assert_eq!(&image[start..start + uki.len()], &uki[..]);
        assert_eq!(&image[510..512], &[0x55, 0xAA]);
        assert_eq!(image[..512], image[3072..3584], "the backup boot sector");
        let fat = (RESERVED_SECTORS * SECTOR) as usize;
        let entry =
            |n: usize| u32::from_le_bytes(image[fat + 4 * n..fat + 4 * n + 4].try_into().unwrap());
        assert_eq!((entry(5), entry(6), entry(7)), (6, 7, END_OF_CHAIN));
        assert_eq!(entry(8), 0, "free after the file's three clusters");
    }
}
