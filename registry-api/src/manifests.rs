//! A release's statement (formerly its manifest): the exact signed bytes, and detached OpenPGP
//! signatures over them, verified against the registered keys when they are uploaded. The
//! `/manifest` paths stay as aliases of `/statement` for scripts written before statements.

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use sqlx::PgPool;
use utoipa::ToSchema;

use crate::auth::Publisher;
use crate::error::{ApiError, ErrorBody};
use crate::respond::{cached_json, Path, RawBody};
use crate::state::AppState;
use crate::statements::{self, SignatureView};

/// The release statement: an in-toto Statement v1 of predicate type
/// `https://mpr.dev/attestation/release/v1`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ManifestInfo {
    pub sha256: String,
    /// Where the exact signed bytes are served.
    pub url: String,
    pub signatures: Vec<SignatureView>,
}

struct ReleaseStatement {
    id: i64,
    sha256: String,
    body: Vec<u8>,
}

async fn release_statement(pool: &PgPool, version: &str) -> Result<ReleaseStatement, ApiError> {
    sqlx::query_as!(
        ReleaseStatement,
        r#"SELECT st.id, st.sha256, st.body FROM statements st JOIN releases r ON r.id = st.release_id
           WHERE r.version = $1 AND st.kind = 'release'"#,
        version
    )
    .fetch_optional(pool)
    .await?
    .ok_or_else(|| crate::releases::not_found(version))
}

pub(crate) async fn info(pool: &PgPool, version: &str) -> Result<ManifestInfo, ApiError> {
    let statement = release_statement(pool, version).await?;
    Ok(ManifestInfo {
        url: format!("/v1/releases/{version}/statement"),
        signatures: statements::signatures(pool, statement.id).await?,
        sha256: statement.sha256,
    })
}

#[utoipa::path(get, path = "/v1/releases/{version}/statement", tag = "statements",
    params(("version" = String, Path)),
    responses((status = 200, description = "the release statement's exact bytes, as signed", content_type = "application/json", body = Object),
              (status = 404, body = ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    Path(version): Path<String>,
) -> Result<Response, ApiError> {
    let statement = release_statement(&state.pool, &version).await?;
    Ok(([(header::CONTENT_TYPE, "application/json")], statement.body).into_response())
}

#[utoipa::path(get, path = "/v1/releases/{version}/statement/signatures", tag = "statements",
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
        let statement = release_statement(pool, &version).await?;
        Ok(statements::signatures(pool, statement.id).await?)
    })
    .await
}

#[utoipa::path(post, path = "/v1/releases/{version}/statement/signatures", tag = "statements",
    params(("version" = String, Path)),
    request_body(content = String, content_type = "application/pgp-signature", description = "an ASCII-armored detached signature of the release statement's bytes (gpg --armor --detach-sign)"),
    security(("publisher_token" = [])),
    responses((status = 201, body = SignatureView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn add_signature(
    State(state): State<AppState>,
    publisher: Publisher,
    Path(version): Path<String>,
    RawBody(body): RawBody,
) -> Result<Response, ApiError> {
    let upload = std::str::from_utf8(&body)
        .map_err(|_| ApiError::invalid("send an ASCII-armored detached signature (gpg --armor --detach-sign statement.json)"))?
        .to_owned();
    let statement = release_statement(&state.pool, &version).await?;
    let uploads = [upload];
    let verified = statements::verify_all(&state.pool, &statement.body, &uploads).await?;
    let fingerprint = verified[0].1.key_fingerprint.clone();
    let mut tx = state.pool.begin().await?;
    let inserted =
        statements::insert_signatures(&mut tx, statement.id, &verified, &publisher.name).await?;
    tx.commit().await?;
    if inserted == 0 {
        return Err(ApiError::Conflict(format!(
            "release {version} already has a signature by {fingerprint}"
        )));
    }
    state.cache.invalidate();
    tracing::info!(%version, key = %fingerprint, publisher = %publisher.name, "release statement signature verified and stored");
    let view = statements::signatures(&state.pool, statement.id)
        .await?
        .into_iter()
        .find(|signature| signature.key_fingerprint == fingerprint)
        .ok_or_else(|| {
            ApiError::NotFound("the signature vanished while being stored".to_owned())
        })?;
    Ok((StatusCode::CREATED, axum::Json(view)).into_response())
}
