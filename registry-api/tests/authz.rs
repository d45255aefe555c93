//! Who may do what in the registry, against real PostgreSQL: roles on tokens, keys registered by
//! admins only, rebuild reports that are the rebuilder's key's signed words (so "k of n" counts
//! keys, not names), history that the database itself refuses to change, and malformed input
//! answered with the registry's JSON errors.

mod support;

use std::time::{Duration, SystemTime};

use serde_json::{json, Value};
use support::signer::Signer;
use support::{release, TestRegistry};

fn message(error: &Value) -> &str {
    error["error"]["message"].as_str().unwrap_or_default()
}

async fn get_as(registry: &TestRegistry, token: &str, path: &str) -> (u16, Value) {
    let response = registry
        .client
        .get(registry.url(path))
        .bearer_auth(token)
        .send()
        .await
        .expect("GET");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn post_json_as(
    registry: &TestRegistry,
    token: &str,
    path: &str,
    body: &Value,
) -> (u16, Value) {
    registry
        .post_bytes_as(token, path, serde_json::to_vec(body).unwrap())
        .await
}

#[tokio::test]
async fn only_an_admin_registers_keys_and_manages_tokens() {
    let registry = TestRegistry::start().await;
    let signer = Signer::generate("Release Signer <release@mpr.invalid>");

    for token in [&registry.token, &registry.rebuilder_token] {
        let (status, error) = registry
            .post_bytes_as(token, "/v1/keys", signer.armored_public_key())
            .await;
        assert_eq!(
            (status, error["error"]["code"].as_str()),
            (403, Some("forbidden"))
        );
        assert!(message(&error).contains("needs an admin token"), "{error}");
    }
    let (_, keys) = registry.get("/v1/keys").await;
    assert_eq!(keys, json!([]), "a refused registration stores nothing");

    let (status, key) = registry.register_key(signer.armored_public_key()).await;
    assert_eq!(status, 201, "{key}");
    assert_eq!(key["role"], "release");
    let admin_name: String = sqlx::query_scalar(
        "SELECT name FROM publisher_tokens WHERE role = 'admin' ORDER BY id LIMIT 1",
    )
    .fetch_one(&registry.pool)
    .await
    .unwrap();
    assert_eq!(key["registered_by_token"], admin_name.as_str());
    // A key has one role.
    let (status, error) = registry
        .post_bytes_as(
            &registry.admin_token,
            "/v1/keys?role=rebuilder",
            signer.armored_public_key(),
        )
        .await;
    assert_eq!(status, 409, "{error}");
    assert!(
        message(&error).contains("registered as a release key"),
        "{error}"
    );

    // Tokens: a publisher can neither list nor create them; an admin can, and revoke them.
    let (status, error) = get_as(&registry, &registry.token, "/v1/tokens").await;
    assert_eq!(status, 403, "{error}");
    let new = json!({"name": "release-ci", "role": "publisher"});
    let (status, error) = post_json_as(&registry, &registry.token, "/v1/tokens", &new).await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (403, Some("forbidden"))
    );
    assert!(message(&error).contains("is a publisher token"), "{error}");
    let (status, created) =
        post_json_as(&registry, &registry.admin_token, "/v1/tokens", &new).await;
    assert_eq!(status, 201, "{created}");
    let ci_token = created["token"].as_str().unwrap().to_owned();
    assert!(ci_token.starts_with("mpr_"));
    let (status, again) = post_json_as(&registry, &registry.admin_token, "/v1/tokens", &new).await;
    assert_eq!(status, 409, "{again}");
    let (status, tokens) = get_as(&registry, &registry.admin_token, "/v1/tokens").await;
    assert_eq!(status, 200);
    let listed = tokens
        .as_array()
        .unwrap()
        .iter()
        .find(|token| token["name"] == "release-ci")
        .unwrap();
    assert_eq!(listed["role"], "publisher");
    assert_eq!(listed["created_by_token"], admin_name.as_str());
    assert!(
        !tokens.to_string().contains(&ci_token),
        "secrets are never listed"
    );

    // The new token publishes; the admin token does not (roles do not include one another).
    let (status, answer) = post_json_as(
        &registry,
        &registry.admin_token,
        "/v1/releases",
        &release("8.1.0", 1),
    )
    .await;
    assert_eq!(status, 403, "{answer}");
    let (status, answer) = registry.publish_as(&ci_token, &release("8.1.0", 1)).await;
    assert_eq!(status, 201, "{answer}");

    let (status, _) = registry
        .post_bytes_as(
            &registry.admin_token,
            "/v1/tokens/release-ci/revoke",
            vec![],
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = registry.publish_as(&ci_token, &release("8.2.0", 2)).await;
    assert_eq!(status, 401, "a revoked token is refused");
    let (status, error) = registry
        .post_bytes_as(
            &registry.admin_token,
            "/v1/tokens/release-ci/revoke",
            vec![],
        )
        .await;
    assert_eq!(status, 404, "{error}");
}

/// A registry with release 8.1.0 and two registered rebuilder keys.
async fn rebuild_setup() -> (TestRegistry, Value, Signer, Signer) {
    let registry = TestRegistry::start().await;
    let submission = release("8.1.0", 1);
    assert_eq!(registry.publish(&submission).await.0, 201);
    let official = submission["build"]["artifacts"].clone();
    let alice = Signer::generate("Alice Rebuilder <alice@mpr.invalid>");
    let bob = Signer::generate("Bob Rebuilder <bob@mpr.invalid>");
    registry.register_rebuilder(&alice).await;
    registry.register_rebuilder(&bob).await;
    (registry, official, alice, bob)
}

#[tokio::test]
async fn a_rebuild_report_counts_only_with_a_registered_rebuilder_keys_signature() {
    let (registry, official, alice, _bob) = rebuild_setup().await;
    let report = json!({"release": "8.1.0", "artifacts": official});
    let body = registry.report_bytes(&report).await;

    // No signature.
    let response = registry
        .client
        .post(registry.url("/v1/releases/8.1.0/rebuilds"))
        .bearer_auth(&registry.rebuilder_token)
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 422);
    let error: Value = response.json().await.unwrap();
    assert!(message(&error).contains("must be signed"), "{error}");

    // A key nobody registered.
    let stranger = Signer::generate("Mallory <mallory@mpr.invalid>");
    let (status, error) = registry
        .send_report("8.1.0", body.clone(), &stranger.sign(&body))
        .await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (422, Some("signature_rejected"))
    );
    assert!(message(&error).contains("not a registered key"), "{error}");

    // A forgery: alice's signature of other bytes.
    let other = registry
        .report_bytes(&json!({"release": "8.1.0", "failed": true}))
        .await;
    let (status, error) = registry
        .send_report("8.1.0", body.clone(), &alice.sign(&other))
        .await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (422, Some("signature_rejected"))
    );
    assert!(
        message(&error).contains("does not match the data"),
        "{error}"
    );

    // A release key is not a rebuilder key.
    let releaser = Signer::generate("Release Signer <release@mpr.invalid>");
    assert_eq!(
        registry.register_key(releaser.armored_public_key()).await.0,
        201
    );
    let (status, error) = registry
        .send_report("8.1.0", body.clone(), &releaser.sign(&body))
        .await;
    assert_eq!(status, 422, "{error}");
    assert!(
        message(&error).contains("a release key, not a rebuilder key"),
        "{error}"
    );

    // A report naming someone else than its signer.
    let (status, error) = registry
        .report_rebuild(
            &alice,
            "8.1.0",
            &json!({"release": "8.1.0", "rebuilder": "bob@mpr.invalid", "artifacts": official}),
        )
        .await;
    assert_eq!(status, 422, "{error}");
    assert!(
        message(&error).contains("names rebuilder \"bob@mpr.invalid\""),
        "{error}"
    );
    assert!(message(&error).contains(&alice.fingerprint), "{error}");

    // A report for another release, sent here.
    let (status, error) = registry
        .report_rebuild(
            &alice,
            "8.1.0",
            &json!({"release": "8.2.0", "artifacts": official}),
        )
        .await;
    assert_eq!(status, 422, "{error}");
    assert!(
        message(&error).contains("only for the release it names"),
        "{error}"
    );

    // Only a rebuilder token submits, even with a good signature.
    let (status, error) = registry
        .post_bytes_as(&registry.token, "/v1/releases/8.1.0/rebuilds", body.clone())
        .await;
    assert_eq!(status, 403, "{error}");

    let (_, detail) = registry.get("/v1/releases/8.1.0").await;
    assert_eq!(detail["rebuilds"], json!({"agreeing": 0, "rebuilders": 0}));

    // Naming itself (by e-mail) is fine.
    let (status, good) = registry
        .report_rebuild(
            &alice,
            "8.1.0",
            &json!({"release": "8.1.0", "rebuilder": "alice@mpr.invalid", "artifacts": official}),
        )
        .await;
    assert_eq!(
        (status, good["status"].as_str()),
        (201, Some("GOOD")),
        "{good}"
    );
    let row: (Option<String>, Option<String>, String) = sqlx::query_as(
        "SELECT signed_by_key, created_by_token, builder_name FROM builds WHERE builder_kind = 'rebuilder'",
    )
    .fetch_one(&registry.pool)
    .await
    .unwrap();
    assert_eq!(row.0.as_deref(), Some(alice.fingerprint.as_str()));
    assert!(row.1.is_some_and(|token| token.starts_with("rebuilder-")));
    assert_eq!(row.2, alice.fingerprint);

    // The stored report and signature verify with GnuPG-compatible tooling: served as signed.
    let (_, builds) = registry.get("/v1/releases/8.1.0/builds").await;
    assert_eq!(builds[1]["builder"], "Alice Rebuilder <alice@mpr.invalid>");
    assert!(builds[1]["report_signature"]
        .as_str()
        .unwrap()
        .starts_with("-----BEGIN PGP SIGNATURE-----"));

    // Once an admin revokes the key, its new reports are refused.
    let (status, revoked) = registry
        .post_bytes_as(
            &registry.admin_token,
            &format!("/v1/keys/{}/revoke", alice.fingerprint),
            vec![],
        )
        .await;
    assert_eq!(status, 200, "{revoked}");
    assert!(revoked["revoked_at"].is_string());
    let (status, error) = registry.report_rebuild(&alice, "8.1.0", &report).await;
    assert_eq!(status, 422, "{error}");
}

#[tokio::test]
async fn k_of_n_counts_distinct_registered_keys() {
    let (registry, official, alice, bob) = rebuild_setup().await;
    let report = registry
        .report_bytes(&json!({"release": "8.1.0", "artifacts": official}))
        .await;
    let earlier = SystemTime::now() - Duration::from_secs(120);
    let first = alice.sign_at(&report, earlier);
    assert_eq!(
        registry
            .send_report("8.1.0", report.clone(), &first)
            .await
            .0,
        201
    );
    // Alice again, later, with a report naming her by fingerprint: still one rebuilder.
    let (status, again) = registry
        .report_rebuild(
            &alice,
            "8.1.0",
            &json!({"release": "8.1.0", "rebuilder": alice.fingerprint, "artifacts": official}),
        )
        .await;
    assert_eq!(status, 201, "{again}");
    let (_, detail) = registry.get("/v1/releases/8.1.0").await;
    assert_eq!(detail["rebuilds"], json!({"agreeing": 1, "rebuilders": 1}));

    // Her first report replayed is refused, not counted (nor does it replace the newer one).
    let (status, error) = registry.send_report("8.1.0", report.clone(), &first).await;
    assert_eq!(status, 409, "{error}");
    assert!(message(&error).contains("replayed or older"), "{error}");

    let (status, _) = registry
        .report_rebuild(
            &bob,
            "8.1.0",
            &json!({"release": "8.1.0", "artifacts": official}),
        )
        .await;
    assert_eq!(status, 201);
    let (_, detail) = registry.get("/v1/releases/8.1.0").await;
    assert_eq!(detail["rebuilds"], json!({"agreeing": 2, "rebuilders": 2}));
    let (_, page) = registry.get("/v1/releases").await;
    assert_eq!(
        page["releases"][0]["rebuilds"],
        json!({"agreeing": 2, "rebuilders": 2})
    );
}

/// Runs `statement` and returns PostgreSQL's error message (the test fails if it succeeds).
async fn refused(pool: &sqlx::PgPool, statement: &str) -> String {
    match sqlx::query(sqlx::AssertSqlSafe(statement.to_owned()))
        .execute(pool)
        .await
    {
        Ok(done) => panic!(
            "{statement} succeeded ({} rows) but must be refused",
            done.rows_affected()
        ),
        Err(sqlx::Error::Database(error)) => error.message().to_owned(),
        Err(other) => panic!("{statement}: {other}"),
    }
}

#[tokio::test]
async fn recorded_history_cannot_be_changed_or_deleted_with_raw_sql() {
    let (registry, official, alice, _bob) = rebuild_setup().await;
    let (status, _) = registry
        .report_rebuild(
            &alice,
            "8.1.0",
            &json!({"release": "8.1.0", "artifacts": official}),
        )
        .await;
    assert_eq!(status, 201);
    let releaser = Signer::generate("Release Signer <release@mpr.invalid>");
    assert_eq!(
        registry.register_key(releaser.armored_public_key()).await.0,
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
    let (status, signature) = registry
        .post_bytes(
            "/v1/releases/8.1.0/manifest/signatures",
            releaser.sign(&manifest),
        )
        .await;
    assert_eq!(status, 201, "{signature}");

    let pool = &registry.pool;
    // Every recorded row names the token that wrote it.
    for table in ["releases", "measurement_sets"] {
        let unnamed: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT count(*) FROM {table} WHERE created_by_token IS NULL"
        )))
        .fetch_one(pool)
        .await
        .unwrap();
        assert_eq!(unnamed, 0, "{table} rows without created_by_token");
    }
    let protected = [
        ("releases", "package = 'changed'"),
        ("sources", "repository = 'https://example.invalid/changed'"),
        ("recipes", "body = 'changed'"),
        ("builds", "status = 'BAD'"),
        ("artifacts", "sha256 = repeat('0', 64)"),
        ("measurement_sets", "name = 'changed'"),
        ("measurements", "parameters = '{\"vcpus\": 99}'"),
        ("measurement_values", "value = repeat('0', 96)"),
        ("statements", "created_at = now()"),
        ("statement_signatures", "signed_at = now()"),
    ];
    for (table, change) in protected {
        let count: i64 =
            sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT count(*) FROM {table}")))
                .fetch_one(pool)
                .await
                .unwrap();
        assert!(count > 0, "{table} has rows to protect");
        let error = refused(pool, &format!("UPDATE {table} SET {change}")).await;
        assert!(
            error.contains(&format!("UPDATE on {table} refused")) && error.contains("immutable"),
            "{table}: {error}"
        );
        let error = refused(pool, &format!("DELETE FROM {table}")).await;
        assert!(
            error.contains(&format!("DELETE on {table} refused")),
            "{table}: {error}"
        );
        let error = refused(pool, &format!("TRUNCATE {table} CASCADE")).await;
        assert!(error.contains("TRUNCATE on"), "{table}: {error}");
    }
    // Nothing cascades from recorded history any more.
    let cascading: Vec<String> = sqlx::query_scalar(
        "SELECT conname::text FROM pg_constraint WHERE contype = 'f' AND confdeltype = 'c'",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    assert_eq!(cascading, Vec::<String>::new());

    // The API still records a second release from the same source and recipe (an upsert that
    // changes nothing is let through).
    let (status, answer) = registry.publish(&release("8.1.1", 1)).await;
    assert_eq!(status, 201, "{answer}");

    // Tokens: only revoked_at may be set, once; never deleted.
    let error = refused(pool, "UPDATE publisher_tokens SET role = 'admin'").await;
    assert!(error.contains("can only be revoked"), "{error}");
    let error = refused(pool, "DELETE FROM publisher_tokens").await;
    assert!(
        error.contains("DELETE on publisher_tokens refused"),
        "{error}"
    );
    let revoked =
        sqlx::query("UPDATE publisher_tokens SET revoked_at = now() WHERE role = 'publisher'")
            .execute(pool)
            .await
            .unwrap();
    assert_eq!(revoked.rows_affected(), 1);
    let error = refused(
        pool,
        "UPDATE publisher_tokens SET revoked_at = NULL WHERE role = 'publisher'",
    )
    .await;
    assert!(error.contains("can only be revoked"), "{error}");

    // Keys: revocable once, and their role and registrar are fixed.
    let error = refused(pool, "UPDATE signing_keys SET role = 'release'").await;
    assert!(error.contains("signing_keys refused"), "{error}");
    let error = refused(pool, "UPDATE signing_keys SET registered_by_token = NULL").await;
    assert!(error.contains("signing_keys refused"), "{error}");
    let error = refused(pool, "DELETE FROM signing_keys").await;
    assert!(error.contains("DELETE on signing_keys refused"), "{error}");
    sqlx::query("UPDATE signing_keys SET revoked_at = now()")
        .execute(pool)
        .await
        .unwrap();
    let error = refused(pool, "UPDATE signing_keys SET revoked_at = NULL").await;
    assert!(error.contains("signing_keys refused"), "{error}");
}

#[tokio::test]
async fn malformed_queries_paths_and_bodies_get_json_errors() {
    let registry = TestRegistry::start().await;
    let (status, error) = registry.get("/v1/releases?limit=abc").await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (400, Some("malformed_request"))
    );
    assert!(
        message(&error).contains("parameter limit=\"abc\""),
        "{error}"
    );
    assert!(message(&error).contains("limit=<integer>"), "{error}");
    assert!(message(&error).contains("before=<text>"), "{error}");

    let (status, error) = registry.get("/v1/measurement-sets?platform=vax").await;
    assert_eq!(status, 400, "{error}");
    assert!(
        message(&error).contains("parameter platform=\"vax\""),
        "{error}"
    );
    assert!(message(&error).contains("aws-nitro"), "{error}");

    let (status, error) = registry
        .post_bytes_as(
            &registry.admin_token,
            "/v1/keys?role=owner",
            b"key".to_vec(),
        )
        .await;
    assert_eq!(status, 400, "{error}");
    assert!(
        message(&error).contains("role=<release|rebuilder>"),
        "{error}"
    );

    let (status, error) = registry.get("/v1/keys/%FF").await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (400, Some("malformed_request"))
    );
    assert!(message(&error).contains("fingerprint"), "{error}");

    let (status, error) = post_json_as(
        &registry,
        &registry.admin_token,
        "/v1/tokens",
        &json!({"name": "x", "role": "superuser"}),
    )
    .await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (422, Some("invalid_input"))
    );
    assert!(message(&error).contains("at role"), "{error}");
    let (status, error) = registry
        .post_bytes_as(&registry.admin_token, "/v1/tokens", b"{\"name\": ".to_vec())
        .await;
    assert_eq!(status, 422, "{error}");
}
