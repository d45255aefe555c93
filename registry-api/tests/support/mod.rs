//! Test bed: one real PostgreSQL cluster per test binary (the embedded one, started as the
//! `postgres` user when tests run as root), a fresh database per test, and the registry served on
//! a loopback port in the test's runtime.

#![allow(dead_code)]

pub mod signer;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;

use registry_api::auth::{self, Role};
use registry_api::embedded_postgres::{EmbeddedPostgres, EmbeddedPostgresConfig};
use registry_api::{db, server};
use serde_json::Value;
use sqlx::PgPool;

pub struct Cluster {
    pub postgres: EmbeddedPostgres,
}

/// A private directory `postgres` can traverse (tempdirs are 0700, owned by root).
pub fn traversable_tempdir() -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::Builder::new()
        .prefix("mpr-test-")
        .tempdir_in("/tmp")
        .expect("temp dir in /tmp");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
        .expect("chmod temp dir");
    dir
}

/// The cluster lives in a directory named after the test binary and is reused by later runs (a
/// cluster cannot be deleted before the process exits, when it stops); databases that earlier
/// runs left are dropped on start.
pub fn cluster() -> &'static Cluster {
    static CLUSTER: OnceLock<Cluster> = OnceLock::new();
    CLUSTER.get_or_init(|| {
        let exe = std::env::current_exe().expect("test binary path");
        let stem = exe
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("registry");
        let name = stem.rsplit_once('-').map_or(stem, |(name, _hash)| name);
        let dir = std::path::Path::new("/tmp").join(format!("mpr-test-{name}"));
        let postgres = EmbeddedPostgres::start(EmbeddedPostgresConfig::new(dir.join("pg"))).expect(
            "the embedded PostgreSQL starts (is postgresql installed? ci/setup.sh installs it)",
        );
        drop_leftover_databases(postgres.database_url());
        Cluster { postgres }
    })
}

/// Runs on a thread of its own: the caller may be inside a test's runtime.
fn drop_leftover_databases(url: &str) {
    std::thread::scope(|scope| {
        scope
            .spawn(|| drop_leftover_databases_now(url))
            .join()
            .expect("dropping leftover databases");
    });
}

fn drop_leftover_databases_now(url: &str) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(1)
            .connect(url)
            .await
            .expect("connect");
        let names: Vec<String> =
            sqlx::query_scalar("SELECT datname FROM pg_database WHERE datname LIKE 'test\\_%'")
                .fetch_all(&pool)
                .await
                .expect("list databases");
        for name in names {
            let statement = format!("DROP DATABASE \"{name}\" WITH (FORCE)");
            sqlx::query(sqlx::AssertSqlSafe(statement))
                .execute(&pool)
                .await
                .expect("drop leftover database");
        }
        pool.close().await;
    });
}

/// The URL of a new, migrated database of its own.
pub async fn fresh_database(cluster_url: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let name = format!(
        "test_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    let url = with_database(cluster_url, &name);
    db::prepare(&url)
        .await
        .expect("create and migrate the test database");
    url
}

/// `cluster_url` with its database name replaced.
pub fn with_database(cluster_url: &str, name: &str) -> String {
    let (before_query, query) = cluster_url.split_once('?').unwrap_or((cluster_url, ""));
    let base = &before_query[..before_query.rfind('/').expect("URL has a database path")];
    format!("{base}/{name}?{query}")
}

pub struct TestRegistry {
    pub base: String,
    /// A publisher token.
    pub token: String,
    pub admin_token: String,
    pub rebuilder_token: String,
    pub pool: PgPool,
    pub database_url: String,
    pub client: reqwest::Client,
    /// The release key `publish` signs with, registered by the admin token on first use
    /// (see [`TestRegistry::release_key`]).
    pub signing_key: tokio::sync::OnceCell<registry_api::signing::SecretKey>,
}

impl TestRegistry {
    /// A registry on its own database, served on a loopback port until the test's runtime ends.
    pub async fn start() -> TestRegistry {
        let cluster_url = cluster().postgres.database_url().to_owned();
        let database_url = fresh_database(&cluster_url).await;
        Self::serve(&database_url).await
    }

    pub async fn serve(database_url: &str) -> TestRegistry {
        let _ = tracing_subscriber::fmt()
            .with_test_writer()
            .with_env_filter("registry_api=info")
            .try_init();
        let pool = db::lazy_pool(database_url, &db::PoolSettings::default()).expect("pool");
        let token = auth::create_token(&pool, &format!("publisher-{}", rand_suffix()))
            .await
            .expect("token");
        let admin_token = auth::create_token_with_role(
            &pool,
            &format!("admin-{}", rand_suffix()),
            Role::Admin,
            None,
        )
        .await
        .expect("admin token");
        let rebuilder_token = auth::create_token_with_role(
            &pool,
            &format!("rebuilder-{}", rand_suffix()),
            Role::Rebuilder,
            None,
        )
        .await
        .expect("rebuilder token");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("address"));
        let state = server::state(pool.clone());
        tokio::spawn(server::serve(listener, state, std::future::pending()));
        TestRegistry {
            base,
            token,
            admin_token,
            rebuilder_token,
            pool,
            database_url: database_url.to_owned(),
            client: reqwest::Client::new(),
            signing_key: tokio::sync::OnceCell::new(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        let response = self.client.get(self.url(path)).send().await.expect("GET");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// The exact bytes served at `path` (statements are compared byte for byte).
    pub async fn get_bytes(&self, path: &str) -> Vec<u8> {
        let response = self.client.get(self.url(path)).send().await.expect("GET");
        response.bytes().await.expect("body").to_vec()
    }

    pub async fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        self.post_bytes(path, serde_json::to_vec(body).expect("json"))
            .await
    }

    pub async fn post_bytes(&self, path: &str, body: Vec<u8>) -> (u16, Value) {
        self.post_bytes_as(&self.token, path, body).await
    }

    pub async fn post_bytes_as(&self, token: &str, path: &str, body: Vec<u8>) -> (u16, Value) {
        let response = self
            .client
            .post(self.url(path))
            .bearer_auth(token)
            .body(body)
            .send()
            .await
            .expect("POST");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// The release key `publish` signs with: generated and registered on first use.
    pub async fn release_key(&self) -> &registry_api::signing::SecretKey {
        self.signing_key
            .get_or_init(|| async {
                let generated = registry_api::signing::generate_key(
                    "Test Releases <release@mpr.invalid>",
                    None,
                )
                .expect("key generation");
                let (status, key) = self
                    .register_key(generated.armored_public().as_bytes().to_vec())
                    .await;
                assert_eq!(status, 201, "{key}");
                generated.secret_key().expect("generated key")
            })
            .await
    }

    /// POST /v1/releases as the release pipeline does: signed by the registered release key (a
    /// body that is no release at all goes unsigned, for the registry to refuse).
    pub async fn publish(&self, submission: &Value) -> (u16, Value) {
        self.publish_as(&self.token, submission).await
    }

    pub async fn publish_as(&self, token: &str, submission: &Value) -> (u16, Value) {
        let key = self.release_key().await;
        let body = registry_api::testing::sign_release(submission, key)
            .unwrap_or_else(|_| submission.clone());
        self.post_bytes_as(
            token,
            "/v1/releases",
            serde_json::to_vec(&body).expect("json"),
        )
        .await
    }

    /// Registers a release-signing key with the admin token.
    pub async fn register_key(&self, key: Vec<u8>) -> (u16, Value) {
        self.post_bytes_as(&self.admin_token, "/v1/keys", key).await
    }

    /// Registers `signer` as a rebuilder key with the admin token.
    pub async fn register_rebuilder(&self, signer: &signer::Signer) {
        let (status, key) = self
            .post_bytes_as(
                &self.admin_token,
                "/v1/keys?role=rebuilder",
                signer.armored_public_key(),
            )
            .await;
        assert_eq!(status, 201, "{key}");
    }

    /// A rebuild report statement (rebuild/v1) from a short description:
    /// `{"release", "rebuilder"?, "failed"?, "artifacts"?: [{name, size, sha256, sha384?}]}`,
    /// about the release statement the registry serves for `release` (zeros if it has none).
    pub async fn report_bytes(&self, report: &Value) -> Vec<u8> {
        use std::collections::BTreeMap;
        use verifier::statement::{
            Digest, RebuildPredicate, RebuildStatement, RebuildVerdict, Statement, Subject,
            REBUILD_PREDICATE, STATEMENT_TYPE,
        };
        let version = report["release"]
            .as_str()
            .expect("a report names its release");
        let (_, statements) = self
            .get(&format!("/v1/releases/{version}/statements"))
            .await;
        let release_statement = statements
            .as_array()
            .and_then(|list| list.iter().find(|s| s["kind"] == "release"))
            .and_then(|s| s["sha256"].as_str())
            .map_or_else(|| "0".repeat(64), str::to_owned);
        let artifacts = report["artifacts"].as_array().cloned().unwrap_or_default();
        let predicate = RebuildPredicate {
            version: version.to_owned(),
            release_statement: Digest {
                sha256: release_statement,
            },
            verdict: if report["failed"] == true {
                RebuildVerdict::Fail
            } else {
                RebuildVerdict::Good
            },
            rebuilder: report["rebuilder"].as_str().map(str::to_owned),
            rebuilt_statement: None,
            build_record: None,
            sizes: artifacts
                .iter()
                .map(|a| {
                    (
                        a["name"].as_str().unwrap().to_owned(),
                        a["size"].as_u64().unwrap(),
                    )
                })
                .collect(),
            environment: BTreeMap::from([("os".to_owned(), "linux".to_owned())]),
            findings: report["summary"]
                .as_str()
                .map(|summary| vec![summary.to_owned()])
                .unwrap_or_default(),
        };
        let statement = if report["failed"] == true {
            RebuildStatement::failed(RebuildPredicate {
                sizes: BTreeMap::new(),
                ..predicate
            })
        } else {
            Statement {
                statement_type: STATEMENT_TYPE.to_owned(),
                subject: artifacts
                    .iter()
                    .map(|a| Subject {
                        name: a["name"].as_str().unwrap().to_owned(),
                        digest: ["sha256", "sha384"]
                            .into_iter()
                            .filter_map(|alg| {
                                a[alg].as_str().map(|v| (alg.to_owned(), v.to_owned()))
                            })
                            .collect(),
                    })
                    .collect(),
                predicate_type: REBUILD_PREDICATE.to_owned(),
                predicate,
            }
        };
        statement.to_bytes()
    }

    /// Sends `report` (see [`Self::report_bytes`]) for `version` as the rebuilder token, signed
    /// by `signer` now.
    pub async fn report_rebuild(
        &self,
        signer: &signer::Signer,
        version: &str,
        report: &Value,
    ) -> (u16, Value) {
        let body = self.report_bytes(report).await;
        let signature = signer.sign(&body);
        self.send_report(version, body, &signature).await
    }

    /// Sends a report's exact bytes with `signature` (armored) in the Mpr-Signature header.
    pub async fn send_report(
        &self,
        version: &str,
        body: Vec<u8>,
        signature: &[u8],
    ) -> (u16, Value) {
        use base64::Engine;
        let response = self
            .client
            .post(self.url(&format!("/v1/releases/{version}/rebuilds")))
            .bearer_auth(&self.rebuilder_token)
            .header(
                "mpr-signature",
                base64::engine::general_purpose::STANDARD.encode(signature),
            )
            .body(body)
            .send()
            .await
            .expect("POST");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }
}

fn rand_suffix() -> u32 {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

// Each test binary uses some of these.
#[allow(unused_imports)]
pub use registry_api::testing::{hex32, hex48, sample_release as release};
