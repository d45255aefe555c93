//! What a wallet pays to verify one real Nitro attestation document (yawn-attestation.cose, at
//! its own time): this crate's verification plus every claim check, one-shot (all five
//! signatures) and with a `NitroVerifier` that remembers the chain's signatures (the COSE
//! signature only), side by side with the `nitro_attest` crate (ring for the COSE signature,
//! x509-parser with ring for the chain) on the same bytes; on one thread and on every core.
//!
//! ```text
//! nice -n 19 cargo bench -p verifier --bench nitro -- --warm-up-time 1 --measurement-time 5
//! nice -n 19 cargo bench -p verifier --bench nitro --features aws-lc -- --warm-up-time 1 --measurement-time 5
//! ```

mod common;

use std::collections::BTreeMap;

use common::{batch_on_threads, label, threads, BATCH};
use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use nitro_attest::UnparsedAttestationDoc;
use time::OffsetDateTime;
use verifier::nitro::{verify_document, NitroDocument, NitroTrust, NitroVerifier};

const DOCUMENT: &[u8] = include_bytes!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/fixtures/nitro/yawn-attestation.cose"
));
/// The document's own timestamp (1736179625472 ms), floored to seconds.
const AT_UNIX_SECONDS: u64 = 1_736_179_625;
const AT_UNIX_MS: u64 = 1_736_179_625_472;

struct Expected {
    pcrs: BTreeMap<u8, Vec<u8>>,
    public_key: Vec<u8>,
}

/// Every claim check a wallet makes after the signatures.
fn check_claims(document: NitroDocument, expected: &Expected) -> NitroDocument {
    assert!(!document.is_debug());
    document
        .check_freshness(AT_UNIX_MS + 1_000, 300_000, 5_000)
        .expect("fresh");
    document.check_pcrs(&expected.pcrs).expect("pcrs");
    document
        .check_public_key(Some(&expected.public_key))
        .expect("public key");
    document
}

fn verify(c: &mut Criterion) {
    let trust = NitroTrust::default();
    let first = verify_document(DOCUMENT, &trust, AT_UNIX_SECONDS).expect("the fixture verifies");
    let expected = Expected {
        pcrs: (0..3).map(|i| (i, first.pcrs[&i].clone())).collect(),
        public_key: first
            .public_key
            .clone()
            .expect("the fixture carries a public key"),
    };
    let remembering = NitroVerifier::new(trust.clone());
    let at = OffsetDateTime::from_unix_timestamp(AT_UNIX_SECONDS as i64).expect("valid time");
    UnparsedAttestationDoc::from(DOCUMENT)
        .parse_and_verify(at)
        .expect("nitro_attest accepts the fixture");

    let one_shot = || {
        let document =
            verify_document(black_box(DOCUMENT), &trust, AT_UNIX_SECONDS).expect("verifies");
        check_claims(document, &expected)
    };
    let remembered = || {
        let document = remembering
            .verify(black_box(DOCUMENT), AT_UNIX_SECONDS)
            .expect("verifies");
        check_claims(document, &expected)
    };
    let nitro_attest = || {
        UnparsedAttestationDoc::from(black_box(DOCUMENT))
            .parse_and_verify(at)
            .expect("verifies")
    };

    let mut group = c.benchmark_group("nitro_verify_yawn");
    group.throughput(Throughput::Elements(1));
    group.bench_function(label("verifier one-shot + checks"), |b| b.iter(one_shot));
    group.bench_function(label("verifier NitroVerifier + checks"), |b| {
        b.iter(remembered)
    });
    group.bench_function("nitro_attest parse_and_verify", |b| b.iter(nitro_attest));
    group.finish();

    let threads = threads();
    let mut group = c.benchmark_group(format!("nitro_verify_yawn_{threads}_threads"));
    group.throughput(Throughput::Elements(BATCH as u64));
    group.bench_function(label("verifier one-shot + checks"), |b| {
        b.iter(|| batch_on_threads(threads, || drop(one_shot())))
    });
    group.bench_function(label("verifier NitroVerifier + checks"), |b| {
        b.iter(|| batch_on_threads(threads, || drop(remembered())))
    });
    group.bench_function("nitro_attest parse_and_verify", |b| {
        b.iter(|| batch_on_threads(threads, || drop(nitro_attest())))
    });
    group.finish();
}

criterion_group!(benches, verify);
criterion_main!(benches);
