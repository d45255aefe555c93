//! `mpr registry token create|revoke`.

use clap::Subcommand;
use registry_api::{auth, db};

use crate::commands::serve::DatabaseArgs;

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token and print it (it is stored hashed: this is the only time it is shown).
    Create {
        /// Who the token is for, e.g. "release-ci".
        name: String,
        #[command(flatten)]
        database: DatabaseArgs,
    },
    /// Revoke the token with this name.
    Revoke {
        name: String,
        #[command(flatten)]
        database: DatabaseArgs,
    },
}

pub fn run(command: TokenCommand, json: bool) -> anyhow::Result<()> {
    let (database, name) = match &command {
        TokenCommand::Create { name, database } | TokenCommand::Revoke { name, database } => {
            (database, name)
        }
    };
    let database = database.open()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let outcome = runtime.block_on(async {
        db::prepare(&database.url).await?;
        let pool = db::lazy_pool(&database.url, &db::PoolSettings { max_connections: 1 })?;
        let result = match &command {
            TokenCommand::Create { .. } => {
                auth::create_token(&pool, name).await.map(Outcome::Created)
            }
            TokenCommand::Revoke { .. } => {
                auth::revoke_token(&pool, name).await.map(Outcome::Revoked)
            }
        };
        pool.close().await;
        result.map_err(|error| anyhow::anyhow!("{error}"))
    });
    drop(runtime);
    if let Some(cluster) = database.embedded {
        cluster.stop()?;
    }
    match outcome? {
        Outcome::Created(token) if json => {
            crate::commands::print_json(&serde_json::json!({"name": name, "token": token}))?
        }
        Outcome::Created(token) => outln!("{token}")?,
        Outcome::Revoked(true) => outln!("revoked {name}")?,
        Outcome::Revoked(false) => anyhow::bail!("no active token named {name:?}"),
    }
    Ok(())
}

enum Outcome {
    Created(String),
    Revoked(bool),
}
