//! `mpr registry token create|revoke|list`: tokens made with database access, which is how the
//! first admin token comes to be (`mpr registry token create --role admin NAME`); admins make the
//! others over HTTP (`POST /v1/tokens`) or here.

use clap::Subcommand;
use registry_api::auth::{self, Role};
use registry_api::db;

use crate::commands::serve::DatabaseArgs;

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token and print it (it is stored hashed: this is the only time it is shown).
    Create {
        /// Who the token is for, e.g. "release-ci" or "first-admin".
        name: String,
        /// admin: registers keys, creates and revokes tokens; publisher: records releases and
        /// signed statements; rebuilder: submits signed rebuild reports.
        #[arg(long, default_value = "publisher", value_parser = parse_role)]
        role: Role,
        #[command(flatten)]
        database: DatabaseArgs,
    },
    /// Revoke the token with this name (its name is never reused).
    Revoke {
        name: String,
        #[command(flatten)]
        database: DatabaseArgs,
    },
    /// List the tokens: name, role, who created it, when, and whether it is revoked.
    List {
        #[command(flatten)]
        database: DatabaseArgs,
    },
}

fn parse_role(text: &str) -> Result<Role, String> {
    text.parse()
}

pub fn run(command: TokenCommand, json: bool) -> anyhow::Result<()> {
    let database = match &command {
        TokenCommand::Create { database, .. }
        | TokenCommand::Revoke { database, .. }
        | TokenCommand::List { database } => database,
    };
    let database = database.open()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let outcome = runtime.block_on(async {
        db::prepare(&database.url).await?;
        let pool = db::lazy_pool(&database.url, &db::PoolSettings { max_connections: 1 })?;
        let result = match &command {
            TokenCommand::Create { name, role, .. } => {
                auth::create_token_with_role(&pool, name, *role, None)
                    .await
                    .map(|token| Outcome::Created {
                        name: name.clone(),
                        role: *role,
                        token,
                    })
            }
            TokenCommand::Revoke { name, .. } => {
                auth::revoke_token(&pool, name)
                    .await
                    .map(|revoked| Outcome::Revoked {
                        name: name.clone(),
                        revoked,
                    })
            }
            TokenCommand::List { .. } => auth::list_tokens(&pool).await.map(Outcome::Listed),
        };
        pool.close().await;
        result.map_err(|error| anyhow::anyhow!("{error}"))
    });
    drop(runtime);
    if let Some(cluster) = database.embedded {
        cluster.stop()?;
    }
    match outcome? {
        Outcome::Created { name, role, token } if json => crate::commands::print_json(
            &serde_json::json!({"name": name, "role": role, "token": token}),
        )?,
        Outcome::Created { token, .. } => outln!("{token}")?,
        Outcome::Revoked {
            name,
            revoked: true,
        } if json => {
            crate::commands::print_json(&serde_json::json!({"name": name, "revoked": true}))?
        }
        Outcome::Revoked {
            name,
            revoked: true,
        } => outln!("revoked {name}")?,
        Outcome::Revoked { name, .. } => anyhow::bail!("no active token named {name:?}"),
        Outcome::Listed(tokens) if json => crate::commands::print_json(&tokens)?,
        Outcome::Listed(tokens) => {
            for token in tokens {
                let state = match token.revoked_at {
                    Some(at) => format!("revoked {}", at.to_rfc3339()),
                    None => "active".to_owned(),
                };
                let by = token.created_by_token.as_deref().unwrap_or("(database)");
                outln!(
                    "{}\t{}\tcreated {} by {by}\t{state}",
                    token.name,
                    token.role,
                    token.created_at.to_rfc3339()
                )?;
            }
        }
    }
    Ok(())
}

enum Outcome {
    Created {
        name: String,
        role: Role,
        token: String,
    },
    Revoked {
        name: String,
        revoked: bool,
    },
    Listed(Vec<auth::TokenView>),
}
