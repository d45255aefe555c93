//! The OHTTP gateway over real HTTP, with the `ohttp` crate's own client and Binary HTTP: the key
//! config list, round trips to a status route and to a proving route, `--require-encryption`
//! refusing the same proving request in plaintext, and the gateway's refusals.

mod common;

use std::io::Cursor;

use bhttp::{Message, Mode};
use common::read;
use common::running::{no_tee, start, Running};
use ohttp::{ClientRequest, KeyConfig};

/// The answer to an inner request: status, content-type and body.
struct Inner {
    status: u16,
    content_type: Option<Vec<u8>>,
    body: Vec<u8>,
}

fn inner_request(method: &str, authority: &str, path: &str, body: &[u8]) -> Vec<u8> {
    let mut message = Message::request(
        method.as_bytes().to_vec(),
        b"https".to_vec(),
        authority.as_bytes().to_vec(),
        path.as_bytes().to_vec(),
    );
    message.put_header("content-type", "application/octet-stream");
    message.write_content(body);
    let mut encoded = Vec::new();
    message
        .write_bhttp(Mode::KnownLength, &mut encoded)
        .unwrap();
    encoded
}

async fn key_config_list(server: &Running) -> Vec<u8> {
    let response = server
        .client
        .get(server.url("/ohttp-keys"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/ohttp-keys");
    response.bytes().await.unwrap().to_vec()
}

/// Encrypts `inner` to `client`, posts it to /ohttp, decrypts and decodes the answer.
async fn through_gateway(server: &Running, client: ClientRequest, inner: &[u8]) -> Inner {
    let (encapsulated, decryptor) = client.encapsulate(inner).unwrap();
    let response = server
        .client
        .post(server.url("/ohttp"))
        .header("content-type", "message/ohttp-req")
        .body(encapsulated)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "message/ohttp-res");
    let encrypted = response.bytes().await.unwrap();
    let answer = decryptor.decapsulate(&encrypted).unwrap();
    let message = Message::read_bhttp(&mut Cursor::new(&answer[..])).unwrap();
    Inner {
        status: message.control().status().unwrap().code(),
        content_type: message.header().get(b"content-type").map(<[u8]>::to_vec),
        body: message.content().to_vec(),
    }
}

#[tokio::test]
async fn the_key_list_parses_and_a_status_route_answers_through_the_gateway_with_both_suites() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(&["--tls"], no_tee(dir.path())).await;
    let list = key_config_list(&server).await;
    let configs = KeyConfig::decode_list(&list).unwrap();
    assert_eq!(configs.len(), 1);
    // RFC 9458 §3: key id 1, DHKEM(X25519, HKDF-SHA256), then HKDF-SHA256 with AES-128-GCM and
    // with ChaCha20Poly1305.
    let config = &list[2..];
    assert_eq!(config[..3], [1, 0x00, 0x20]);
    assert_eq!(config[35..], [0, 8, 0, 1, 0, 1, 0, 1, 0, 3]);

    let aes = ClientRequest::from_encoded_config_list(&list).unwrap();
    let answer = through_gateway(&server, aes, &inner_request("GET", "", "/version", b"")).await;
    assert_eq!(answer.status, 200);
    assert_eq!(
        answer.body,
        prover::routes::status::COMPATIBLE_VERSION.as_bytes()
    );

    // The same key offering only the ChaCha20Poly1305 suite: the client picks it.
    let mut chacha_only = config[..35].to_vec();
    chacha_only.extend_from_slice(&[0, 4, 0, 1, 0, 3]);
    let chacha = ClientRequest::from_encoded_config(&chacha_only).unwrap();
    let answer = through_gateway(&server, chacha, &inner_request("GET", "", "/health", b"")).await;
    assert_eq!(answer.status, 200);
    let health: serde_json::Value = serde_json::from_slice(&answer.body).unwrap();
    assert_eq!(health["status"], "ok");
    server.stop().await;
}

#[tokio::test]
async fn require_encryption_refuses_plaintext_proving_and_serves_it_through_the_gateway() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(&["--require-encryption"], no_tee(dir.path())).await;
    let circuit = read("ledger-8.1.0/zswap-sign.bzkir");

    for path in ["/k", "/check", "/prove", "/prove-tx"] {
        let response = server
            .client
            .post(server.url(path))
            .body(circuit.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 403, "{path}");
        let error: serde_json::Value = response.json().await.unwrap();
        let message = error["error"].as_str().unwrap();
        assert!(message.contains("POST /ohttp"), "{message}");
        assert!(message.contains("GET /ohttp-keys"), "{message}");
        assert_eq!(error["ohttp_gateway"], "POST /ohttp");
    }
    // A header cannot stand in for the gateway's mark.
    let forged = server
        .client
        .post(server.url("/k"))
        .header("via-gateway", "1")
        .header("x-ohttp", "1")
        .body(circuit.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);
    // Routes without private data stay open.
    for path in [
        "/health",
        "/version",
        "/ready",
        "/ohttp-keys",
        "/proof-versions",
    ] {
        let response = server.client.get(server.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
    }

    let list = key_config_list(&server).await;
    let client = ClientRequest::from_encoded_config_list(&list).unwrap();
    let answer = through_gateway(&server, client, &inner_request("POST", "", "/k", &circuit)).await;
    assert_eq!(
        answer.status,
        200,
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
    assert_eq!(answer.body, b"13", "the official sign circuit has k = 13");
    // The route's own errors come back encrypted too.
    let client = ClientRequest::from_encoded_config_list(&list).unwrap();
    let answer = through_gateway(&server, client, &inner_request("POST", "", "/k", b"")).await;
    assert_eq!(answer.status, 400);
    server.stop().await;
}

#[tokio::test]
async fn the_gateway_refuses_other_targets_nesting_and_bad_envelopes_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(&[], no_tee(dir.path())).await;
    let list = key_config_list(&server).await;
    let client = || ClientRequest::from_encoded_config_list(&list).unwrap();

    // Inner refusals are answered encrypted, with the reason.
    let absolute = through_gateway(
        &server,
        client(),
        &inner_request("GET", "metadata.internal", "/latest", b""),
    )
    .await;
    assert_eq!(absolute.status, 400);
    assert!(String::from_utf8_lossy(&absolute.body).contains("relative target"));
    for path in ["/ohttp", "/no-such-route"] {
        let answer =
            through_gateway(&server, client(), &inner_request("POST", "", path, b"x")).await;
        assert_eq!(answer.status, 404, "{path}");
        assert_eq!(
            answer.content_type.as_deref(),
            Some(&b"text/plain; charset=utf-8"[..])
        );
        assert!(
            String::from_utf8_lossy(&answer.body).contains("never /ohttp"),
            "{path}"
        );
    }
    let garbage = through_gateway(&server, client(), b"\x3f not binary http").await;
    assert_eq!(garbage.status, 400);
    assert!(String::from_utf8_lossy(&garbage.body).contains("Binary HTTP"));

    // Outer refusals: wrong media type, undecryptable body, oversized body.
    let wrong_type = server
        .client
        .post(server.url("/ohttp"))
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_type.status(), 415);
    assert!(wrong_type
        .text()
        .await
        .unwrap()
        .contains("message/ohttp-req"));
    let mut wrong_key = client().encapsulate(b"x").unwrap().0;
    wrong_key[0] = 9; // another key id
    let undecryptable = server
        .client
        .post(server.url("/ohttp"))
        .header("content-type", "message/ohttp-req")
        .body(wrong_key)
        .send()
        .await
        .unwrap();
    assert_eq!(undecryptable.status(), 400);
    assert!(undecryptable
        .text()
        .await
        .unwrap()
        .contains("GET /ohttp-keys"));
    let oversized = server
        .client
        .post(server.url("/ohttp"))
        .header("content-type", "message/ohttp-req")
        .body(vec![
            0u8;
            prover::ohttp::gateway::MAX_ENCAPSULATED_REQUEST_BYTES
                + 1
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(oversized.status(), 413);
    server.stop().await;
}
