//! Releases: recording one (with its official build, measurement sets and release statement, in
//! one transaction), listing them, and reading one in full with every statement about it.

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::{PgPool, Postgres, Transaction};
use utoipa::{IntoParams, ToSchema};

use crate::auth::Publisher;
use crate::builds::{self, BuildView, RebuildAgreement};
use crate::error::{ApiError, ErrorBody};
use crate::manifests::{self, ManifestInfo};
use crate::measurements::{self, MeasurementSetView};
use crate::respond::{cached_json, Path, Query, RawBody};
use crate::state::AppState;
use crate::statements::{self, StatementView};
use crate::submission::{self, ReleaseSubmission};

pub const DEFAULT_PAGE: i64 = 20;
pub const MAX_PAGE: i64 = 100;

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReleaseSummary {
    pub version: String,
    pub package: String,
    pub repository: String,
    pub commit: String,
    pub source_date_epoch: i64,
    pub created_at: DateTime<Utc>,
    pub rebuilds: RebuildAgreement,
    /// Verified signatures on the release statement by keys that are not revoked.
    pub signatures: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReleasePage {
    pub releases: Vec<ReleaseSummary>,
    /// Pass as `before` for the next (older) page; absent on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReleaseDetail {
    #[serde(flatten)]
    pub summary: ReleaseSummary,
    pub recipe_sha256: String,
    /// The recipe's TOML text when the publisher sent it.
    pub recipe: Option<String>,
    pub builds: Vec<BuildView>,
    pub measurement_sets: Vec<MeasurementSetView>,
    /// The release statement (in-toto Statement v1, predicate `https://mpr.dev/attestation/release/v1`)
    /// and its signatures.
    pub manifest: ManifestInfo,
    /// Every statement about the release, oldest first: its release statement, status changes
    /// and addenda, each with its signatures.
    pub statements: Vec<StatementView>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Releases per page, 1 to 100 (default 20).
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    pub before: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedRelease {
    pub version: String,
    /// SHA-256 of the release statement (served at /v1/releases/{version}/statement).
    pub manifest_sha256: String,
}

/// The release row and its counts, as lists and detail pages show it.
pub(crate) async fn summaries(
    pool: &PgPool,
    before: Option<i64>,
    limit: i64,
    version: Option<&str>,
) -> Result<Vec<(i64, ReleaseSummary)>, sqlx::Error> {
    let rows = sqlx::query!(
        r#"SELECT r.id, r.version, r.package, s.repository, s.commit_sha, r.source_date_epoch, r.created_at,
                  a.rebuilders AS "rebuilders!", a.agreeing AS "agreeing!",
                  (SELECT count(*) FROM statement_signatures g
                    JOIN statements st ON st.id = g.statement_id AND st.kind = 'release'
                    JOIN signing_keys k ON k.fingerprint = g.key_fingerprint
                    WHERE st.release_id = r.id AND k.revoked_at IS NULL) AS "signatures!"
           FROM releases r JOIN sources s ON s.id = r.source_id
           JOIN release_rebuild_agreement a ON a.release_id = r.id
           WHERE ($1::bigint IS NULL OR r.id < $1) AND ($3::text IS NULL OR r.version = $3)
           ORDER BY r.id DESC
           LIMIT $2"#,
        before,
        limit,
        version
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| {
            let summary = ReleaseSummary {
                version: row.version,
                package: row.package,
                repository: row.repository,
                commit: row.commit_sha,
                source_date_epoch: row.source_date_epoch,
                created_at: row.created_at,
                rebuilds: RebuildAgreement {
                    agreeing: row.agreeing,
                    rebuilders: row.rebuilders,
                },
                signatures: row.signatures,
            };
            (row.id, summary)
        })
        .collect())
}

pub(crate) async fn list_page(pool: &PgPool, query: &PageQuery) -> Result<ReleasePage, ApiError> {
    let limit = query.limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::invalid(format!(
            "limit must be from 1 to {MAX_PAGE}, got {limit}"
        )));
    }
    let before =
        match &query.before {
            None => None,
            Some(cursor) => Some(cursor.parse::<i64>().ok().filter(|id| *id > 0).ok_or_else(
                || {
                    ApiError::invalid(format!(
                        "before {cursor:?} is not a cursor from a previous page's next_cursor"
                    ))
                },
            )?),
        };
    // One more than asked tells whether another page exists.
    let mut rows = summaries(pool, before, limit + 1, None).await?;
    let next_cursor = if rows.len() as i64 > limit {
        rows.truncate(limit as usize);
        rows.last().map(|(id, _)| id.to_string())
    } else {
        None
    };
    Ok(ReleasePage {
        releases: rows.into_iter().map(|(_, summary)| summary).collect(),
        next_cursor,
    })
}

pub(crate) async fn detail(pool: &PgPool, version: &str) -> Result<ReleaseDetail, ApiError> {
    let Some((id, summary)) = summaries(pool, None, 1, Some(version)).await?.pop() else {
        return Err(not_found(version));
    };
    let recipe = sqlx::query!(
        "SELECT p.sha256, p.body FROM releases r JOIN recipes p ON p.id = r.recipe_id WHERE r.id = $1",
        id
    )
    .fetch_one(pool)
    .await?;
    Ok(ReleaseDetail {
        summary,
        recipe_sha256: recipe.sha256,
        recipe: recipe.body,
        builds: builds::for_release(pool, id).await?,
        measurement_sets: measurements::sets_for_release(pool, id).await?,
        manifest: manifests::info(pool, version).await?,
        statements: statements::for_release(pool, id).await?,
    })
}

pub(crate) fn not_found(version: &str) -> ApiError {
    ApiError::NotFound(format!(
        "no release {version:?}; GET /v1/releases lists them"
    ))
}

/// The release's id, or a 404 that names it.
pub(crate) async fn id_of(pool: &PgPool, version: &str) -> Result<i64, ApiError> {
    sqlx::query_scalar!("SELECT id FROM releases WHERE version = $1", version)
        .fetch_optional(pool)
        .await?
        .ok_or_else(|| not_found(version))
}

#[utoipa::path(get, path = "/v1/releases", tag = "releases", params(PageQuery),
    responses((status = 200, body = ReleasePage), (status = 422, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    Query(query): Query<PageQuery>,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    cached_json(&state, &uri, &headers, list_page(&state.pool, &query)).await
}

#[utoipa::path(get, path = "/v1/releases/{version}", tag = "releases",
    params(("version" = String, Path, description = "e.g. 8.1.0")),
    responses((status = 200, body = ReleaseDetail), (status = 404, body = ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    Path(version): Path<String>,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    cached_json(&state, &uri, &headers, detail(&state.pool, &version)).await
}

#[utoipa::path(post, path = "/v1/releases", tag = "releases", request_body = ReleaseSubmission,
    security(("publisher_token" = [])),
    responses((status = 201, body = CreatedRelease), (status = 401, body = ErrorBody),
               (status = 409, body = ErrorBody), (status = 413, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    publisher: Publisher,
    RawBody(body): RawBody,
) -> Result<Response, ApiError> {
    let release = submission::parse_release(&body).map_err(ApiError::InvalidInput)?;
    let statement = crate::statement::render(&release);
    let manifest_sha256 = crate::statement::sha256(&statement);
    // Checked against the statement rendered here: a signature over any other bytes (another
    // renderer, an edited field) fails, so a publisher token alone never records a release.
    let signatures = statements::verify_all(&state.pool, &statement, &release.signatures)
        .await
        .map_err(|error| unsigned_release_hint(error, &release.version))?;
    let mut tx = state.pool.begin().await?;
    let statement_id = insert_release(
        &mut tx,
        &release,
        &statement,
        &manifest_sha256,
        &publisher.name,
    )
    .await?;
    statements::insert_signatures(&mut tx, statement_id, &signatures, &publisher.name).await?;
    tx.commit().await?;
    state.cache.invalidate();
    let signers: Vec<&str> = signatures
        .iter()
        .map(|(_, verified)| verified.key_fingerprint.as_str())
        .collect();
    tracing::info!(version = %release.version, publisher = %publisher.name, ?signers, "release recorded");
    let location = format!("/v1/releases/{}", release.version);
    let created = CreatedRelease {
        version: release.version,
        manifest_sha256,
    };
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        axum::Json(created),
    )
        .into_response())
}

/// Every row of a release, or (on any error, or if the caller never commits) none of them.
/// Returns the release statement's id.
async fn insert_release(
    tx: &mut Transaction<'_, Postgres>,
    release: &ReleaseSubmission,
    statement: &[u8],
    statement_sha256: &str,
    publisher: &str,
) -> Result<i64, ApiError> {
    let source_id = sqlx::query_scalar!(
        r#"INSERT INTO sources (repository, commit_sha) VALUES ($1, $2)
           ON CONFLICT (repository, commit_sha) DO UPDATE SET repository = EXCLUDED.repository
           RETURNING id"#,
        release.source.repository,
        release.source.commit
    )
    .fetch_one(&mut **tx)
    .await?;
    // A recipe seen before keeps its text; a body sent now fills in one that was missing.
    let recipe_id = sqlx::query_scalar!(
        r#"INSERT INTO recipes (sha256, body) VALUES ($1, $2)
           ON CONFLICT (sha256) DO UPDATE SET body = COALESCE(recipes.body, EXCLUDED.body)
           RETURNING id"#,
        release.recipe.sha256,
        release.recipe.body
    )
    .fetch_one(&mut **tx)
    .await?;
    let release_id = sqlx::query_scalar!(
        r#"INSERT INTO releases (version, package, source_id, recipe_id, source_date_epoch, created_by_token)
           VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (version) DO NOTHING RETURNING id"#,
        release.version,
        release.package,
        source_id,
        recipe_id,
        release.source_date_epoch,
        publisher
    )
    .fetch_optional(&mut **tx)
    .await?
    .ok_or_else(|| {
        ApiError::Conflict(format!(
            "release {} exists; releases are immutable, publish a new version",
            release.version
        ))
    })?;
    builds::insert(
        tx,
        release_id,
        "official",
        submission::OFFICIAL_BUILDER,
        "GOOD",
        release.build.record_sha256.as_deref(),
        None,
        &release.build.artifacts,
        &[],
    )
    .await?;
    let statement_id =
        statements::store_release(tx, release_id, statement, statement_sha256, publisher).await?;
    measurements::insert_sets(
        tx,
        release_id,
        statement_id,
        &release.measurement_sets,
        publisher,
    )
    .await?;
    Ok(statement_id)
}

/// A refused signature on a release names how to make one the registry accepts.
fn unsigned_release_hint(error: ApiError, version: &str) -> ApiError {
    match error {
        ApiError::SignatureRejected(problem) => ApiError::SignatureRejected(format!(
            "release {version}: {problem}. Sign the statement this submission renders to (`mpr release` and `mpr registry publish --key KEY` do) with a release key an admin registered (POST /v1/keys), and send it in \"signatures\""
        )),
        other => other,
    }
}

/// A JSON value's object form (parameters and registers are objects by validation).
pub(crate) fn object(value: Option<Value>) -> serde_json::Map<String, Value> {
    match value {
        Some(Value::Object(map)) => map,
        _ => serde_json::Map::new(),
    }
}
