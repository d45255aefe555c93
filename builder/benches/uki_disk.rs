//! The UKI boot disk's assembly against copying the same bytes, in the same run: `write_disk` (GPT,
//! the FAT32 ESP and the UKI in a sparse 1 GiB image, synced) against writing the UKI's bytes to a
//! new file (synced) and against `std::fs::copy` of the finished disk.raw (synced); then the cloud
//! formats, the Azure VHD (the disk written again, plus its footer) and the GCP tar.gz, against the
//! same copy of disk.raw.
//!
//! Run: `cargo bench -p builder --bench uki_disk` (MPR_BENCH_MIB sets the UKI's size, default 128;
//! MPR_BENCH_DIR the directory, default /var/tmp). Medians of 7 runs.

use std::path::Path;
use std::time::{Duration, Instant};

use builder::uki::{append_vhd_footer, disk_size, write_disk, write_gcp_image, DiskIdentity};

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn timed(samples: &mut Vec<Duration>, work: impl FnOnce()) {
    let started = Instant::now();
    work();
    samples.push(started.elapsed());
}

fn synced_copy(from: &Path, to: &Path) {
    std::fs::copy(from, to).unwrap();
    std::fs::File::open(to).unwrap().sync_all().unwrap();
}

fn main() {
    let mib: usize = std::env::var("MPR_BENCH_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(128);
    let runs = 7;
    let dir =
        tempfile::tempdir_in(std::env::var("MPR_BENCH_DIR").unwrap_or_else(|_| "/var/tmp".into()))
            .unwrap();
    let uki: Vec<u8> = {
        use rand::RngCore;
        let mut data = vec![0u8; mib << 20];
        rand::thread_rng().fill_bytes(&mut data);
        data
    };
    let identity = DiskIdentity::new(1_700_000_000, "bench");
    let size = disk_size(uki.len() as u64, None).unwrap();
    let reference_disk = dir.path().join("reference.raw");
    write_disk(&reference_disk, size, &uki, &identity, 1_700_000_000).unwrap();

    let (mut bytes, mut copy, mut disk, mut vhd, mut gcp) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for run in 0..runs {
        let target = dir.path().join(format!("bytes{run}"));
        timed(&mut bytes, || {
            std::fs::write(&target, &uki).unwrap();
            std::fs::File::open(&target).unwrap().sync_all().unwrap();
        });
        std::fs::remove_file(&target).unwrap();

        let target = dir.path().join(format!("copy{run}"));
        timed(&mut copy, || synced_copy(&reference_disk, &target));
        std::fs::remove_file(&target).unwrap();

        let target = dir.path().join(format!("disk{run}"));
        timed(&mut disk, || {
            write_disk(&target, size, &uki, &identity, 1_700_000_000).unwrap()
        });
        let vhd_path = dir.path().join(format!("disk{run}.vhd"));
        timed(&mut vhd, || {
            write_disk(&vhd_path, size, &uki, &identity, 1_700_000_000).unwrap();
            append_vhd_footer(&vhd_path, [7; 16], 1_700_000_000).unwrap()
        });
        let gcp_path = dir.path().join(format!("disk{run}.tar.gz"));
        timed(&mut gcp, || {
            write_gcp_image(&target, &gcp_path, 1_700_000_000).unwrap()
        });
        for path in [&target, &vhd_path, &gcp_path] {
            std::fs::remove_file(path).unwrap();
        }
    }
    let reference = median(copy.clone());
    println!(
        "UKI {mib} MiB, disk {} GiB, median of {runs} runs, {} cores",
        size >> 30,
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    println!("| what | median (ms) | vs copying disk.raw |");
    println!("|---|---|---|");
    for (name, samples) in [
        ("write the UKI's bytes to a new file (synced)", bytes),
        ("reference: std::fs::copy of disk.raw (synced)", copy),
        ("write_disk: GPT + FAT32 ESP + UKI (synced)", disk),
        ("Azure VHD: write_disk + append_vhd_footer (synced)", vhd),
        ("write_gcp_image: tar + gzip of disk.raw (synced)", gcp),
    ] {
        let m = median(samples);
        println!(
            "| {name} | {:.1} | {:.2}x |",
            m.as_secs_f64() * 1000.0,
            m.as_secs_f64() / reference.as_secs_f64()
        );
    }
}
