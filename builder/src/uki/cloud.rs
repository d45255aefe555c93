//! The disk in the formats the clouds import:
//! - GCP: `disk.raw` alone in a gzip-compressed tar (`gcloud compute images create --source-uri`);
//! - Azure: a fixed-size VHD (the raw disk followed by a 512-byte footer), whose virtual size must be
//!   a whole number of MiB (`az disk create --upload-type Upload` then `az sig image-version create`).

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::Path;

use flate2::{Compression, GzBuilder};

/// The VHD timestamp counts seconds from 2000-01-01T00:00:00Z.
const VHD_EPOCH: u64 = 946_684_800;
const VHD_FOOTER_LEN: usize = 512;

/// Writes `out`: a gzip'd tar whose one member is `disk.raw` (mode 0644, owner 0:0, mtime
/// `SOURCE_DATE_EPOCH`), GNU format as Google's import documentation makes it.
pub fn write_gcp_image(disk: &Path, out: &Path, source_date_epoch: u64) -> io::Result<()> {
    let mut input = File::open(disk)?;
    let size = input.metadata()?.len();
    let gz = GzBuilder::new().mtime(0).write(
        BufWriter::with_capacity(1 << 20, File::create(out)?),
        Compression::fast(),
    );
    let mut tar = tar::Builder::new(gz);
    let mut header = tar::Header::new_gnu();
    header.set_path("disk.raw")?;
    header.set_size(size);
    header.set_mode(0o644);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(source_date_epoch);
    header.set_entry_type(tar::EntryType::Regular);
    header.set_cksum();
    tar.append(&header, &mut input)?;
    let gz = tar.into_inner()?;
    let mut file = gz.finish()?;
    file.flush()?;
    file.into_inner().map_err(|e| e.into_error())?.sync_all()
}

/// Makes the disk image at `path` a fixed VHD by appending the footer. The disk is written in place
/// by [`super::write_disk`] rather than copied from disk.raw: the image is mostly holes, and a copy
/// reads the whole GiB (2.4 times the time of writing it, measured in benches/uki_disk.rs).
pub fn append_vhd_footer(
    path: &Path,
    unique_id: [u8; 16],
    source_date_epoch: u64,
) -> io::Result<()> {
    let size = std::fs::metadata(path)?.len();
    if size % (1 << 20) != 0 {
        return Err(io::Error::other(format!(
            "the disk is {size} bytes; Azure accepts only VHDs whose size is a whole number of MiB"
        )));
    }
    let mut file = OpenOptions::new().append(true).open(path)?;
    file.write_all(&vhd_footer(size, unique_id, source_date_epoch))?;
    file.sync_all()
}

/// The footer of a fixed VHD (Virtual Hard Disk Image Format Specification, appendix "Hard Disk
/// Footer Format"); big-endian fields.
fn vhd_footer(size: u64, unique_id: [u8; 16], source_date_epoch: u64) -> [u8; VHD_FOOTER_LEN] {
    let mut footer = [0u8; VHD_FOOTER_LEN];
    footer[0..8].copy_from_slice(b"conectix");
    footer[8..12].copy_from_slice(&2u32.to_be_bytes()); // features: reserved bit set
    footer[12..16].copy_from_slice(&0x0001_0000u32.to_be_bytes()); // format version 1.0
    footer[16..24].copy_from_slice(&u64::MAX.to_be_bytes()); // data offset: none (fixed disk)
    let timestamp = source_date_epoch
        .saturating_sub(VHD_EPOCH)
        .min(u64::from(u32::MAX)) as u32;
    footer[24..28].copy_from_slice(&timestamp.to_be_bytes());
    footer[28..32].copy_from_slice(b"mpr ");
    footer[32..36].copy_from_slice(&0x0001_0000u32.to_be_bytes());
    footer[36..40].copy_from_slice(b"Wi2k");
    footer[40..48].copy_from_slice(&size.to_be_bytes()); // original size
    footer[48..56].copy_from_slice(&size.to_be_bytes()); // current size
    footer[56..60].copy_from_slice(&chs_geometry(size).to_be_bytes());
    footer[60..64].copy_from_slice(&2u32.to_be_bytes()); // disk type: fixed
    footer[68..84].copy_from_slice(&unique_id);
    let checksum = !footer.iter().map(|&b| u32::from(b)).sum::<u32>();
    footer[64..68].copy_from_slice(&checksum.to_be_bytes());
    footer
}

/// The specification's CHS geometry algorithm: cylinders (16 bits), heads (8), sectors per track (8).
fn chs_geometry(size: u64) -> u32 {
    let total = (size / 512).min(65535 * 16 * 255);
    let (mut sectors_per_track, mut heads, mut cylinder_times_heads);
    if total >= 65535 * 16 * 63 {
        sectors_per_track = 255;
        heads = 16;
        cylinder_times_heads = total / sectors_per_track;
    } else {
        sectors_per_track = 17;
        cylinder_times_heads = total / sectors_per_track;
        heads = cylinder_times_heads.div_ceil(1024);
        if heads < 4 {
            heads = 4;
        }
        if cylinder_times_heads >= heads * 1024 || heads > 16 {
            sectors_per_track = 31;
            heads = 16;
            cylinder_times_heads = total / sectors_per_track;
        }
        if cylinder_times_heads >= heads * 1024 {
            sectors_per_track = 63;
            heads = 16;
            cylinder_times_heads = total / sectors_per_track;
        }
    }
    let cylinders = cylinder_times_heads / heads;
    ((cylinders as u32) << 16) | ((heads as u32) << 8) | sectors_per_track as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_footer_checksum_and_geometry_follow_the_specification() {
        let footer = vhd_footer(1 << 30, [7; 16], VHD_EPOCH + 10);
        let stored = u32::from_be_bytes(footer[64..68].try_into().unwrap());
        let mut zeroed = footer;
        zeroed[64..68].fill(0);
        assert_eq!(stored, !zeroed.iter().map(|&b| u32::from(b)).sum::<u32>());
        assert_eq!(u32::from_be_bytes(footer[24..28].try_into().unwrap()), 10);
        // 1 GiB: 2,097,152 sectors -> 2080 cylinders, 16 heads, 63 sectors (qemu-img agrees).
        assert_eq!(chs_geometry(1 << 30), (2080 << 16) | (16 << 8) | 63);
    }
}
