//! `mpr serve` as a child process on a loopback port, and what the tests look at around it: its
//! log, the PostgreSQL processes in its data directory.
#![allow(dead_code, unused_imports)] // each test binary uses its own part

mod releases;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

pub use releases::{release_with, rows_of, signed, Rows};

/// A private directory the `postgres` user can traverse (tempdirs are 0700, owned by root).
pub fn traversable_tempdir() -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("mpr-serve-")
        .tempdir_in("/tmp")
        .expect("temp dir in /tmp");
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).expect("chmod temp dir");
    dir
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("address").port()
}

/// PIDs of processes working in `data_dir`: postgres and all its children chdir there.
pub fn processes_in(data_dir: &Path) -> Vec<i32> {
    let Ok(data_dir) = fs::canonicalize(data_dir) else {
        return Vec::new();
    };
    fs::read_dir("/proc")
        .expect("/proc")
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| fs::read_link(format!("/proc/{pid}/cwd")).is_ok_and(|cwd| cwd == data_dir))
        .collect()
}

/// The last 30 lines of a log, for a failure's message.
pub fn tail(path: &Path) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

/// A running `mpr serve`, SIGKILLed and reaped if the test ends without stopping it.
pub struct Server {
    child: Option<Child>,
    base: String,
    pub log: PathBuf,
    token_file: PathBuf,
}

impl Server {
    /// `mpr serve` on its embedded PostgreSQL in `data_dir`. DATABASE_URL (set for sqlx's checks
    /// when building) must not reach it.
    pub fn embedded(data_dir: &Path, token_file: &Path, log: &Path) -> Server {
        Self::spawn(
            &["--data-dir".as_ref(), data_dir.as_os_str()],
            token_file,
            log,
        )
    }

    pub fn on_database(database_url: &str, token_file: &Path, log: &Path) -> Server {
        Self::spawn(
            &["--database-url".as_ref(), database_url.as_ref()],
            token_file,
            log,
        )
    }

    fn spawn(database: &[&std::ffi::OsStr], token_file: &Path, log: &Path) -> Server {
        let listen = format!("127.0.0.1:{}", free_port());
        let output = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_mpr"))
            .arg("serve")
            .args(["--listen", &listen])
            .args(database)
            .arg("--token-file")
            .arg(token_file)
            .arg("--admin-token-file")
            .arg(admin_token_file(token_file))
            .env_remove("DATABASE_URL")
            .env_remove("MPR_DATA_DIR")
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(output.try_clone().expect("log file"))
            .stderr(output)
            .spawn()
            .expect("mpr serve starts");
        Server {
            child: Some(child),
            base: format!("http://{listen}"),
            log: log.to_owned(),
            token_file: token_file.to_owned(),
        }
    }

    /// A new release key, registered with the admin token `mpr serve` wrote: what signs the
    /// releases a test records (see [`signed`]).
    pub async fn register_release_key(&self) -> registry_api::signing::SecretKey {
        let generated =
            registry_api::signing::generate_key("Test Releases <release@mpr.invalid>", None)
                .expect("key generation");
        let admin = fs::read_to_string(admin_token_file(&self.token_file)).expect("admin token");
        let response = reqwest::Client::new()
            .post(self.url("/v1/keys"))
            .bearer_auth(admin.trim())
            .body(generated.armored_public().to_owned())
            .send()
            .await
            .expect("POST /v1/keys");
        assert_eq!(response.status(), 201, "{:?}", response.text().await);
        generated.secret_key().expect("generated key")
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn child(&mut self) -> &mut Child {
        self.child.as_mut().expect("the server runs")
    }

    /// Polls /readyz until 200; fails with the server's log if it exits or takes too long.
    pub async fn wait_ready(&mut self, limit: Duration) -> Duration {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()
            .expect("client");
        let begun = Instant::now();
        loop {
            if let Some(status) = self.child().try_wait().expect("try_wait") {
                panic!(
                    "mpr serve exited with {status} before it was ready:\n{}",
                    tail(&self.log)
                );
            }
            if let Ok(response) = client.get(self.url("/readyz")).send().await {
                if response.status() == 200 {
                    return begun.elapsed();
                }
            }
            assert!(
                begun.elapsed() < limit,
                "mpr serve not ready within {limit:?}:\n{}",
                tail(&self.log)
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGTERM, then waits for the exit (SIGKILL after `limit`, failing the test).
    pub fn terminate(&mut self, limit: Duration) -> (ExitStatus, Duration) {
        let mut child = self.child.take().expect("the server runs");
        let pid = i32::try_from(child.id()).expect("pid");
        // SAFETY: kill(2) with a PID we spawned and have not reaped, so it is still ours.
        assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0, "SIGTERM");
        let begun = Instant::now();
        loop {
            if let Some(status) = child.try_wait().expect("try_wait") {
                return (status, begun.elapsed());
            }
            if begun.elapsed() > limit {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "mpr serve still running {limit:?} after SIGTERM:\n{}",
                    tail(&self.log)
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL, as a crash or the OOM killer would.
    pub fn kill(&mut self) {
        let mut child = self.child.take().expect("the server runs");
        child.kill().expect("SIGKILL");
        child.wait().expect("reap");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Where [`Server`] has `mpr serve` write its admin token: beside the publisher token.
pub fn admin_token_file(token_file: &Path) -> std::path::PathBuf {
    token_file.with_extension("admin")
}

/// GnuPG in the throw-away home `home`, without a passphrase, as a release signer runs it.
pub fn gpg(home: &Path, args: &[&str]) -> Vec<u8> {
    let output = Command::new("gpg")
        .env("GNUPGHOME", home)
        .args([
            "--batch",
            "--yes",
            "--pinentry-mode",
            "loopback",
            "--passphrase",
            "",
        ])
        .args(args)
        .output()
        .expect("gpg runs (apt-get install gnupg)");
    assert!(
        output.status.success(),
        "gpg {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}
