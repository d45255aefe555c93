//! Builds of a release: the official one and rebuilders' reports, compared artifact by artifact
//! with the official build (rebuilderd's GOOD / BAD / FAIL / UNKNOWN).

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{PgPool, Postgres, Transaction};
use utoipa::ToSchema;

use crate::auth::Publisher;
use crate::error::{ApiError, ErrorBody};
use crate::respond::{cached_json, RawBody};
use crate::state::AppState;
use crate::submission::{self, ArtifactSubmission, RebuildSubmission};

/// k of n: how many rebuilders' latest reports agree with the official build.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
pub struct RebuildAgreement {
    pub agreeing: i64,
    pub rebuilders: i64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ArtifactView {
    pub name: String,
    pub size: i64,
    pub sha256: String,
    pub sha384: Option<String>,
    /// GOOD: identical to the official artifact; BAD: different, missing or extra; UNKNOWN: the
    /// official build has no artifact to compare with. The official build's own are GOOD.
    pub status: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BuildView {
    /// `official` or a rebuilder's name.
    pub builder: String,
    /// `official` or `rebuilder`.
    pub kind: String,
    /// GOOD, BAD, FAIL or UNKNOWN.
    pub status: String,
    pub record_sha256: Option<String>,
    pub summary: Option<String>,
    pub reported_at: DateTime<Utc>,
    pub artifacts: Vec<ArtifactView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RebuildVerdict {
    pub status: String,
    pub artifacts: Vec<ArtifactView>,
}

pub(crate) async fn for_release(
    pool: &PgPool,
    release_id: i64,
) -> Result<Vec<BuildView>, sqlx::Error> {
    let builds = sqlx::query!(
        r#"SELECT id, builder_kind, builder_name, status, record_sha256, summary, reported_at
           FROM builds WHERE release_id = $1
           ORDER BY builder_kind = 'rebuilder', reported_at, id"#,
        release_id
    )
    .fetch_all(pool)
    .await?;
    let artifacts = sqlx::query!(
        r#"SELECT a.build_id, a.name, a.size, a.sha256, a.sha384, a.status
           FROM artifacts a JOIN builds b ON b.id = a.build_id
           WHERE b.release_id = $1 ORDER BY a.build_id, a.name"#,
        release_id
    )
    .fetch_all(pool)
    .await?;
    let mut by_build: BTreeMap<i64, Vec<ArtifactView>> = BTreeMap::new();
    for row in artifacts {
        by_build
            .entry(row.build_id)
            .or_default()
            .push(ArtifactView {
                name: row.name,
                size: row.size,
                sha256: row.sha256,
                sha384: row.sha384,
                status: row.status,
            });
    }
    Ok(builds
        .into_iter()
        .map(|row| BuildView {
            builder: row.builder_name,
            kind: row.builder_kind,
            status: row.status,
            record_sha256: row.record_sha256,
            summary: row.summary,
            reported_at: row.reported_at,
            artifacts: by_build.remove(&row.id).unwrap_or_default(),
        })
        .collect())
}

/// Inserts a build and its artifacts; `statuses` gives each artifact's status by position
/// (empty: all GOOD, as for the official build).
#[allow(clippy::too_many_arguments)]
pub(crate) async fn insert(
    tx: &mut Transaction<'_, Postgres>,
    release_id: i64,
    kind: &str,
    builder: &str,
    status: &str,
    record_sha256: Option<&str>,
    summary: Option<&str>,
    artifacts: &[ArtifactSubmission],
    statuses: &[&str],
) -> Result<i64, sqlx::Error> {
    let build_id = sqlx::query_scalar!(
        r#"INSERT INTO builds (release_id, builder_kind, builder_name, status, record_sha256, summary)
           VALUES ($1, $2, $3, $4, $5, $6) RETURNING id"#,
        release_id,
        kind,
        builder,
        status,
        record_sha256,
        summary
    )
    .fetch_one(&mut **tx)
    .await?;
    let names: Vec<&str> = artifacts.iter().map(|a| a.name.as_str()).collect();
    let sizes: Vec<i64> = artifacts.iter().map(|a| a.size).collect();
    let sha256s: Vec<&str> = artifacts.iter().map(|a| a.sha256.as_str()).collect();
    let sha384s: Vec<Option<&str>> = artifacts.iter().map(|a| a.sha384.as_deref()).collect();
    let statuses: Vec<&str> = (0..artifacts.len())
        .map(|i| statuses.get(i).copied().unwrap_or("GOOD"))
        .collect();
    sqlx::query!(
        r#"INSERT INTO artifacts (build_id, name, size, sha256, sha384, status)
           SELECT $1, * FROM UNNEST($2::text[], $3::bigint[], $4::text[], $5::text[], $6::text[])"#,
        build_id,
        &names as &[&str],
        &sizes,
        &sha256s as &[&str],
        &sha384s as &[Option<&str>],
        &statuses as &[&str]
    )
    .execute(&mut **tx)
    .await?;
    Ok(build_id)
}

/// Compares a rebuild's artifacts with the official ones by SHA-256: the verdict is the server's,
/// not the rebuilder's claim.
pub fn verdict(
    official: &[(String, String)],
    rebuild: &RebuildSubmission,
) -> (String, Vec<&'static str>) {
    if rebuild.failed {
        return ("FAIL".to_owned(), vec!["UNKNOWN"; rebuild.artifacts.len()]);
    }
    let statuses: Vec<&'static str> = rebuild
        .artifacts
        .iter()
        .map(
            |artifact| match official.iter().find(|(name, _)| *name == artifact.name) {
                Some((_, sha256)) if *sha256 == artifact.sha256 => "GOOD",
                Some(_) => "BAD",
                None => "UNKNOWN",
            },
        )
        .collect();
    let missing = official.iter().any(|(name, _)| {
        !rebuild
            .artifacts
            .iter()
            .any(|artifact| artifact.name == *name)
    });
    let status = if official.is_empty() {
        "UNKNOWN"
    } else if missing || statuses.iter().any(|status| *status != "GOOD") {
        "BAD"
    } else {
        "GOOD"
    };
    (status.to_owned(), statuses)
}

#[utoipa::path(get, path = "/v1/releases/{version}/builds", tag = "builds",
    params(("version" = String, Path)),
    responses((status = 200, body = Vec<BuildView>), (status = 404, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    Path(version): Path<String>,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let pool = &state.pool;
    cached_json(&state, &uri, &headers, async {
        let id = crate::releases::id_of(pool, &version).await?;
        Ok(for_release(pool, id).await?)
    })
    .await
}

#[utoipa::path(post, path = "/v1/releases/{version}/rebuilds", tag = "builds",
    params(("version" = String, Path)), request_body = RebuildSubmission,
    security(("publisher_token" = [])),
    responses((status = 201, body = RebuildVerdict), (status = 401, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn report_rebuild(
    State(state): State<AppState>,
    publisher: Publisher,
    Path(version): Path<String>,
    RawBody(body): RawBody,
) -> Result<Response, ApiError> {
    let rebuild = submission::parse_rebuild(&body).map_err(ApiError::InvalidInput)?;
    let mut tx = state.pool.begin().await?;
    let release_id = sqlx::query_scalar!("SELECT id FROM releases WHERE version = $1", version)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| crate::releases::not_found(&version))?;
    let official: Vec<(String, String)> = sqlx::query!(
        r#"SELECT a.name, a.sha256 FROM artifacts a JOIN builds b ON b.id = a.build_id
           WHERE b.release_id = $1 AND b.builder_kind = 'official'"#,
        release_id
    )
    .fetch_all(&mut *tx)
    .await?
    .into_iter()
    .map(|row| (row.name, row.sha256))
    .collect();
    let (status, statuses) = verdict(&official, &rebuild);
    insert(
        &mut tx,
        release_id,
        "rebuilder",
        &rebuild.rebuilder,
        &status,
        rebuild.record_sha256.as_deref(),
        rebuild.summary.as_deref(),
        &rebuild.artifacts,
        &statuses,
    )
    .await?;
    tx.commit().await?;
    state.cache.invalidate();
    tracing::info!(%version, rebuilder = %rebuild.rebuilder, %status, publisher = %publisher.name, "rebuild reported");
    let artifacts = rebuild
        .artifacts
        .iter()
        .zip(&statuses)
        .map(|(artifact, status)| ArtifactView {
            name: artifact.name.clone(),
            size: artifact.size,
            sha256: artifact.sha256.clone(),
            sha384: artifact.sha384.clone(),
            status: (*status).to_owned(),
        })
        .collect();
    Ok((
        StatusCode::CREATED,
        axum::Json(RebuildVerdict { status, artifacts }),
    )
        .into_response())
}
