//! What a wallet pays to verify one real Nitro attestation document (yawn-attestation.cose, at
//! its own time): this crate's `verify_document` plus every claim check, side by side with the
//! `nitro_attest` crate (ring for the COSE signature, x509-parser for the chain) on the same bytes.
//!
//! `nice -n 19 cargo bench -p verifier --bench nitro -- --warm-up-time 1 --measurement-time 5`

use std::collections::BTreeMap;

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use nitro_attest::UnparsedAttestationDoc;
use time::OffsetDateTime;
use verifier::nitro::{verify_document, NitroTrust};

const DOCUMENT: &[u8] = include_bytes!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/fixtures/nitro/yawn-attestation.cose"
));
/// The document's own timestamp (1736179625472 ms), floored to seconds.
const AT_UNIX_SECONDS: u64 = 1_736_179_625;
const AT_UNIX_MS: u64 = 1_736_179_625_472;

fn verify(c: &mut Criterion) {
    let trust = NitroTrust::default();
    let first = verify_document(DOCUMENT, &trust, AT_UNIX_SECONDS).expect("the fixture verifies");
    let expected_pcrs: BTreeMap<u8, Vec<u8>> =
        (0..3).map(|i| (i, first.pcrs[&i].clone())).collect();
    let public_key = first
        .public_key
        .clone()
        .expect("the fixture carries a public key");
    let at = OffsetDateTime::from_unix_timestamp(AT_UNIX_SECONDS as i64).expect("valid time");
    UnparsedAttestationDoc::from(DOCUMENT)
        .parse_and_verify(at)
        .expect("nitro_attest accepts the fixture");

    let mut group = c.benchmark_group("nitro_verify_yawn");
    group.throughput(Throughput::Elements(1));
    group.bench_function("verifier_verify_document_and_checks", |b| {
        b.iter(|| {
            let document =
                verify_document(black_box(DOCUMENT), &trust, AT_UNIX_SECONDS).expect("verifies");
            assert!(!document.is_debug());
            document
                .check_freshness(AT_UNIX_MS + 1_000, 300_000, 5_000)
                .expect("fresh");
            document.check_pcrs(&expected_pcrs).expect("pcrs");
            document
                .check_public_key(Some(&public_key))
                .expect("public key");
            document
        })
    });
    group.bench_function("nitro_attest_parse_and_verify", |b| {
        b.iter(|| {
            UnparsedAttestationDoc::from(black_box(DOCUMENT))
                .parse_and_verify(at)
                .expect("verifies")
        })
    });
    group.finish();
}

criterion_group!(benches, verify);
criterion_main!(benches);
