//! GCP Confidential Space against a local launcher double (`common::service_double::launcher`),
//! which checks the token request as go-tpm-tools' teeserver and Google's attestation service do:
//! the token reaches the `mpr-attestation/v1` envelope, the launcher saw `eat_nonce` =
//! hex(SHA-256(binding)) for the envelope's binding, and every failure is a clear error or a 503.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::running::{base64_field, expected_binding, no_tee, start, start_with};
use common::service_double::{launcher, Behaviour};
use prover::attestation::confidential_space::{eat_nonce, MAX_TOKEN_LEN};
use prover::attestation::{
    AttestationChoice, AttestationError, Attester, Launcher, Nonce, Platform,
};

/// A token as the service signs them: header.claims.signature, base64url.
const TOKEN: &[u8] =
    b"eyJhbGciOiJSUzI1NiIsImtpZCI6InRlc3QifQ.eyJhdWQiOiJtcHItYXR0ZXN0YXRpb24ifQ.c2lnbmF0dXJl";
const BINDING: [u8; 64] = [0x17; 64];

fn launcher_at(dir: &Path, timeout: Duration) -> Launcher {
    Launcher {
        socket: dir.join("teeserver.sock"),
        timeout,
        ..Launcher::default()
    }
}

#[test]
fn the_token_request_carries_the_hashed_binding_audience_and_type() {
    let dir = tempfile::tempdir().unwrap();
    let mut client = launcher_at(dir.path(), Duration::from_secs(10));
    let double = launcher(&client.socket, Behaviour::Answer(TOKEN.to_vec()));
    assert_eq!(client.token(&BINDING).unwrap(), TOKEN);
    client.audience = "https://wallet.example".into();
    client.token_type = prover::attestation::TokenType::Pki;
    assert_eq!(client.token(&BINDING).unwrap(), TOKEN);
    let seen = double.requests();
    assert_eq!(
        seen[0],
        serde_json::json!({
            "audience": "mpr-attestation",
            "nonces": [eat_nonce(&BINDING)],
            "token_type": "OIDC",
        })
    );
    assert_eq!(seen[1]["audience"], "https://wallet.example");
    assert_eq!(seen[1]["token_type"], "PKI");
}

#[test]
fn launcher_failures_are_errors_that_say_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let client = launcher_at(dir.path(), Duration::from_millis(500));
    // No launcher at all.
    let error = client.token(&BINDING).unwrap_err();
    let message = error.to_string();
    assert!(
        matches!(error, AttestationError::Launcher { .. }),
        "{message}"
    );
    assert!(message.contains("teeserver.sock"), "{message}");
    assert!(message.contains("cannot connect"), "{message}");
    assert!(message.contains("--launcher-socket"), "{message}");
    let cases = [
        (
            Behaviour::Fail(
                400,
                "failed to retrieve custom attestation service token: bad nonce",
            ),
            &["HTTP 400", "bad nonce", "--token-audience"][..],
        ),
        (
            Behaviour::Fail(
                500,
                "no GCA verifier client present, please try rebooting your VM",
            ),
            &["HTTP 500", "rebooting your VM", "retry later"][..],
        ),
        (
            Behaviour::Answer(vec![b'a'; MAX_TOKEN_LEN + 1]),
            &["larger than 65536 bytes", "not a token"][..],
        ),
        (
            Behaviour::Answer(b"<html>not a token</html>".to_vec()),
            &["not a compact JWS"][..],
        ),
        (Behaviour::Hang, &["no complete answer within 0.5 s"][..]),
    ];
    for (behaviour, needles) in cases {
        let _ = std::fs::remove_file(&client.socket);
        let _double = launcher(&client.socket, behaviour);
        let started = Instant::now();
        let message = client.token(&BINDING).unwrap_err().to_string();
        assert!(started.elapsed() < Duration::from_secs(5), "{message}");
        assert!(
            message.starts_with("Confidential Space launcher"),
            "{message}"
        );
        for needle in needles {
            assert!(message.contains(needle), "{needle:?} not in {message}");
        }
    }
}

#[tokio::test]
async fn the_envelope_carries_the_token_for_the_binding_of_nonce_and_keys() {
    let dir = tempfile::tempdir().unwrap();
    let mut devices = no_tee(dir.path());
    // A TPM is there too (as on any GCE VM's host): the launcher's socket still wins.
    std::fs::write(&devices.tpm, b"").unwrap();
    let double = launcher(&devices.launcher.socket, Behaviour::Answer(TOKEN.to_vec()));
    devices.choice = AttestationChoice::Auto;
    let server = start(&["--tls"], devices).await;
    let nonce_hex = "5e".repeat(32);
    let envelope = server
        .get_json(&format!("/attestation?nonce={nonce_hex}"))
        .await;
    assert_eq!(envelope["platform"], "gcp-confidential-space");
    let evidence = base64_field(&envelope, "evidence");
    assert_eq!(evidence, TOKEN, "the token's ASCII bytes, base64");
    let expected = expected_binding(&envelope, &nonce_hex, server.spki.as_deref());
    let seen = double.requests();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0]["nonces"], serde_json::json!([eat_nonce(&expected)]));
    for absent in ["snp_certificate_table", "tpm_signature", "azure_hcl_report"] {
        assert!(envelope.get(absent).is_none(), "{absent} in {envelope}");
    }
    server.stop().await;
}

#[tokio::test]
async fn the_flags_choose_socket_audience_and_type_and_failures_answer_503() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("elsewhere.sock");
    let double = launcher(&socket, Behaviour::Answer(TOKEN.to_vec()));
    let args = [
        "--attestation",
        "confidential-space",
        "--launcher-socket",
        socket.to_str().unwrap(),
        "--token-audience",
        "midnight-wallet",
        "--token-type",
        "pki",
        "--attestation-timeout",
        "0.5",
    ];
    let devices_dir = dir.path().to_owned();
    let server = start_with(&args, |flags| prover::attestation::DevicePaths {
        launcher: flags.launcher.clone(),
        choice: flags.choice,
        ..no_tee(&devices_dir)
    })
    .await;
    let envelope = server
        .get_json(&format!("/attestation?nonce={}", "01".repeat(16)))
        .await;
    assert_eq!(envelope["platform"], "gcp-confidential-space");
    let seen = double.requests();
    assert_eq!(seen[0]["audience"], "midnight-wallet");
    assert_eq!(seen[0]["token_type"], "PKI");
    // The launcher goes away: 503 naming it, not a panic or a made-up token.
    drop(double);
    let response = server
        .client
        .get(server.url(&format!("/attestation?nonce={}", "02".repeat(16))))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    let body = response.text().await.unwrap();
    assert!(body.contains("elsewhere.sock"), "{body}");
    // It hangs: 503 after the timeout.
    let _ = std::fs::remove_file(&socket);
    let _hung = launcher(&socket, Behaviour::Hang);
    let started = Instant::now();
    let response = server
        .client
        .get(server.url(&format!("/attestation?nonce={}", "03".repeat(16))))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    assert!(started.elapsed() < Duration::from_secs(5));
    let body = response.text().await.unwrap();
    assert!(body.contains("no complete answer within 0.5 s"), "{body}");
    server.stop().await;
}

#[test]
fn a_forced_launcher_that_is_absent_stops_detection_and_empty_audiences_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut devices = no_tee(dir.path());
    devices.choice = AttestationChoice::ConfidentialSpace;
    let error = Attester::detect(&devices).unwrap_err();
    assert!(
        error
            .to_string()
            .contains("--attestation confidential-space"),
        "{error}"
    );
    let _double = launcher(&devices.launcher.socket, Behaviour::Answer(TOKEN.to_vec()));
    let evidence = Attester::detect(&devices)
        .unwrap()
        .attest(
            &Nonce::from_hex(&"aa".repeat(16)).unwrap(),
            None,
            b"key config",
        )
        .unwrap();
    assert_eq!(evidence.platform, Platform::GcpConfidentialSpace);
    assert_eq!(evidence.document, TOKEN);
    let parse = |args: &[&str]| {
        <prover::config::Config as clap::Parser>::try_parse_from(
            std::iter::once("proof-server").chain(args.iter().copied()),
        )
    };
    assert!(parse(&["--token-audience", ""]).is_err());
    assert!(parse(&["--token-type", "aws"]).is_err());
    assert!(parse(&["--attestation-timeout", "0"]).is_err());
    let defaults = parse(&[]).unwrap().devices();
    assert_eq!(defaults.launcher, Launcher::default());
    assert_eq!(
        defaults.launcher.socket,
        Path::new("/run/container_launcher/teeserver.sock")
    );
}
