//! Why `measurer::sha384` is OpenSSL's: the SHA-384 implementations at hand, one thread each, on one
//! long message (a PCR over an EIF) and on 4 KiB messages (SEV-SNP firmware pages). ci/bench.sh prints
//! the table that BENCHMARKS.md records.
//!
//! `cargo bench -p measurer --bench sha384_implementations`

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

const LONG: usize = 64 << 20;
const PAGE: usize = 4096;

fn message(len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect()
}

type Implementation = (&'static str, fn(&[u8]) -> [u8; 48]);

const IMPLEMENTATIONS: [Implementation; 3] = [
    // Names without spaces: ci/bench.sh reads them back from criterion's report.
    ("openssl-measurer", measurer::sha384::sha384),
    ("sha2-0.10", |data| {
        <sha2::Sha384 as sha2::Digest>::digest(data).into()
    }),
    ("ring-0.17", |data| {
        let digest = ring::digest::digest(&ring::digest::SHA384, data);
        let mut out = [0u8; 48];
        out.copy_from_slice(digest.as_ref());
        out
    }),
];

fn implementations(c: &mut Criterion) {
    let long = message(LONG);
    let pages = message(LONG / 16);
    let mut group = c.benchmark_group("sha384");
    group.sample_size(10);
    for (name, hash) in IMPLEMENTATIONS {
        group.throughput(Throughput::Bytes(LONG as u64));
        group.bench_with_input(BenchmarkId::new(name, "64MiB"), &long, |b, data| {
            b.iter(|| hash(black_box(data)))
        });
        group.throughput(Throughput::Bytes(pages.len() as u64));
        group.bench_with_input(BenchmarkId::new(name, "4KiB"), &pages, |b, data| {
            b.iter(|| {
                for page in data.chunks(PAGE) {
                    black_box(hash(black_box(page)));
                }
            })
        });
    }
    group.finish();
}

criterion_group!(benches, implementations);
criterion_main!(benches);
