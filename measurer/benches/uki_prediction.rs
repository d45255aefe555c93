//! The vTPM PCR prediction of a UKI (`measurer::uki::predict_vtpm_pcrs`) against one SHA-256 pass
//! over the same file, read the same way (the target: within 1.2x). The UKI is assembled with
//! objcopy from Debian's systemd-stub (`apt-get install systemd-boot-efi binutils`), the stub
//! standing in for the kernel and MPR_BENCH_UKI_INITRD_MIB (default 256) MiB of pseudo-random
//! bytes for the initrd; the file is read once first, so both sides hash from the page cache.
//!
//! `cargo bench -p measurer --bench uki_prediction`

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use sha2::{Digest, Sha256};

const STUB: &str = "/usr/lib/systemd/boot/efi/linuxx64.efi.stub";

fn make_uki(dir: &Path) -> PathBuf {
    let mib: usize = std::env::var("MPR_BENCH_UKI_INITRD_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256);
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let initrd: Vec<u8> = (0..mib << 20)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    std::fs::write(dir.join("initrd"), initrd).unwrap();
    std::fs::write(dir.join("cmdline"), "console=ttyS0 panic=-1").unwrap();
    std::fs::write(dir.join("osrel"), "ID=mpr-bench\n").unwrap();
    let uki = dir.join("uki.efi");
    let mut command = Command::new("objcopy");
    for (i, (section, file)) in [
        (".osrel", "osrel"),
        (".cmdline", "cmdline"),
        (".initrd", "initrd"),
        (".linux", STUB),
    ]
    .into_iter()
    .enumerate()
    {
        let path = if file.starts_with('/') {
            PathBuf::from(file)
        } else {
            dir.join(file)
        };
        command
            .arg("--add-section")
            .arg(format!("{section}={}", path.display()))
            .arg("--change-section-vma")
            .arg(format!("{section}={:#x}", 0x100_0000 * (i + 1)));
    }
    let status = command
        .arg(STUB)
        .arg(&uki)
        .status()
        .expect("objcopy (binutils)");
    assert!(status.success());
    uki
}

fn sha256_pass(path: &Path) -> [u8; 32] {
    let mut file = std::io::BufReader::with_capacity(1 << 20, std::fs::File::open(path).unwrap());
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let read = file.read(&mut buffer).unwrap();
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
    }
    hasher.finalize().into()
}

fn prediction(c: &mut Criterion) {
    assert!(
        Path::new(STUB).is_file(),
        "{STUB}: apt-get install systemd-boot-efi"
    );
    let dir = tempfile::tempdir().unwrap();
    let uki = make_uki(dir.path());
    let len = std::fs::metadata(&uki).unwrap().len();
    sha256_pass(&uki);
    let mut group = c.benchmark_group("uki");
    group.throughput(Throughput::Bytes(len));
    group.sample_size(10);
    group.bench_function("one SHA-256 pass over the UKI (reference)", |b| {
        b.iter(|| sha256_pass(&uki))
    });
    group.bench_function("predict_vtpm_pcrs (PCR 4, 9, 11, 12)", |b| {
        b.iter(|| measurer::uki::predict_vtpm_pcrs(&uki).unwrap())
    });
    group.finish();
}

criterion_group!(benches, prediction);
criterion_main!(benches);
