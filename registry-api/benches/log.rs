//! The transparency log at scale (run by ci/bench_log.sh): appends N entries in batches through
//! `append_many` while the integrator follows and signs checkpoints, restarts the log on the full
//! database, then serves proofs to `wrk` and reports its latency distribution.
//!
//! Needs BENCH_DATABASE_URL (a PostgreSQL server where it may create and drop a database of its
//! own) and `wrk` on PATH.

use std::process::Command;
use std::time::{Duration, Instant};

use registry_api::log::{self, LogConfig};
use registry_api::{db, server};
use sha2::{Digest, Sha256};
use verifier::tlog::{EntryKind, KeyKind, LogEntry, NoteSigner};

fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .map(|value| {
            value
                .parse()
                .unwrap_or_else(|_| panic!("{name}={value} is not a number"))
        })
        .unwrap_or(default)
}

fn entry(seed: u64) -> LogEntry {
    LogEntry {
        kind: if seed.is_multiple_of(2) {
            EntryKind::Release
        } else {
            EntryKind::Rebuild
        },
        statement_sha256: Sha256::digest(seed.to_be_bytes()).into(),
    }
}

/// Both log instances sign with the same key, as a restarted server would.
fn config(secret_key: &str) -> LogConfig {
    let signer = NoteSigner::from_secret_key_text(secret_key).expect("key");
    LogConfig {
        origin: signer.name().to_owned(),
        signer,
        witnesses: Vec::new(),
    }
}

async fn wait_published(log: &log::Log, size: u64) {
    while log
        .published()
        .is_none_or(|published| published.size < size)
    {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn wrk(base: &str, path: &str, size: u64, seconds: u64, connections: u32) -> String {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../ci/bench_log_inclusion.lua");
    let output = Command::new("wrk")
        .args([
            &format!("-t{}", connections.min(2)),
            &format!("-c{connections}"),
            &format!("-d{seconds}s"),
            "--latency",
            "-s",
            script,
            base,
        ])
        .env("LOG_SIZE", size.to_string())
        .env("LOG_PATH", path)
        .output()
        .expect("wrk runs (apt-get install wrk)");
    assert!(
        output.status.success(),
        "wrk: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !stderr.contains("unexpected status"),
        "wrk saw errors: {stderr}"
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// `wrk --latency` lines: the percentiles and the request rate.
fn summary(wrk: &str) -> String {
    wrk.lines()
        .filter(|line| {
            let line = line.trim_start();
            // Percentiles start their line; a thread-statistics line also holds "NN.NN%".
            ["50%", "75%", "90%", "99%"]
                .iter()
                .any(|key| line.starts_with(key))
                || ["Requests/sec", "requests in", "Non-2xx"]
                    .iter()
                    .any(|key| line.contains(key))
        })
        .map(str::trim)
        .collect::<Vec<_>>()
        .join("; ")
}

fn main() {
    let cluster = std::env::var("BENCH_DATABASE_URL").expect("BENCH_DATABASE_URL");
    let entries = setting("LOG_ENTRIES", 1_000_000);
    let batch = setting("LOG_BATCH", 10_000);
    let seconds = setting("WRK_SECONDS", 10);
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let name = format!("log_bench_{}", std::process::id());
    let (before_query, _) = cluster.split_once('?').unwrap_or((&cluster, ""));
    let url = format!(
        "{}/{name}",
        &before_query[..before_query.rfind('/').expect("a database path")]
    );

    runtime.block_on(async {
        db::prepare(&url).await.expect("create and migrate the bench database");
        let pool = db::lazy_pool(&url, &db::PoolSettings::default()).expect("pool");
        let secret_key = NoteSigner::generate("bench.mpr.test/log", KeyKind::Ed25519, &mut rand::rngs::OsRng)
            .expect("key")
            .secret_key;
        let first = log::start(pool.clone(), config(&secret_key));
        wait_published(&first, 0).await;

        let begun = Instant::now();
        let mut appending = Duration::ZERO;
        for start in (0..entries).step_by(batch as usize) {
            let batch: Vec<LogEntry> = (start..(start + batch).min(entries)).map(entry).collect();
            let one = Instant::now();
            let mut transaction = pool.begin().await.expect("begin");
            log::append_many(&mut transaction, &batch).await.expect("append");
            transaction.commit().await.expect("commit");
            appending += one.elapsed();
        }
        let appended = begun.elapsed();
        wait_published(&first, entries).await;
        let integrated = begun.elapsed();
        let checkpoints: i64 = sqlx::query_scalar("SELECT count(*) FROM log_checkpoints")
            .fetch_one(&pool)
            .await
            .expect("count");

        // A restart: a new log instance loads every leaf hash and publishes.
        let begun = Instant::now();
        let second = log::start(pool.clone(), config(&secret_key));
        wait_published(&second, entries).await;
        let reloaded = begun.elapsed();

        let mut state = server::state(pool.clone());
        state.log = Some(second);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("address"));
        tokio::spawn(server::serve(listener, state, std::future::pending()));
        // One connection: the time to answer a proof. Eight: throughput, with queueing.
        let runs = tokio::task::spawn_blocking({
            let base = base.clone();
            move || {
                let mut runs = Vec::new();
                for connections in [1, 8] {
                    for path in ["inclusion", "consistency"] {
                        runs.push((path, connections, wrk(&base, path, entries, seconds, connections)));
                    }
                }
                runs
            }
        })
        .await
        .expect("wrk");

        println!("| measure | value |");
        println!("|---|---|");
        println!("| entries | {entries} in batches of {batch} (one transaction each) |");
        println!(
            "| append_many only | {:.0} entries/s ({:.2} s in transactions) |",
            entries as f64 / appending.as_secs_f64(),
            appending.as_secs_f64()
        );
        println!(
            "| appended, integrated and signed | {:.0} entries/s ({:.2} s until the checkpoint covered all; appends done at {:.2} s; {checkpoints} checkpoints signed) |",
            entries as f64 / integrated.as_secs_f64(),
            integrated.as_secs_f64(),
            appended.as_secs_f64()
        );
        println!("| restart: load {entries} leaf hashes and publish | {:.2} s |", reloaded.as_secs_f64());
        for (path, connections, output) in &runs {
            println!(
                "| GET /v1/log/proof/{path} (wrk -t{} -c{connections} -d{seconds}s --latency) | {} |",
                connections.min(&2),
                summary(output)
            );
            eprintln!("{output}");
        }
        pool.close().await;
    });
    drop(runtime);
    // The database this run created, and nothing else.
    let drop_runtime = tokio::runtime::Runtime::new().expect("runtime");
    drop_runtime.block_on(async {
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(1)
            .connect(&cluster)
            .await
            .expect("connect");
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE \"{name}\" WITH (FORCE)"
        )))
        .execute(&pool)
        .await
        .expect("drop the bench database");
    });
}
