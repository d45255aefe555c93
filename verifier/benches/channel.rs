//! What the encrypted channel adds to one proving request: sealing a request to the server's key
//! (RFC 9458 OHTTP, X25519 + AES-128-GCM, Binary HTTP inside), the gateway opening it and sealing
//! the answer, and the client opening that; with a 482-byte proving request (the official zswap
//! output `/prove` body) and a 64 KiB answer, larger than a k = 10 proof.
//!
//! `cargo bench -p verifier --bench channel -- --warm-up-time 1 --measurement-time 5`

use std::io::Cursor;

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use verifier::channel::{seal, InnerRequest};

const REQUEST: &[u8] = include_bytes!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/fixtures/midnight/requests/prove-zswap-output-builtin.req"
));

fn round_trip(c: &mut Criterion) {
    let config = ohttp::KeyConfig::new(
        1,
        ohttp::hpke::Kem::X25519Sha256,
        vec![ohttp::SymmetricSuite::new(
            ohttp::hpke::Kdf::HkdfSha256,
            ohttp::hpke::Aead::Aes128Gcm,
        )],
    )
    .unwrap();
    let server = ohttp::Server::new(config).unwrap();
    let key_config = server.config().encode().unwrap();
    let mut answer = bhttp::Message::response(bhttp::StatusCode::try_from(200u16).unwrap());
    answer.write_content(vec![0x5a; 64 << 10]);
    let mut answer_bytes = Vec::new();
    answer
        .write_bhttp(bhttp::Mode::KnownLength, &mut answer_bytes)
        .unwrap();

    c.bench_function("ohttp_prove_round_trip_482B_request_64KiB_answer", |b| {
        b.iter(|| {
            let sealed = seal(
                &key_config,
                &InnerRequest {
                    method: "POST",
                    path: "/prove",
                    headers: vec![],
                    body: black_box(REQUEST),
                },
            )
            .unwrap();
            let (plain, answer_keys) = server.decapsulate(&sealed.body).unwrap();
            let request = bhttp::Message::read_bhttp(&mut Cursor::new(&plain[..])).unwrap();
            assert_eq!(request.content().len(), REQUEST.len());
            let sealed_answer = answer_keys.encapsulate(&answer_bytes).unwrap();
            sealed.open(&sealed_answer).unwrap()
        })
    });
}

criterion_group!(benches, round_trip);
criterion_main!(benches);
