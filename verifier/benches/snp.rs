//! What verifying one SEV-SNP report costs, and where the time goes: the whole check (one-shot,
//! and with `SnpVerifier`, which pre-verifies AMD's intermediates and remembers leaves), the
//! ECDSA P-384 report signature alone and the RSA-4096 PSS chain links alone, each with the
//! signature backend the build selected; then the whole check on every core.
//!
//! ```text
//! nice -n 19 cargo bench -p verifier --bench snp -- --warm-up-time 1 --measurement-time 5
//! nice -n 19 cargo bench -p verifier --bench snp --features aws-lc -- --warm-up-time 1 --measurement-time 5
//! ```

mod common;

use common::{batch_on_threads, label, threads, BATCH};
use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use verifier::signature::{EcdsaP384Key, RsaPssSha384Key};
use verifier::snp::{parse_report, verify_report, SnpCertificates, SnpTrust, SnpVerifier};
use x509_cert::der::{Decode, DecodePem, Encode};
use x509_cert::Certificate;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/fixtures/snp");
const ID: &str = "milan-v5-teekit-gcp";

fn read(path: &str) -> Vec<u8> {
    std::fs::read(format!("{FIXTURES}/{path}")).expect("fixture")
}

fn pem(path: &str) -> Certificate {
    Certificate::from_pem(read(path)).expect("PEM certificate")
}

fn rsa_key(cert: &Certificate) -> RsaPssSha384Key {
    RsaPssSha384Key::from_spki(&cert.tbs_certificate.subject_public_key_info).unwrap()
}

fn pss_signature(cert: &Certificate) -> Vec<u8> {
    cert.signature.raw_bytes().to_vec()
}

fn snp(c: &mut Criterion) {
    let report = read(&format!("reports/{ID}.bin"));
    let leaf_der = read(&format!("certs/{ID}.der"));
    let leaf = Certificate::from_der(&leaf_der).unwrap();
    let at = leaf
        .tbs_certificate
        .validity
        .not_before
        .to_unix_duration()
        .as_secs()
        + 86_400;
    let certs = SnpCertificates::leaf_only(leaf_der.clone());
    let trust = SnpTrust {
        check_crl: false,
        ..SnpTrust::default()
    };
    verify_report(&report, &certs, &trust, at).expect("fixture verifies");

    let one_shot = || verify_report(black_box(&report), black_box(&certs), &trust, at).unwrap();
    let verifier = SnpVerifier::new(trust.clone()).unwrap();
    let remembered = || {
        verifier
            .verify(black_box(&report), black_box(&certs), at)
            .unwrap()
    };
    c.bench_function(&label("snp/verify_report (one-shot, full chain)"), |b| {
        b.iter(one_shot)
    });
    c.bench_function(
        &label("snp/SnpVerifier::verify (intermediates pre-verified, leaf remembered)"),
        |b| b.iter(remembered),
    );

    // The report signature alone: P-384 ECDSA over 0x000..0x29F, R and S little-endian.
    let parsed = parse_report(&report).unwrap();
    let leaf_key = EcdsaP384Key::from_spki(&leaf.tbs_certificate.subject_public_key_info).unwrap();
    let mut rs = [0u8; 96];
    for (i, offset) in [0x2a0usize, 0x2e8].into_iter().enumerate() {
        for (j, byte) in report[offset..offset + 48].iter().rev().enumerate() {
            rs[i * 48 + j] = *byte;
        }
    }
    c.bench_function(&label("snp/p384 report signature only"), |b| {
        b.iter(|| {
            leaf_key
                .verify_fixed(black_box(parsed.signed_bytes()), &rs)
                .unwrap()
        })
    });

    // The chain links alone: VCEK by ASK, ASK by ARK, ARK by itself (RSA-4096 PSS SHA-384).
    let ask = pem("ask-milan.pem");
    let ark = pem("ark-milan.pem");
    let (ask_key, ark_key) = (rsa_key(&ask), rsa_key(&ark));
    let links = [
        (
            leaf.tbs_certificate.to_der().unwrap(),
            pss_signature(&leaf),
            &ask_key,
        ),
        (
            ask.tbs_certificate.to_der().unwrap(),
            pss_signature(&ask),
            &ark_key,
        ),
        (
            ark.tbs_certificate.to_der().unwrap(),
            pss_signature(&ark),
            &ark_key,
        ),
    ];
    c.bench_function(&label("snp/rsa-pss chain only (3 links)"), |b| {
        b.iter(|| {
            for (tbs, signature, key) in &links {
                key.verify(black_box(tbs), signature).unwrap();
            }
        })
    });
    c.bench_function(&label("snp/rsa-pss one link (VCEK by ASK)"), |b| {
        b.iter(|| {
            links[0]
                .2
                .verify(black_box(&links[0].0), &links[0].1)
                .unwrap()
        })
    });

    let threads = threads();
    let mut group = c.benchmark_group(format!("snp_verify_{threads}_threads"));
    group.throughput(Throughput::Elements(BATCH as u64));
    group.bench_function(label("verify_report (one-shot)"), |b| {
        b.iter(|| batch_on_threads(threads, || drop(one_shot())))
    });
    group.bench_function(label("SnpVerifier::verify"), |b| {
        b.iter(|| batch_on_threads(threads, || drop(remembered())))
    });
    group.finish();
}

criterion_group!(benches, snp);
criterion_main!(benches);
