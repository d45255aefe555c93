//! A release is recorded only with a signature, by a registered release key, over the exact
//! statement the registry renders from it, verified in the transaction that records it: a
//! publisher token alone records nothing, and no unsigned statement is ever served or logged.

mod gpg;
mod support;

use gpg::Gpg;
use serde_json::{json, Value};
use support::signer::Signer;
use support::{release, TestRegistry};

fn with_signatures(submission: &Value, signatures: &[String]) -> Value {
    let mut signed = submission.clone();
    signed["signatures"] = json!(signatures);
    signed
}

/// The statement a submission renders to, as a publisher renders it before signing.
fn statement_of(submission: &Value) -> Vec<u8> {
    let parsed = registry_api::submission::parse_release(&serde_json::to_vec(submission).unwrap())
        .expect("a valid release");
    registry_api::statement::render(&parsed)
}

fn armored(signature: Vec<u8>) -> String {
    String::from_utf8(signature).expect("armored")
}

/// Nothing of `version` is stored or logged.
async fn assert_not_recorded(registry: &TestRegistry, version: &str) {
    let (status, _) = registry.get(&format!("/v1/releases/{version}")).await;
    assert_eq!(status, 404, "release {version} was recorded");
    let statements: i64 = sqlx::query_scalar("SELECT count(*) FROM statements")
        .fetch_one(&registry.pool)
        .await
        .unwrap();
    let entries: i64 = sqlx::query_scalar("SELECT count(*) FROM log_entries")
        .fetch_one(&registry.pool)
        .await
        .unwrap();
    assert_eq!(
        (statements, entries),
        (0, 0),
        "a statement or log entry was stored"
    );
}

fn refusal(answer: &Value) -> (&str, &str) {
    (
        answer["error"]["code"].as_str().unwrap_or_default(),
        answer["error"]["message"].as_str().unwrap_or_default(),
    )
}

#[tokio::test]
async fn a_publisher_token_alone_records_no_release() {
    let registry = TestRegistry::start().await;
    registry.release_key().await;
    let submission = release("8.1.0", 1);
    let (status, answer) = registry.post("/v1/releases", &submission).await;
    assert_eq!(status, 422, "{answer}");
    let (code, message) = refusal(&answer);
    assert_eq!(code, "signature_rejected");
    assert!(message.contains("release 8.1.0"), "{message}");
    assert!(message.contains("unsigned"), "{message}");
    assert!(message.contains("mpr registry publish"), "{message}");
    assert_not_recorded(&registry, "8.1.0").await;

    let (status, answer) = registry
        .post(
            "/v1/releases",
            &with_signatures(&submission, &["not a signature".to_owned()]),
        )
        .await;
    assert_eq!(status, 422, "{answer}");
    assert!(refusal(&answer).1.contains("ASCII-armored"), "{answer}");
    assert_not_recorded(&registry, "8.1.0").await;
}

#[tokio::test]
async fn signatures_by_unregistered_or_rebuilder_keys_are_refused() {
    let registry = TestRegistry::start().await;
    registry.release_key().await;
    let submission = release("8.1.0", 1);
    let statement = statement_of(&submission);

    let gpg = Gpg::new();
    let stranger = gpg.gen_key("Stranger <stranger@mpr.invalid>", "ed25519", "sign");
    let signature = armored(gpg.sign(&stranger, &statement, true));
    let (status, answer) = registry
        .post("/v1/releases", &with_signatures(&submission, &[signature]))
        .await;
    assert_eq!(status, 422, "{answer}");
    let (code, message) = refusal(&answer);
    assert_eq!(code, "signature_rejected");
    assert!(message.contains("not a registered key"), "{message}");
    assert!(message.contains(&stranger), "names the signer: {message}");
    assert_not_recorded(&registry, "8.1.0").await;

    // A rebuilder's key is registered, but not to vouch for releases.
    let rebuilder = Signer::generate("Rebuilder <rebuilder@mpr.invalid>");
    registry.register_rebuilder(&rebuilder).await;
    let signature = armored(rebuilder.sign(&statement));
    let (status, answer) = registry
        .post("/v1/releases", &with_signatures(&submission, &[signature]))
        .await;
    assert_eq!(status, 422, "{answer}");
    assert!(
        refusal(&answer).1.contains("not a registered key"),
        "{answer}"
    );
    assert_not_recorded(&registry, "8.1.0").await;
}

#[tokio::test]
async fn a_signature_over_other_content_is_refused() {
    let registry = TestRegistry::start().await;
    let key = registry.release_key().await;
    let signed = registry_api::testing::sign_release(&release("8.1.0", 1), key).unwrap();
    // The same signature on a submission with one PCR changed: the statement the registry renders
    // is not the one that was signed.
    let mut changed = signed.clone();
    changed["measurement_sets"][0]["measurements"][0]["registers"]["PCR0"] =
        json!(registry_api::testing::hex48(999));
    let (status, answer) = registry.post("/v1/releases", &changed).await;
    assert_eq!(status, 422, "{answer}");
    let (code, message) = refusal(&answer);
    assert_eq!(code, "signature_rejected");
    assert!(message.contains("release 8.1.0"), "{message}");
    assert_not_recorded(&registry, "8.1.0").await;

    // One good signature does not carry a bad one: the whole submission is refused.
    let mut mixed = signed.clone();
    let stranger = Signer::generate("Stranger <stranger@mpr.invalid>");
    let foreign = armored(stranger.sign(&statement_of(&release("8.1.0", 1))));
    mixed["signatures"]
        .as_array_mut()
        .unwrap()
        .push(json!(foreign));
    let (status, answer) = registry.post("/v1/releases", &mixed).await;
    assert_eq!(status, 422, "{answer}");
    assert_not_recorded(&registry, "8.1.0").await;
}

#[tokio::test]
async fn a_signed_release_is_recorded_with_its_signers_and_logged() {
    let registry = TestRegistry::start().await;
    let pipeline = registry.release_key().await;
    let pipeline_fingerprint = pipeline.fingerprint();
    let submission = release("8.1.0", 1);
    let statement = statement_of(&submission);
    // Two release keys sign before it is recorded (k of n from the start).
    let gpg = Gpg::new();
    let second = gpg.gen_key("Second Signer <second@mpr.invalid>", "ed25519", "sign");
    assert_eq!(registry.register_key(gpg.export(&second)).await.0, 201);
    let mut signed = registry_api::testing::sign_release(&submission, pipeline).unwrap();
    signed["signatures"]
        .as_array_mut()
        .unwrap()
        .push(json!(armored(gpg.sign(&second, &statement, true))));
    let (status, created) = registry.post("/v1/releases", &signed).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(
        created["manifest_sha256"],
        registry_api::statement::sha256(&statement)
    );

    let served = registry.get_bytes("/v1/releases/8.1.0/statement").await;
    assert_eq!(served, statement, "served exactly as signed");
    let (status, signatures) = registry
        .get("/v1/releases/8.1.0/statement/signatures")
        .await;
    assert_eq!(status, 200);
    let mut signers: Vec<&str> = signatures
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["key_fingerprint"].as_str().unwrap())
        .collect();
    signers.sort_unstable();
    let mut expected = vec![pipeline_fingerprint.as_str(), second.as_str()];
    expected.sort_unstable();
    assert_eq!(signers, expected);
    let submitted_by: Vec<String> =
        sqlx::query_scalar("SELECT DISTINCT submitted_by FROM statement_signatures")
            .fetch_all(&registry.pool)
            .await
            .unwrap();
    let publisher: String =
        sqlx::query_scalar("SELECT created_by_token FROM releases WHERE version = '8.1.0'")
            .fetch_one(&registry.pool)
            .await
            .unwrap();
    assert_eq!(submitted_by, [publisher], "every write names its token");
    let (_, statements) = registry.get("/v1/releases/8.1.0/statements").await;
    assert_eq!(statements[0]["kind"], "release", "{statements}");
    assert!(statements[0]["log_index"].is_i64(), "{statements}");
    assert_eq!(
        statements[0]["signatures"].as_array().map(Vec::len),
        Some(2),
        "{statements}"
    );
}
