//! Release-signing keys and manifest signatures end to end, with real GnuPG making the keys,
//! signatures and revocations.

mod support;

use std::path::Path;
use std::process::Command;

use serde_json::Value;
use support::{release, TestRegistry};

fn gpg(home: &Path, args: &[&str]) -> Vec<u8> {
    let output = Command::new("gpg")
        .arg("--homedir")
        .arg(home)
        .args([
            "--batch",
            "--yes",
            "--pinentry-mode",
            "loopback",
            "--passphrase",
            "",
        ])
        .args(args)
        .output()
        .expect("gpg runs (apt-get install gnupg)");
    assert!(
        output.status.success(),
        "gpg {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

/// A fresh keyring with one Ed25519 signing key; returns its fingerprint.
fn new_key(home: &Path, uid: &str) -> String {
    gpg(home, &["--quick-gen-key", uid, "ed25519", "sign", "never"]);
    let listing = String::from_utf8(gpg(home, &["--with-colons", "--list-keys", uid])).unwrap();
    listing
        .lines()
        .find_map(|line| {
            line.strip_prefix("fpr:")
                .map(|rest| rest.trim_matches(':').to_owned())
        })
        .expect("a fingerprint")
}

async fn post_text(registry: &TestRegistry, path: &str, body: Vec<u8>) -> (u16, Value) {
    registry.post_bytes(path, body).await
}

#[tokio::test]
async fn a_gpg_signature_of_the_manifest_is_verified_stored_and_shown() {
    let registry = TestRegistry::start().await;
    assert_eq!(
        registry.post("/v1/releases", &release("8.1.0", 1)).await.0,
        201
    );
    let home = tempfile::tempdir().unwrap();
    let fingerprint = new_key(home.path(), "Release Signer <release@mpr.invalid>");
    let public = gpg(home.path(), &["--armor", "--export", &fingerprint]);

    let (status, key) = post_text(&registry, "/v1/keys", public.clone()).await;
    assert_eq!(status, 201, "{key}");
    assert_eq!(key["fingerprint"], fingerprint);
    assert_eq!(key["user_ids"][0], "Release Signer <release@mpr.invalid>");
    assert_eq!(
        post_text(&registry, "/v1/keys", public).await.0,
        200,
        "registering again updates"
    );

    let manifest = registry
        .client
        .get(registry.url("/v1/releases/8.1.0/manifest"))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let manifest_path = home.path().join("manifest.json");
    std::fs::write(&manifest_path, &manifest).unwrap();
    let signature = gpg(
        home.path(),
        &[
            "--armor",
            "--detach-sign",
            "--output",
            "-",
            manifest_path.to_str().unwrap(),
        ],
    );
    let (status, stored) = post_text(
        &registry,
        "/v1/releases/8.1.0/manifest/signatures",
        signature.clone(),
    )
    .await;
    assert_eq!(status, 201, "{stored}");
    assert_eq!(stored["key_fingerprint"], fingerprint);
    assert!(stored["key_revoked_at"].is_null());
    let (status, again) = post_text(
        &registry,
        "/v1/releases/8.1.0/manifest/signatures",
        signature.clone(),
    )
    .await;
    assert_eq!(
        (status, again["error"]["code"].as_str()),
        (409, Some("conflict"))
    );

    let (_, detail) = registry.get("/v1/releases/8.1.0").await;
    assert_eq!(detail["signatures"], 1);
    assert_eq!(
        detail["manifest"]["signatures"][0]["signature"]
            .as_str()
            .map(str::trim),
        std::str::from_utf8(&signature).ok().map(str::trim)
    );
    let (_, keys) = registry.get("/v1/keys").await;
    assert_eq!(keys.as_array().map(Vec::len), Some(1));
    let armored = registry
        .client
        .get(registry.url(&format!("/v1/keys/{}", fingerprint.to_lowercase())))
        .send()
        .await
        .unwrap();
    assert_eq!(armored.headers()["content-type"], "application/pgp-keys");
    assert!(armored
        .text()
        .await
        .unwrap()
        .starts_with("-----BEGIN PGP PUBLIC KEY BLOCK-----"));

    // Someone else's copy of the signature checks out with GnuPG too: the stored bytes are usable.
    let fetched = home.path().join("fetched.asc");
    std::fs::write(
        &fetched,
        detail["manifest"]["signatures"][0]["signature"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    gpg(
        home.path(),
        &[
            "--verify",
            fetched.to_str().unwrap(),
            manifest_path.to_str().unwrap(),
        ],
    );
}

#[tokio::test]
async fn signatures_that_do_not_verify_are_refused_with_the_reason() {
    let registry = TestRegistry::start().await;
    assert_eq!(
        registry.post("/v1/releases", &release("8.1.0", 1)).await.0,
        201
    );
    assert_eq!(
        registry
            .post("/v1/releases", &release("8.2.0", 100))
            .await
            .0,
        201
    );
    let home = tempfile::tempdir().unwrap();
    let fingerprint = new_key(home.path(), "Release Signer <release@mpr.invalid>");
    assert_eq!(
        post_text(
            &registry,
            "/v1/keys",
            gpg(home.path(), &["--armor", "--export", &fingerprint])
        )
        .await
        .0,
        201
    );

    // A signature of 8.2.0's manifest uploaded for 8.1.0.
    let other = registry
        .client
        .get(registry.url("/v1/releases/8.2.0/manifest"))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let other_path = home.path().join("other.json");
    std::fs::write(&other_path, &other).unwrap();
    let wrong = gpg(
        home.path(),
        &[
            "--armor",
            "--detach-sign",
            "--output",
            "-",
            other_path.to_str().unwrap(),
        ],
    );
    let (status, error) =
        post_text(&registry, "/v1/releases/8.1.0/manifest/signatures", wrong).await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (422, Some("signature_rejected")),
        "{error}"
    );

    // A key nobody registered.
    let stranger_home = tempfile::tempdir().unwrap();
    let stranger = new_key(stranger_home.path(), "Stranger <stranger@mpr.invalid>");
    let manifest = registry
        .client
        .get(registry.url("/v1/releases/8.1.0/manifest"))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let manifest_path = stranger_home.path().join("manifest.json");
    std::fs::write(&manifest_path, &manifest).unwrap();
    let unknown = gpg(
        stranger_home.path(),
        &[
            "--armor",
            "--detach-sign",
            "--output",
            "-",
            manifest_path.to_str().unwrap(),
        ],
    );
    let (status, error) =
        post_text(&registry, "/v1/releases/8.1.0/manifest/signatures", unknown).await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (422, Some("signature_rejected"))
    );
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains(&stranger),
        "{error}"
    );

    let (status, error) = post_text(
        &registry,
        "/v1/releases/8.1.0/manifest/signatures",
        b"not a signature".to_vec(),
    )
    .await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (422, Some("invalid_input"))
    );
    let secret = gpg(
        home.path(),
        &["--armor", "--export-secret-keys", &fingerprint],
    );
    let (status, error) = post_text(&registry, "/v1/keys", secret).await;
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
    assert_eq!(detail["signatures"], 0);
}

#[tokio::test]
async fn a_revocation_marks_the_key_and_its_signatures() {
    let registry = TestRegistry::start().await;
    assert_eq!(
        registry.post("/v1/releases", &release("8.1.0", 1)).await.0,
        201
    );
    let home = tempfile::tempdir().unwrap();
    let fingerprint = new_key(home.path(), "Release Signer <release@mpr.invalid>");
    assert_eq!(
        post_text(
            &registry,
            "/v1/keys",
            gpg(home.path(), &["--armor", "--export", &fingerprint])
        )
        .await
        .0,
        201
    );
    let manifest = registry
        .client
        .get(registry.url("/v1/releases/8.1.0/manifest"))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let manifest_path = home.path().join("manifest.json");
    std::fs::write(&manifest_path, &manifest).unwrap();
    let signature = gpg(
        home.path(),
        &[
            "--armor",
            "--detach-sign",
            "--output",
            "-",
            manifest_path.to_str().unwrap(),
        ],
    );
    assert_eq!(
        post_text(
            &registry,
            "/v1/releases/8.1.0/manifest/signatures",
            signature
        )
        .await
        .0,
        201
    );

    // gpg keeps a revocation certificate for every key it makes; its first line is escaped.
    let revocation_path = home
        .path()
        .join("openpgp-revocs.d")
        .join(format!("{fingerprint}.rev"));
    let revocation = std::fs::read_to_string(&revocation_path)
        .unwrap()
        .replace("\n:-----BEGIN", "\n-----BEGIN");
    let import_path = home.path().join("revocation.asc");
    std::fs::write(&import_path, revocation).unwrap();
    gpg(home.path(), &["--import", import_path.to_str().unwrap()]);
    let revoked = gpg(home.path(), &["--armor", "--export", &fingerprint]);

    let (status, key) = post_text(&registry, "/v1/keys", revoked.clone()).await;
    assert_eq!(status, 200, "{key}");
    assert!(key["revoked_at"].is_string());
    let (_, detail) = registry.get("/v1/releases/8.1.0").await;
    assert!(
        detail["manifest"]["signatures"][0]["key_revoked_at"].is_string(),
        "{detail}"
    );
    assert_eq!(
        detail["signatures"], 0,
        "a revoked key's signature does not count"
    );

    // A revoked key that was never registered is refused.
    let fresh = TestRegistry::start().await;
    let (status, error) = post_text(&fresh, "/v1/keys", revoked).await;
    assert_eq!(status, 422, "{error}");
    assert!(error["error"]["message"]
        .as_str()
        .unwrap()
        .contains("revoked"));
}
