//! Signing keys: OpenPGP certificates that admins register so the registry can verify
//! signatures, and that wallets fetch to verify them again themselves. A key has one role: a
//! `release` key signs releases and statements, a `rebuilder` key signs rebuild reports and is
//! that rebuilder's identity.

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use utoipa::{IntoParams, ToSchema};

use crate::auth::Admin;
use crate::error::{ApiError, ErrorBody};
use crate::openpgp;
use crate::respond::{cached_json, Path, Query, RawBody};
use crate::state::AppState;

/// What a registered key's signatures vouch for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum KeyRole {
    /// Signs releases and statements about them.
    #[default]
    Release,
    /// Signs rebuild reports; the key is the rebuilder's identity.
    Rebuilder,
}

impl KeyRole {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyRole::Release => "release",
            KeyRole::Rebuilder => "rebuilder",
        }
    }
}

impl std::fmt::Display for KeyRole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RegisterQuery {
    /// release (default) or rebuilder.
    #[param(inline)]
    pub role: Option<KeyRole>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct KeyView {
    /// Upper-case hex fingerprint of the primary key.
    pub fingerprint: String,
    /// release or rebuilder.
    pub role: String,
    /// The admin token that registered it (absent for keys registered before roles existed).
    pub registered_by_token: Option<String>,
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
        "SELECT fingerprint, role, registered_by_token, user_ids, algorithm, created_at, expires_at,
                registered_at, revoked_at, armored
         FROM signing_keys ORDER BY registered_at, fingerprint"
    )
    .fetch_all(pool)
    .await
}

/// The keys a release or statement signature may be verified with: registered release keys that
/// are not revoked.
pub(crate) async fn usable(pool: &PgPool) -> Result<Vec<openpgp::PublicKey>, ApiError> {
    usable_with_role(pool, KeyRole::Release).await
}

/// Registered, unrevoked keys of `role`.
pub(crate) async fn usable_with_role(
    pool: &PgPool,
    role: KeyRole,
) -> Result<Vec<openpgp::PublicKey>, ApiError> {
    let rows = sqlx::query!(
        "SELECT armored FROM signing_keys WHERE revoked_at IS NULL AND role = $1",
        role.as_str()
    )
    .fetch_all(pool)
    .await?;
    rows.into_iter()
        // Read back without the "usable now" checks: verification must report a key that has
        // expired since it was registered as expired, not fail to load it.
        .map(|row| openpgp::parse_stored_key(row.armored.as_bytes()).map_err(ApiError::from))
        .collect()
}

/// The role a key is registered with, if it is.
async fn registered_role(pool: &PgPool, fingerprint: &str) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar!(
        "SELECT role FROM signing_keys WHERE fingerprint = $1",
        fingerprint
    )
    .fetch_optional(pool)
    .await
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

#[utoipa::path(post, path = "/v1/keys", tag = "keys", params(RegisterQuery),
    request_body(content = String, content_type = "application/pgp-keys", description = "an OpenPGP public certificate, armored or binary"),
    security(("publisher_token" = [])),
    responses((status = 201, body = KeyView), (status = 200, body = KeyView, description = "updated (new subkeys, expiry or revocation)"),
              (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody, description = "not an admin token"),
              (status = 409, body = ErrorBody, description = "registered with another role"), (status = 422, body = ErrorBody)))]
pub async fn register(
    State(state): State<AppState>,
    admin: Admin,
    Query(query): Query<RegisterQuery>,
    RawBody(body): RawBody,
) -> Result<Response, ApiError> {
    let role = query.role.unwrap_or_default();
    let (key, revoked_at) = match openpgp::parse_public_key(&body) {
        Ok(key) => (key, None),
        // A revoked certificate is how a revocation reaches the registry: accepted for a key that
        // is registered (its signatures then show as revoked), refused as a new key.
        Err(openpgp::OpenPgpError::KeyRevoked {
            fingerprint,
            reason,
        }) => {
            if registered_role(&state.pool, &fingerprint).await?.is_none() {
                return Err(ApiError::invalid(format!(
                    "key {fingerprint} is revoked ({reason}); register a valid key instead"
                )));
            }
            (openpgp::parse_stored_key(&body)?, Some(Utc::now()))
        }
        Err(error) => return Err(ApiError::invalid(error.to_string())),
    };
    // Re-registering a key updates its certificate: that is how a revocation or a new expiry
    // reaches the registry. Its role, and who registered it, stay (the database refuses changes).
    let row = sqlx::query!(
        r#"INSERT INTO signing_keys (fingerprint, role, registered_by_token, armored, user_ids, algorithm,
                                     created_at, expires_at, revoked_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
           ON CONFLICT (fingerprint) DO UPDATE SET armored = EXCLUDED.armored, user_ids = EXCLUDED.user_ids,
               expires_at = EXCLUDED.expires_at, revoked_at = COALESCE(signing_keys.revoked_at, EXCLUDED.revoked_at)
           WHERE signing_keys.role = EXCLUDED.role
           RETURNING (xmax = 0) AS "inserted!", registered_at, revoked_at, registered_by_token"#,
        key.fingerprint,
        role.as_str(),
        admin.name,
        key.armored,
        &key.user_ids,
        key.algorithm,
        key.created_at,
        key.expires_at,
        revoked_at
    )
    .fetch_optional(&state.pool)
    .await?;
    let Some(row) = row else {
        let registered = registered_role(&state.pool, &key.fingerprint)
            .await?
            .unwrap_or_default();
        return Err(ApiError::Conflict(format!(
            "key {} is registered as a {registered} key, not a {role} key; a key has one role: register another key for the other role",
            key.fingerprint
        )));
    };
    state.cache.invalidate();
    tracing::info!(fingerprint = %key.fingerprint, %role, admin = %admin.name, inserted = row.inserted, "signing key registered");
    let view = KeyView {
        fingerprint: key.fingerprint,
        role: role.as_str().to_owned(),
        registered_by_token: row.registered_by_token,
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

#[utoipa::path(post, path = "/v1/keys/{fingerprint}/revoke", tag = "keys",
    params(("fingerprint" = String, Path, description = "hex fingerprint, any case")),
    security(("publisher_token" = [])),
    responses((status = 200, body = KeyView, description = "revoked: its signatures no longer count"),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn revoke(
    State(state): State<AppState>,
    admin: Admin,
    Path(fingerprint): Path<String>,
) -> Result<Response, ApiError> {
    let fingerprint = fingerprint.to_ascii_uppercase();
    // Without the key's own revocation certificate: the registry stops trusting it (a rebuilder
    // that misbehaved, a release key that leaked before its owner could revoke it).
    sqlx::query!(
        "UPDATE signing_keys SET revoked_at = now() WHERE fingerprint = $1 AND revoked_at IS NULL",
        fingerprint
    )
    .execute(&state.pool)
    .await?;
    state.cache.invalidate();
    let view = all(&state.pool)
        .await?
        .into_iter()
        .find(|key| key.fingerprint == fingerprint)
        .ok_or_else(|| {
            ApiError::NotFound(format!("no key {fingerprint}; GET /v1/keys lists them"))
        })?;
    tracing::info!(%fingerprint, admin = %admin.name, "signing key revoked");
    Ok(axum::Json(view).into_response())
}
