//! `mpr serve` on its embedded PostgreSQL, under load, when the postmaster is SIGKILLed: the
//! registry answers 503 meanwhile, restarts PostgreSQL by itself, says so in its log, and answers
//! 200 again within seconds. Its log, written to a file, carries no colour codes.

// Shared with registry_serve.rs, which uses the rest of it.
mod registry_support;

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use registry_support::{processes_in, release_with, signed, tail, traversable_tempdir, Server};

/// The first restart waits 0.5 s, crash recovery and the pool's reconnection take a little more.
const RECOVERY_LIMIT: Duration = Duration::from_secs(20);
const LOAD_CLIENTS: usize = 4;

fn postmaster_pid(data_dir: &Path) -> i32 {
    let text = fs::read_to_string(data_dir.join("postmaster.pid")).expect("postmaster.pid");
    text.lines()
        .next()
        .and_then(|l| l.trim().parse().ok())
        .expect("pid in postmaster.pid")
}

/// Readers asking for the release list and the one release until told to stop; every answer's
/// status is counted (0: no answer).
async fn read_until_stopped(
    client: reqwest::Client,
    base: String,
    stop: Arc<AtomicBool>,
    statuses: Arc<Mutex<BTreeMap<u16, u64>>>,
) {
    let paths = ["/v1/releases", "/v1/releases/1.0.0", "/readyz"];
    let mut n = 0usize;
    while !stop.load(Ordering::Relaxed) {
        let path = paths[n % paths.len()];
        n += 1;
        let status = match client.get(format!("{base}{path}")).send().await {
            Ok(response) => response.status().as_u16(),
            Err(_) => 0,
        };
        *statuses
            .lock()
            .expect("statuses")
            .entry(status)
            .or_default() += 1;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mpr_serve_restarts_a_killed_embedded_postgresql_and_answers_again() {
    // The log must be colourless because it goes to a file, not because the caller said NO_COLOR.
    // The only test in this binary: no other thread reads the environment meanwhile.
    std::env::remove_var("NO_COLOR");
    let dir = traversable_tempdir();
    let data_dir = dir.path().join("pg");
    let token_file = dir.path().join("token");
    let log = dir.path().join("serve.log");
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");

    let mut server = Server::embedded(&data_dir, &token_file, &log);
    server.wait_ready(Duration::from_secs(90)).await;
    let token = fs::read_to_string(&token_file).expect("token");
    let key = server.register_release_key().await;
    let response = client
        .post(server.url("/v1/releases"))
        .bearer_auth(token.trim())
        .json(&signed(&release_with("1.0.0", 1, 2, 3), &key))
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status(), 201, "{:?}", response.text().await);

    let base = server.url("");
    for round in 1..=2u32 {
        let stop = Arc::new(AtomicBool::new(false));
        let statuses = Arc::new(Mutex::new(BTreeMap::new()));
        let readers: Vec<_> = (0..LOAD_CLIENTS)
            .map(|_| {
                tokio::spawn(read_until_stopped(
                    client.clone(),
                    base.clone(),
                    stop.clone(),
                    statuses.clone(),
                ))
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(500)).await;

        let old = postmaster_pid(&data_dir);
        // SAFETY: kill(2) with plain integers; the PID is the registry's live postmaster.
        assert_eq!(unsafe { libc::kill(old, libc::SIGKILL) }, 0, "SIGKILL");
        let killed = Instant::now();
        // A new postmaster first, so that "up" below is about the restarted server (the old one's
        // backends may go on answering for a while: they exit when they notice their parent died).
        loop {
            let current = fs::read_to_string(data_dir.join("postmaster.pid"))
                .ok()
                .and_then(|text| {
                    text.lines()
                        .next()
                        .and_then(|l| l.trim().parse::<i32>().ok())
                });
            if matches!(current, Some(pid) if pid != old) {
                break;
            }
            assert!(
                killed.elapsed() < RECOVERY_LIMIT,
                "round {round}: no new postmaster within {RECOVERY_LIMIT:?} of SIGKILL:\n{}",
                tail(&log)
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let back = loop {
            let ready = client.get(server.url("/readyz")).send().await;
            let list = client.get(server.url("/v1/releases/1.0.0")).send().await;
            if matches!((&ready, &list), (Ok(r), Ok(l)) if r.status() == 200 && l.status() == 200) {
                break killed.elapsed();
            }
            assert!(
                killed.elapsed() < RECOVERY_LIMIT,
                "round {round}: the registry did not answer 200 within {RECOVERY_LIMIT:?} of \
                 SIGKILL to PostgreSQL:\n{}",
                tail(&log)
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        tokio::time::sleep(Duration::from_millis(500)).await;
        stop.store(true, Ordering::Relaxed);
        for reader in readers {
            tokio::time::timeout(Duration::from_secs(30), reader)
                .await
                .expect("a reader hung")
                .expect("reader task");
        }
        let statuses = statuses.lock().expect("statuses").clone();
        let new = postmaster_pid(&data_dir);
        assert_ne!(new, old, "round {round}: a new postmaster runs");
        eprintln!(
            "round {round}: 200 again {back:?} after SIGKILL (postmaster {old} -> {new}); \
             answers under load: {statuses:?}"
        );
        assert!(
            statuses.keys().all(|s| [200, 503].contains(s)),
            "round {round}: only 200 and 503 (never a hang or 500): {statuses:?}"
        );
    }

    // Writes work after crash recovery too.
    let response = client
        .post(server.url("/v1/releases"))
        .bearer_auth(token.trim())
        .json(&signed(&release_with("1.0.1", 2, 1, 2), &key))
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status(), 201, "{:?}", response.text().await);

    let (status, _) = server.terminate(Duration::from_secs(30));
    assert!(status.success(), "exit {status}:\n{}", tail(&log));
    let left = processes_in(&data_dir);
    assert!(left.is_empty(), "PostgreSQL processes left: {left:?}");

    let bytes = fs::read(&log).expect("log");
    let text = String::from_utf8_lossy(&bytes);
    assert_eq!(
        text.matches("PostgreSQL exited unexpectedly").count(),
        2,
        "each crash is reported:\n{text}"
    );
    assert_eq!(
        text.matches("PostgreSQL restarted").count(),
        2,
        "each restart is reported:\n{text}"
    );
    assert!(
        !bytes.contains(&0x1b),
        "the log written to a file has ANSI escape codes:\n{text}"
    );
}
