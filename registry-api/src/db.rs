//! The database: connecting with limits that keep requests from hanging when PostgreSQL is away,
//! and the migrations, embedded at compile time from `migrations/`.

use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::PgPool;

pub static MIGRATOR: Migrator = sqlx::migrate!("../migrations");

/// How long a request waits for a connection before it is answered 503: long enough to ride out a
/// brief pool exhaustion, short enough that a wallet retries instead of hanging while the database
/// restarts.
pub const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Debug, Clone)]
pub struct PoolSettings {
    pub max_connections: u32,
}

impl Default for PoolSettings {
    fn default() -> Self {
        PoolSettings {
            max_connections: 16,
        }
    }
}

/// A pool that connects on demand: the server starts (and answers /healthz and 503s) even while
/// the database is down, and recovers by itself when it returns.
pub fn lazy_pool(url: &str, settings: &PoolSettings) -> Result<PgPool, sqlx::Error> {
    let options: PgConnectOptions = url.parse()?;
    Ok(PgPoolOptions::new()
        .max_connections(settings.max_connections)
        .min_connections(0)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .test_before_acquire(true)
        .connect_lazy_with(options.application_name("mpr-registry")))
}

/// Creates the database if missing and applies pending migrations.
pub async fn prepare(url: &str) -> Result<(), sqlx::Error> {
    use sqlx::migrate::MigrateDatabase;
    if !sqlx::Postgres::database_exists(url).await? {
        sqlx::Postgres::create_database(url).await?;
    }
    let pool = PgPoolOptions::new().max_connections(1).connect(url).await?;
    MIGRATOR.run(&pool).await?;
    pool.close().await;
    Ok(())
}

pub fn is_unique_violation(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(db) if db.is_unique_violation())
}
