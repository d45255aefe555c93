//! Bearer tokens for the write endpoints, each with one role, stored as SHA-256 so that a copy of
//! the database grants no write access.
//!
//! * `admin`: registers keys, creates and revokes tokens. The first one is made with database
//!   access: `mpr registry token create --role admin NAME` (or `mpr serve --admin-token-file F`).
//! * `publisher`: records releases and their signed statements (signed by registered release
//!   keys).
//! * `rebuilder`: submits rebuild reports (signed by registered rebuilder keys; the key, not the
//!   token, is the rebuilder's identity).
//!
//! Handlers take the role they need as an extractor: [`Admin`], [`Publisher`], [`Rebuilder`].
//! Roles do not include one another: an admin token cannot publish, so that the credential that
//! decides whom to trust is never the one a pipeline holds.

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use chrono::{DateTime, Utc};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use utoipa::ToSchema;

use crate::error::ApiError;
use crate::state::AppState;

const TOKEN_PREFIX: &str = "mpr_";

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Admin,
    Publisher,
    Rebuilder,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Admin, Role::Publisher, Role::Rebuilder];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Publisher => "publisher",
            Role::Rebuilder => "rebuilder",
        }
    }

    fn article(self) -> &'static str {
        match self {
            Role::Admin => "an",
            Role::Publisher | Role::Rebuilder => "a",
        }
    }

    fn what_it_does(self) -> &'static str {
        match self {
            Role::Admin => "registers keys and creates or revokes tokens",
            Role::Publisher => "records releases and their signed statements",
            Role::Rebuilder => "submits signed rebuild reports",
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Role {
    type Err = String;

    fn from_str(text: &str) -> Result<Role, String> {
        Role::ALL
            .into_iter()
            .find(|role| role.as_str() == text)
            .ok_or_else(|| format!("role {text:?} is not one of admin, publisher, rebuilder"))
    }
}

/// The token a request was authenticated with, whatever its role.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The token's name: what rows written with it record as `created_by_token`.
    pub name: String,
    pub role: Role,
}

/// A request made with an admin token.
#[derive(Debug, Clone)]
pub struct Admin {
    pub name: String,
}

/// A request made with a publisher token.
#[derive(Debug, Clone)]
pub struct Publisher {
    pub name: String,
}

/// A request made with a rebuilder token.
#[derive(Debug, Clone)]
pub struct Rebuilder {
    pub name: String,
}

/// A token as the admin's list shows it (never the secret, which is not stored).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TokenView {
    pub name: String,
    pub role: Role,
    pub created_at: DateTime<Utc>,
    /// The admin token that created it; absent when made with database access.
    pub created_by_token: Option<String>,
    pub revoked_at: Option<DateTime<Utc>>,
}

fn token_hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// Creates a publisher token for `name` (what `mpr serve --token-file` makes).
pub async fn create_token(pool: &PgPool, name: &str) -> Result<String, ApiError> {
    create_token_with_role(pool, name, Role::Publisher, None).await
}

/// Creates a token and returns it; only its hash is stored, so this is the one time it can be
/// read. `created_by` is the admin token's name, or None with database access.
pub async fn create_token_with_role(
    pool: &PgPool,
    name: &str,
    role: Role,
    created_by: Option<&str>,
) -> Result<String, ApiError> {
    crate::submission::check_name("token name", name).map_err(ApiError::InvalidInput)?;
    let mut secret = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut secret);
    let token = format!("{TOKEN_PREFIX}{}", hex::encode(secret));
    let inserted = sqlx::query!(
        "INSERT INTO publisher_tokens (name, token_sha256, role, created_by_token) VALUES ($1, $2, $3, $4)",
        name,
        token_hash(&token),
        role.as_str(),
        created_by
    )
    .execute(pool)
    .await;
    match inserted {
        Ok(_) => Ok(token),
        Err(error) if crate::db::is_unique_violation(&error) => Err(ApiError::Conflict(format!(
            "a token named {name:?} exists (names are never reused, even after revocation); choose another name"
        ))),
        Err(error) => Err(error.into()),
    }
}

/// Revokes the token named `name`; returns whether one was active.
pub async fn revoke_token(pool: &PgPool, name: &str) -> Result<bool, ApiError> {
    let revoked = sqlx::query!(
        "UPDATE publisher_tokens SET revoked_at = now() WHERE name = $1 AND revoked_at IS NULL",
        name
    )
    .execute(pool)
    .await?;
    Ok(revoked.rows_affected() > 0)
}

/// Every token, oldest first.
pub async fn list_tokens(pool: &PgPool) -> Result<Vec<TokenView>, ApiError> {
    let rows = sqlx::query!(
        "SELECT name, role, created_at, created_by_token, revoked_at FROM publisher_tokens ORDER BY id"
    )
    .fetch_all(pool)
    .await?;
    rows.into_iter()
        .map(|row| {
            Ok(TokenView {
                role: row.role.parse().map_err(|problem: String| {
                    ApiError::internal(std::io::Error::other(problem))
                })?,
                name: row.name,
                created_at: row.created_at,
                created_by_token: row.created_by_token,
                revoked_at: row.revoked_at,
            })
        })
        .collect()
}

/// The active token in the Authorization header.
async fn authenticate(parts: &Parts, state: &AppState) -> Result<Caller, ApiError> {
    let header = parts
        .headers
        .get(header::AUTHORIZATION)
        .ok_or(ApiError::Unauthorized(
            "this endpoint needs a token: send Authorization: Bearer <token>",
        ))?;
    let token = header
        .to_str()
        .ok()
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|token| token.starts_with(TOKEN_PREFIX))
        .ok_or(ApiError::Unauthorized(
            "the Authorization header must be \"Bearer mpr_...\"",
        ))?;
    let row = sqlx::query!(
        "SELECT name, role FROM publisher_tokens WHERE token_sha256 = $1 AND revoked_at IS NULL",
        token_hash(token)
    )
    .fetch_optional(&state.pool)
    .await?
    .ok_or(ApiError::Unauthorized("unknown or revoked token"))?;
    let role = row
        .role
        .parse()
        .map_err(|problem: String| ApiError::internal(std::io::Error::other(problem)))?;
    Ok(Caller {
        name: row.name,
        role,
    })
}

/// The caller, if its token has `role`; otherwise 403 naming both roles.
async fn authenticate_as(parts: &Parts, state: &AppState, role: Role) -> Result<String, ApiError> {
    let caller = authenticate(parts, state).await?;
    if caller.role == role {
        return Ok(caller.name);
    }
    let article = role.article();
    Err(ApiError::Forbidden(format!(
        "this endpoint needs {article} {role} token ({article} {role} token {}); token {:?} is {} {} token",
        role.what_it_does(),
        caller.name,
        caller.role.article(),
        caller.role
    )))
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        authenticate(parts, state).await
    }
}

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let name = authenticate_as(parts, state, Role::Admin).await?;
        Ok(Admin { name })
    }
}

impl FromRequestParts<AppState> for Publisher {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let name = authenticate_as(parts, state, Role::Publisher).await?;
        Ok(Publisher { name })
    }
}

impl FromRequestParts<AppState> for Rebuilder {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let name = authenticate_as(parts, state, Role::Rebuilder).await?;
        Ok(Rebuilder { name })
    }
}

#[cfg(test)]
mod tests {
    use super::Role;

    #[test]
    fn roles_parse_from_their_names_only() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>(), Ok(role));
        }
        let error = "Admin".parse::<Role>().unwrap_err();
        assert!(error.contains("admin, publisher, rebuilder"), "{error}");
    }
}
