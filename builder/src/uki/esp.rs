//! The EFI system partition: a FAT32 file system holding only the UKI at the default loader path.

use std::io::{self, Read, Seek, Write};

use fatfs::{
    Date, DateTime, FatType, FileSystem, FormatVolumeOptions, FsOptions, Time, TimeProvider,
};

use super::disk::DEFAULT_LOADER;

/// Every timestamp the file system records: `SOURCE_DATE_EPOCH`, so a rebuild writes the same bytes.
#[derive(Debug)]
struct FixedTime(DateTime);

impl TimeProvider for FixedTime {
    fn get_current_date(&self) -> Date {
        self.0.date
    }

    fn get_current_date_time(&self) -> DateTime {
        self.0
    }
}

/// FAT can record 1980-01-01 to 2107-12-31 (local time, no zone: we write UTC); outside that the
/// nearest end is used.
fn fat_date_time(unix_seconds: u64) -> DateTime {
    const FAT_FIRST: i64 = 315_532_800; // 1980-01-01T00:00:00Z
    const FAT_LAST: i64 = 4_354_819_199; // 2107-12-31T23:59:59Z
    let clamped = i64::try_from(unix_seconds)
        .unwrap_or(FAT_LAST)
        .clamp(FAT_FIRST, FAT_LAST);
    let at = time::OffsetDateTime::from_unix_timestamp(clamped).expect("within FAT's range");
    DateTime {
        date: Date {
            year: at.year() as u16,
            month: u8::from(at.month()).into(),
            day: at.day().into(),
        },
        time: Time {
            hour: at.hour().into(),
            min: at.minute().into(),
            sec: at.second().into(),
            millis: 0,
        },
    }
}

/// Formats `partition` as FAT32 (volume label `ESP`, serial `volume_serial`) and writes `uki` to
/// [`DEFAULT_LOADER`].
pub fn write_esp<T: Read + Write + Seek>(
    mut partition: T,
    uki: &[u8],
    volume_serial: u32,
    source_date_epoch: u64,
) -> io::Result<()> {
    fatfs::format_volume(
        &mut partition,
        FormatVolumeOptions::new()
            .fat_type(FatType::Fat32)
            .bytes_per_cluster(4096)
            .volume_id(volume_serial)
            .volume_label(*b"ESP        "),
    )?;
    // fatfs keeps the provider for the file system's lifetime and wants it 'static: one small
    // allocation per disk image, never freed.
    let clock: &'static FixedTime =
        Box::leak(Box::new(FixedTime(fat_date_time(source_date_epoch))));
    let buffered = fscommon::BufStream::new(partition);
    let fs = FileSystem::new(
        buffered,
        FsOptions::new()
            .update_accessed_date(false)
            .time_provider(clock),
    )?;
    {
        let root = fs.root_dir();
        let (dirs, file_name) = DEFAULT_LOADER
            .rsplit_once('/')
            .expect("a path with a directory");
        let mut dir = root;
        for name in dirs.split('/') {
            dir = dir.create_dir(name)?;
        }
        let mut file = dir.create_file(file_name)?;
        file.truncate()?;
        file.write_all(uki)?;
        file.flush()?;
    }
    fs.unmount()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fat_dates_are_utc_and_clamped() {
        let t = fat_date_time(1_700_000_000); // 2023-11-14T22:13:20Z
        assert_eq!((t.date.year, t.date.month, t.date.day), (2023, 11, 14));
        assert_eq!((t.time.hour, t.time.min, t.time.sec), (22, 13, 20));
        assert_eq!(fat_date_time(0).date.year, 1980);
        assert_eq!(fat_date_time(u64::MAX).date.year, 2107);
    }

    #[test]
    fn the_esp_holds_the_uki_and_is_byte_identical_twice() {
        let uki: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        let image = |serial| {
            let mut storage = io::Cursor::new(vec![0u8; 300 << 20]);
            write_esp(&mut storage, &uki, serial, 1_700_000_000).unwrap();
            storage.into_inner()
        };
        let first = image(0x1234_5678);
        assert_eq!(first, image(0x1234_5678));
        assert_ne!(first, image(0x1234_5679));

        let fs = FileSystem::new(io::Cursor::new(first), FsOptions::new()).unwrap();
        assert_eq!(fs.fat_type(), FatType::Fat32);
        assert_eq!(fs.volume_id(), 0x1234_5678);
        let mut read = Vec::new();
        fs.root_dir()
            .open_file(DEFAULT_LOADER)
            .unwrap()
            .read_to_end(&mut read)
            .unwrap();
        assert_eq!(read, uki);
        let entry = fs
            .root_dir()
            .open_dir("EFI/BOOT")
            .unwrap()
            .iter()
            .map(|e| e.unwrap())
            .find(|e| e.file_name() == "BOOTX64.EFI")
            .unwrap();
        assert_eq!(entry.modified(), fat_date_time(1_700_000_000));
    }
}
