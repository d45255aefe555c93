//! The steps of bringing a cluster up, each on its own so `start` reads as a list.

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::log::LogFile;
use super::paths::sibling;
use super::process;
use super::system::{self, PostgresProcess, User};
use super::EmbeddedPostgresError as Error;

/// Picks the newest installed major version, as `apt-get install postgresql` may leave several.
pub(super) fn find_bin_dir() -> Result<PathBuf, Error> {
    let Ok(entries) = fs::read_dir("/usr/lib/postgresql") else {
        return Err(Error::NoServerBinaries);
    };
    entries
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            let version: Vec<u32> = name
                .split('.')
                .map(str::parse)
                .collect::<Result<_, _>>()
                .ok()?;
            let bin = entry.path().join("bin");
            bin.join("postgres").is_file().then_some((version, bin))
        })
        .max()
        .map(|(_, bin)| bin)
        .ok_or(Error::NoServerBinaries)
}

pub(super) fn program(bin_dir: &Path, name: &str) -> Result<PathBuf, Error> {
    let path = bin_dir.join(name);
    if path.is_file() {
        Ok(path)
    } else {
        Err(Error::MissingProgram {
            path,
            bin_dir: bin_dir.to_owned(),
        })
    }
}

/// The major version as PG_VERSION spells it ("15"), from `postgres -V`.
pub(super) fn server_major_version(postgres: &Path) -> Result<String, Error> {
    let unknown = |detail: String| Error::UnknownVersion {
        program: postgres.to_owned(),
        detail,
    };
    let mut cmd = Command::new(postgres);
    cmd.arg("-V");
    process::prepare(&mut cmd, None, libc::SIGKILL);
    let out = cmd.output().map_err(|source| Error::Spawn {
        program: postgres.to_owned(),
        source,
    })?;
    let text = String::from_utf8_lossy(&out.stdout);
    // "postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)"
    let version = text
        .split_once("(PostgreSQL) ")
        .and_then(|(_, rest)| rest.split_whitespace().next())
        .ok_or_else(|| unknown(format!("it printed {:?}", text.trim())))?;
    let major = version.split('.').next().unwrap_or("");
    match major.parse::<u32>() {
        Ok(n) if n >= 10 => Ok(major.to_owned()),
        _ => Err(unknown(format!("version {version} is not supported"))),
    }
}

/// What the data directory holds before we start.
pub(super) enum DataDirState {
    Missing,
    Empty,
    Cluster { version: String },
}

pub(super) fn inspect_data_dir(data_dir: &Path) -> Result<DataDirState, Error> {
    match fs::symlink_metadata(data_dir) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(DataDirState::Missing),
        Err(e) => return Err(Error::io("inspect", data_dir)(e)),
        Ok(meta) if !meta.is_dir() => {
            return Err(Error::NotADirectory {
                path: data_dir.to_owned(),
            })
        }
        Ok(_) => {}
    }
    match fs::read_to_string(data_dir.join("PG_VERSION")) {
        Ok(version) => Ok(DataDirState::Cluster {
            version: version.trim().to_owned(),
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let mut entries = fs::read_dir(data_dir).map_err(Error::io("list", data_dir))?;
            if entries.next().is_none() {
                Ok(DataDirState::Empty)
            } else {
                Err(Error::NotADataDir {
                    data_dir: data_dir.to_owned(),
                })
            }
        }
        Err(e) => Err(Error::io("read", data_dir.join("PG_VERSION"))(e)),
    }
}

/// Removes `<data_dir>.initdb-*` left by a first start that was killed mid-initdb. Only called while
/// holding the data directory's lock, so no other process can be filling one of them right now.
pub(super) fn remove_initdb_leftovers(data_dir: &Path) -> Result<(), Error> {
    let (Some(parent), Some(name)) = (data_dir.parent(), data_dir.file_name()) else {
        return Ok(());
    };
    let mut prefix = name.to_os_string();
    prefix.push(".initdb-");
    let prefix = prefix.as_encoded_bytes();
    for entry in fs::read_dir(parent)
        .map_err(Error::io("list", parent))?
        .flatten()
    {
        if entry.file_name().as_encoded_bytes().starts_with(prefix) {
            let path = entry.path();
            tracing::warn!(path = %path.display(), "removing the leftover of an interrupted initdb");
            fs::remove_dir_all(&path).map_err(Error::io("remove", &path))?;
        }
    }
    Ok(())
}

/// initdb into a sibling directory and rename it into place: an interrupted first start never
/// leaves a half-made cluster where the next start would take it for a real one.
pub(super) fn initdb(
    bin_dir: &Path,
    data_dir: &Path,
    user: &User,
    switch: bool,
    log: &LogFile,
) -> Result<(), Error> {
    let initdb = program(bin_dir, "initdb")?;
    let tmp = sibling(data_dir, &format!(".initdb-{}", std::process::id()));
    fs::DirBuilder::new()
        .mode(0o700)
        .create(&tmp)
        .map_err(Error::io("create", &tmp))?;
    let result = (|| {
        if switch {
            std::os::unix::fs::chown(&tmp, Some(user.uid), Some(user.gid))
                .map_err(Error::io("change the owner of", &tmp))?;
        }
        let mut cmd = Command::new(&initdb);
        cmd.arg("-D")
            .arg(&tmp)
            .args([
                "--auth=trust",
                "-U",
                "mpr",
                "--encoding=UTF8",
                "--locale=C",
                "-N",
            ])
            .stdin(Stdio::null())
            .stdout(log.for_child()?)
            .stderr(log.for_child()?);
        // SIGTERM lets initdb clean up after itself if we die; a leftover is removed anyway.
        process::prepare(&mut cmd, switch.then_some(user), libc::SIGTERM);
        let status = cmd.status().map_err(|source| Error::Spawn {
            program: initdb.clone(),
            source,
        })?;
        if !status.success() {
            return Err(Error::InitdbFailed {
                status: status.to_string(),
                data_dir: data_dir.to_owned(),
                log: log.path.clone(),
                tail: log.tail(),
            });
        }
        system::syncfs(&tmp).map_err(Error::io("flush to disk", &tmp))?;
        // rename(2) replaces an empty directory, so a pre-made empty data directory works too.
        fs::rename(&tmp, data_dir).map_err(Error::io("move the new cluster to", data_dir))?;
        if let Some(parent) = data_dir.parent() {
            system::fsync_dir(parent).map_err(Error::io("flush to disk", parent))?;
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_dir_all(&tmp);
    }
    result
}

/// Makes sure postgres will not refuse to start because of a lock file naming a live process that
/// is not our server, as happens when the PID of a crashed server was reused. postgres only checks
/// that the PID is alive; we look at what it is. A file naming a dead PID is left to postgres.
///
/// A postgres serving our data directory is never signalled: it was not started by this process
/// (we hold the data directory's lock), so it may be someone's. The exception is one already
/// shutting down (what a parent-death signal leaves behind), which we wait for.
pub(super) fn clear_stale_lock(
    lock: &Path,
    data_dir: &Path,
    socket: Option<&Path>,
) -> Result<(), Error> {
    let text = match fs::read_to_string(lock) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io("read", lock)(e)),
    };
    let lines: Vec<&str> = text.lines().collect();
    let pid = lines
        .first()
        .and_then(|l| l.trim().parse::<i32>().ok())
        .filter(|&p| p > 0);
    let Some(pid) = pid else {
        tracing::warn!(path = %lock.display(), "removing an unreadable PostgreSQL lock file");
        return fs::remove_file(lock).map_err(Error::io("remove", lock));
    };
    if !system::process_exists(pid) {
        return Ok(());
    }
    let process = system::is_postgres_in(pid, data_dir);
    match process {
        PostgresProcess::Ours => {
            // postmaster.pid's 8th line is the server's state.
            if lines.get(7).map(|s| s.trim()) == Some("stopping") {
                tracing::info!(pid, "waiting for a PostgreSQL that is shutting down");
                let deadline = Instant::now() + super::STOP_TIMEOUT;
                while system::process_exists(pid) && Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(50));
                }
                if !system::process_exists(pid) {
                    return Ok(());
                }
            }
            Err(Error::AlreadyRunning {
                pid,
                data_dir: data_dir.to_owned(),
            })
        }
        PostgresProcess::Foreign | PostgresProcess::Other => {
            // Another cluster's server owns this socket: removing its lock would steal the socket.
            if let (PostgresProcess::Foreign, Some(socket)) = (&process, socket) {
                return Err(Error::SocketInUse {
                    socket: socket.to_owned(),
                    pid,
                });
            }
            tracing::warn!(
                path = %lock.display(),
                pid,
                "removing a stale PostgreSQL lock file naming an unrelated live process"
            );
            fs::remove_file(lock).map_err(Error::io("remove", lock))
        }
    }
}

/// Whether postmaster.pid says `pid` accepts connections; this is how `pg_ctl -w` decides, and it
/// costs a file read instead of a connection attempt.
pub(super) fn server_ready(data_dir: &Path, pid: i32) -> bool {
    let Ok(text) = fs::read_to_string(data_dir.join("postmaster.pid")) else {
        return false;
    };
    let lines: Vec<&str> = text.lines().collect();
    lines.first().and_then(|l| l.trim().parse::<i32>().ok()) == Some(pid)
        && lines.get(7).map(|s| s.trim()) == Some("ready")
}

/// Creates the database unless it exists, in one psql run (psql quotes the name for us).
pub(super) fn ensure_database(
    bin_dir: &Path,
    socket_dir: &Path,
    port: u16,
    database: &str,
    log: &Path,
) -> Result<(), Error> {
    const SCRIPT: &str = concat!(
        "SELECT NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = :'db') AS missing \\gset\n",
        "\\if :missing\n",
        "CREATE DATABASE :\"db\";\n",
        "\\endif\n",
    );
    let psql = program(bin_dir, "psql")?;
    let spawn_error = |source| Error::Spawn {
        program: psql.clone(),
        source,
    };
    let mut cmd = Command::new(&psql);
    cmd.args([
        "-X",
        "-q",
        "-v",
        "ON_ERROR_STOP=1",
        "-U",
        "mpr",
        "-d",
        "postgres",
    ])
    .arg("-h")
    .arg(socket_dir)
    .args(["-p", &port.to_string()])
    .arg("-v")
    .arg(format!("db={database}"))
    .stdin(Stdio::piped())
    .stdout(Stdio::null())
    .stderr(Stdio::piped());
    process::prepare(&mut cmd, None, libc::SIGKILL);
    // After prepare, which clears the caller's PG* variables: a hung server must not hang us.
    cmd.env("PGCONNECT_TIMEOUT", "10");
    let mut child = cmd.spawn().map_err(spawn_error)?;
    // A psql that failed to connect stops reading; its exit status and stderr say why.
    let written = child
        .stdin
        .take()
        .map(|mut stdin| stdin.write_all(SCRIPT.as_bytes()));
    let out = child.wait_with_output().map_err(spawn_error)?;
    if !out.status.success() {
        return Err(Error::CreateDatabase {
            database: database.to_owned(),
            status: out.status.to_string(),
            output: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
            log: log.to_owned(),
        });
    }
    written.transpose().map_err(spawn_error)?;
    Ok(())
}

/// Percent-encodes all but RFC 3986 unreserved bytes (and `/` when `keep_slash`).
pub(super) fn url_encode(bytes: &[u8], keep_slash: bool) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &b in bytes {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) || (keep_slash && b == b'/') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
