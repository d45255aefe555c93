//! Release-signing keys: OpenPGP certificates that publishers register so the registry can verify
//! manifest signatures, and that wallets fetch to verify them again themselves.

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;
use utoipa::ToSchema;

use crate::auth::Publisher;
use crate::error::{ApiError, ErrorBody};
use crate::openpgp;
use crate::respond::{cached_json, RawBody};
use crate::state::AppState;

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct KeyView {
    /// Upper-case hex fingerprint of the primary key.
    pub fingerprint: String,
    pub user_ids: Vec<String>,
    pub algorithm: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub registered_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    /// The ASCII-armored public certificate.
    pub armored: String,
}

pub(crate) async fn all(pool: &PgPool) -> Result<Vec<KeyView>, sqlx::Error> {
    sqlx::query_as!(
        KeyView,
        "SELECT fingerprint, user_ids, algorithm, created_at, expires_at, registered_at, revoked_at, armored
         FROM signing_keys ORDER BY registered_at, fingerprint"
    )
    .fetch_all(pool)
    .await
}

/// The keys a signature may be verified with: registered and not revoked.
pub(crate) async fn usable(pool: &PgPool) -> Result<Vec<openpgp::PublicKey>, ApiError> {
    let rows = sqlx::query!("SELECT armored FROM signing_keys WHERE revoked_at IS NULL")
        .fetch_all(pool)
        .await?;
    rows.into_iter()
        // Read back without the "usable now" checks: verification must report a key that has
        // expired since it was registered as expired, not fail to load it.
        .map(|row| openpgp::parse_stored_key(row.armored.as_bytes()).map_err(ApiError::from))
        .collect()
}

async fn is_registered(pool: &PgPool, fingerprint: &str) -> Result<bool, sqlx::Error> {
    Ok(sqlx::query_scalar!(
        "SELECT fingerprint FROM signing_keys WHERE fingerprint = $1",
        fingerprint
    )
    .fetch_optional(pool)
    .await?
    .is_some())
}

#[utoipa::path(get, path = "/v1/keys", tag = "keys",
    responses((status = 200, body = Vec<KeyView>)))]
pub async fn list(
    State(state): State<AppState>,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let pool = &state.pool;
    cached_json(&state, &uri, &headers, async { Ok(all(pool).await?) }).await
}

#[utoipa::path(get, path = "/v1/keys/{fingerprint}", tag = "keys",
    params(("fingerprint" = String, Path, description = "hex fingerprint, any case")),
    responses((status = 200, description = "the armored certificate", content_type = "application/pgp-keys", body = String),
              (status = 404, body = ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    Path(fingerprint): Path<String>,
) -> Result<Response, ApiError> {
    let fingerprint = fingerprint.to_ascii_uppercase();
    let armored = sqlx::query_scalar!(
        "SELECT armored FROM signing_keys WHERE fingerprint = $1",
        fingerprint
    )
    .fetch_optional(&state.pool)
    .await?
    .ok_or_else(|| ApiError::NotFound(format!("no key {fingerprint}; GET /v1/keys lists them")))?;
    Ok(([(header::CONTENT_TYPE, "application/pgp-keys")], armored).into_response())
}

#[utoipa::path(post, path = "/v1/keys", tag = "keys",
    request_body(content = String, content_type = "application/pgp-keys", description = "an OpenPGP public certificate, armored or binary"),
    security(("publisher_token" = [])),
    responses((status = 201, body = KeyView), (status = 200, body = KeyView, description = "updated (new subkeys, expiry or revocation)"),
              (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn register(
    State(state): State<AppState>,
    publisher: Publisher,
    RawBody(body): RawBody,
) -> Result<Response, ApiError> {
    let (key, revoked_at) = match openpgp::parse_public_key(&body) {
        Ok(key) => (key, None),
        // A revoked certificate is how a revocation reaches the registry: accepted for a key that
        // is registered (its signatures then show as revoked), refused as a new key.
        Err(openpgp::OpenPgpError::KeyRevoked {
            fingerprint,
            reason,
        }) => {
            if !is_registered(&state.pool, &fingerprint).await? {
                return Err(ApiError::invalid(format!(
                    "key {fingerprint} is revoked ({reason}); register a valid key instead"
                )));
            }
            (openpgp::parse_stored_key(&body)?, Some(Utc::now()))
        }
        Err(error) => return Err(ApiError::invalid(error.to_string())),
    };
    // Re-registering a key updates it: that is how a revocation or a new expiry reaches the registry.
    let row = sqlx::query!(
        r#"INSERT INTO signing_keys (fingerprint, armored, user_ids, algorithm, created_at, expires_at, revoked_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7)
           ON CONFLICT (fingerprint) DO UPDATE SET armored = EXCLUDED.armored, user_ids = EXCLUDED.user_ids,
               expires_at = EXCLUDED.expires_at, revoked_at = COALESCE(signing_keys.revoked_at, EXCLUDED.revoked_at)
           RETURNING (xmax = 0) AS "inserted!", registered_at, revoked_at"#,
        key.fingerprint,
        key.armored,
        &key.user_ids,
        key.algorithm,
        key.created_at,
        key.expires_at,
        revoked_at
    )
    .fetch_one(&state.pool)
    .await?;
    state.cache.invalidate();
    tracing::info!(fingerprint = %key.fingerprint, publisher = %publisher.name, inserted = row.inserted, "signing key registered");
    let view = KeyView {
        fingerprint: key.fingerprint,
        user_ids: key.user_ids,
        algorithm: key.algorithm,
        created_at: key.created_at,
        expires_at: key.expires_at,
        registered_at: row.registered_at,
        revoked_at: row.revoked_at,
        armored: key.armored,
    };
    let status = if row.inserted {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, axum::Json(view)).into_response())
}
