//! A registry with its transparency log on a fresh database, and an independent RFC 6962 root
//! (the recursive definition, MTH) to check what the log serves.

#![allow(dead_code)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use registry_api::log::{self, LogConfig};
use registry_api::{db, server};
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use verifier::tlog::{EntryKind, KeyKind, LogEntry, NoteSigner, NoteVerifier, TrustedLog};

use crate::support;

pub const ORIGIN: &str = "registry.test/log";

pub struct LogRegistry {
    pub base: String,
    pub pool: PgPool,
    pub database_url: String,
    pub log: Arc<log::Log>,
    pub client: reqwest::Client,
    pub vkey: String,
}

pub fn signer() -> NoteSigner {
    key(ORIGIN, KeyKind::Ed25519)
}

pub fn key(name: &str, kind: KeyKind) -> NoteSigner {
    let generated = NoteSigner::generate(name, kind, &mut rand::rngs::OsRng).expect("a key");
    NoteSigner::from_secret_key_text(&generated.secret_key).expect("its secret key")
}

/// How a wallet trusts this test log: its key, and `threshold` of `witnesses`.
pub fn trusted(vkey: &str, witnesses: &[NoteVerifier], threshold: usize) -> TrustedLog {
    TrustedLog {
        origin: ORIGIN.to_owned(),
        log_key: NoteVerifier::from_vkey(vkey).expect("vkey"),
        witnesses: witnesses.to_vec(),
        witness_threshold: threshold,
    }
}

pub async fn fresh_database() -> String {
    let cluster_url = support::cluster().postgres.database_url().to_owned();
    support::fresh_database(&cluster_url).await
}

impl LogRegistry {
    pub async fn start(witnesses: Vec<NoteVerifier>) -> LogRegistry {
        let url = fresh_database().await;
        Self::serve(&url, signer(), witnesses).await
    }

    /// The registry with its log, served on a loopback port in the current runtime.
    pub async fn serve(
        database_url: &str,
        signer: NoteSigner,
        witnesses: Vec<NoteVerifier>,
    ) -> LogRegistry {
        let pool = db::lazy_pool(database_url, &db::PoolSettings::default()).expect("pool");
        let vkey = signer.verifier().vkey();
        let log = log::start(
            pool.clone(),
            LogConfig {
                origin: ORIGIN.to_owned(),
                signer,
                witnesses,
            },
        );
        let mut state = server::state(pool.clone());
        state.log = Some(log.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("address"));
        tokio::spawn(server::serve(listener, state, std::future::pending()));
        LogRegistry {
            base,
            pool,
            database_url: database_url.to_owned(),
            log,
            client: reqwest::Client::new(),
            vkey,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Waits until the served checkpoint has at least `size` entries.
    pub async fn wait_for_size(&self, size: u64) -> u64 {
        let begun = Instant::now();
        loop {
            if let Some(published) = self.log.published() {
                if published.size >= size {
                    return published.size;
                }
            }
            assert!(
                begun.elapsed() < Duration::from_secs(60),
                "the log did not reach {size} entries (served: {:?})",
                self.log.published().map(|p| p.size)
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.expect("GET")
    }

    pub async fn get_json(&self, path: &str) -> (u16, serde_json::Value) {
        let response = self.get(path).await;
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or_default())
    }
}

/// A distinct entry per seed, cycling through the kinds.
pub fn entry(seed: u64) -> LogEntry {
    let kinds = [
        EntryKind::Release,
        EntryKind::Status,
        EntryKind::Addendum,
        EntryKind::Rebuild,
    ];
    LogEntry {
        kind: kinds[(seed % 4) as usize],
        statement_sha256: Sha256::digest(seed.to_be_bytes()).into(),
    }
}

/// Appends `count` entries from `first_seed` on, in one transaction.
pub async fn append_batch(pool: &PgPool, first_seed: u64, count: u64) -> u64 {
    let entries: Vec<LogEntry> = (first_seed..first_seed + count).map(entry).collect();
    let mut transaction = pool.begin().await.expect("begin");
    let first = log::append_many(&mut transaction, &entries)
        .await
        .expect("append");
    transaction.commit().await.expect("commit");
    first
}

/// Every leaf hash in the database, in index order.
pub async fn stored_leaf_hashes(pool: &PgPool) -> Vec<[u8; 32]> {
    let rows: Vec<(i64, Vec<u8>)> =
        sqlx::query_as("SELECT index, leaf_hash FROM log_entries ORDER BY index")
            .fetch_all(pool)
            .await
            .expect("leaf hashes");
    rows.into_iter()
        .enumerate()
        .map(|(position, (index, hash))| {
            assert_eq!(index, position as i64, "a gap in the log's indexes");
            hash.try_into().expect("32-byte leaf hash")
        })
        .collect()
}

/// MTH(D[n]) by RFC 6962's recursive definition: the oracle the served roots are checked against.
pub fn naive_root(leaves: &[[u8; 32]]) -> [u8; 32] {
    match leaves.len() {
        0 => Sha256::digest(b"").into(),
        1 => leaves[0],
        n => {
            let split = largest_power_of_two_below(n);
            let mut hasher = Sha256::new();
            hasher.update([1u8]);
            hasher.update(naive_root(&leaves[..split]));
            hasher.update(naive_root(&leaves[split..]));
            hasher.finalize().into()
        }
    }
}

fn largest_power_of_two_below(n: usize) -> usize {
    let mut k = 1;
    while k * 2 < n {
        k *= 2;
    }
    k
}
