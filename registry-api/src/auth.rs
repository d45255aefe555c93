//! Publisher tokens: bearer tokens for the write endpoints, stored as SHA-256 so that a copy of
//! the database grants no write access.

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use rand::RngCore;
use sha2::{Digest, Sha256};
use sqlx::PgPool;

use crate::error::ApiError;
use crate::state::AppState;

const TOKEN_PREFIX: &str = "mpr_";

/// The publisher a request was authenticated as.
#[derive(Debug, Clone)]
pub struct Publisher {
    pub name: String,
}

fn token_hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// Creates a token for `name` and returns it; only its hash is stored, so this is the one time it
/// can be read.
pub async fn create_token(pool: &PgPool, name: &str) -> Result<String, ApiError> {
    crate::submission::check_name("token name", name).map_err(ApiError::InvalidInput)?;
    let mut secret = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut secret);
    let token = format!("{TOKEN_PREFIX}{}", hex::encode(secret));
    let inserted = sqlx::query!(
        "INSERT INTO publisher_tokens (name, token_sha256) VALUES ($1, $2)",
        name,
        token_hash(&token)
    )
    .execute(pool)
    .await;
    match inserted {
        Ok(_) => Ok(token),
        Err(error) if crate::db::is_unique_violation(&error) => Err(ApiError::Conflict(format!(
            "a token named {name:?} exists; revoke it first or choose another name"
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

impl FromRequestParts<AppState> for Publisher {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let header = parts
            .headers
            .get(header::AUTHORIZATION)
            .ok_or(ApiError::Unauthorized(
                "this endpoint needs a publisher token: send Authorization: Bearer <token>",
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
            "SELECT name FROM publisher_tokens WHERE token_sha256 = $1 AND revoked_at IS NULL",
            token_hash(token)
        )
        .fetch_optional(&state.pool)
        .await?;
        row.map(|row| Publisher { name: row.name })
            .ok_or(ApiError::Unauthorized("unknown or revoked publisher token"))
    }
}
