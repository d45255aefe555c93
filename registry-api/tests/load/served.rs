//! The registry the load is sent to, served in the test's runtime, and the PostgreSQL under it
//! that the test stops and starts.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use registry_api::embedded_postgres::{EmbeddedPostgres, EmbeddedPostgresConfig};
use registry_api::{auth, db, server};

use crate::support::TestRegistry;

/// A registry served in this runtime whose task can be checked for having ended.
pub struct Served {
    pub registry: Arc<TestRegistry>,
    pub task: tokio::task::JoinHandle<std::io::Result<()>>,
}

pub async fn serve(database_url: &str, publisher: &str) -> Served {
    let pool = db::lazy_pool(database_url, &db::PoolSettings::default()).expect("pool");
    let token = auth::create_token(&pool, publisher).await.expect("token");
    let admin_token = auth::create_token_with_role(
        &pool,
        &format!("{publisher}-admin"),
        auth::Role::Admin,
        None,
    )
    .await
    .expect("admin token");
    let rebuilder_token = auth::create_token_with_role(
        &pool,
        &format!("{publisher}-rebuilder"),
        auth::Role::Rebuilder,
        None,
    )
    .await
    .expect("rebuilder token");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("address"));
    let task = tokio::spawn(server::serve(
        listener,
        server::state(pool.clone()),
        std::future::pending(),
    ));
    // A hung request shows up as a transport error rather than a test that never ends.
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .expect("client");
    let registry = TestRegistry {
        base,
        token,
        admin_token,
        rebuilder_token,
        pool,
        database_url: database_url.to_owned(),
        client,
        signing_key: Default::default(),
    };
    Served {
        registry: Arc::new(registry),
        task,
    }
}

pub async fn start_postgres(data_dir: PathBuf) -> EmbeddedPostgres {
    tokio::task::spawn_blocking(move || {
        EmbeddedPostgres::start(EmbeddedPostgresConfig::new(data_dir))
    })
    .await
    .expect("start task")
    .expect("the embedded PostgreSQL starts")
}

async fn following_changes(registry: &TestRegistry) -> bool {
    let Ok(response) = registry.client.get(registry.url("/metrics")).send().await else {
        return false;
    };
    let text = response.text().await.unwrap_or_default();
    text.lines()
        .any(|line| line.trim() == "mpr_response_cache_following_changes 1")
}

/// Polls until the server's response cache follows change notifications again.
pub async fn wait_following(registry: &TestRegistry, limit: Duration) -> Option<Duration> {
    let begun = Instant::now();
    while begun.elapsed() < limit {
        if following_changes(registry).await {
            return Some(begun.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    None
}
