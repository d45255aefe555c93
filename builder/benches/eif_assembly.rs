//! EIF assembly from an image rootfs of N MiB (bootstrap + customer ramdisks, then the EIF with its
//! PCRs) against copying the same N MiB with `std::fs::copy`, in the same run.
//!
//! Run: `cargo bench -p builder --bench eif_assembly` (MPR_BENCH_MIB sets N, default 256).

use std::path::Path;
use std::time::{Duration, Instant};

use builder::archive::{FileData, Node, Tree};
use builder::image::RuntimeConfig;
use builder::nitro::build_eif;
use builder::recipe::{EifSpec, PinnedFile};

fn write_random(path: &Path, size: usize) {
    use rand::RngCore;
    let mut data = vec![0u8; size];
    rand::thread_rng().fill_bytes(&mut data);
    std::fs::write(path, data).unwrap();
}

fn pinned(path: &Path) -> PinnedFile {
    PinnedFile {
        path: path.to_owned(),
        sha256: String::new(),
    }
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn main() {
    let mib: usize = std::env::var("MPR_BENCH_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256);
    let runs = 7;
    let dir =
        tempfile::tempdir_in(std::env::var("MPR_BENCH_DIR").unwrap_or_else(|_| "/var/tmp".into()))
            .unwrap();
    let input = dir.path().join("input");
    std::fs::create_dir_all(&input).unwrap();

    // The image: one large binary-like file plus 200 small ones (libraries, configuration).
    let big = input.join("big");
    write_random(&big, mib << 20);
    let mut rootfs = Tree::new();
    rootfs
        .insert(
            "usr/local/bin/app",
            Node::file(
                FileData::Disk {
                    path: big.clone(),
                    size: (mib << 20) as u64,
                },
                0o755,
                1,
            ),
        )
        .unwrap();
    for i in 0..200 {
        let path = input.join(format!("small{i}"));
        write_random(&path, 4096);
        rootfs
            .insert(
                &format!("usr/lib/lib{i}.so"),
                Node::file(FileData::Disk { path, size: 4096 }, 0o644, 1),
            )
            .unwrap();
    }
    let kernel = input.join("bzImage");
    write_random(&kernel, 8 << 20);
    let init = input.join("init");
    write_random(&init, 750 << 10);
    let nsm = input.join("nsm.ko");
    write_random(&nsm, 20 << 10);
    let spec = EifSpec {
        kernel: pinned(&kernel),
        init: pinned(&init),
        nsm_ko: pinned(&nsm),
        cmdline: "console=ttyS0".into(),
        arch: "x86_64".into(),
        command: None,
    };
    let runtime = RuntimeConfig {
        entrypoint: vec!["/usr/local/bin/app".into()],
        ..RuntimeConfig::default()
    };
    let image_bytes = rootfs.content_size();

    let mut copy = Vec::new();
    let mut durable_copy = Vec::new();
    let mut assemble = Vec::new();
    let mut sha384 = Vec::new();
    for run in 0..runs {
        // The floor of any EIF assembly: PCR0 is one sequential SHA-384 over kernel, cmdline and
        // every ramdisk, so the image's bytes pass through SHA-384 at least once.
        let started = Instant::now();
        let mut hasher = <sha2::Sha384 as sha2::Digest>::new();
        std::io::copy(&mut std::fs::File::open(&big).unwrap(), &mut hasher).unwrap();
        std::hint::black_box(sha2::Digest::finalize(hasher));
        sha384.push(started.elapsed());

        let target = dir.path().join(format!("copy{run}"));
        let started = Instant::now();
        std::fs::copy(&big, &target).unwrap();
        copy.push(started.elapsed());
        std::fs::remove_file(&target).unwrap();

        // The EIF writer syncs its file before renaming it into place; so does this copy.
        let started = Instant::now();
        std::fs::copy(&big, &target).unwrap();
        std::fs::File::open(&target).unwrap().sync_all().unwrap();
        durable_copy.push(started.elapsed());
        std::fs::remove_file(&target).unwrap();

        let out = dir.path().join(format!("eif{run}"));
        std::fs::create_dir_all(&out).unwrap();
        let started = Instant::now();
        build_eif(&spec, &rootfs, &runtime, "bench", "1", 1, &out).unwrap();
        assemble.push(started.elapsed());
        std::fs::remove_dir_all(&out).unwrap();
    }
    let (copy, durable_copy, assemble) = (median(copy), median(durable_copy), median(assemble));
    let sha384 = median(sha384);
    println!(
        "image of {:.1} MiB (medians of {runs}): copy {:.3} s, copy+fsync {:.3} s, one SHA-384 pass {:.3} s, \
         EIF assembly {:.3} s; ratio {:.2}x of copy, {:.2}x of copy+fsync",
        image_bytes as f64 / (1 << 20) as f64,
        copy.as_secs_f64(),
        durable_copy.as_secs_f64(),
        sha384.as_secs_f64(),
        assemble.as_secs_f64(),
        assemble.as_secs_f64() / copy.as_secs_f64(),
        assemble.as_secs_f64() / durable_copy.as_secs_f64()
    );
}
