//! The wallet and publisher API end to end: a real PostgreSQL, the real server on a loopback port.

mod support;

use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use support::{hex48, release, TestRegistry};

#[tokio::test]
async fn a_release_is_recorded_once_and_read_back_whole() {
    let registry = TestRegistry::start().await;
    let (status, created) = registry.publish(&release("8.1.0", 1)).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["version"], "8.1.0");

    let (status, detail) = registry.get("/v1/releases/8.1.0").await;
    assert_eq!(status, 200);
    assert_eq!(detail["package"], "prover");
    assert_eq!(detail["commit"], format!("{:040x}", 2));
    assert_eq!(detail["manifest"]["sha256"], created["manifest_sha256"]);
    assert_eq!(detail["builds"][0]["builder"], "official");
    assert_eq!(
        detail["builds"][0]["artifacts"].as_array().map(Vec::len),
        Some(2)
    );
    let set = &detail["measurement_sets"][0];
    assert_eq!(set["name"], "default");
    assert_eq!(set["status"], "active");
    assert_eq!(set["measurements"].as_array().map(Vec::len), Some(3));
    assert_eq!(set["measurements"][0]["registers"]["PCR0"], hex48(11));

    let (status, again) = registry.publish(&release("8.1.0", 2)).await;
    assert_eq!(status, 409, "{again}");
    assert_eq!(again["error"]["code"], "conflict");
    assert!(again["error"]["message"]
        .as_str()
        .unwrap_or("")
        .contains("immutable"));
}

#[tokio::test]
async fn the_manifest_is_the_exact_signed_bytes_and_independent_of_submission_order() {
    let registry = TestRegistry::start().await;
    let mut submission = release("1.0.0", 5);
    let (status, created) = registry.publish(&submission).await;
    assert_eq!(status, 201);
    let bytes = registry.get_bytes("/v1/releases/1.0.0/manifest").await;
    assert_eq!(
        hex::encode(Sha256::digest(&bytes)),
        created["manifest_sha256"].as_str().unwrap()
    );
    let statement: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(statement["_type"], "https://in-toto.io/Statement/v1");
    let predicate = &statement["predicate"];
    assert_eq!(predicate["version"], "1.0.0");
    assert_eq!(predicate["source_date_epoch"], 1_700_000_005);
    assert_eq!(
        predicate["measurement_sets"][0]["measurements"][1]["parameters"]["vcpus"],
        2
    );

    // The same release with lists reversed gives the same manifest bytes.
    submission["version"] = json!("1.0.1");
    let mut reordered = submission.clone();
    reordered["build"]["artifacts"]
        .as_array_mut()
        .unwrap()
        .reverse();
    reordered["measurement_sets"][0]["measurements"]
        .as_array_mut()
        .unwrap()
        .reverse();
    let first = registry_api::statement::render(&serde_json::from_value(submission).unwrap());
    let second = registry_api::statement::render(&serde_json::from_value(reordered).unwrap());
    assert_eq!(first, second);
}

#[tokio::test]
async fn writes_need_a_valid_publisher_token() {
    let registry = TestRegistry::start().await;
    let body = serde_json::to_vec(&release("2.0.0", 1)).unwrap();
    let missing = registry
        .client
        .post(registry.url("/v1/releases"))
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 401);
    assert!(missing.headers().contains_key("www-authenticate"));
    let wrong = registry
        .client
        .post(registry.url("/v1/releases"))
        .bearer_auth("mpr_0000")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let error: Value = wrong.json().await.unwrap();
    assert_eq!(error["error"]["code"], "unauthorized");

    let token = registry_api::auth::create_token(&registry.pool, "short-lived")
        .await
        .unwrap();
    assert!(
        registry_api::auth::revoke_token(&registry.pool, "short-lived")
            .await
            .unwrap()
    );
    let revoked = registry
        .client
        .post(registry.url("/v1/releases"))
        .bearer_auth(&token)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 401);
    // Only the hash is stored.
    let stored: Vec<u8> =
        sqlx::query_scalar("SELECT token_sha256 FROM publisher_tokens WHERE name = 'short-lived'")
            .fetch_one(&registry.pool)
            .await
            .unwrap();
    assert_eq!(stored, Sha256::digest(token.as_bytes()).to_vec());
}

#[tokio::test]
async fn bad_releases_are_refused_with_a_message_that_names_the_problem() {
    let registry = TestRegistry::start().await;
    type Change = Box<dyn Fn(&mut Value)>;
    let cases: Vec<(&str, Change)> = vec![
        (
            "semantic version",
            Box::new(|r| r["version"] = json!("v8.1")),
        ),
        (
            "source.commit",
            Box::new(|r| r["source"]["commit"] = json!("abc")),
        ),
        (
            "unknown variant `sgx`",
            Box::new(|r| r["measurement_sets"][0]["measurements"][0]["platform"] = json!("sgx")),
        ),
        (
            "PCR2",
            Box::new(|r| {
                r["measurement_sets"][0]["measurements"][0]["registers"]
                    .as_object_mut()
                    .unwrap()
                    .remove("PCR2");
            }),
        ),
        (
            "96 hex digits",
            Box::new(|r| {
                r["measurement_sets"][0]["measurements"][0]["registers"]["PCR1"] = json!("ab")
            }),
        ),
        (
            "unknown sev-snp parameter",
            Box::new(|r| {
                r["measurement_sets"][0]["measurements"][1]["parameters"]["vcpu"] = json!(2)
            }),
        ),
        ("unknown field", Box::new(|r| r["surprise"] = json!(true))),
        (
            "same parameters",
            Box::new(|r| {
                let copy = r["measurement_sets"][0]["measurements"][1].clone();
                r["measurement_sets"][0]["measurements"]
                    .as_array_mut()
                    .unwrap()
                    .push(copy);
            }),
        ),
        (
            "recipe.body has SHA-256",
            Box::new(|r| r["recipe"]["body"] = json!("schema = 1\n")),
        ),
        (
            "at least one measurement set",
            Box::new(|r| r["measurement_sets"] = json!([])),
        ),
    ];
    for (expected, change) in cases {
        let mut body = release("3.0.0", 1);
        change(&mut body);
        let (status, error) = registry.publish(&body).await;
        assert_eq!(status, 422, "{expected}: {error}");
        assert_eq!(error["error"]["code"], "invalid_input");
        let message = error["error"]["message"].as_str().unwrap_or_default();
        assert!(
            message.contains(expected),
            "{expected:?} not in {message:?}"
        );
    }
    let (status, error) = registry
        .post_bytes("/v1/releases", b"{not json".to_vec())
        .await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (422, Some("invalid_input"))
    );
    let huge = vec![b' '; registry_api::submission::MAX_BODY_BYTES + 1];
    let (status, error) = registry.post_bytes("/v1/releases", huge).await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (413, Some("payload_too_large"))
    );
    let (_, page) = registry.get("/v1/releases").await;
    assert_eq!(page["releases"], json!([]), "nothing was stored");
}

#[tokio::test]
async fn wallets_filter_measurements_by_platform_and_launch_parameters() {
    let registry = TestRegistry::start().await;
    assert_eq!(registry.publish(&release("8.1.0", 1)).await.0, 201);
    let (status, all) = registry.get("/v1/releases/8.1.0/measurements").await;
    assert_eq!(status, 200);
    assert_eq!(all["measurements"].as_array().map(Vec::len), Some(3));
    let (_, snp4) = registry
        .get("/v1/releases/8.1.0/measurements?platform=sev-snp&vcpus=4&vmm=qemu")
        .await;
    let matches = snp4["measurements"].as_array().unwrap();
    assert_eq!(matches.len(), 1, "{snp4}");
    assert_eq!(matches[0]["registers"]["MEASUREMENT"], hex48(23));
    assert_eq!(matches[0]["set"], "default");
    assert_eq!(matches[0]["set_status"], "active");
    let (_, nitro) = registry
        .get("/v1/releases/8.1.0/measurements?platform=aws-nitro")
        .await;
    assert_eq!(nitro["measurements"].as_array().map(Vec::len), Some(1));
    let (_, none) = registry
        .get("/v1/releases/8.1.0/measurements?platform=sev-snp&vcpus=64")
        .await;
    assert_eq!(none["measurements"], json!([]));

    for (query, expected) in [
        ("vcpus=4", "needs platform"),
        ("platform=sev-snp&cores=4", "unknown filter"),
        ("platform=sev-snp&vcpus=four", "whole number"),
        ("platform=sgx", "unknown platform"),
        ("status=retired", "active, deprecated or any"),
    ] {
        let (status, error) = registry
            .get(&format!("/v1/releases/8.1.0/measurements?{query}"))
            .await;
        assert_eq!(status, 422, "{query}");
        assert!(
            error["error"]["message"]
                .as_str()
                .unwrap_or_default()
                .contains(expected),
            "{query}: {error}"
        );
    }
    let (status, error) = registry.get("/v1/releases/9.9.9/measurements").await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (404, Some("not_found"))
    );
}

#[tokio::test]
async fn any_measurement_value_finds_its_release() {
    let registry = TestRegistry::start().await;
    assert_eq!(registry.publish(&release("8.1.0", 1)).await.0, 201);
    assert_eq!(registry.publish(&release("8.2.0", 100)).await.0, 201);
    let pcr0 = hex48(110).to_ascii_uppercase();
    let (status, found) = registry.get(&format!("/v1/measurements/{pcr0}")).await;
    assert_eq!(status, 200);
    let matches = found["matches"].as_array().unwrap();
    assert_eq!(matches.len(), 1, "{found}");
    assert_eq!(matches[0]["version"], "8.2.0");
    assert_eq!(matches[0]["register"], "PCR0");
    assert_eq!(matches[0]["platform"], "aws-nitro");
    let (_, none) = registry
        .get(&format!("/v1/measurements/{}", hex48(999)))
        .await;
    assert_eq!(none["matches"], json!([]));
    let (status, _) = registry.get("/v1/measurements/xyz").await;
    assert_eq!(status, 422);
}

/// A rebuild report (see `TestRegistry::report_bytes`) signed by `signer` at `at`.
async fn signed(
    registry: &TestRegistry,
    signer: &support::signer::Signer,
    at: std::time::SystemTime,
    body: Value,
) -> (Vec<u8>, Vec<u8>) {
    let bytes = registry.report_bytes(&body).await;
    let signature = signer.sign_at(&bytes, at);
    (bytes, signature)
}

#[tokio::test]
async fn rebuild_reports_are_judged_by_the_server_and_counted_k_of_n() {
    use support::signer::Signer;
    let registry = TestRegistry::start().await;
    let submission = release("8.1.0", 1);
    assert_eq!(registry.publish(&submission).await.0, 201);
    let official = submission["build"]["artifacts"].clone();
    let [alice, bob, carol, dave] = ["alice", "bob", "carol", "dave"]
        .map(|name| Signer::generate(&format!("{name} <{name}@mpr.invalid>")));
    for rebuilder in [&alice, &bob, &carol, &dave] {
        registry.register_rebuilder(rebuilder).await;
    }
    // Reports signed a minute ago, so that bob's second one below is newer.
    let earlier = std::time::SystemTime::now() - std::time::Duration::from_secs(60);
    let (body, signature) = signed(
        &registry,
        &alice,
        earlier,
        json!({"release": "8.1.0", "artifacts": official}),
    )
    .await;
    let (status, good) = registry.send_report("8.1.0", body, &signature).await;
    assert_eq!(status, 201, "{good}");
    assert_eq!(good["status"], "GOOD");
    let mut different = official.clone();
    different[0]["sha256"] = json!(support::hex32(77));
    let (body, signature) = signed(
        &registry,
        &bob,
        earlier,
        json!({"release": "8.1.0", "artifacts": different, "summary": "binary differs"}),
    )
    .await;
    let (_, bad) = registry.send_report("8.1.0", body, &signature).await;
    assert_eq!(bad["status"], "BAD");
    // The report's subject is in canonical (name) order: find the changed artifact by name.
    for artifact in bad["artifacts"].as_array().unwrap() {
        let expected = if artifact["name"] == official[0]["name"] {
            "BAD"
        } else {
            "GOOD"
        };
        assert_eq!(artifact["status"], expected, "{bad}");
    }
    let (body, signature) = signed(
        &registry,
        &carol,
        earlier,
        json!({"release": "8.1.0", "artifacts": [official[0].clone()]}),
    )
    .await;
    let (_, missing) = registry.send_report("8.1.0", body, &signature).await;
    assert_eq!(missing["status"], "BAD", "a missing artifact is BAD");
    let (body, signature) = signed(
        &registry,
        &dave,
        earlier,
        json!({"release": "8.1.0", "failed": true, "summary": "out of disk"}),
    )
    .await;
    let (_, failed) = registry.send_report("8.1.0", body, &signature).await;
    assert_eq!(failed["status"], "FAIL");

    let (_, detail) = registry.get("/v1/releases/8.1.0").await;
    assert_eq!(detail["rebuilds"], json!({"agreeing": 1, "rebuilders": 4}));
    // bob rebuilds again and now agrees: his latest report counts.
    let (_, fixed) = registry
        .report_rebuild(
            &bob,
            "8.1.0",
            &json!({"release": "8.1.0", "artifacts": official}),
        )
        .await;
    assert_eq!(fixed["status"], "GOOD");
    let (_, detail) = registry.get("/v1/releases/8.1.0").await;
    assert_eq!(detail["rebuilds"], json!({"agreeing": 2, "rebuilders": 4}));
    let (_, builds) = registry.get("/v1/releases/8.1.0/builds").await;
    assert_eq!(builds.as_array().map(Vec::len), Some(6));
    assert_eq!(builds[1]["builder"], "alice <alice@mpr.invalid>");
    assert_eq!(builds[1]["signed_by_key"], alice.fingerprint.as_str());
    assert!(
        builds[1]["log_index"].is_u64(),
        "every report is logged: {}",
        builds[1]
    );

    // Wallets can ask only for releases k rebuilders reproduced.
    let (_, two) = registry
        .get("/v1/releases/8.1.0/measurements?min_rebuilds=2")
        .await;
    assert!(!two["measurements"].as_array().unwrap().is_empty(), "{two}");
    let (_, three) = registry
        .get("/v1/releases/8.1.0/measurements?min_rebuilds=3")
        .await;
    assert_eq!(three["measurements"], json!([]));
    let (status, error) = registry.get("/v1/measurement-sets?min_rebuilds=many").await;
    assert_eq!(status, 400, "{error}");
    assert!(error.to_string().contains("min_rebuilds"), "{error}");
    let (status, error) = registry
        .get("/v1/releases/8.1.0/measurements?min_rebuilds=-1")
        .await;
    assert_eq!(status, 422, "{error}");
    assert!(
        error.to_string().contains("min_rebuilds must be a count"),
        "{error}"
    );

    // A report about another statement than the release's is refused.
    let good_bytes = registry
        .report_bytes(&json!({"release": "8.1.0", "artifacts": official}))
        .await;
    let (_, statements) = registry.get("/v1/releases/8.1.0/statements").await;
    let served = statements[0]["sha256"].as_str().unwrap();
    let other = String::from_utf8(good_bytes)
        .unwrap()
        .replace(served, &"0".repeat(64))
        .into_bytes();
    let (status, error) = registry
        .send_report("8.1.0", other.clone(), &carol.sign(&other))
        .await;
    assert_eq!(status, 422, "{error}");
    assert!(
        error.to_string().contains("rebuilt release statement"),
        "{error}"
    );

    let (status, error) = registry
        .report_rebuild(
            &alice,
            "8.1.0",
            &json!({"release": "8.1.0", "rebuilder": "official", "artifacts": official}),
        )
        .await;
    assert_eq!(status, 422, "{error}");
    let (status, _) = registry
        .report_rebuild(&alice, "8.1.0", &json!({"release": "8.1.0"}))
        .await;
    assert_eq!(status, 422, "a completed rebuild lists its artifacts");
}

#[tokio::test]
async fn pages_of_releases_follow_the_cursor() {
    let registry = TestRegistry::start().await;
    for (index, version) in ["1.0.0", "1.1.0", "1.2.0", "2.0.0", "2.1.0"]
        .iter()
        .enumerate()
    {
        assert_eq!(
            registry
                .publish(&release(version, index as u64 * 50))
                .await
                .0,
            201
        );
    }
    let (_, first) = registry.get("/v1/releases?limit=2").await;
    let versions = |page: &Value| {
        page["releases"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["version"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(versions(&first), ["2.1.0", "2.0.0"]);
    let cursor = first["next_cursor"].as_str().unwrap().to_owned();
    let (_, second) = registry
        .get(&format!("/v1/releases?limit=2&before={cursor}"))
        .await;
    assert_eq!(versions(&second), ["1.2.0", "1.1.0"]);
    let cursor = second["next_cursor"].as_str().unwrap().to_owned();
    let (_, last) = registry
        .get(&format!("/v1/releases?limit=2&before={cursor}"))
        .await;
    assert_eq!(versions(&last), ["1.0.0"]);
    assert!(last["next_cursor"].is_null());
    assert_eq!(registry.get("/v1/releases?limit=0").await.0, 422);
    assert_eq!(registry.get("/v1/releases?limit=101").await.0, 422);
    assert_eq!(registry.get("/v1/releases?before=abc").await.0, 422);
}

#[tokio::test]
async fn answers_carry_etags_and_cors_for_browser_wallets() {
    let registry = TestRegistry::start().await;
    assert_eq!(registry.publish(&release("8.1.0", 1)).await.0, 201);
    let url = registry.url("/v1/releases/8.1.0/measurements");
    let first = registry
        .client
        .get(&url)
        .header("origin", "https://wallet.example")
        .send()
        .await
        .unwrap();
    assert_eq!(first.headers()["access-control-allow-origin"], "*");
    let etag = first.headers()["etag"].to_str().unwrap().to_owned();
    let body = first.bytes().await.unwrap();
    let cached = registry.client.get(&url).send().await.unwrap();
    assert_eq!(cached.headers()["etag"].to_str().unwrap(), etag);
    assert_eq!(
        cached.bytes().await.unwrap(),
        body,
        "the cached answer is the same bytes"
    );
    let revalidated = registry
        .client
        .get(&url)
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(revalidated.status(), 304);

    let preflight = registry
        .client
        .request(reqwest::Method::OPTIONS, &url)
        .header("origin", "https://wallet.example")
        .header("access-control-request-method", "GET")
        .header("access-control-request-headers", "if-none-match")
        .send()
        .await
        .unwrap();
    assert!(preflight.status().is_success());
    assert_eq!(preflight.headers()["access-control-allow-origin"], "*");
}

#[tokio::test]
async fn operations_endpoints_report_health_readiness_and_metrics() {
    let registry = TestRegistry::start().await;
    assert_eq!(
        registry.get("/healthz").await,
        (200, json!({"status": "ok"}))
    );
    assert_eq!(
        registry.get("/readyz").await,
        (200, json!({"status": "ready"}))
    );
    assert_eq!(registry.publish(&release("8.1.0", 1)).await.0, 201);
    for _ in 0..3 {
        assert_eq!(registry.get("/v1/releases/8.1.0/measurements").await.0, 200);
    }
    let metrics = registry
        .client
        .get(registry.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let counted = metrics.lines().find(|line| {
        line.starts_with("mpr_http_requests_total")
            && line.contains("route=\"/v1/releases/{version}/measurements\"")
            && line.contains("status=\"200\"")
    });
    let count: f64 = counted
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0.0);
    assert!(count >= 3.0, "{metrics}");
    assert!(
        metrics.contains("mpr_http_request_duration_seconds_bucket{"),
        "latency histogram"
    );
    assert!(metrics.contains("le=\"0.005\""), "a 5 ms bucket");
    assert!(metrics.contains("mpr_db_pool_connections"));
    assert!(metrics.contains("mpr_db_pool_idle_connections"));
}

#[tokio::test]
async fn unknown_routes_answer_json_errors() {
    let registry = TestRegistry::start().await;
    let (status, error) = registry.get("/v2/releases").await;
    assert_eq!(status, 404);
    assert_eq!(error["error"]["code"], "no_such_route");
    let (status, error) = registry.get("/v1/releases/0.0.1").await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (404, Some("not_found"))
    );
}

/// Every operation in the served OpenAPI document is routed, and the document is OpenAPI 3.1.
#[tokio::test]
async fn the_openapi_document_matches_the_served_routes() {
    let registry = TestRegistry::start().await;
    assert_eq!(registry.publish(&release("8.1.0", 1)).await.0, 201);
    let (status, document) = registry.get("/openapi.json").await;
    assert_eq!(status, 200);
    assert!(
        document["openapi"]
            .as_str()
            .unwrap_or_default()
            .starts_with("3.1"),
        "{}",
        document["openapi"]
    );
    let paths = document["paths"].as_object().unwrap();
    assert!(paths.len() >= 14, "{:?}", paths.keys());
    let mut checked = 0;
    for (path, operations) in paths {
        let concrete = path
            .replace("{version}", "8.1.0")
            .replace("{name}", "default")
            .replace("{value}", &hex48(11))
            .replace("{fingerprint}", "0000000000000000000000000000000000000000");
        for method in operations.as_object().unwrap().keys() {
            let method: reqwest::Method = method.to_uppercase().parse().unwrap();
            // No token: a documented write route answers 401, a read answers from its handler.
            let response = registry
                .client
                .request(method.clone(), registry.url(&concrete))
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            let body: Value = response.json().await.unwrap_or(Value::Null);
            assert_ne!(
                body["error"]["code"], "no_such_route",
                "{method} {path} is documented but not routed"
            );
            assert_ne!(status, 405, "{method} {path}");
            // A witness's cosignature is its own credential (checked against the configured
            // witness keys), so that one write takes no token; verifying attestation evidence
            // writes nothing and is open to any client.
            let open = ["/v1/log/cosignatures", "/v1/attestations/verify"];
            if method == reqwest::Method::POST && !open.contains(&path.as_str()) {
                assert_eq!(status, 401, "{method} {path} must need a token");
            }
            checked += 1;
        }
    }
    assert!(checked >= 17, "{checked} operations");
    assert_eq!(
        document["components"]["securitySchemes"]["publisher_token"]["scheme"],
        "bearer"
    );
}

#[tokio::test]
async fn migrations_can_be_undone_and_applied_again() {
    let cluster_url = support::cluster().postgres.database_url().to_owned();
    let url = support::fresh_database(&cluster_url).await;
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    let count_tables = || async {
        let tables: i64 = sqlx::query_scalar("SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tablename <> '_sqlx_migrations'")
            .fetch_one(&pool)
            .await
            .unwrap();
        tables
    };
    // Counted, not hard-coded: each migration adds its own tables.
    let migrated = count_tables().await;
    assert!(migrated >= 12, "{migrated} tables");
    let migrator = &registry_api::db::MIGRATOR;
    migrator.undo(&pool, 0).await.unwrap();
    assert_eq!(count_tables().await, 0);
    migrator.run(&pool).await.unwrap();
    assert_eq!(count_tables().await, migrated);
}

/// `POST /v1/attestations/verify` judges an envelope with the verifier's strict defaults and
/// answers the verdict: a convenience that fails closed like the library it wraps.
#[tokio::test]
async fn attestation_verification_answers_the_verdict_and_fails_closed() {
    let registry = TestRegistry::start().await;
    let (status, error) = registry
        .post(
            "/v1/attestations/verify",
            &json!({"evidence": {}, "nonce": "00"}),
        )
        .await;
    assert_eq!(status, 422, "{error}");
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("mpr-attestation/v1"),
        "{error}"
    );

    // A genuine AWS document, judged now: its three-hour leaf certificate expired long ago.
    let document = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/fixtures/nitro/yawn-attestation.cose"
    ))
    .unwrap();
    let nonce = [7u8; 32];
    let key_config = [1u8; 41];
    let envelope = json!({
        "format": "mpr-attestation/v1",
        "platform": "aws-nitro",
        "nonce": hex::encode(nonce),
        "tls_public_key": null,
        "ohttp_key_config": hex::encode(key_config),
        "binding": hex::encode(verifier::attestation::binding_v1(&nonce, b"", &key_config)),
        "evidence": hex::encode(&document),
    });
    let (status, verdict) = registry
        .post(
            "/v1/attestations/verify",
            &json!({"evidence": envelope, "nonce": hex::encode(nonce)}),
        )
        .await;
    assert_eq!(status, 200, "{verdict}");
    assert_eq!(verdict["accepted"], false, "{verdict}");
    assert_eq!(verdict["platform"], "aws-nitro");
    let codes: Vec<&str> = verdict["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["code"].as_str().unwrap())
        .collect();
    assert!(codes.contains(&"nitro-certificate-expired"), "{verdict}");
}
