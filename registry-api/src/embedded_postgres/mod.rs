//! A private PostgreSQL cluster run from the installed Debian server binaries, so `mpr serve` works
//! without a DATABASE_URL and tests get a real database.
//!
//! Layout, for a data directory `D` (default `/var/lib/mpr/postgres` as root):
//! - `D`: the cluster, made by initdb on first use, mode 0700, owned by the server's user;
//! - `D.log`: the server's output, appended; its `flock` is also the data directory's lock;
//! - `D.sock/.s.PGSQL.<port>`: the only way in (no TCP), a 0700 directory owned by the server's
//!   user, or `/tmp/mpr-postgres-<hash>` when that path would be too long for a socket address.
//!
//! The server is a foreground child with a parent-death signal rather than a `pg_ctl` daemon, so it
//! cannot outlive us. Once it has started it is supervised: if the postmaster dies, it is started
//! again (crash recovery, growing delays between attempts, a warning in the log each time). The superuser `mpr` is trusted without password on that socket, which is safe
//! because only root and the server's user can reach it.
//!
//! Interrupted first starts leave `D.initdb-<pid>`, which the next start removes; a non-empty `D`
//! without PG_VERSION is refused, since it was not made by us.

mod cluster;
mod error;
mod log;
mod paths;
mod process;
mod supervisor;
mod system;

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub use error::EmbeddedPostgresError;

use cluster::DataDirState;
use log::LogFile;
use process::Server;
use supervisor::{Launch, Supervisor};
use system::User;

use EmbeddedPostgresError as Error;

/// Generous because a server that crashed with a lot of unflushed work replays it before accepting
/// connections (pg_ctl waits 60 s too).
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// A fast shutdown still writes a checkpoint, which may take a while on a busy disk.
const STOP_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, Clone)]
pub struct EmbeddedPostgresConfig {
    /// The cluster's directory (PGDATA), created on first use.
    pub data_dir: PathBuf,
    /// None picks the newest `/usr/lib/postgresql/*/bin`.
    pub bin_dir: Option<PathBuf>,
    /// Only names the socket (`.s.PGSQL.<port>`): the server listens on no TCP port, and the socket
    /// directory is private, so the default never collides with a system PostgreSQL.
    pub port: u16,
    /// None: `postgres` when root (initdb refuses root), else the current user. Another user is
    /// only possible as root.
    pub run_as: Option<String>,
    /// Created if missing.
    pub database: String,
}

impl EmbeddedPostgresConfig {
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            bin_dir: None,
            port: 5432,
            run_as: None,
            database: "mpr".to_owned(),
        }
    }

    /// `/var/lib/mpr/postgres` for root (a system service), else under the XDG data directory
    /// (`~/.local/share/mpr/postgres`), so a developer's cluster survives reboots unlike /tmp.
    pub fn default_data_dir() -> PathBuf {
        if system::euid() == 0 {
            return PathBuf::from("/var/lib/mpr/postgres");
        }
        let xdg = std::env::var_os("XDG_DATA_HOME")
            .map(PathBuf::from)
            .filter(|p| p.is_absolute());
        let base = xdg.unwrap_or_else(|| {
            let home = std::env::var_os("HOME")
                .map(PathBuf::from)
                .filter(|p| p.is_absolute())
                .or_else(|| system::current_user().ok().map(|u| u.home))
                .unwrap_or_else(|| PathBuf::from("/"));
            home.join(".local/share")
        });
        base.join("mpr/postgres")
    }
}

/// A running private cluster, restarted if its server dies; stopped by [`stop`](Self::stop) or
/// when dropped.
pub struct EmbeddedPostgres {
    database_url: String,
    socket_dir: PathBuf,
    port: u16,
    data_dir: PathBuf,
    log_path: PathBuf,
    /// The server while it starts; handed to the supervisor once ready.
    running: Option<Running>,
    supervisor: Option<Supervisor>,
}

struct Running {
    server: Server,
    /// Held for the lifetime of the server: it carries the data directory's lock.
    log: LogFile,
}

impl EmbeddedPostgres {
    /// Blocks until the server accepts connections and the database exists (about 1 s for a new
    /// cluster, 0.1 s for an existing one). In async code, call it from `spawn_blocking`.
    pub fn start(config: EmbeddedPostgresConfig) -> Result<Self, EmbeddedPostgresError> {
        let started = Instant::now();
        validate_database(&config.database)?;
        let bin_dir = match config.bin_dir {
            Some(dir) => dir,
            None => cluster::find_bin_dir()?,
        };
        let postgres = cluster::program(&bin_dir, "postgres")?;
        cluster::program(&bin_dir, "initdb")?;
        cluster::program(&bin_dir, "psql")?;
        let major = cluster::server_major_version(&postgres)?;
        let (user, switch) = resolve_user(config.run_as.as_deref())?;

        // Everything that can refuse the data directory is checked before anything is created.
        let data_dir = paths::absolute(&config.data_dir)?;
        paths::check_ancestors(&data_dir, &user)?;
        let socket_dir = paths::socket_dir_for(&data_dir, config.port)?;
        if let Some(parent) = data_dir.parent() {
            paths::create_ancestors(parent)?;
        }

        let mut log = LogFile::open(paths::sibling(&data_dir, ".log"))?;
        log.lock(&data_dir, STOP_TIMEOUT)?;
        cluster::remove_initdb_leftovers(&data_dir)?;
        match cluster::inspect_data_dir(&data_dir)? {
            DataDirState::Missing | DataDirState::Empty => {
                let t = Instant::now();
                cluster::initdb(&bin_dir, &data_dir, &user, switch, &log)?;
                tracing::info!(
                    data_dir = %data_dir.display(),
                    user = %user.name,
                    elapsed_ms = t.elapsed().as_millis() as u64,
                    "created PostgreSQL {major} cluster"
                );
            }
            DataDirState::Cluster { version } => {
                check_cluster(&data_dir, &version, &major, &bin_dir, &user)?
            }
        }
        cluster::clear_stale_lock(&data_dir.join("postmaster.pid"), &data_dir, None)?;
        paths::prepare_socket_dir(&socket_dir, &user, switch)?;
        let socket = socket_dir.join(format!(".s.PGSQL.{}", config.port));
        let socket_lock = socket_dir.join(format!(".s.PGSQL.{}.lock", config.port));
        cluster::clear_stale_lock(&socket_lock, &data_dir, Some(&socket))?;

        let launch = Launch {
            postgres,
            data_dir: data_dir.clone(),
            socket_dir: socket_dir.clone(),
            port: config.port,
            user,
            switch,
        };
        // Created before the first server, so that its death is heard from the start.
        let (events, receiver) = supervisor::channel();
        let server = launch.spawn(&log, &events)?;
        let pid = server.pid();
        let log_path = log.path.clone();
        let mut this = Self {
            database_url: database_url(&socket_dir, config.port, &config.database),
            socket_dir,
            port: config.port,
            data_dir,
            log_path,
            running: Some(Running { server, log }),
            supervisor: None,
        };
        // From here on, an error drops `this`, which stops the server.
        this.wait_ready()?;
        cluster::ensure_database(
            &bin_dir,
            &this.socket_dir,
            this.port,
            &config.database,
            &this.log_path,
        )?;
        if let Some(running) = this.running.take() {
            this.supervisor = Some(Supervisor::start(running, launch, events, receiver)?);
        }
        tracing::info!(
            data_dir = %this.data_dir.display(),
            pid,
            socket_dir = %this.socket_dir.display(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "PostgreSQL {major} ready"
        );
        Ok(this)
    }

    /// `postgres://mpr@localhost:PORT/DB?host=SOCKET_DIR`, which sqlx and libpq read as the socket.
    pub fn database_url(&self) -> &str {
        &self.database_url
    }

    pub fn socket_dir(&self) -> &Path {
        &self.socket_dir
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Where the server's output goes; error messages quote its end.
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// Fast shutdown (SIGINT: clients are disconnected, a checkpoint is written); escalates to
    /// SIGQUIT then SIGKILL after 30 s, in which case the next start runs crash recovery.
    pub fn stop(mut self) -> Result<(), EmbeddedPostgresError> {
        self.shutdown()
    }

    /// The postmaster's PID while one runs (it changes when the supervisor restarts it).
    pub fn pid(&self) -> Option<i32> {
        match (&self.running, &self.supervisor) {
            (Some(running), _) => Some(running.server.pid()),
            (None, Some(supervisor)) => supervisor.pid(),
            (None, None) => None,
        }
    }

    /// SIGKILLs the postmaster, as a crash would, without restarting it: the next start must
    /// recover. For tests.
    pub fn kill(mut self) {
        if let Some(Running { mut server, log }) = self.take_running() {
            server.signal(libc::SIGKILL);
            server.wait(STOP_TIMEOUT);
            tracing::info!(pid = server.pid(), "killed PostgreSQL");
            // The postmaster's children still hold the lock (through the log file) until they
            // notice its death; the next start waits for them.
            drop(log);
        }
    }

    /// Ends supervision and takes the server that runs now, if any.
    fn take_running(&mut self) -> Option<Running> {
        let running = self.running.take();
        let supervised = self.supervisor.take().and_then(|mut s| s.stop());
        running.or(supervised)
    }

    fn shutdown(&mut self) -> Result<(), Error> {
        let Some(running) = self.take_running() else {
            return Ok(());
        };
        let result = shutdown(running);
        // Unlike `D.sock`, the /tmp fallback is not next to anything that would explain it; it is
        // empty after a clean shutdown (remove_dir only removes an empty directory).
        if paths::is_tmp_socket_dir(&self.socket_dir) {
            let _ = std::fs::remove_dir(&self.socket_dir);
        }
        result
    }

    fn wait_ready(&mut self) -> Result<(), Error> {
        let Some(running) = &self.running else {
            return Ok(());
        };
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(status) = running.server.status() {
                let err = Error::ServerExited {
                    status: describe(status),
                    log: running.log.path.clone(),
                    tail: running.log.tail(),
                };
                // Already reaped: join the keeper here, so that drop does not report the exit again.
                if let Some(mut running) = self.running.take() {
                    running.server.wait(Duration::ZERO);
                }
                return Err(err);
            }
            if cluster::server_ready(&self.data_dir, running.server.pid()) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                let tail = running.log.tail();
                if let Some(running) = self.running.take() {
                    let _ = shutdown(running);
                }
                return Err(Error::StartTimeout {
                    secs: START_TIMEOUT.as_secs(),
                    log: self.log_path.clone(),
                    tail,
                });
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for EmbeddedPostgres {
    fn drop(&mut self) {
        if let Err(e) = self.shutdown() {
            tracing::warn!("stopping the embedded PostgreSQL: {e}");
        }
    }
}

impl fmt::Debug for EmbeddedPostgres {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmbeddedPostgres")
            .field("database_url", &self.database_url)
            .field("data_dir", &self.data_dir)
            .field("pid", &self.pid())
            .finish()
    }
}

fn shutdown(running: Running) -> Result<(), Error> {
    let Running { mut server, log } = running;
    let t = Instant::now();
    let pid = server.pid();
    if !server.signal(libc::SIGINT) {
        let status = server.wait(STOP_TIMEOUT).flatten();
        return Err(Error::ExitedEarly {
            status: describe(status),
            log: log.path.clone(),
            tail: log.tail(),
        });
    }
    if let Some(status) = server.wait(STOP_TIMEOUT) {
        tracing::info!(pid, elapsed_ms = t.elapsed().as_millis() as u64, status = %describe(status), "stopped PostgreSQL");
        return Ok(());
    }
    tracing::warn!(
        pid,
        "PostgreSQL ignored fast shutdown for {} s; sending SIGQUIT",
        STOP_TIMEOUT.as_secs()
    );
    server.signal(libc::SIGQUIT);
    if server.wait(Duration::from_secs(5)).is_none() {
        server.signal(libc::SIGKILL);
        server.wait(STOP_TIMEOUT);
    }
    Err(Error::ForcedStop {
        secs: STOP_TIMEOUT.as_secs(),
        log: log.path.clone(),
    })
}

fn resolve_user(run_as: Option<&str>) -> Result<(User, bool), Error> {
    let lookup = |name: &str| -> Result<User, Error> {
        system::user_by_name(name)
            .map_err(Error::io("look up the user in", "/etc/passwd"))?
            .ok_or_else(|| Error::UnknownUser {
                user: name.to_owned(),
            })
    };
    if system::euid() == 0 {
        let user = lookup(run_as.unwrap_or("postgres"))?;
        if user.uid == 0 {
            return Err(Error::RunAsRoot { user: user.name });
        }
        return Ok((user, true));
    }
    let current =
        system::current_user().map_err(Error::io("look up the user in", "/etc/passwd"))?;
    if let Some(name) = run_as {
        if lookup(name)?.uid != current.uid {
            return Err(Error::RunAsNeedsRoot {
                user: name.to_owned(),
                current: current.name,
            });
        }
    }
    Ok((current, false))
}

fn check_cluster(
    data_dir: &Path,
    version: &str,
    major: &str,
    bin_dir: &Path,
    user: &User,
) -> Result<(), Error> {
    use std::os::unix::fs::MetadataExt;
    if version != major {
        return Err(Error::VersionMismatch {
            data_dir: data_dir.to_owned(),
            cluster: version.to_owned(),
            binaries: major.to_owned(),
            bin_dir: bin_dir.to_owned(),
        });
    }
    let owner = std::fs::metadata(data_dir)
        .map_err(Error::io("inspect", data_dir))?
        .uid();
    if owner != user.uid {
        return Err(Error::WrongOwner {
            data_dir: data_dir.to_owned(),
            owner,
            user: user.name.clone(),
            uid: user.uid,
        });
    }
    Ok(())
}

fn validate_database(name: &str) -> Result<(), Error> {
    let reason = if name.is_empty() {
        "empty"
    } else if name.len() > 63 {
        "longer than 63 bytes"
    } else if name.contains('\0') {
        "contains NUL"
    } else {
        return Ok(());
    };
    Err(Error::InvalidDatabaseName {
        name: name.to_owned(),
        reason,
    })
}

fn database_url(socket_dir: &Path, port: u16, database: &str) -> String {
    format!(
        "postgres://mpr@localhost:{port}/{}?host={}",
        cluster::url_encode(database.as_bytes(), false),
        cluster::url_encode(socket_dir.as_os_str().as_encoded_bytes(), true),
    )
}

fn describe(status: Option<std::process::ExitStatus>) -> String {
    status.map_or_else(|| "exit status unknown".to_owned(), |s| s.to_string())
}
