//! What verifying one vTPM quote costs, on the real GCE COS 85 attestation: the quote checks a
//! wallet runs on every answer (parse, AK signature, qualifying data, pcrDigest, and replaying the
//! 24 KB event log in three banks), against the bare RSA-2048 PKCS#1 v1.5 signature verification
//! of the same TPMS_ATTEST bytes, the floor it cannot go below; plus the AK certificate chain,
//! and the quote checks on every core.
//!
//! ```text
//! nice -n 19 cargo bench -p verifier --bench tpm -- --warm-up-time 1 --measurement-time 5
//! ```

mod common;

use common::{batch_on_threads, label, threads, BATCH};
use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use verifier::signature::RsaSha256Key;
use verifier::tpm::ak_certificate::{verify_ak_certificate, GCP_AK_ROOTS_SHA256};
use verifier::tpm::attest::{parse_signature, TpmSignature};
use verifier::tpm::eventlog::parse_event_log;
use verifier::tpm::public::{parse_public, AkKey};
use verifier::tpm::quote::verify_quote;
use verifier::tpm::{HashAlg, PcrBanks};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/fixtures/gcp");
/// 2023-11-14: inside the AK certificate's validity (2021-08-31 to 2051-08-24).
const AT: u64 = 1_700_000_000;

fn read(suffix: &str) -> Vec<u8> {
    std::fs::read(format!("{FIXTURES}/gce-cos-85-nonce9009.{suffix}")).expect("fixture")
}

fn pcrs() -> PcrBanks {
    let json: serde_json::Value = serde_json::from_slice(&read("pcrs.json")).unwrap();
    json.as_object()
        .unwrap()
        .iter()
        .map(|(bank, values)| {
            let values = values
                .as_object()
                .unwrap()
                .iter()
                .map(|(i, v)| {
                    (
                        i.parse().unwrap(),
                        hex::decode(v.as_str().unwrap()).unwrap(),
                    )
                })
                .collect();
            (HashAlg::from_name(bank).unwrap(), values)
        })
        .collect()
}

fn tpm(c: &mut Criterion) {
    let attest = read("quote-sha256.attest");
    let signature_bytes = read("quote-sha256.sig");
    let ak_public = read("akpub.tpmt");
    let ak_certificate = read("akcert.der");
    let event_log = read("eventlog.bin");
    let pcrs = pcrs();
    let nonce = [0x90, 0x09];

    let quote = || {
        let ak = parse_public(&ak_public).unwrap();
        ak.check_restricted_signing().unwrap();
        let signature = parse_signature(&signature_bytes).unwrap();
        verify_quote(&attest, &signature, &ak.key, &nonce, &pcrs).unwrap();
        let log = parse_event_log(&event_log).unwrap();
        assert!(log.mismatches(&pcrs).is_empty());
    };
    quote();
    c.bench_function(
        &label("tpm/quote (parse, signature, pcrDigest, event log replay)"),
        |b| b.iter(quote),
    );
    let threads = threads();
    let mut group = c.benchmark_group(format!("tpm_quote_{threads}_threads"));
    group.throughput(Throughput::Elements(BATCH as u64));
    group.bench_function(label("quote"), |b| {
        b.iter(|| batch_on_threads(threads, quote))
    });
    group.finish();

    let AkKey::Rsa { modulus, exponent } = parse_public(&ak_public).unwrap().key else {
        panic!("the GCE AK is RSA")
    };
    let key = RsaSha256Key::from_components(&modulus, &exponent.to_be_bytes()).unwrap();
    let TpmSignature::RsaSsa { signature, .. } = parse_signature(&signature_bytes).unwrap() else {
        panic!("the GCE quote is RSASSA")
    };
    c.bench_function(&label("tpm/rsa-2048 pkcs1v15 signature only"), |b| {
        b.iter(|| key.verify_pkcs1v15(black_box(&attest), &signature).unwrap())
    });
    c.bench_function(&label("tpm/event log parse and replay only"), |b| {
        b.iter(|| parse_event_log(black_box(&event_log)).unwrap().replay())
    });
    c.bench_function(&label("tpm/ak certificate chain (2 links)"), |b| {
        b.iter(|| {
            verify_ak_certificate(black_box(&ak_certificate), &[], &GCP_AK_ROOTS_SHA256, AT)
                .unwrap()
        })
    });
}

criterion_group!(benches, tpm);
criterion_main!(benches);
