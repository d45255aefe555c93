//! Release manifests and their signatures: the exact signed bytes, and detached OpenPGP signatures
//! verified against the registered keys when they are uploaded.

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;
use utoipa::ToSchema;

use crate::auth::Publisher;
use crate::error::{ApiError, ErrorBody};
use crate::openpgp;
use crate::respond::{cached_json, Path, RawBody};
use crate::state::AppState;

const ARMOR_HEADER: &str = "-----BEGIN PGP SIGNATURE-----";

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SignatureView {
    pub key_fingerprint: String,
    pub user_ids: Vec<String>,
    pub signed_at: DateTime<Utc>,
    pub verified_at: DateTime<Utc>,
    /// Set when the key was revoked after the signature was verified: do not trust it.
    pub key_revoked_at: Option<DateTime<Utc>>,
    /// The ASCII-armored detached signature.
    pub signature: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ManifestInfo {
    pub sha256: String,
    /// Where the exact signed bytes are served.
    pub url: String,
    pub signatures: Vec<SignatureView>,
}

pub(crate) async fn signatures(
    pool: &PgPool,
    release_id: i64,
) -> Result<Vec<SignatureView>, sqlx::Error> {
    sqlx::query_as!(
        SignatureView,
        r#"SELECT s.key_fingerprint, k.user_ids, s.signed_at, s.verified_at, k.revoked_at AS key_revoked_at, s.signature
           FROM manifest_signatures s JOIN signing_keys k ON k.fingerprint = s.key_fingerprint
           WHERE s.release_id = $1 ORDER BY s.verified_at, s.id"#,
        release_id
    )
    .fetch_all(pool)
    .await
}

pub(crate) async fn info(
    pool: &PgPool,
    release_id: i64,
    version: &str,
) -> Result<ManifestInfo, sqlx::Error> {
    let sha256 = sqlx::query_scalar!(
        "SELECT sha256 FROM manifests WHERE release_id = $1",
        release_id
    )
    .fetch_one(pool)
    .await?;
    Ok(ManifestInfo {
        sha256,
        url: format!("/v1/releases/{version}/manifest"),
        signatures: signatures(pool, release_id).await?,
    })
}

#[utoipa::path(get, path = "/v1/releases/{version}/manifest", tag = "manifests",
    params(("version" = String, Path)),
    responses((status = 200, description = "the exact bytes that are signed", content_type = "application/json", body = Object),
              (status = 404, body = ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    Path(version): Path<String>,
) -> Result<Response, ApiError> {
    let body = sqlx::query_scalar!(
        "SELECT m.body FROM manifests m JOIN releases r ON r.id = m.release_id WHERE r.version = $1",
        version
    )
    .fetch_optional(&state.pool)
    .await?
    .ok_or_else(|| crate::releases::not_found(&version))?;
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

#[utoipa::path(get, path = "/v1/releases/{version}/manifest/signatures", tag = "manifests",
    params(("version" = String, Path)),
    responses((status = 200, body = Vec<SignatureView>), (status = 404, body = ErrorBody)))]
pub async fn list_signatures(
    State(state): State<AppState>,
    Path(version): Path<String>,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let pool = &state.pool;
    cached_json(&state, &uri, &headers, async {
        let id = crate::releases::id_of(pool, &version).await?;
        Ok(signatures(pool, id).await?)
    })
    .await
}

#[utoipa::path(post, path = "/v1/releases/{version}/manifest/signatures", tag = "manifests",
    params(("version" = String, Path)),
    request_body(content = String, content_type = "application/pgp-signature", description = "an ASCII-armored detached signature of the manifest bytes (gpg --armor --detach-sign)"),
    security(("publisher_token" = [])),
    responses((status = 201, body = SignatureView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn add_signature(
    State(state): State<AppState>,
    publisher: Publisher,
    Path(version): Path<String>,
    RawBody(body): RawBody,
) -> Result<Response, ApiError> {
    let armored = std::str::from_utf8(&body)
        .ok()
        .map(str::trim)
        .filter(|text| text.starts_with(ARMOR_HEADER))
        .ok_or_else(|| ApiError::invalid("send an ASCII-armored detached signature (gpg --armor --detach-sign manifest.json)"))?;
    let manifest = sqlx::query!(
        "SELECT m.release_id, m.body FROM manifests m JOIN releases r ON r.id = m.release_id WHERE r.version = $1",
        version
    )
    .fetch_optional(&state.pool)
    .await?
    .ok_or_else(|| crate::releases::not_found(&version))?;
    let keys = crate::keys::usable(&state.pool).await?;
    let verified = openpgp::verify_detached(&keys, &manifest.body, armored.as_bytes())?;
    let inserted = sqlx::query!(
        r#"INSERT INTO manifest_signatures (release_id, key_fingerprint, signature, signed_at)
           VALUES ($1, $2, $3, $4) ON CONFLICT (release_id, key_fingerprint) DO NOTHING RETURNING id"#,
        manifest.release_id,
        verified.key_fingerprint,
        armored,
        verified.signed_at
    )
    .fetch_optional(&state.pool)
    .await?;
    if inserted.is_none() {
        return Err(ApiError::Conflict(format!(
            "release {version} already has a signature by {}",
            verified.key_fingerprint
        )));
    }
    state.cache.invalidate();
    tracing::info!(%version, key = %verified.key_fingerprint, publisher = %publisher.name, "manifest signature verified and stored");
    let view = signatures(&state.pool, manifest.release_id)
        .await?
        .into_iter()
        .find(|signature| signature.key_fingerprint == verified.key_fingerprint)
        .ok_or_else(|| {
            ApiError::NotFound("the signature vanished while being stored".to_owned())
        })?;
    Ok((StatusCode::CREATED, axum::Json(view)).into_response())
}
