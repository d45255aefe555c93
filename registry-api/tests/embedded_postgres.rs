//! The embedded cluster against the real Debian PostgreSQL binaries. Run as root, these exercise the
//! switch to the `postgres` user; every test has its own data directory under /tmp.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use registry_api::embedded_postgres::{
    EmbeddedPostgres, EmbeddedPostgresConfig, EmbeddedPostgresError,
};
use sqlx::{Connection, PgConnection};

fn is_root() -> bool {
    // SAFETY: geteuid cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// A temporary directory the `postgres` user can traverse (tempfile makes them 0700).
fn tempdir() -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("mpr-pg-")
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

fn execute(url: &str, sql: &'static str) {
    block_on(async {
        let mut conn = PgConnection::connect(url).await?;
        sqlx::raw_sql(sql).execute(&mut conn).await?;
        conn.close().await
    })
    .expect("execute SQL");
}

fn postmaster_pid(data_dir: &Path) -> i32 {
    let text = fs::read_to_string(data_dir.join("postmaster.pid")).expect("postmaster.pid");
    text.lines()
        .next()
        .and_then(|l| l.trim().parse().ok())
        .expect("pid in postmaster.pid")
}

/// PIDs of processes working in `data_dir`: postgres and all its children chdir there.
fn processes_in(data_dir: &Path) -> Vec<i32> {
    let data_dir = fs::canonicalize(data_dir).expect("canonical data dir");
    fs::read_dir("/proc")
        .expect("/proc")
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| fs::read_link(format!("/proc/{pid}/cwd")).is_ok_and(|cwd| cwd == data_dir))
        .collect()
}

/// Real uid from /proc/PID/status.
fn process_uid(pid: i32) -> u32 {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    let line = status
        .lines()
        .find(|l| l.starts_with("Uid:"))
        .expect("Uid line");
    line.split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .expect("uid")
}

fn wait_until_gone(data_dir: &Path) -> Vec<i32> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let left = processes_in(data_dir);
        if left.is_empty() || Instant::now() > deadline {
            return left;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn first_start_creates_the_cluster_and_the_next_start_reuses_it() {
    let dir = tempdir();
    let data = dir.path().join("data");

    // Started from a thread that ends right away: the server must not die with it.
    let config = EmbeddedPostgresConfig::new(&data);
    let t = Instant::now();
    let pg = std::thread::spawn(move || EmbeddedPostgres::start(config))
        .join()
        .expect("start thread")
        .expect("first start");
    let first = t.elapsed();
    std::thread::sleep(Duration::from_millis(100));

    assert_eq!(pg.data_dir(), data);
    assert_eq!(pg.port(), 5432);
    assert_eq!(pg.socket_dir(), dir.path().join("data.sock"));
    let expected_url = format!(
        "postgres://mpr@localhost:5432/mpr?host={}/data.sock",
        dir.path().display()
    );
    assert_eq!(pg.database_url(), expected_url);
    assert_eq!(
        scalar(pg.database_url(), "SELECT 1::int8").expect("SELECT 1"),
        1
    );
    assert_eq!(
        scalar(
            pg.database_url(),
            "SELECT count(*) FROM pg_database WHERE datname = 'mpr'"
        )
        .unwrap(),
        1
    );

    let pid = postmaster_pid(&data);
    let server_uid = process_uid(pid);
    if is_root() {
        assert_ne!(server_uid, 0, "the server must not run as root");
    }
    for path in [&data, &pg.socket_dir().to_owned()] {
        let meta = fs::metadata(path).expect("metadata");
        assert_eq!(
            meta.uid(),
            server_uid,
            "{} owned by the server's user",
            path.display()
        );
        assert_eq!(meta.mode() & 0o777, 0o700, "{} is private", path.display());
    }
    assert!(!fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .any(|e| e.file_name().to_string_lossy().contains(".initdb-")));

    execute(
        pg.database_url(),
        "CREATE TABLE kept (v int); INSERT INTO kept VALUES (42);",
    );
    let t = Instant::now();
    pg.stop().expect("stop");
    let stop = t.elapsed();
    assert_eq!(wait_until_gone(&data), Vec::<i32>::new());

    let t = Instant::now();
    let pg = EmbeddedPostgres::start(EmbeddedPostgresConfig::new(&data)).expect("second start");
    let second = t.elapsed();
    assert_eq!(
        scalar(pg.database_url(), "SELECT v::int8 FROM kept").expect("table from run 1"),
        42
    );
    let log = fs::read_to_string(pg.log_path()).expect("log");
    assert_eq!(
        log.matches("Success. You can now start the database server")
            .count(),
        1,
        "initdb ran once"
    );
    pg.stop().expect("second stop");
    eprintln!("first start (initdb) {first:?}, stop {stop:?}, second start {second:?}");
    assert!(
        second < Duration::from_secs(5),
        "second start took {second:?}"
    );
}

#[test]
fn a_killed_server_recovers_on_the_next_start() {
    let dir = tempdir();
    let data = dir.path().join("data");
    let pg = EmbeddedPostgres::start(EmbeddedPostgresConfig::new(&data)).expect("first start");
    execute(
        pg.database_url(),
        "CREATE TABLE kept (v int); INSERT INTO kept VALUES (7);",
    );
    let pid = postmaster_pid(&data);
    pg.kill();
    assert!(
        !Path::new(&format!("/proc/{pid}")).exists(),
        "postmaster killed and reaped"
    );

    let t = Instant::now();
    let pg = EmbeddedPostgres::start(EmbeddedPostgresConfig::new(&data)).expect("start after kill");
    eprintln!("start after SIGKILL {:?}", t.elapsed());
    assert_eq!(
        scalar(pg.database_url(), "SELECT v::int8 FROM kept").expect("data after crash"),
        7
    );
    let log = fs::read_to_string(pg.log_path()).expect("log");
    assert!(
        log.contains("automatic recovery in progress"),
        "crash recovery ran:\n{log}"
    );
    pg.stop().expect("stop");
}

#[test]
fn stale_lock_files_naming_unrelated_live_processes_do_not_block_the_start() {
    let dir = tempdir();
    let data = dir.path().join("data");
    let pg = EmbeddedPostgres::start(EmbeddedPostgresConfig::new(&data)).expect("first start");
    let socket_dir = pg.socket_dir().to_owned();
    pg.stop().expect("stop");

    // As after a crash whose PIDs were reused: postgres alone would refuse, since these are alive.
    let mut sleeper = std::process::Command::new("sleep")
        .arg("60")
        .spawn()
        .expect("spawn sleep");
    let sleeper_pid = sleeper.id();
    fs::write(
        data.join("postmaster.pid"),
        format!("{sleeper_pid}\n{}\n", data.display()),
    )
    .unwrap();
    let own_pid = std::process::id();
    fs::write(
        socket_dir.join(".s.PGSQL.5432.lock"),
        format!("{own_pid}\n{}\n", data.display()),
    )
    .unwrap();

    let pg = EmbeddedPostgres::start(EmbeddedPostgresConfig::new(&data))
        .expect("start despite stale lock files");
    assert_eq!(scalar(pg.database_url(), "SELECT 1::int8").unwrap(), 1);
    assert_ne!(postmaster_pid(&data), sleeper_pid as i32);
    pg.stop().expect("stop");

    assert!(
        sleeper.try_wait().expect("try_wait").is_none(),
        "the unrelated process was left alone"
    );
    sleeper.kill().expect("kill sleep");
    let _ = sleeper.wait();
}

#[test]
fn a_second_start_on_a_running_data_dir_waits_for_the_first_to_stop() {
    let dir = tempdir();
    let data = dir.path().join("data");
    let pg = EmbeddedPostgres::start(EmbeddedPostgresConfig::new(&data)).expect("first start");
    // A second handle on the same data directory: the data directory's lock holds it off (for up
    // to 30 s, then it fails) while the first keeps working.
    let second = std::thread::spawn({
        let data = data.clone();
        move || EmbeddedPostgres::start(EmbeddedPostgresConfig::new(&data))
    });
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(scalar(pg.database_url(), "SELECT 1::int8").unwrap(), 1);
    pg.stop().expect("stop");
    // Once the first is stopped, the waiting start gets the lock and succeeds.
    let pg = second
        .join()
        .expect("second thread")
        .expect("second start after the first stopped");
    assert_eq!(scalar(pg.database_url(), "SELECT 1::int8").unwrap(), 1);
}

#[test]
fn an_untraversable_parent_is_refused_before_anything_is_created() {
    if !is_root() {
        eprintln!("skipped: only root can make a directory the server's user cannot enter");
        return;
    }
    let dir = tempdir();
    let private = dir.path().join("private");
    fs::create_dir(&private).unwrap();
    fs::set_permissions(&private, fs::Permissions::from_mode(0o700)).unwrap();
    let data = private.join("nested/data");

    let err = EmbeddedPostgres::start(EmbeddedPostgresConfig::new(&data)).expect_err("must refuse");
    assert!(
        matches!(err, EmbeddedPostgresError::Untraversable { .. }),
        "{err:?}"
    );
    let message = err.to_string();
    eprintln!("{message}");
    assert!(
        message.contains(&private.display().to_string()),
        "{message}"
    );
    assert!(message.contains("chmod o+x"), "{message}");
    assert_eq!(
        fs::read_dir(&private).unwrap().count(),
        0,
        "nothing created in {}",
        private.display()
    );
    assert_eq!(
        fs::read_dir(dir.path()).unwrap().count(),
        1,
        "nothing created next to it"
    );
}

#[test]
fn dropping_stops_the_server_and_long_paths_put_the_socket_in_tmp() {
    let dir = tempdir();
    let data = dir.path().join("x".repeat(90)).join("data");
    let mut config = EmbeddedPostgresConfig::new(&data);
    // Needs quoting in SQL and percent-encoding in the URL.
    config.database = "it's a \"db\"/ü?".into();
    let pg = EmbeddedPostgres::start(config).expect("start");
    let same = scalar(
        pg.database_url(),
        "SELECT (current_database() = 'it''s a \"db\"/ü?')::int::int8",
    );
    assert_eq!(same.unwrap(), 1, "connected to the configured database");
    let socket_dir = pg.socket_dir().to_owned();
    assert!(
        socket_dir.starts_with("/tmp")
            && socket_dir
                .to_string_lossy()
                .starts_with("/tmp/mpr-postgres-")
    );
    assert!(socket_dir.join(".s.PGSQL.5432").as_os_str().len() <= 107);
    assert_eq!(scalar(pg.database_url(), "SELECT 1::int8").unwrap(), 1);
    let pid = postmaster_pid(&data);
    assert!(processes_in(&data).contains(&pid));

    drop(pg);
    assert!(
        !Path::new(&format!("/proc/{pid}")).exists(),
        "postmaster gone after drop"
    );
    assert_eq!(
        wait_until_gone(&data),
        Vec::<i32>::new(),
        "no process left in the data dir"
    );
    assert!(
        !data.join("postmaster.pid").exists(),
        "clean shutdown removes postmaster.pid"
    );
    assert!(
        !socket_dir.exists(),
        "the socket directory in /tmp is removed"
    );
}

#[test]
fn initdb_leftovers_are_removed_and_foreign_directories_refused() {
    let dir = tempdir();
    // What a first start killed during initdb leaves: the temporary sibling, never the data dir.
    let data = dir.path().join("data");
    let leftover = dir.path().join("data.initdb-999999");
    fs::create_dir_all(leftover.join("base")).unwrap();
    fs::write(leftover.join("PG_VERSION"), "15\n").unwrap();
    let pg =
        EmbeddedPostgres::start(EmbeddedPostgresConfig::new(&data)).expect("start over a leftover");
    assert!(!leftover.exists(), "leftover removed");
    assert_eq!(scalar(pg.database_url(), "SELECT 1::int8").unwrap(), 1);
    pg.stop().expect("stop");

    // A non-empty directory without PG_VERSION is somebody's data: refused, untouched.
    let foreign = dir.path().join("foreign");
    fs::create_dir(&foreign).unwrap();
    fs::write(foreign.join("notes.txt"), "mine").unwrap();
    let err =
        EmbeddedPostgres::start(EmbeddedPostgresConfig::new(&foreign)).expect_err("must refuse");
    assert!(
        matches!(err, EmbeddedPostgresError::NotADataDir { .. }),
        "{err:?}"
    );
    assert!(
        err.to_string().contains(&foreign.display().to_string()),
        "{err}"
    );
    assert_eq!(
        fs::read_to_string(foreign.join("notes.txt")).unwrap(),
        "mine"
    );
    assert_eq!(fs::read_dir(&foreign).unwrap().count(), 1);
}

#[test]
fn bad_configurations_are_refused_with_the_fix() {
    let dir = tempdir();
    let data = dir.path().join("data");
    let start = |f: &dyn Fn(&mut EmbeddedPostgresConfig)| {
        let mut config = EmbeddedPostgresConfig::new(&data);
        f(&mut config);
        EmbeddedPostgres::start(config).expect_err("must refuse")
    };

    let err = start(&|c| c.bin_dir = Some(PathBuf::from("/nonexistent/bin")));
    assert!(
        err.to_string().contains("apt-get install postgresql"),
        "{err}"
    );
    let err = start(&|c| c.run_as = Some("no-such-user-mpr".into()));
    assert!(
        matches!(err, EmbeddedPostgresError::UnknownUser { .. }),
        "{err:?}"
    );
    let err = start(&|c| c.database = String::new());
    assert!(
        matches!(err, EmbeddedPostgresError::InvalidDatabaseName { .. }),
        "{err:?}"
    );
    if is_root() {
        let err = start(&|c| c.run_as = Some("root".into()));
        assert!(
            matches!(err, EmbeddedPostgresError::RunAsRoot { .. }),
            "{err:?}"
        );
    }
    assert_eq!(
        fs::read_dir(dir.path()).unwrap().count(),
        0,
        "nothing created"
    );
}

#[test]
fn default_data_dir_depends_on_the_user() {
    let dir = EmbeddedPostgresConfig::default_data_dir();
    if is_root() {
        assert_eq!(dir, Path::new("/var/lib/mpr/postgres"));
    } else {
        assert!(
            dir.ends_with("mpr/postgres") && dir.is_absolute(),
            "{}",
            dir.display()
        );
    }
}

#[test]
fn a_server_that_exits_while_starting_reports_the_end_of_its_log() {
    let dir = tempdir();
    let data = dir.path().join("data");
    EmbeddedPostgres::start(EmbeddedPostgresConfig::new(&data))
        .expect("first start")
        .stop()
        .expect("stop");
    let conf = data.join("postgresql.conf");
    let good = fs::read_to_string(&conf).expect("postgresql.conf");
    fs::write(&conf, format!("{good}\nno_such_setting = 1\n")).unwrap();

    let t = Instant::now();
    let err = EmbeddedPostgres::start(EmbeddedPostgresConfig::new(&data)).expect_err("bad config");
    assert!(
        t.elapsed() < Duration::from_secs(10),
        "noticed the exit promptly"
    );
    assert!(
        matches!(err, EmbeddedPostgresError::ServerExited { .. }),
        "{err:?}"
    );
    let message = err.to_string();
    eprintln!("{message}");
    assert!(message.contains("no_such_setting"), "{message}");
    assert!(
        !message.contains("Success. You can now start"),
        "only this run's log is quoted: {message}"
    );

    fs::write(&conf, good).unwrap();
    let pg = EmbeddedPostgres::start(EmbeddedPostgresConfig::new(&data)).expect("start once fixed");
    assert_eq!(scalar(pg.database_url(), "SELECT 1::int8").unwrap(), 1);
    pg.stop().expect("stop");
}
