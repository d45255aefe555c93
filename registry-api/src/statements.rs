//! Statements: the signed documents everything the registry vouches for comes from. A release's
//! statement is written with the release; a measurement set's status change and a measurement-set
//! addendum arrive signed (`POST /v1/statements`), are verified against the registered release
//! keys, checked against the release, stored byte for byte and applied in one transaction. Nothing
//! here updates a row: a set's status is that of its latest status statement.
//!
//! Each kind is stored by one function in `store` (`store_release`, `store_set_status`,
//! `store_set_addendum`), inside the caller's transaction: the place where a statement also enters
//! the transparency log.

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::{PgPool, Postgres, Transaction};
use utoipa::ToSchema;
use verifier::statement::{self as shape, StatementKind};

use crate::auth::Publisher;
use crate::error::{ApiError, ErrorBody};
use crate::openpgp::{self, VerifiedSignature};
use crate::respond::RawBody;
use crate::state::AppState;

pub(crate) mod store;
pub(crate) use store::store_release;
use store::{store_set_addendum, store_set_status};

const ARMOR_HEADER: &str = "-----BEGIN PGP SIGNATURE-----";
/// More signers than this on one upload is not a release process, it is an attack on the server.
pub const MAX_SIGNATURES: usize = 16;

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

/// Which statement a value comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct StatementRef {
    /// `release`, `set-status`, `set-addendum` (or `legacy-set-status`: an unsigned deprecation
    /// recorded before statements existed).
    pub kind: String,
    pub sha256: String,
    /// Where its exact signed bytes are served.
    pub url: String,
}

impl StatementRef {
    pub fn new(kind: String, sha256: String) -> StatementRef {
        let url = statement_url(&sha256);
        StatementRef { kind, sha256, url }
    }
}

pub fn statement_url(sha256: &str) -> String {
    format!("/v1/statements/{sha256}")
}

/// What a status statement says, for the history of a release.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StatusChangeView {
    pub measurement_set: String,
    pub sequence: i32,
    /// `active` or `deprecated`.
    pub status: String,
    pub reason: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StatementView {
    #[serde(flatten)]
    pub statement: StatementRef,
    pub version: String,
    pub created_at: DateTime<Utc>,
    /// The publisher token that submitted it.
    pub created_by: Option<String>,
    /// Its index in the transparency log (`GET /v1/log/bundle?index=` gives its proof).
    pub log_index: Option<i64>,
    pub signatures: Vec<SignatureView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_change: Option<StatusChangeView>,
}

/// A statement and its detached signatures, as a publisher submits them.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignedStatement {
    /// The statement's exact bytes (UTF-8 JSON, as `mpr registry set-status` or `addendum` wrote
    /// them): what the signatures sign.
    pub statement: String,
    /// ASCII-armored detached OpenPGP signatures over those bytes, by registered release keys.
    pub signatures: Vec<String>,
}

/// The armored signature in an upload, or an error that says what to send.
pub(crate) fn armored_signature(text: &str) -> Result<&str, ApiError> {
    Some(text.trim())
        .filter(|text| text.starts_with(ARMOR_HEADER))
        .ok_or_else(|| {
            ApiError::invalid(
                "send ASCII-armored detached signatures (gpg --armor --detach-sign statement.json)",
            )
        })
}

/// Verifies every signature over `body` with the usable registered keys: one that does not verify
/// refuses the whole upload, naming the reason (unknown signer, mismatch, revoked key, ...).
pub(crate) async fn verify_all<'a>(
    pool: &PgPool,
    body: &[u8],
    signatures: &'a [String],
) -> Result<Vec<(&'a str, VerifiedSignature)>, ApiError> {
    if signatures.is_empty() {
        return Err(ApiError::SignatureRejected(
            "the statement is unsigned: send at least one detached signature by a registered release key".to_owned(),
        ));
    }
    if signatures.len() > MAX_SIGNATURES {
        return Err(ApiError::invalid(format!(
            "at most {MAX_SIGNATURES} signatures per upload"
        )));
    }
    let keys = crate::keys::usable(pool).await?;
    signatures
        .iter()
        .map(
            |signature| -> Result<(&'a str, VerifiedSignature), ApiError> {
                let armored = armored_signature(signature)?;
                let verified = openpgp::verify_detached(&keys, body, armored.as_bytes())?;
                Ok((armored, verified))
            },
        )
        .collect()
}

/// Stores verified signatures of a statement; returns how many were new.
pub(crate) async fn insert_signatures(
    tx: &mut Transaction<'_, Postgres>,
    statement_id: i64,
    signatures: &[(&str, VerifiedSignature)],
    submitted_by: &str,
) -> Result<u64, sqlx::Error> {
    let mut inserted = 0;
    for (armored, verified) in signatures {
        inserted += sqlx::query!(
            r#"INSERT INTO statement_signatures (statement_id, key_fingerprint, signature, signed_at, submitted_by)
               VALUES ($1, $2, $3, $4, $5) ON CONFLICT (statement_id, key_fingerprint) DO NOTHING"#,
            statement_id,
            verified.key_fingerprint,
            *armored,
            verified.signed_at,
            submitted_by
        )
        .execute(&mut **tx)
        .await?
        .rows_affected();
    }
    Ok(inserted)
}

pub(crate) async fn signatures(
    pool: &PgPool,
    statement_id: i64,
) -> Result<Vec<SignatureView>, sqlx::Error> {
    sqlx::query_as!(
        SignatureView,
        r#"SELECT s.key_fingerprint, k.user_ids, s.signed_at, s.verified_at, k.revoked_at AS key_revoked_at, s.signature
           FROM statement_signatures s JOIN signing_keys k ON k.fingerprint = s.key_fingerprint
           WHERE s.statement_id = $1 ORDER BY s.verified_at, s.id"#,
        statement_id
    )
    .fetch_all(pool)
    .await
}

struct StoredStatement {
    id: i64,
    kind: String,
    sha256: String,
    version: String,
    created_at: DateTime<Utc>,
    created_by: Option<String>,
    log_index: Option<i64>,
}

async fn view(pool: &PgPool, stored: StoredStatement) -> Result<StatementView, sqlx::Error> {
    let status_change = sqlx::query_as!(
        StatusChangeView,
        r#"SELECT s.name AS measurement_set, c.sequence, c.status, c.reason
           FROM set_status_changes c JOIN measurement_sets s ON s.id = c.set_id
           WHERE c.statement_id = $1"#,
        stored.id
    )
    .fetch_optional(pool)
    .await?;
    Ok(StatementView {
        signatures: signatures(pool, stored.id).await?,
        statement: StatementRef::new(stored.kind, stored.sha256),
        version: stored.version,
        created_at: stored.created_at,
        created_by: stored.created_by,
        log_index: stored.log_index,
        status_change,
    })
}

/// Every statement about a release, oldest first.
pub(crate) async fn for_release(
    pool: &PgPool,
    release_id: i64,
) -> Result<Vec<StatementView>, sqlx::Error> {
    let rows = sqlx::query_as!(
        StoredStatement,
        r#"SELECT st.id, st.kind, st.sha256, r.version, st.created_at, st.created_by,
                  (SELECT min(l.index) FROM log_entries l WHERE l.statement_sha256 = st.sha256) AS log_index
           FROM statements st JOIN releases r ON r.id = st.release_id
           WHERE st.release_id = $1 ORDER BY st.id"#,
        release_id
    )
    .fetch_all(pool)
    .await?;
    let mut views = Vec::with_capacity(rows.len());
    for row in rows {
        views.push(view(pool, row).await?);
    }
    Ok(views)
}

async fn by_sha256(pool: &PgPool, sha256: &str) -> Result<Option<StatementView>, sqlx::Error> {
    let row = sqlx::query_as!(
        StoredStatement,
        r#"SELECT st.id, st.kind, st.sha256, r.version, st.created_at, st.created_by,
                  (SELECT min(l.index) FROM log_entries l WHERE l.statement_sha256 = st.sha256) AS log_index
           FROM statements st JOIN releases r ON r.id = st.release_id
           WHERE st.sha256 = $1"#,
        sha256
    )
    .fetch_optional(pool)
    .await?;
    match row {
        Some(row) => Ok(Some(view(pool, row).await?)),
        None => Ok(None),
    }
}

fn statement_not_found(sha256: &str) -> ApiError {
    ApiError::NotFound(format!(
        "no statement {sha256}; GET /v1/releases/{{version}}/statements lists a release's"
    ))
}

#[utoipa::path(get, path = "/v1/statements/{sha256}", tag = "statements",
    params(("sha256" = String, Path, description = "the statement's SHA-256, lower-case hex")),
    responses((status = 200, description = "the exact bytes that are signed", content_type = "application/json", body = Object),
              (status = 404, body = ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    Path(sha256): Path<String>,
) -> Result<Response, ApiError> {
    let sha256 = sha256.to_ascii_lowercase();
    let body = sqlx::query_scalar!("SELECT body FROM statements WHERE sha256 = $1", sha256)
        .fetch_optional(&state.pool)
        .await?
        .ok_or_else(|| statement_not_found(&sha256))?;
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

#[utoipa::path(get, path = "/v1/releases/{version}/statements", tag = "statements",
    params(("version" = String, Path)),
    responses((status = 200, body = Vec<StatementView>), (status = 404, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    Path(version): Path<String>,
    uri: axum::http::Uri,
    headers: axum::http::HeaderMap,
) -> Result<Response, ApiError> {
    let pool = &state.pool;
    crate::respond::cached_json(&state, &uri, &headers, async {
        let id = crate::releases::id_of(pool, &version).await?;
        Ok(for_release(pool, id).await?)
    })
    .await
}

async fn is_stored(pool: &PgPool, sha256: &str) -> Result<bool, sqlx::Error> {
    Ok(
        sqlx::query_scalar!("SELECT id FROM statements WHERE sha256 = $1", sha256)
            .fetch_optional(pool)
            .await?
            .is_some(),
    )
}

/// Stores and applies a statement that is new, or adds the signatures of one already stored, in
/// one transaction. Returns 201 or 200 and how many signatures were new.
async fn apply(
    pool: &PgPool,
    kind: StatementKind,
    bytes: &[u8],
    sha256: &str,
    verified: &[(&str, VerifiedSignature)],
    publisher: &str,
) -> Result<(StatusCode, u64), ApiError> {
    let invalid = |error: shape::StatementError| ApiError::invalid(error.to_string());
    let mut tx = pool.begin().await?;
    let existing = sqlx::query_scalar!("SELECT id FROM statements WHERE sha256 = $1", sha256)
        .fetch_optional(&mut *tx)
        .await?;
    let (id, status) = match existing {
        Some(id) => (id, StatusCode::OK),
        None => {
            let id = match kind {
                StatementKind::Release => {
                    return Err(ApiError::NotFound(format!(
                        "no release statement {sha256}: releases are recorded with POST /v1/releases, which renders their statement"
                    )))
                }
                StatementKind::SetStatus => {
                    let statement = shape::parse_set_status_statement(bytes).map_err(invalid)?;
                    store_set_status(&mut tx, &statement, bytes, sha256, publisher).await?
                }
                StatementKind::SetAddendum => {
                    let statement = shape::parse_set_addendum_statement(bytes).map_err(invalid)?;
                    store_set_addendum(&mut tx, &statement, bytes, sha256, publisher).await?
                }
                StatementKind::Rebuild => {
                    return Err(ApiError::invalid(
                        "a rebuild report is sent by its rebuilder to POST /v1/releases/{version}/rebuilds with a rebuilder token (`mpr rebuild verify --submit`), not published as a release statement",
                    ))
                }
            };
            (id, StatusCode::CREATED)
        }
    };
    let new_signatures = insert_signatures(&mut tx, id, verified, publisher).await?;
    tx.commit().await?;
    Ok((status, new_signatures))
}

#[utoipa::path(post, path = "/v1/statements", tag = "statements", request_body = SignedStatement,
    security(("publisher_token" = [])),
    responses((status = 201, body = StatementView, description = "verified, stored and applied"),
              (status = 200, body = StatementView, description = "already stored (new signatures are added)"),
              (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
pub async fn submit(
    State(state): State<AppState>,
    publisher: Publisher,
    RawBody(body): RawBody,
) -> Result<Response, ApiError> {
    let upload: SignedStatement = serde_json::from_slice(&body).map_err(|error| {
        ApiError::invalid(format!(
            "body must be {{\"statement\": \"<the statement's exact text>\", \"signatures\": [\"<armored detached signature>\", ...]}}: {error}"
        ))
    })?;
    let bytes = upload.statement.as_bytes();
    let invalid = |error: shape::StatementError| ApiError::invalid(error.to_string());
    let kind = shape::kind_of(bytes).map_err(invalid)?;
    let verified = verify_all(&state.pool, bytes, &upload.signatures).await?;
    let sha256 = shape::sha256_hex(bytes);

    let applied = apply(
        &state.pool,
        kind,
        bytes,
        &sha256,
        &verified,
        &publisher.name,
    )
    .await;
    let (status, new_signatures) = match applied {
        Ok(applied) => applied,
        Err(error) => {
            // A concurrent request stored this very statement first (its insert or its sequence
            // got there before ours): the upload is then a repeat, answered as one.
            if !is_stored(&state.pool, &sha256).await? {
                return Err(error);
            }
            tracing::debug!(%error, "statement stored concurrently");
            apply(
                &state.pool,
                kind,
                bytes,
                &sha256,
                &verified,
                &publisher.name,
            )
            .await?
        }
    };
    state.cache.invalidate();
    tracing::info!(%sha256, kind = kind.as_str(), publisher = %publisher.name, new_signatures, stored = status == StatusCode::CREATED, "statement verified");
    let view = by_sha256(&state.pool, &sha256)
        .await?
        .ok_or_else(|| statement_not_found(&sha256))?;
    Ok((status, axum::Json(view)).into_response())
}
