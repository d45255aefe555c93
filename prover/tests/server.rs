//! The proof server over real sockets: TLS with the start-up key, the status endpoints, attestation
//! answers on a machine without a TEE (the devices named, with and without TLS), and graceful shutdown.

mod common;

use common::running::{no_tee, start};

#[tokio::test]
async fn status_endpoints_answer_like_the_official_server_over_tls() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(&["--tls", "--job-capacity", "4"], no_tee(dir.path())).await;
    assert!(server.spki.is_some());

    for path in ["/", "/health"] {
        let health: serde_json::Value = server
            .client
            .get(server.url(path))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(health["status"], "ok", "{path}");
        assert!(health["timestamp"].is_string(), "{path}: {health}");
    }
    let ready = server
        .client
        .get(server.url("/ready"))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
    let ready: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(ready["status"], "ok");
    assert_eq!(ready["jobCapacity"], 4);
    assert_eq!(ready["jobsPending"], 0);
    assert_eq!(ready["jobsProcessing"], 0);

    let version = server.get_text("/version").await;
    assert_eq!(version, prover::routes::status::COMPATIBLE_VERSION);

    let metrics = server.get_text("/metrics").await;
    assert!(metrics.contains("proof_server_jobs_pending"), "{metrics}");
    assert!(
        metrics.contains("proof_server_jobs_processing"),
        "{metrics}"
    );
    server.stop().await;
}

#[tokio::test]
async fn attestation_without_a_tee_is_503_naming_the_devices_never_a_document() {
    let dir = tempfile::tempdir().unwrap();
    let devices = no_tee(dir.path());
    let nsm = devices.nsm.display().to_string();
    let tsm = devices.tsm_reports.display().to_string();
    let server = start(&["--tls"], devices).await;
    let response = server
        .client
        .get(server.url(&format!("/attestation?nonce={}", "ab".repeat(32))))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    let message = response.text().await.unwrap();
    assert!(message.contains(&nsm), "{message}");
    assert!(message.contains(&tsm), "{message}");
    assert!(message.contains("not running inside a TEE"), "{message}");
    server.stop().await;
}

#[tokio::test]
async fn attestation_refuses_bad_nonces_and_needs_a_tee_not_tls() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(&["--tls"], no_tee(dir.path())).await;
    for (query, needle) in [
        ("", "missing nonce"),
        ("?nonce=", "missing nonce"),
        ("?nonce=xyz", "hexadecimal"),
        ("?nonce=abcd", "2 bytes"),
    ] {
        let url = server.url(&format!("/attestation{query}"));
        let response = server.client.get(url).send().await.unwrap();
        assert_eq!(response.status(), 400, "{query}");
        let message = response.text().await.unwrap();
        assert!(message.contains(needle), "{query}: {message}");
    }
    let huge = server.url(&format!("/attestation?nonce={}", "00".repeat(4096)));
    assert_eq!(server.client.get(huge).send().await.unwrap().status(), 400);
    server.stop().await;

    // Without TLS the binding covers an empty key (the OHTTP key config still binds the channel):
    // no TLS refusal any more, only the missing device.
    let plain = start(&[], no_tee(dir.path())).await;
    let response = plain
        .client
        .get(plain.url(&format!("/attestation?nonce={}", "ab".repeat(32))))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    let message = response.text().await.unwrap();
    assert!(message.contains("not running inside a TEE"), "{message}");
    assert!(!message.contains("--tls"), "{message}");
    plain.stop().await;
}

#[tokio::test]
async fn tls_presents_the_certificate_generated_at_start_up() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(&["--tls"], no_tee(dir.path())).await;
    // A handshake with the server's own certificate as the only root succeeds only if the server
    // presents that certificate, whose key is the one reported as tls_public_key.
    let response = server
        .client
        .get(server.url("/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let other = prover::tls::TlsIdentity::generate(&["localhost".to_string()]).unwrap();
    let stranger = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_der(other.certificate_der()).unwrap())
        .use_rustls_tls()
        .build()
        .unwrap();
    assert!(stranger.get(server.url("/health")).send().await.is_err());
    server.stop().await;
}

#[tokio::test]
async fn an_oversized_body_is_refused_with_413_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(&[], no_tee(dir.path())).await;
    let body = vec![0u8; prover::routes::proving::MAX_BODY_BYTES + 1];
    let response = server
        .client
        .post(server.url("/k"))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    // Nothing reached the queue.
    let metrics = server.get_text("/metrics").await;
    assert!(!metrics.contains("endpoint=\"k\""), "{metrics}");
    server.stop().await;
}
