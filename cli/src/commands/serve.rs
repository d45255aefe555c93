//! `mpr serve`: the registry's HTTP service, on DATABASE_URL or on a private PostgreSQL cluster
//! started from the installed server binaries.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use registry_api::embedded_postgres::{EmbeddedPostgres, EmbeddedPostgresConfig};
use registry_api::{auth, db, server};

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address and port to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    #[command(flatten)]
    database: DatabaseArgs,
    /// Database connections the server may open.
    #[arg(long, default_value_t = 16)]
    max_connections: u32,
    /// On start, if FILE does not exist, create a publisher token named "default" and write it
    /// there (mode 0600): the first publisher's credential without a separate step.
    #[arg(long)]
    token_file: Option<PathBuf>,
    /// On start, if FILE does not exist, create an admin token named "admin" (registers keys,
    /// creates and revokes tokens) and write it there (mode 0600).
    #[arg(long)]
    admin_token_file: Option<PathBuf>,
    #[command(flatten)]
    log: LogArgs,
}

/// The transparency log every statement is appended to.
#[derive(Debug, Args)]
pub struct LogArgs {
    /// The log's signed-note secret key (`mpr log key generate`); its name is the log's origin.
    /// [default: log-key beside the data directory, generated on first start]
    #[arg(long, env = "MPR_LOG_KEY")]
    pub log_key: Option<PathBuf>,
    /// The origin (key name) of a log key generated on first start [default: <host name>/mpr-log].
    #[arg(long)]
    pub log_origin: Option<String>,
    /// A witness whose cosignatures the registry accepts and serves (its verifier key,
    /// name+id+key); repeat for several witnesses.
    #[arg(long = "witness-key", value_name = "VKEY")]
    pub witness_keys: Vec<String>,
}

/// Where the registry's data lives: a PostgreSQL server, or the embedded default.
#[derive(Debug, Args)]
pub struct DatabaseArgs {
    /// A PostgreSQL server (postgres://...). Without it, a private cluster runs in --data-dir.
    #[arg(long, env = "DATABASE_URL")]
    database_url: Option<String>,
    /// The embedded cluster's directory [default: /var/lib/mpr/postgres as root,
    /// ~/.local/share/mpr/postgres otherwise].
    #[arg(long, env = "MPR_DATA_DIR")]
    data_dir: Option<PathBuf>,
}

impl DatabaseArgs {
    /// The embedded cluster's directory, given or default.
    pub fn data_dir(&self) -> PathBuf {
        self.data_dir
            .clone()
            .unwrap_or_else(EmbeddedPostgresConfig::default_data_dir)
    }
}

/// A database URL, and the embedded cluster behind it when there is one (stopped when dropped).
pub struct Database {
    pub url: String,
    pub embedded: Option<EmbeddedPostgres>,
}

impl DatabaseArgs {
    /// Starts the embedded cluster when no URL was given. Call from the main thread, before the
    /// async runtime exists: start-up blocks on initdb and the server's readiness.
    pub fn open(&self) -> anyhow::Result<Database> {
        if let Some(url) = &self.database_url {
            return Ok(Database {
                url: url.clone(),
                embedded: None,
            });
        }
        let data_dir = self.data_dir();
        let cluster = EmbeddedPostgres::start(EmbeddedPostgresConfig::new(&data_dir))
            .with_context(|| {
                format!("starting the embedded PostgreSQL in {}", data_dir.display())
            })?;
        tracing::info!(data_dir = %data_dir.display(), "embedded PostgreSQL running");
        Ok(Database {
            url: cluster.database_url().to_owned(),
            embedded: Some(cluster),
        })
    }
}

pub fn run(args: ServeArgs) -> anyhow::Result<()> {
    // Before the database starts: a bad key must not leave a cluster half-started.
    let log = super::log::server_config(&args.log, &args.database.data_dir())?;
    let database = args.database.open()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let served = runtime.block_on(serve(&args, &database.url, log));
    // Requests are finished; the cluster (if ours) stops when `database` drops, after the pool.
    drop(runtime);
    if let Some(cluster) = database.embedded {
        cluster.stop().context("stopping the embedded PostgreSQL")?;
    }
    served
}

async fn serve(
    args: &ServeArgs,
    url: &str,
    log: registry_api::log::LogConfig,
) -> anyhow::Result<()> {
    db::prepare(url)
        .await
        .context("preparing the database (create, migrate)")?;
    let pool = db::lazy_pool(
        url,
        &db::PoolSettings {
            max_connections: args.max_connections,
        },
    )?;
    if let Some(file) = &args.token_file {
        ensure_token_file(&pool, file, "default", auth::Role::Publisher).await?;
    }
    if let Some(file) = &args.admin_token_file {
        ensure_token_file(&pool, file, "admin", auth::Role::Admin).await?;
    }
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| {
            format!(
                "listening on {} (is another server using the port? pass --listen)",
                args.listen
            )
        })?;
    eprintln!("mpr registry on http://{}", listener.local_addr()?);
    let mut state = server::state(pool.clone());
    state.log = Some(registry_api::log::start(pool, log));
    server::serve(listener, state, shutdown_signal()).await?;
    Ok(())
}

async fn ensure_token_file(
    pool: &sqlx::PgPool,
    file: &Path,
    name: &str,
    role: auth::Role,
) -> anyhow::Result<()> {
    if file.exists() {
        return Ok(());
    }
    let token = auth::create_token_with_role(pool, name, role, None)
        .await
        .map_err(|error| {
            anyhow::anyhow!(
                "creating the {role} token {name:?} for {}: {error} (`mpr registry token create --role {role} OTHER-NAME` makes one under another name)",
                file.display()
            )
        })?;
    write_secret(file, &token)?;
    eprintln!("{role} token {name:?} written to {}", file.display());
    Ok(())
}

/// Writes a secret readable by the owner only, via a temporary file renamed into place.
pub fn write_secret(file: &Path, secret: &str) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let dir = file
        .parent()
        .filter(|dir| !dir.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let temporary = dir.join(format!(".{}.tmp", std::process::id()));
    let mut out = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&temporary)
        .with_context(|| format!("creating {}", temporary.display()))?;
    out.write_all(format!("{secret}\n").as_bytes())?;
    out.sync_all()?;
    std::fs::rename(&temporary, file).with_context(|| format!("writing {}", file.display()))?;
    Ok(())
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = interrupt => {}
        () = terminate => {}
    }
    eprintln!("mpr registry: shutting down");
}
