//! The embedded cluster's supervisor against the real Debian PostgreSQL binaries: a SIGKILLed
//! postmaster is started again by itself, with the data of before (crash recovery), and stopping
//! the cluster while a restart is pending leaves nothing running.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use registry_api::embedded_postgres::{EmbeddedPostgres, EmbeddedPostgresConfig};
use sqlx::{Connection, PgConnection};

/// The first restart waits 0.5 s; recovery of a small cluster takes well under a second more.
const RESTART_LIMIT: Duration = Duration::from_secs(30);

fn tempdir() -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("mpr-pg-supervised-")
        .tempdir_in("/tmp")
        .expect("tempdir");
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).expect("chmod tempdir");
    dir
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(f)
}

fn scalar(url: &str, query: &'static str) -> Result<i64, sqlx::Error> {
    block_on(async {
        let mut conn = PgConnection::connect(url).await?;
        let value: i64 = sqlx::query_scalar(query).fetch_one(&mut conn).await?;
        conn.close().await?;
        Ok(value)
    })
}

fn postmaster_pid(data_dir: &Path) -> i32 {
    let text = fs::read_to_string(data_dir.join("postmaster.pid")).expect("postmaster.pid");
    text.lines()
        .next()
        .and_then(|l| l.trim().parse().ok())
        .expect("pid in postmaster.pid")
}

fn sigkill(pid: i32) {
    // SAFETY: kill(2) takes plain integers; the PID is our cluster's live postmaster.
    assert_eq!(
        unsafe { libc::kill(pid, libc::SIGKILL) },
        0,
        "SIGKILL {pid}"
    );
}

/// postgres processes whose working directory is `data_dir` (the postmaster and its children).
fn processes_in(data_dir: &Path) -> Vec<i32> {
    let data_dir = fs::canonicalize(data_dir).expect("data dir");
    fs::read_dir("/proc")
        .expect("/proc")
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| fs::read_link(format!("/proc/{pid}/cwd")).is_ok_and(|cwd| cwd == data_dir))
        .collect()
}

#[test]
fn a_killed_postmaster_is_restarted_with_its_data() {
    let dir = tempdir();
    let data = dir.path().join("data");
    let pg = EmbeddedPostgres::start(EmbeddedPostgresConfig::new(&data)).expect("start");
    let url = pg.database_url().to_owned();
    block_on(async {
        let mut conn = PgConnection::connect(&url).await?;
        sqlx::raw_sql("CREATE TABLE kept (v int); INSERT INTO kept VALUES (7);")
            .execute(&mut conn)
            .await?;
        conn.close().await
    })
    .expect("write before the crash");

    for round in 1..=2 {
        let old = postmaster_pid(&data);
        assert_eq!(
            pg.pid(),
            Some(old),
            "round {round}: pid() is the postmaster"
        );
        let killed = Instant::now();
        sigkill(old);
        let back = loop {
            let restarted = pg.pid().is_some_and(|pid| pid != old);
            if restarted && scalar(&url, "SELECT v::int8 FROM kept").ok() == Some(7) {
                break killed.elapsed();
            }
            assert!(
                killed.elapsed() < RESTART_LIMIT,
                "round {round}: not serving again {RESTART_LIMIT:?} after SIGKILL:\n{}",
                fs::read_to_string(pg.log_path()).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        eprintln!("round {round}: serving again {back:?} after SIGKILL");
        assert_eq!(pg.pid(), Some(postmaster_pid(&data)));
    }
    let log = fs::read_to_string(pg.log_path()).expect("log");
    assert_eq!(
        log.matches("automatic recovery in progress").count(),
        2,
        "crash recovery ran on each restart:\n{log}"
    );
    pg.stop().expect("stop");
    assert!(processes_in(&data).is_empty(), "nothing left running");
}

#[test]
fn stopping_while_a_restart_is_pending_leaves_nothing_running() {
    let dir = tempdir();
    let data = dir.path().join("data");
    let pg = EmbeddedPostgres::start(EmbeddedPostgresConfig::new(&data)).expect("start");
    let old = postmaster_pid(&data);
    sigkill(old);
    // Within the first restart delay: supervision must end instead of starting a new server.
    std::thread::sleep(Duration::from_millis(100));
    let t = Instant::now();
    pg.stop().expect("stop");
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "stop took {:?}",
        t.elapsed()
    );
    // The dead postmaster's backends exit by themselves; nothing new may appear.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !processes_in(&data).is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(processes_in(&data).is_empty(), "{:?}", processes_in(&data));
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        processes_in(&data).is_empty(),
        "a server was started after stop: {:?}",
        processes_in(&data)
    );
}
