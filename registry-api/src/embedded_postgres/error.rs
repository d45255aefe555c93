use std::io;
use std::path::PathBuf;

/// Why the private cluster could not be started or stopped.
///
/// Every message says what is wrong and what to do about it, because the usual reader is an operator
/// looking at `mpr serve`'s last line of output, not a developer with the source at hand.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EmbeddedPostgresError {
    #[error(
        "no PostgreSQL server binaries found under /usr/lib/postgresql/*/bin: install them with \
         `apt-get install postgresql`, or give the directory holding initdb and postgres"
    )]
    NoServerBinaries,

    #[error(
        "{path} is missing: {bin_dir} must hold the PostgreSQL server programs (initdb, postgres, psql); \
         install them with `apt-get install postgresql`, or give the directory that holds them"
    )]
    MissingProgram { path: PathBuf, bin_dir: PathBuf },

    #[error(
        "could not tell which PostgreSQL version {program} is ({detail}): give the bin directory of a \
         PostgreSQL 10 or later installation"
    )]
    UnknownVersion { program: PathBuf, detail: String },

    #[error(
        "user `{user}` does not exist: install PostgreSQL with `apt-get install postgresql` (it creates \
         `postgres`), or choose an existing unprivileged user to run it as"
    )]
    UnknownUser { user: String },

    #[error(
        "PostgreSQL refuses to run as root (asked to run it as `{user}`): choose an unprivileged user such \
         as `postgres`"
    )]
    RunAsRoot { user: String },

    #[error(
        "running PostgreSQL as `{user}` needs root, but this process runs as `{current}`: run as root, or \
         leave the user unset to run it as `{current}`"
    )]
    RunAsNeedsRoot { user: String, current: String },

    #[error("database name {name:?} is invalid ({reason}): use 1 to 63 bytes, without NUL")]
    InvalidDatabaseName { name: String, reason: &'static str },

    #[error(
        "{data_dir} is not a usable data directory path: give a path naming a directory, such as \
         /var/lib/mpr/postgres"
    )]
    BadDataDir { data_dir: PathBuf },

    #[error(
        "{dir} cannot be entered by `{user}`, who runs PostgreSQL, so the data directory {data_dir} \
         below it cannot be used: choose a data directory elsewhere (such as under /var/lib), or allow \
         the traversal with `chmod o+x {dir}`"
    )]
    Untraversable {
        dir: PathBuf,
        user: String,
        data_dir: PathBuf,
    },

    #[error("{path} exists but is not a directory: remove it, or choose another data directory")]
    NotADirectory { path: PathBuf },

    #[error(
        "{data_dir} is not empty but holds no PostgreSQL cluster (no PG_VERSION), so it was not made \
         by this program: move it away, or choose another data directory"
    )]
    NotADataDir { data_dir: PathBuf },

    #[error(
        "{data_dir} belongs to uid {owner}, but PostgreSQL runs as `{user}` (uid {uid}): give it to that \
         user with `chown -R {user}: {data_dir}`, or run PostgreSQL as its owner"
    )]
    WrongOwner {
        data_dir: PathBuf,
        owner: u32,
        user: String,
        uid: u32,
    },

    #[error(
        "{data_dir} holds a PostgreSQL {cluster} cluster but {bin_dir} is PostgreSQL {binaries}: install \
         PostgreSQL {cluster} (`apt-get install postgresql-{cluster}`) and use its bin directory, or \
         upgrade the cluster with pg_upgrade"
    )]
    VersionMismatch {
        data_dir: PathBuf,
        cluster: String,
        binaries: String,
        bin_dir: PathBuf,
    },

    #[error(
        "the socket path {path} is {len} bytes, more than the 107 a unix socket allows: choose a data \
         directory with a shorter path"
    )]
    SocketPathTooLong { path: PathBuf, len: usize },

    #[error(
        "{dir}, the directory for PostgreSQL's socket, belongs to uid {owner}, not to `{user}`: remove it \
         (`rm -r {dir}`) and retry"
    )]
    SocketDirNotOurs {
        dir: PathBuf,
        owner: u32,
        user: String,
    },

    #[error(
        "another process still holds {lock}, the lock of data directory {data_dir}, after {secs} s: \
         another `mpr serve` (or the PostgreSQL it started) uses this data directory; stop it, or \
         choose another data directory"
    )]
    InUse {
        lock: PathBuf,
        data_dir: PathBuf,
        secs: u64,
    },

    #[error(
        "PostgreSQL (pid {pid}) is already running on {data_dir}, not started by this process: stop it \
         with `kill -INT {pid}` and retry, or connect to it with DATABASE_URL instead"
    )]
    AlreadyRunning { pid: i32, data_dir: PathBuf },

    #[error(
        "the socket {socket} is in use by another PostgreSQL (pid {pid}), serving another data \
         directory: stop that server, or use another port"
    )]
    SocketInUse { socket: PathBuf, pid: i32 },

    #[error("could not {action} {path}: {source}; check its permissions and the free space")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    #[error(
        "could not run {program}: {source}; check that it is an executable PostgreSQL program"
    )]
    Spawn {
        program: PathBuf,
        #[source]
        source: io::Error,
    },

    #[error(
        "initdb failed ({status}) for {data_dir}; the end of its output, kept in {log}:\n{tail}\nfix the \
         cause above and retry (no partial cluster was left behind)"
    )]
    InitdbFailed {
        status: String,
        data_dir: PathBuf,
        log: PathBuf,
        tail: String,
    },

    #[error(
        "PostgreSQL exited while starting ({status}); the end of its log {log}:\n{tail}\nfix the cause \
         above and retry"
    )]
    ServerExited {
        status: String,
        log: PathBuf,
        tail: String,
    },

    #[error(
        "PostgreSQL did not accept connections within {secs} s and was stopped; the end of its log \
         {log}:\n{tail}\nfix the cause above, or retry if the machine was overloaded"
    )]
    StartTimeout {
        secs: u64,
        log: PathBuf,
        tail: String,
    },

    #[error(
        "could not create database `{database}` ({status}): {output}\nthe server log is {log}; fix the \
         cause above and retry"
    )]
    CreateDatabase {
        database: String,
        status: String,
        output: String,
        log: PathBuf,
    },

    #[error(
        "PostgreSQL ignored the fast-shutdown request for {secs} s and was killed; the next start runs \
         crash recovery (automatic); see {log} for why it hung"
    )]
    ForcedStop { secs: u64, log: PathBuf },

    #[error(
        "PostgreSQL had already exited ({status}) before it was asked to stop; the end of its log \
         {log}:\n{tail}\nthe next start runs crash recovery if needed"
    )]
    ExitedEarly {
        status: String,
        log: PathBuf,
        tail: String,
    },
}

impl EmbeddedPostgresError {
    pub(super) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(io::Error) -> Self {
        let path = path.into();
        move |source| Self::Io {
            action,
            path,
            source,
        }
    }
}
