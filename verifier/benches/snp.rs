//! What verifying one SEV-SNP report costs, and where the time goes: the whole check (one-shot
//! and with the AMD intermediates pre-verified), the ECDSA P-384 report signature alone, and
//! the RSA-4096 PSS chain links alone.
//!
//! `nice -n 19 cargo bench -p verifier --bench snp -- --warm-up-time 1 --measurement-time 5`

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use p384::ecdsa::signature::Verifier as _;
use p384::pkcs8::DecodePublicKey as _;
use sha2::Sha384;
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

fn rsa_key(cert: &Certificate) -> rsa::pss::VerifyingKey<Sha384> {
    let spki = cert
        .tbs_certificate
        .subject_public_key_info
        .to_der()
        .unwrap();
    rsa::pss::VerifyingKey::new(rsa::RsaPublicKey::from_public_key_der(&spki).unwrap())
}

fn pss_signature(cert: &Certificate) -> rsa::pss::Signature {
    rsa::pss::Signature::try_from(cert.signature.raw_bytes()).unwrap()
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

    c.bench_function("snp/verify_report (one-shot, full chain)", |b| {
        b.iter(|| verify_report(black_box(&report), black_box(&certs), &trust, at).unwrap())
    });
    let verifier = SnpVerifier::new(trust.clone()).unwrap();
    c.bench_function(
        "snp/SnpVerifier::verify (AMD intermediates pre-verified)",
        |b| {
            b.iter(|| {
                verifier
                    .verify(black_box(&report), black_box(&certs), at)
                    .unwrap()
            })
        },
    );

    // The report signature alone: P-384 ECDSA over 0x000..0x29F, R and S little-endian.
    let parsed = parse_report(&report).unwrap();
    let leaf_spki = leaf
        .tbs_certificate
        .subject_public_key_info
        .to_der()
        .unwrap();
    let leaf_key = p384::ecdsa::VerifyingKey::from_public_key_der(&leaf_spki).unwrap();
    let mut rs = [0u8; 96];
    for (i, offset) in [0x2a0usize, 0x2e8].into_iter().enumerate() {
        for (j, byte) in report[offset..offset + 48].iter().rev().enumerate() {
            rs[i * 48 + j] = *byte;
        }
    }
    let signature = p384::ecdsa::Signature::from_slice(&rs).unwrap();
    c.bench_function("snp/p384 report signature only", |b| {
        b.iter(|| {
            leaf_key
                .verify(black_box(parsed.signed_bytes()), &signature)
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
    c.bench_function("snp/rsa-pss chain only (3 links)", |b| {
        b.iter(|| {
            for (tbs, signature, key) in &links {
                key.verify(black_box(tbs), signature).unwrap();
            }
        })
    });
    c.bench_function("snp/rsa-pss one link (VCEK by ASK)", |b| {
        b.iter(|| {
            links[0]
                .2
                .verify(black_box(&links[0].0), &links[0].1)
                .unwrap()
        })
    });
}

criterion_group!(benches, snp);
criterion_main!(benches);
