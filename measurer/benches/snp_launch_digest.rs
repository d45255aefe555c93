//! In-process cost of an SEV-SNP launch digest, without process start-up, on Debian's OVMF.fd
//! (`apt-get install ovmf`). ci/bench.sh compares the same work in sev-snp-measure's library.
//!
//! `cargo bench -p measurer --bench snp_launch_digest`

use criterion::{criterion_group, criterion_main, Criterion};
use measurer::snp::{self, Firmware, GuestFeatures, SnpParams, VcpuType, VmmType};

const OVMF: &str = "/usr/share/ovmf/OVMF.fd";

fn params(vcpus: u32) -> SnpParams {
    SnpParams {
        vcpus,
        vcpu_type: Some(VcpuType::EpycV4),
        vcpu_sig: 0,
        vmm: VmmType::Qemu,
        guest_features: GuestFeatures(0x1),
        kernel: None,
        ovmf_hash: None,
    }
}

fn launch_digest(c: &mut Criterion) {
    let bytes = std::fs::read(OVMF).expect("Debian's OVMF.fd: apt-get install ovmf");
    let mut group = c.benchmark_group("snp");
    // What `mpr measure snp` does after start-up: read and parse the firmware, hash it, measure.
    group.bench_function("open + launch_digest_only, 64 vCPUs", |b| {
        b.iter(|| {
            let firmware = Firmware::open(std::path::Path::new(OVMF)).expect("firmware");
            snp::launch_digest_only(&firmware, &params(64)).expect("digest")
        })
    });
    group.bench_function(
        "parse + launch_digest_only, 64 vCPUs (file in memory)",
        |b| {
            b.iter(|| {
                let firmware = Firmware::parse(bytes.clone()).expect("firmware");
                snp::launch_digest_only(&firmware, &params(64)).expect("digest")
            })
        },
    );
    group.finish();
}

criterion_group!(benches, launch_digest);
criterion_main!(benches);
