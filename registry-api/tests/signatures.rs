//! Release-signing keys and manifest signatures end to end, with real GnuPG making the keys,
//! signatures and revocations.

mod gpg;
mod support;

use bytes::Bytes;
use gpg::{path_str, Gpg};
use serde_json::Value;
use support::{release, TestRegistry};

const SIGNER: &str = "Release Signer <release@mpr.invalid>";

async fn manifest(registry: &TestRegistry, version: &str) -> Bytes {
    let url = registry.url(&format!("/v1/releases/{version}/manifest"));
    registry
        .client
        .get(url)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap()
}

async fn add_signature(registry: &TestRegistry, version: &str, signature: Vec<u8>) -> (u16, Value) {
    registry
        .post_bytes(
            &format!("/v1/releases/{version}/manifest/signatures"),
            signature,
        )
        .await
}

/// A registry with release 8.1.0 (and 8.2.0), and a gpg home whose key is registered.
async fn signing_setup() -> (TestRegistry, Gpg, String) {
    let registry = TestRegistry::start().await;
    assert_eq!(registry.publish(&release("8.1.0", 1)).await.0, 201);
    assert_eq!(registry.publish(&release("8.2.0", 100)).await.0, 201);
    let gpg = Gpg::new();
    let fingerprint = gpg.gen_key(SIGNER, "ed25519", "sign");
    let (status, key) = registry.register_key(gpg.export(&fingerprint)).await;
    assert_eq!(status, 201, "{key}");
    (registry, gpg, fingerprint)
}

#[tokio::test]
async fn a_gpg_signature_of_the_manifest_is_verified_stored_and_shown() {
    let (registry, gpg, fingerprint) = signing_setup().await;
    let (_, keys) = registry.get("/v1/keys").await;
    let listed = keys
        .as_array()
        .unwrap()
        .iter()
        .find(|key| key["fingerprint"] == fingerprint.as_str())
        .unwrap_or_else(|| panic!("{fingerprint} is not listed: {keys}"));
    assert_eq!(listed["user_ids"][0], SIGNER);
    assert_eq!(
        registry.register_key(gpg.export(&fingerprint)).await.0,
        200,
        "registering again updates"
    );

    let bytes = manifest(&registry, "8.1.0").await;
    let signature = gpg.sign(&fingerprint, &bytes, true);
    let (status, stored) = add_signature(&registry, "8.1.0", signature.clone()).await;
    assert_eq!(status, 201, "{stored}");
    assert_eq!(stored["key_fingerprint"], fingerprint);
    assert!(stored["key_revoked_at"].is_null());
    let (status, again) = add_signature(&registry, "8.1.0", signature.clone()).await;
    assert_eq!(
        (status, again["error"]["code"].as_str()),
        (409, Some("conflict"))
    );

    let (_, detail) = registry.get("/v1/releases/8.1.0").await;
    assert_eq!(detail["signatures"], 2, "the recording key's and this one");
    let served = detail["manifest"]["signatures"]
        .as_array()
        .unwrap()
        .iter()
        .find(|signature| signature["key_fingerprint"] == fingerprint.as_str())
        .unwrap()["signature"]
        .as_str()
        .unwrap();
    assert_eq!(
        served.trim(),
        std::str::from_utf8(&signature).unwrap().trim()
    );
    let key_url = registry.url(&format!("/v1/keys/{}", fingerprint.to_lowercase()));
    let armored = registry.client.get(key_url).send().await.unwrap();
    assert_eq!(armored.headers()["content-type"], "application/pgp-keys");
    assert!(armored
        .text()
        .await
        .unwrap()
        .starts_with("-----BEGIN PGP PUBLIC KEY BLOCK-----"));

    // A wallet's copy of the signature checks out with GnuPG too: the stored bytes are usable.
    let signature_file = gpg.write("served.asc", served.as_bytes());
    let manifest_file = gpg.write("manifest.json", &bytes);
    gpg.run(&[
        "--verify",
        path_str(&signature_file),
        path_str(&manifest_file),
    ]);
}

#[tokio::test]
async fn signatures_that_do_not_verify_are_refused_with_the_reason() {
    let (registry, gpg, fingerprint) = signing_setup().await;

    // A signature of 8.2.0's manifest uploaded for 8.1.0.
    let wrong = gpg.sign(&fingerprint, &manifest(&registry, "8.2.0").await, true);
    let (status, error) = add_signature(&registry, "8.1.0", wrong).await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (422, Some("signature_rejected")),
        "{error}"
    );

    // A key nobody registered.
    let stranger = Gpg::new();
    let stranger_key = stranger.gen_key("Stranger <stranger@mpr.invalid>", "ed25519", "sign");
    let unknown = stranger.sign(&stranger_key, &manifest(&registry, "8.1.0").await, true);
    let (status, error) = add_signature(&registry, "8.1.0", unknown).await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (422, Some("signature_rejected"))
    );
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains(&stranger_key),
        "{error}"
    );

    let (status, error) = add_signature(&registry, "8.1.0", b"not a signature".to_vec()).await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (422, Some("invalid_input"))
    );
    let secret = gpg.run(&["--armor", "--export-secret-keys", &fingerprint]);
    let (status, error) = registry.register_key(secret).await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (422, Some("invalid_input"))
    );
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("public"),
        "{error}"
    );
    let (_, detail) = registry.get("/v1/releases/8.1.0").await;
    assert_eq!(
        detail["signatures"], 1,
        "only the signature the release was recorded with: {detail}"
    );
}

#[tokio::test]
async fn a_revocation_marks_the_key_and_its_signatures() {
    let (registry, gpg, fingerprint) = signing_setup().await;
    let signature = gpg.sign(&fingerprint, &manifest(&registry, "8.1.0").await, true);
    assert_eq!(add_signature(&registry, "8.1.0", signature).await.0, 201);

    // gpg keeps a revocation certificate for every key it makes; its armor line is escaped.
    let revocation =
        std::fs::read_to_string(gpg.path(&format!("openpgp-revocs.d/{fingerprint}.rev")))
            .unwrap()
            .replace("\n:-----BEGIN", "\n-----BEGIN");
    gpg.run(&[
        "--import",
        path_str(&gpg.write("revocation.asc", revocation.as_bytes())),
    ]);
    let revoked = gpg.export(&fingerprint);

    let (status, key) = registry.register_key(revoked.clone()).await;
    assert_eq!(status, 200, "{key}");
    assert!(key["revoked_at"].is_string());
    let (_, detail) = registry.get("/v1/releases/8.1.0").await;
    let revoked_signature = detail["manifest"]["signatures"]
        .as_array()
        .unwrap()
        .iter()
        .find(|signature| signature["key_fingerprint"] == fingerprint.as_str())
        .unwrap();
    assert!(revoked_signature["key_revoked_at"].is_string(), "{detail}");
    assert_eq!(
        detail["signatures"], 1,
        "a revoked key's signature does not count (the recording key's does)"
    );

    // A revoked key that was never registered is refused.
    let fresh = TestRegistry::start().await;
    let (status, error) = fresh.register_key(revoked).await;
    assert_eq!(status, 422, "{error}");
    assert!(error["error"]["message"]
        .as_str()
        .unwrap()
        .contains("revoked"));
}
