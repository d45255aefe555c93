//! The first admin token, made with database access by `mpr registry token create --role admin`,
//! then used over HTTP against `mpr serve`: it creates a rebuilder token, which the publisher
//! token made by `--token-file` cannot; `mpr registry token list` shows who made which.

// Shared with registry_serve, which uses the rest of it.
mod registry_support;

use std::process::Command;
use std::time::Duration;

use registry_api::embedded_postgres::{EmbeddedPostgres, EmbeddedPostgresConfig};
use registry_support::{traversable_tempdir, Server};
use serde_json::{json, Value};

fn mpr_token(database_url: &str, args: &[&str]) -> Value {
    let output = Command::new(env!("CARGO_BIN_EXE_mpr"))
        .args(["--json", "registry", "token"])
        .args(args)
        .args(["--database-url", database_url])
        .env_remove("MPR_DATA_DIR")
        .output()
        .expect("mpr runs");
    assert!(
        output.status.success(),
        "mpr registry token {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("JSON output")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_admin_token_is_made_with_database_access_and_manages_the_others() {
    let dir = traversable_tempdir();
    let data_dir = dir.path().join("pg");
    let postgres = tokio::task::spawn_blocking(move || {
        EmbeddedPostgres::start(EmbeddedPostgresConfig::new(data_dir))
    })
    .await
    .expect("start task")
    .expect("the embedded PostgreSQL starts");
    let database_url = postgres.database_url().to_owned();

    let admin = mpr_token(&database_url, &["create", "--role", "admin", "first-admin"]);
    assert_eq!(admin["role"], "admin");
    let admin_token = admin["token"].as_str().expect("token").to_owned();

    let token_file = dir.path().join("publisher-token");
    let mut server = Server::on_database(&database_url, &token_file, &dir.path().join("serve.log"));
    server.wait_ready(Duration::from_secs(60)).await;
    let publisher_token = std::fs::read_to_string(&token_file).expect("publisher token");
    let client = reqwest::Client::new();
    let new = json!({"name": "rebuilder-alice", "role": "rebuilder"});

    let refused = client
        .post(server.url("/v1/tokens"))
        .bearer_auth(publisher_token.trim())
        .json(&new)
        .send()
        .await
        .expect("POST");
    assert_eq!(refused.status(), 403);
    let error: Value = refused.json().await.expect("JSON error");
    assert_eq!(error["error"]["code"], "forbidden");

    let created = client
        .post(server.url("/v1/tokens"))
        .bearer_auth(&admin_token)
        .json(&new)
        .send()
        .await
        .expect("POST");
    assert_eq!(created.status(), 201);
    let created: Value = created.json().await.expect("JSON");
    assert_eq!(created["role"], "rebuilder");

    let listed = mpr_token(&database_url, &["list"]);
    let by_name = |name: &str| {
        listed
            .as_array()
            .expect("a list")
            .iter()
            .find(|token| token["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("{name} is listed: {listed}"))
    };
    assert_eq!(by_name("first-admin")["created_by_token"], Value::Null);
    assert_eq!(by_name("default")["role"], "publisher");
    assert_eq!(
        by_name("rebuilder-alice")["created_by_token"],
        "first-admin"
    );

    mpr_token(&database_url, &["revoke", "first-admin"]);
    let after = client
        .get(server.url("/v1/tokens"))
        .bearer_auth(&admin_token)
        .send()
        .await
        .expect("GET");
    assert_eq!(after.status(), 401, "a revoked admin token is refused");
    server.terminate(Duration::from_secs(30));
}
