// Shared by the test binaries that submit signed statements; each uses part of it.
#![allow(dead_code)]

//! A publisher with a GnuPG key registered at a test registry, rendering statements with the
//! registry's own renderer and submitting them with detached signatures.

use serde_json::{json, Value};
use verifier::statement::SetStatus;

use super::gpg::Gpg;
use super::support::TestRegistry;

pub struct Signer {
    pub gpg: Gpg,
    pub fingerprint: String,
}

impl Signer {
    /// A fresh ed25519 key, not registered anywhere.
    pub fn new(uid: &str) -> Signer {
        let gpg = Gpg::new();
        let fingerprint = gpg.gen_key(uid, "ed25519", "sign");
        Signer { gpg, fingerprint }
    }

    /// A fresh key registered at `registry` as a release key.
    pub async fn registered(registry: &TestRegistry, uid: &str) -> Signer {
        let signer = Signer::new(uid);
        let (status, key) = registry
            .register_key(signer.gpg.export(&signer.fingerprint))
            .await;
        assert_eq!(status, 201, "{key}");
        signer
    }

    pub fn sign(&self, bytes: &[u8]) -> String {
        String::from_utf8(self.gpg.sign(&self.fingerprint, bytes, true)).expect("armored")
    }
}

/// POST /v1/statements with the statement's bytes and these signatures.
pub async fn submit(
    registry: &TestRegistry,
    statement: &[u8],
    signatures: &[String],
) -> (u16, Value) {
    let body = json!({
        "statement": std::str::from_utf8(statement).expect("statements are UTF-8"),
        "signatures": signatures,
    });
    registry.post("/v1/statements", &body).await
}

/// The release's statement digest and the set's next status sequence, as the CLI reads them.
pub async fn release_state(registry: &TestRegistry, version: &str, set: &str) -> (String, u32) {
    let (status, detail) = registry.get(&format!("/v1/releases/{version}")).await;
    assert_eq!(status, 200, "{detail}");
    let sha256 = detail["manifest"]["sha256"]
        .as_str()
        .expect("statement digest")
        .to_owned();
    let sequence = detail["measurement_sets"]
        .as_array()
        .expect("sets")
        .iter()
        .find(|s| s["name"] == set)
        .map_or(0, |s| s["status_sequence"].as_u64().expect("sequence"));
    (sha256, sequence as u32 + 1)
}

/// A status change rendered against the registry's current state.
pub async fn status_statement(
    registry: &TestRegistry,
    version: &str,
    set: &str,
    status: SetStatus,
    reason: &str,
) -> Vec<u8> {
    let (release_sha256, sequence) = release_state(registry, version, set).await;
    registry_api::statement::set_status_statement(
        version,
        &release_sha256,
        set,
        sequence,
        status,
        reason,
    )
    .to_bytes()
}
