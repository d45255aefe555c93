//! Statements end to end on a real PostgreSQL with real GnuPG signatures: the release statement's
//! bytes, signed status changes and addenda, what wallets are told, and what is refused.

mod gpg;
mod signed;
mod support;

use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use signed::{release_state, status_statement, submit, Signer};
use support::{hex32, hex48, release, TestRegistry};
use verifier::statement::{self as shape, SetStatus};

const SIGNER: &str = "Release Signer <release@mpr.invalid>";

async fn raw(registry: &TestRegistry, path: &str) -> (u16, Vec<u8>) {
    let response = registry
        .client
        .get(registry.url(path))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.bytes().await.unwrap().to_vec())
}

/// The JSON Schema of `file` in schemas/, with the shared definitions it refers to.
fn schema_validator(file: &str) -> jsonschema::Validator {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../schemas");
    let read = |name: &str| -> Value {
        serde_json::from_slice(&std::fs::read(dir.join(name)).unwrap()).unwrap()
    };
    let registry = jsonschema::Registry::new()
        .add(
            "https://mpr.dev/schemas/attestation/common.json",
            read("common.json"),
        )
        .unwrap()
        .prepare()
        .unwrap();
    jsonschema::options()
        .with_registry(&registry)
        .build(&read(file))
        .unwrap()
}

fn assert_schema(file: &str, bytes: &[u8]) {
    let instance: Value = serde_json::from_slice(bytes).unwrap();
    let validator = schema_validator(file);
    let errors: Vec<String> = validator
        .iter_errors(&instance)
        .map(|e| e.to_string())
        .collect();
    assert!(errors.is_empty(), "{file}: {errors:?}");
}

#[tokio::test]
async fn the_release_statement_is_deterministic_in_toto_matches_its_schema_and_is_served_as_signed()
{
    let submission = release("8.1.0", 7);
    let mut reordered = submission.clone();
    reordered["build"]["artifacts"]
        .as_array_mut()
        .unwrap()
        .reverse();
    reordered["measurement_sets"][0]["measurements"]
        .as_array_mut()
        .unwrap()
        .reverse();
    let render = |value: &Value| {
        registry_api::statement::render(&serde_json::from_value(value.clone()).unwrap())
    };
    let bytes = render(&submission);
    assert_eq!(
        bytes,
        render(&reordered),
        "order of submission does not matter"
    );
    assert_schema("release.v1.json", &bytes);
    let parsed = shape::parse_release_statement(&bytes).unwrap();
    assert_eq!(
        parsed.subject.len(),
        2,
        "every official artifact is a subject"
    );
    assert_eq!(parsed.subject[0].name, "image.tar");
    assert_eq!(parsed.subject[1].digest["sha384"], hex48(11));
    assert_eq!(parsed.predicate.source.commit, format!("{:040x}", 8));
    assert_eq!(parsed.predicate.recipe.sha256, hex32(9));
    assert_eq!(
        parsed.predicate.build_record.as_ref().unwrap().sha256,
        hex32(10)
    );
    let snp = &parsed.predicate.measurement_sets[0].measurements[1];
    assert_eq!(
        (snp.platform.as_str(), &snp.parameters["vcpus"]),
        ("sev-snp", &json!(2))
    );
    assert_eq!(snp.parameters["firmware_sha256"], json!(hex32(27)));

    // A bad builder image is refused with the release; a good one is in the statement.
    let registry = TestRegistry::start().await;
    let mut with_image = submission.clone();
    with_image["build"]["builder_image"] = json!("mpr-builder:latest");
    let (status, error) = registry.publish(&with_image).await;
    assert_eq!(status, 422, "{error}");
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("never a tag"),
        "{error}"
    );
    with_image["build"]["builder_image"] = json!(format!("sha256:{}", hex32(12)));
    let (status, created) = registry.publish(&with_image).await;
    assert_eq!(status, 201, "{created}");
    let sha256 = created["manifest_sha256"].as_str().unwrap().to_owned();

    let (_, served) = raw(&registry, "/v1/releases/8.1.0/statement").await;
    assert_eq!(hex::encode(Sha256::digest(&served)), sha256);
    assert_eq!(
        served,
        render(&with_image),
        "served byte for byte as rendered"
    );
    assert_eq!(
        raw(&registry, "/v1/releases/8.1.0/manifest").await.1,
        served
    );
    assert_eq!(
        raw(&registry, &format!("/v1/statements/{sha256}")).await.1,
        served
    );
    let parsed = shape::parse_release_statement(&served).unwrap();
    assert_eq!(
        parsed.predicate.builder_image.as_deref(),
        Some(format!("sha256:{}", hex32(12)).as_str())
    );
    let (status, listed) = registry.get("/v1/releases/8.1.0/statements").await;
    assert_eq!(status, 200);
    assert_eq!(listed[0]["kind"], "release");
    assert_eq!(listed[0]["sha256"], sha256.as_str());
    assert!(listed[0]["created_by"]
        .as_str()
        .unwrap()
        .starts_with("publisher-"));

    // Recorded statements are immutable in the database itself.
    let error = sqlx::query("UPDATE statements SET created_by = 'someone else'")
        .execute(&registry.pool)
        .await
        .unwrap_err();
    assert!(error.to_string().contains("immutable"), "{error}");
}

#[tokio::test]
async fn a_signed_status_change_deprecates_a_set_and_every_wallet_answer_follows() {
    let registry = TestRegistry::start().await;
    assert_eq!(registry.publish(&release("8.1.0", 1)).await.0, 201);
    assert_eq!(registry.publish(&release("8.2.0", 100)).await.0, 201);
    let signer = Signer::registered(&registry, SIGNER).await;
    let (_, active) = registry.get("/v1/measurement-sets").await;
    assert_eq!(
        active["measurements"].as_array().map(Vec::len),
        Some(6),
        "both releases"
    );
    let first = &active["measurements"][0];
    assert_eq!(first["statement"]["kind"], "release");
    assert!(first["status_statement"].is_null());
    // Read once so the answer is cached, then change it.
    let (_, snp) = registry.get("/v1/measurement-sets?platform=sev-snp").await;
    assert_eq!(snp["measurements"].as_array().map(Vec::len), Some(4));

    let deprecation = status_statement(
        &registry,
        "8.1.0",
        "default",
        SetStatus::Deprecated,
        "SEV firmware advisory",
    )
    .await;
    assert_schema("set-status.v1.json", &deprecation);
    let deprecation_sha256 = hex::encode(Sha256::digest(&deprecation));
    let (status, stored) = submit(&registry, &deprecation, &[signer.sign(&deprecation)]).await;
    assert_eq!(status, 201, "{stored}");
    assert_eq!(stored["kind"], "set-status");
    assert_eq!(stored["sha256"], deprecation_sha256.as_str());
    assert_eq!(
        stored["signatures"][0]["key_fingerprint"],
        signer.fingerprint.as_str()
    );
    assert_eq!(stored["status_change"]["status"], "deprecated");
    assert_eq!(stored["status_change"]["sequence"], 1);

    let (_, active) = registry.get("/v1/measurement-sets").await;
    assert!(active["measurements"]
        .as_array()
        .unwrap()
        .iter()
        .all(|m| m["version"] == "8.2.0"));
    let (_, snp) = registry.get("/v1/measurement-sets?platform=sev-snp").await;
    assert_eq!(
        snp["measurements"].as_array().map(Vec::len),
        Some(2),
        "the cached answer was dropped"
    );
    let (_, of_release) = registry.get("/v1/releases/8.1.0/measurements").await;
    assert_eq!(
        of_release["measurements"],
        json!([]),
        "active sets only by default"
    );
    let (_, everything) = registry
        .get("/v1/releases/8.1.0/measurements?status=any")
        .await;
    let deprecated = &everything["measurements"][0];
    assert_eq!(deprecated["set_status"], "deprecated");
    assert_eq!(
        deprecated["status_statement"]["sha256"],
        deprecation_sha256.as_str()
    );
    assert_eq!(deprecated["status_statement"]["kind"], "set-status");
    let (_, lookup) = registry
        .get(&format!("/v1/measurements/{}", hex48(11)))
        .await;
    assert_eq!(
        lookup["matches"],
        json!([]),
        "a deprecated value is not offered by default"
    );
    let (_, lookup) = registry
        .get(&format!("/v1/measurements/{}?status=any", hex48(11)))
        .await;
    assert_eq!(
        lookup["matches"][0]["status_statement"]["sha256"],
        deprecation_sha256.as_str()
    );
    let (_, wrong) = registry.get("/v1/measurement-sets?status=retired").await;
    assert!(wrong["error"]["message"]
        .as_str()
        .unwrap()
        .contains("active, deprecated or any"));

    // The same statement again: the existing record, nothing new.
    let (status, again) = submit(&registry, &deprecation, &[signer.sign(&deprecation)]).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["sha256"], deprecation_sha256.as_str());
    // Deprecating again, or skipping a sequence number, is refused.
    let repeat = registry_api::statement::set_status_statement(
        "8.1.0",
        &release_state(&registry, "8.1.0", "default").await.0,
        "default",
        2,
        SetStatus::Deprecated,
        "again",
    )
    .to_bytes();
    let (status, error) = submit(&registry, &repeat, &[signer.sign(&repeat)]).await;
    assert_eq!(status, 409, "{error}");
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("already deprecated"),
        "{error}"
    );
    let skipped = registry_api::statement::set_status_statement(
        "8.1.0",
        &release_state(&registry, "8.1.0", "default").await.0,
        "default",
        5,
        SetStatus::Active,
        "skip",
    )
    .to_bytes();
    let (status, error) = submit(&registry, &skipped, &[signer.sign(&skipped)]).await;
    assert_eq!(status, 409, "{error}");
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("sequence 5"),
        "{error}"
    );

    // Re-activation is sequence 2; replaying the deprecation afterwards changes nothing.
    let reactivation = status_statement(
        &registry,
        "8.1.0",
        "default",
        SetStatus::Active,
        "advisory withdrawn",
    )
    .await;
    assert_eq!(
        submit(&registry, &reactivation, &[signer.sign(&reactivation)])
            .await
            .0,
        201
    );
    assert_eq!(
        submit(&registry, &deprecation, &[signer.sign(&deprecation)])
            .await
            .0,
        200
    );
    let (_, active) = registry.get("/v1/measurement-sets").await;
    assert_eq!(active["measurements"].as_array().map(Vec::len), Some(6));
    let (_, detail) = registry.get("/v1/releases/8.1.0").await;
    let set = &detail["measurement_sets"][0];
    assert_eq!(
        (set["status"].as_str(), set["status_sequence"].as_i64()),
        (Some("active"), Some(2))
    );
    let history: Vec<(&str, &str)> = detail["statements"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| {
            Some((
                s["status_change"]["status"].as_str()?,
                s["status_change"]["reason"].as_str()?,
            ))
        })
        .collect();
    assert_eq!(
        history,
        [
            ("deprecated", "SEV firmware advisory"),
            ("active", "advisory withdrawn")
        ]
    );

    let (_, unknown) = registry.get("/v1/releases/8.1.0").await;
    let nope = registry_api::statement::set_status_statement(
        "8.1.0",
        unknown["manifest"]["sha256"].as_str().unwrap(),
        "nope",
        1,
        SetStatus::Deprecated,
        "x",
    )
    .to_bytes();
    assert_eq!(submit(&registry, &nope, &[signer.sign(&nope)]).await.0, 404);
}

#[tokio::test]
async fn statements_without_a_valid_signature_by_a_registered_key_are_refused_by_name() {
    let registry = TestRegistry::start().await;
    assert_eq!(registry.publish(&release("8.1.0", 1)).await.0, 201);
    let signer = Signer::registered(&registry, SIGNER).await;
    let statement =
        status_statement(&registry, "8.1.0", "default", SetStatus::Deprecated, "test").await;

    let (status, error) = submit(&registry, &statement, &[]).await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (422, Some("signature_rejected")),
        "{error}"
    );
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("unsigned"),
        "{error}"
    );

    let stranger = Signer::new("Stranger <stranger@mpr.invalid>");
    let (status, error) = submit(&registry, &statement, &[stranger.sign(&statement)]).await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (422, Some("signature_rejected")),
        "{error}"
    );
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains(&stranger.fingerprint),
        "{error}"
    );

    // A registered key's signature of other bytes, and a good signature next to a forged one.
    let other = status_statement(
        &registry,
        "8.1.0",
        "default",
        SetStatus::Deprecated,
        "other",
    )
    .await;
    let forged = signer.sign(&other);
    let (status, error) = submit(&registry, &statement, std::slice::from_ref(&forged)).await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (422, Some("signature_rejected")),
        "{error}"
    );
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains(&signer.fingerprint),
        "{error}"
    );
    let (status, _) = submit(&registry, &statement, &[signer.sign(&statement), forged]).await;
    assert_eq!(status, 422);

    let (status, error) = submit(&registry, &statement, &["not a signature".to_owned()]).await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (422, Some("invalid_input")),
        "{error}"
    );

    // Signed, but not canonical, or about another release statement.
    let compact =
        serde_json::to_vec(&serde_json::from_slice::<Value>(&statement).unwrap()).unwrap();
    let (status, error) = submit(&registry, &compact, &[signer.sign(&compact)]).await;
    assert_eq!(status, 422, "{error}");
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("canonical"),
        "{error}"
    );
    let elsewhere = registry_api::statement::set_status_statement(
        "8.1.0",
        &hex32(5),
        "default",
        1,
        SetStatus::Deprecated,
        "x",
    )
    .to_bytes();
    let (status, error) = submit(&registry, &elsewhere, &[signer.sign(&elsewhere)]).await;
    assert_eq!(status, 422, "{error}");
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("subject"),
        "{error}"
    );
    let (status, error) = registry
        .post(
            "/v1/statements",
            &json!({"statement": "{}", "signatures": [], "extra": 1}),
        )
        .await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (422, Some("invalid_input")),
        "{error}"
    );

    // Nothing of it was stored or applied.
    let (_, detail) = registry.get("/v1/releases/8.1.0").await;
    assert_eq!(detail["statements"].as_array().map(Vec::len), Some(1));
    assert_eq!(detail["measurement_sets"][0]["status"], "active");
}

/// A registry with release 8.1.0 recorded and a registered release signer, and the release
/// statement's SHA-256 (what addenda name).
async fn release_with_signer() -> (TestRegistry, Signer, String) {
    let registry = TestRegistry::start().await;
    assert_eq!(registry.publish(&release("8.1.0", 1)).await.0, 201);
    let signer = Signer::registered(&registry, SIGNER).await;
    let (release_sha256, _) = release_state(&registry, "8.1.0", "default").await;
    (registry, signer, release_sha256)
}

/// Signs and submits an addendum to release 8.1.0 adding the measurement set `set` (JSON).
async fn submit_set(
    registry: &TestRegistry,
    signer: &Signer,
    release_sha256: &str,
    set: Value,
) -> (u16, Value) {
    let set: registry_api::submission::MeasurementSetSubmission =
        serde_json::from_value(set).unwrap();
    let addendum =
        registry_api::statement::set_addendum_statement("8.1.0", release_sha256, &set).to_bytes();
    submit(registry, &addendum, &[signer.sign(&addendum)]).await
}

#[tokio::test]
async fn an_addendum_adds_a_set_whose_values_name_it() {
    let (registry, signer, release_sha256) = release_with_signer().await;
    let set: registry_api::submission::MeasurementSetSubmission = serde_json::from_value(json!({
        "name": "milan-8",
        "measurements": [{"platform": "sev-snp",
            "parameters": {"vcpus": 8, "vmm": "qemu", "vcpu_type": "EPYC-Milan-v2", "firmware_sha256": hex32(21), "guest_features": "0x1"},
            "registers": {"MEASUREMENT": hex48(500)}}]
    })).unwrap();
    let addendum =
        registry_api::statement::set_addendum_statement("8.1.0", &release_sha256, &set).to_bytes();
    assert_schema("set-addendum.v1.json", &addendum);
    let sha256 = hex::encode(Sha256::digest(&addendum));
    let (status, stored) = submit(&registry, &addendum, &[signer.sign(&addendum)]).await;
    assert_eq!(status, 201, "{stored}");
    assert_eq!(stored["kind"], "set-addendum");
    assert_eq!(
        submit(&registry, &addendum, &[signer.sign(&addendum)])
            .await
            .0,
        200,
        "idempotent"
    );
    assert_eq!(
        raw(&registry, &format!("/v1/statements/{sha256}")).await.1,
        addendum
    );

    let (_, lookup) = registry
        .get(&format!("/v1/measurements/{}", hex48(500)))
        .await;
    let found = &lookup["matches"][0];
    assert_eq!(
        (found["set"].as_str(), found["register"].as_str()),
        (Some("milan-8"), Some("MEASUREMENT"))
    );
    assert_eq!(found["statement"]["kind"], "set-addendum");
    assert_eq!(found["statement"]["sha256"], sha256.as_str());
    let (_, snp8) = registry
        .get("/v1/releases/8.1.0/measurements?platform=sev-snp&vcpus=8")
        .await;
    assert_eq!(snp8["measurements"].as_array().map(Vec::len), Some(1));
    let (_, detail) = registry.get("/v1/releases/8.1.0").await;
    let names: Vec<&str> = detail["measurement_sets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["default", "milan-8"]);

    // The added set can be deprecated like any other.
    let deprecation = status_statement(
        &registry,
        "8.1.0",
        "milan-8",
        SetStatus::Deprecated,
        "wrong firmware",
    )
    .await;
    assert_eq!(
        submit(&registry, &deprecation, &[signer.sign(&deprecation)])
            .await
            .0,
        201
    );
    let (_, lookup) = registry
        .get(&format!("/v1/measurements/{}", hex48(500)))
        .await;
    assert_eq!(lookup["matches"], json!([]));

    // A set name taken, and a measurement the platform rules refuse.
    let mut taken = set.clone();
    taken.name = "default".to_owned();
    let statement =
        registry_api::statement::set_addendum_statement("8.1.0", &release_sha256, &taken)
            .to_bytes();
    let (status, error) = submit(&registry, &statement, &[signer.sign(&statement)]).await;
    assert_eq!(status, 409, "{error}");
    let mut incomplete = set.clone();
    incomplete.name = "broken".to_owned();
    incomplete.measurements[0].registers.clear();
    incomplete.measurements[0]
        .registers
        .insert("MEASUREMENT".to_owned(), json!(hex32(1)));
    let statement =
        registry_api::statement::set_addendum_statement("8.1.0", &release_sha256, &incomplete)
            .to_bytes();
    let (status, error) = submit(&registry, &statement, &[signer.sign(&statement)]).await;
    assert_eq!(status, 422, "{error}");
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("MEASUREMENT"),
        "{error}"
    );
}

#[tokio::test]
async fn upgrading_keeps_manifests_signatures_and_deprecations_as_statements() {
    let cluster_url = support::cluster().postgres.database_url().to_owned();
    let url = support::fresh_database(&cluster_url).await;
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    // Back to the schema before statements, with a release recorded then.
    registry_api::db::MIGRATOR
        .undo(&pool, 20261124000001)
        .await
        .unwrap();
    for statement in [
        format!("INSERT INTO sources (repository, commit_sha) VALUES ('https://github.com/mpr-dev/mpr', '{:040x}')", 1),
        format!("INSERT INTO recipes (sha256) VALUES ('{}')", hex32(2)),
        "INSERT INTO releases (version, package, source_id, recipe_id, source_date_epoch) VALUES ('1.0.0', 'prover', 1, 1, 1)".to_owned(),
        format!("INSERT INTO manifests (release_id, body, sha256) VALUES (1, 'old manifest', '{}')", hex32(3)),
        "INSERT INTO measurement_sets (release_id, name, status, deprecated_at) VALUES (1, 'old', 'deprecated', now()), (1, 'current', 'active', NULL)".to_owned(),
    ] {
        sqlx::query(sqlx::AssertSqlSafe(statement)).execute(&pool).await.unwrap();
    }
    registry_api::db::MIGRATOR.run(&pool).await.unwrap();

    let registry = TestRegistry::serve(&url).await;
    let (_, manifest) = raw(&registry, "/v1/releases/1.0.0/statement").await;
    assert_eq!(
        manifest, b"old manifest",
        "the signed bytes are kept as they were"
    );
    let (status, detail) = registry.get("/v1/releases/1.0.0").await;
    assert_eq!(status, 200, "{detail}");
    assert_eq!(detail["manifest"]["sha256"], hex32(3).as_str());
    let sets = detail["measurement_sets"].as_array().unwrap();
    assert_eq!(sets[0]["name"], "current");
    assert_eq!(sets[0]["status"], "active");
    assert_eq!(sets[1]["name"], "old");
    assert_eq!(
        sets[1]["status"], "deprecated",
        "a deprecated set stays deprecated"
    );
    assert_eq!(sets[1]["status_statement"]["kind"], "legacy-set-status");
    assert_eq!(sets[1]["statement"]["kind"], "release");
}

#[tokio::test]
async fn a_ukis_vtpm_sets_are_stored_for_gcp_and_azure_and_found_by_any_pcr() {
    let (registry, signer, release_sha256) = release_with_signer().await;
    let vtpm = |platform: &str| {
        json!({"platform": platform,
            "parameters": {"uki_sha256": hex32(40), "stub": "systemd-stub 252.39-1~deb12u2"},
            "registers": {"PCR4": hex32(41), "PCR9": hex32(42), "PCR11": hex32(43), "PCR12": hex32(0)}})
    };
    let set = json!({"name": "uki", "measurements": [vtpm("gcp-cvm"), vtpm("azure-cvm")]});
    let (status, stored) = submit_set(&registry, &signer, &release_sha256, set).await;
    assert_eq!(status, 201, "{stored}");
    for pcr in [41, 43] {
        let (_, lookup) = registry
            .get(&format!("/v1/measurements/{}", hex32(pcr)))
            .await;
        let mut platforms: Vec<&str> = lookup["matches"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["platform"].as_str().unwrap())
            .collect();
        platforms.sort();
        assert_eq!(platforms, ["azure-cvm", "gcp-cvm"], "{lookup}");
    }
    let (_, gcp) = registry
        .get("/v1/releases/8.1.0/measurements?platform=gcp-cvm")
        .await;
    assert_eq!(
        gcp["measurements"].as_array().map(Vec::len),
        Some(1),
        "{gcp}"
    );

    // A register measured boot of our UKI does not bind (PCR 7, the provider's Secure Boot
    // state) is refused, naming the ones it takes.
    let mut wrong = vtpm("gcp-cvm");
    wrong["registers"]["PCR7"] = json!(hex32(44));
    let set = json!({"name": "uki-pcr7", "measurements": [wrong]});
    let (status, answer) = submit_set(&registry, &signer, &release_sha256, set).await;
    assert!((400..500).contains(&status), "{status} {answer}");
    let message = answer.to_string();
    assert!(
        message.contains("PCR7") && message.contains("PCR4, PCR9, PCR11, PCR12"),
        "{message}"
    );
}

#[tokio::test]
async fn a_confidential_space_set_keeps_the_image_launch_and_is_found_by_its_digest() {
    let (registry, signer, release_sha256) = release_with_signer().await;
    let args = r#"["/usr/local/bin/proof-server","--port","6300","--no-fetch-params"]"#;
    let space = |parameters: serde_json::Value| {
        json!({"platform": "gcp-confidential-space", "parameters": parameters,
            "registers": {"IMAGE_DIGEST": hex32(50)}})
    };
    let launch = json!({"args": args, "env": r#"["RUST_LOG=info"]"#});
    let set = json!({"name": "space", "measurements": [space(launch)]});
    let (status, stored) = submit_set(&registry, &signer, &release_sha256, set).await;
    assert_eq!(status, 201, "{stored}");
    let (_, lookup) = registry
        .get(&format!("/v1/measurements/{}", hex32(50)))
        .await;
    let matches = lookup["matches"].as_array().unwrap();
    assert_eq!(matches.len(), 1, "{lookup}");
    assert_eq!(matches[0]["platform"], "gcp-confidential-space");
    let (_, listed) = registry
        .get("/v1/releases/8.1.0/measurements?platform=gcp-confidential-space")
        .await;
    assert_eq!(
        listed["measurements"][0]["parameters"]["args"], args,
        "{listed}"
    );

    // Arguments that are not a JSON list of strings are refused, naming the parameter.
    let set = json!({"name": "space-bad", "measurements": [space(json!({"args": "--port 6300"}))]});
    let (status, answer) = submit_set(&registry, &signer, &release_sha256, set).await;
    assert!((400..500).contains(&status), "{status} {answer}");
    let message = answer.to_string();
    assert!(
        message.contains("args") && message.contains("JSON array of strings"),
        "{message}"
    );
}
