//! The log with the real `mpr` binary: `mpr log key generate`, `mpr serve --log-key --witness-key`,
//! `mpr log witness` cosigning across appends and a SIGKILL of the server in the middle of appends,
//! and a witness refusing a log that rewrote its history.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use registry_api::db;
use registry_api::embedded_postgres::{EmbeddedPostgres, EmbeddedPostgresConfig};
use registry_api::log;
use sha2::{Digest, Sha256};
use verifier::tlog::{
    Checkpoint, EntryKind, LogEntry, MemoryTree, NoteVerifier, ProofBundle, TrustedLog,
};

fn mpr(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mpr"))
        .args(args)
        .env_remove("DATABASE_URL")
        .env_remove("MPR_LOG_KEY")
        .output()
        .expect("mpr runs")
}

fn stdout(output: &Output) -> String {
    assert!(
        output.status.success(),
        "mpr failed: {}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("address").port()
}

/// A test directory the `postgres` user can traverse, with a cluster of the test's own.
struct Bed {
    dir: tempfile::TempDir,
    postgres: EmbeddedPostgres,
}

impl Bed {
    async fn start() -> Bed {
        let dir = tempfile::Builder::new()
            .prefix("mpr-log-")
            .tempdir_in("/tmp")
            .expect("temp dir");
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).expect("chmod");
        let data_dir = dir.path().join("pg");
        let postgres = tokio::task::spawn_blocking(move || {
            EmbeddedPostgres::start(EmbeddedPostgresConfig::new(data_dir))
        })
        .await
        .expect("start task")
        .expect("the embedded PostgreSQL starts");
        Bed { dir, postgres }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// A migrated database named `name` on the cluster.
    async fn database(&self, name: &str) -> String {
        let url = self.postgres.database_url();
        let (before_query, query) = url.split_once('?').unwrap_or((url, ""));
        let base = &before_query[..before_query.rfind('/').expect("database path")];
        let url = format!("{base}/{name}?{query}");
        db::prepare(&url).await.expect("create and migrate");
        url
    }
}

/// `mpr serve` on a database with a given log key and witnesses; SIGKILLed when dropped.
struct Serve {
    child: Child,
    base: String,
    log: PathBuf,
}

impl Serve {
    fn start(database_url: &str, log_key: &Path, witnesses: &[&str], log: PathBuf) -> Serve {
        let listen = format!("127.0.0.1:{}", free_port());
        let output = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .expect("log file");
        let mut command = Command::new(env!("CARGO_BIN_EXE_mpr"));
        command
            .args(["serve", "--listen", &listen, "--database-url", database_url])
            .arg("--log-key")
            .arg(log_key)
            .env_remove("DATABASE_URL")
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(output.try_clone().expect("log"))
            .stderr(output);
        for witness in witnesses {
            command.args(["--witness-key", witness]);
        }
        Serve {
            child: command.spawn().expect("mpr serve starts"),
            base: format!("http://{listen}"),
            log,
        }
    }

    /// Waits until the served checkpoint has `size` entries, and returns the note.
    async fn wait_for_size(&mut self, size: u64, log: &TrustedLog) -> String {
        let client = reqwest::Client::new();
        let begun = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                panic!(
                    "mpr serve exited with {status}:\n{}",
                    fs::read_to_string(&self.log).unwrap_or_default()
                );
            }
            if let Ok(response) = client
                .get(format!("{}/log/checkpoint", self.base))
                .send()
                .await
            {
                if response.status() == 200 {
                    let note = response.text().await.expect("text");
                    let verified = log.verify_checkpoint(&note).expect("signed by the log key");
                    if verified.checkpoint.size == size {
                        return note;
                    }
                }
            }
            assert!(
                begun.elapsed() < Duration::from_secs(60),
                "no checkpoint of size {size}:\n{}",
                fs::read_to_string(&self.log).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn kill(&mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reap");
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn entry(seed: u64) -> LogEntry {
    LogEntry {
        kind: if seed.is_multiple_of(2) {
            EntryKind::Release
        } else {
            EntryKind::Status
        },
        statement_sha256: Sha256::digest(seed.to_be_bytes()).into(),
    }
}

async fn append(pool: &sqlx::PgPool, seeds: std::ops::Range<u64>) {
    let entries: Vec<LogEntry> = seeds.map(entry).collect();
    let mut transaction = pool.begin().await.expect("begin");
    log::append_many(&mut transaction, &entries)
        .await
        .expect("append");
    transaction.commit().await.expect("commit");
}

fn witness(base: &str, log_vkey: &str, key: &Path, state: &Path) -> Output {
    mpr(&[
        "log",
        "witness",
        "--log",
        base,
        "--log-key",
        log_vkey,
        "--key",
        key.to_str().unwrap(),
        "--state",
        state.to_str().unwrap(),
        "--once",
    ])
}

fn trusted(vkey: &str, witnesses: &[&str], threshold: usize) -> TrustedLog {
    let log_key = NoteVerifier::from_vkey(vkey).expect("log vkey");
    TrustedLog {
        origin: log_key.name().to_owned(),
        log_key,
        witnesses: witnesses
            .iter()
            .map(|w| NoteVerifier::from_vkey(w).expect("witness vkey"))
            .collect(),
        witness_threshold: threshold,
    }
}

fn checkpoint_of(log: &TrustedLog, note: &str) -> Checkpoint {
    log.verify_checkpoint(note)
        .expect("a signed checkpoint")
        .checkpoint
}

fn keys(bed: &Bed) -> (String, String) {
    let log_key = bed.path("log-key");
    let vkey = stdout(&mpr(&[
        "log",
        "key",
        "generate",
        "--origin",
        "log.test/mpr",
        "--out",
        log_key.to_str().unwrap(),
    ]));
    let mode = fs::metadata(&log_key)
        .expect("key file")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "key file mode {mode:o}");
    let again = mpr(&[
        "log",
        "key",
        "generate",
        "--origin",
        "other",
        "--out",
        log_key.to_str().unwrap(),
    ]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
    let witness_key = bed.path("witness-key");
    let wvkey = stdout(&mpr(&[
        "log",
        "key",
        "generate",
        "--witness",
        "--origin",
        "witness.test",
        "--out",
        witness_key.to_str().unwrap(),
    ]));
    (vkey, wvkey)
}

async fn stored_leaves(pool: &sqlx::PgPool) -> Vec<[u8; 32]> {
    let rows: Vec<Vec<u8>> = sqlx::query_scalar("SELECT leaf_hash FROM log_entries ORDER BY index")
        .fetch_all(pool)
        .await
        .expect("leaves");
    rows.into_iter()
        .map(|hash| hash.try_into().expect("32 bytes"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_witness_cosigns_across_appends_and_a_sigkill_of_the_server_mid_append() {
    let bed = Bed::start().await;
    let (vkey, wvkey) = keys(&bed);
    let log_verifier = trusted(&vkey, &[], 0);
    let witnessed = trusted(&vkey, &[&wvkey], 1);
    let url = bed.database("mpr_log").await;
    let pool = db::lazy_pool(&url, &Default::default()).expect("pool");
    let mut server = Serve::start(
        &url,
        &bed.path("log-key"),
        &[&wvkey],
        bed.path("serve-1.log"),
    );

    append(&pool, 0..20).await;
    server.wait_for_size(20, &log_verifier).await;
    let state = bed.path("witness-state");
    let out = stdout(&witness(
        &server.base,
        &vkey,
        &bed.path("witness-key"),
        &state,
    ));
    assert!(out.contains("size 20"), "{out}");
    let client = reqwest::Client::new();
    let served = client
        .get(format!("{}/log/checkpoint", server.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    witnessed
        .verify_checkpoint(&served)
        .expect("the served checkpoint is cosigned");

    // Appends continue while the server is SIGKILLed and restarted.
    let stop = Arc::new(AtomicBool::new(false));
    let appender = tokio::spawn({
        let (pool, stop) = (pool.clone(), stop.clone());
        async move {
            let mut seed = 1000;
            while !stop.load(Ordering::Relaxed) {
                append(&pool, seed..seed + 10).await;
                seed += 10;
            }
        }
    });
    tokio::time::sleep(Duration::from_millis(800)).await;
    server.kill();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut server = Serve::start(
        &url,
        &bed.path("log-key"),
        &[&wvkey],
        bed.path("serve-2.log"),
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    appender.await.expect("appender");

    let leaves = stored_leaves(&pool).await;
    let size = leaves.len() as u64;
    assert!(
        size > 20 && (size - 20).is_multiple_of(10),
        "{size} entries"
    );
    let note = server.wait_for_size(size, &log_verifier).await;
    let checkpoint = checkpoint_of(&log_verifier, &note);
    let reference = MemoryTree::from_leaf_hashes(leaves.iter().copied());
    assert_eq!(checkpoint.root, reference.root());
    // Whatever the killed server signed is a prefix of what is stored.
    let notes: Vec<String> = sqlx::query_scalar("SELECT body FROM log_checkpoints ORDER BY size")
        .fetch_all(&pool)
        .await
        .unwrap();
    for note in notes {
        let stored = checkpoint_of(&log_verifier, &note);
        assert_eq!(
            stored.root,
            reference.root_at(stored.size).unwrap(),
            "checkpoint {}",
            stored.size
        );
    }

    // The witness checks 20 → size across the crash and cosigns. Index 25 holds seed 1005.
    let out = stdout(&witness(
        &server.base,
        &vkey,
        &bed.path("witness-key"),
        &state,
    ));
    assert!(out.contains(&format!("size {size}")), "{out}");
    let bundle = client
        .get(format!("{}/v1/log/bundle?index=25", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(bundle.status(), 200);
    let text = bundle.text().await.unwrap();
    let bundle = ProofBundle::parse(&text).unwrap();
    let verified = bundle
        .verify(&entry(1005).encode(), &witnessed)
        .unwrap_or_else(|error| {
            panic!("the bundle does not verify with the witness: {error}\n{text}")
        });
    assert_eq!(verified.checkpoint.checkpoint.size, size);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_witness_refuses_a_log_that_rewrote_its_history() {
    let bed = Bed::start().await;
    let (vkey, wvkey) = keys(&bed);
    let log_verifier = trusted(&vkey, &[], 0);
    let honest_url = bed.database("honest").await;
    let forked_url = bed.database("forked").await;
    let honest = db::lazy_pool(&honest_url, &Default::default()).expect("pool");
    let forked = db::lazy_pool(&forked_url, &Default::default()).expect("pool");
    append(&honest, 0..10).await;
    // Same key, same first 5 entries, then a different history.
    append(&forked, 0..5).await;
    append(&forked, 500..510).await;

    let mut server = Serve::start(
        &honest_url,
        &bed.path("log-key"),
        &[&wvkey],
        bed.path("honest.log"),
    );
    server.wait_for_size(10, &log_verifier).await;
    let state = bed.path("witness-state");
    stdout(&witness(
        &server.base,
        &vkey,
        &bed.path("witness-key"),
        &state,
    ));
    let honest_root = checkpoint_of(
        &log_verifier,
        &server.wait_for_size(10, &log_verifier).await,
    )
    .root;
    drop(server);
    let state_before = fs::read_to_string(&state).expect("state");

    let mut server = Serve::start(
        &forked_url,
        &bed.path("log-key"),
        &[&wvkey],
        bed.path("forked.log"),
    );
    let forked_note = server.wait_for_size(15, &log_verifier).await;
    let forked_root = checkpoint_of(&log_verifier, &forked_note).root;
    let refused = witness(&server.base, &vkey, &bed.path("witness-key"), &state);
    assert!(
        !refused.status.success(),
        "the witness cosigned a forked log"
    );
    let message = String::from_utf8_lossy(&refused.stderr);
    use base64::Engine as _;
    let b64 = |root: &[u8; 32]| base64::engine::general_purpose::STANDARD.encode(root);
    for needle in [
        "INCONSISTENT CHECKPOINT".to_owned(),
        "size 10".to_owned(),
        "size 15".to_owned(),
        b64(&honest_root),
        b64(&forked_root),
    ] {
        assert!(
            message.contains(&needle),
            "missing {needle:?} in:\n{message}"
        );
    }
    assert_eq!(
        fs::read_to_string(&state).unwrap(),
        state_before,
        "the state moved to the forked log"
    );
    let served = reqwest::get(format!("{}/log/checkpoint", server.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(
        served, forked_note,
        "the refused checkpoint got a cosignature"
    );

    // A log rewritten at the same size is refused too.
    append(&forked, 510..520).await;
    drop(server);
    let rewritten_url = bed.database("rewritten").await;
    let rewritten = db::lazy_pool(&rewritten_url, &Default::default()).expect("pool");
    append(&rewritten, 100..110).await;
    let mut server = Serve::start(
        &rewritten_url,
        &bed.path("log-key"),
        &[&wvkey],
        bed.path("rewritten.log"),
    );
    server.wait_for_size(10, &log_verifier).await;
    let refused = witness(&server.base, &vkey, &bed.path("witness-key"), &state);
    assert!(!refused.status.success());
    let message = String::from_utf8_lossy(&refused.stderr);
    assert!(
        message.contains("the same size has a different root"),
        "{message}"
    );
}
