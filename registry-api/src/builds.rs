//! Builds of a release: the official one and rebuilders' reports, compared artifact by artifact
//! with the official build (rebuilderd's GOOD / BAD / FAIL / UNKNOWN).
//!
//! A rebuild report is an in-toto statement (`https://mpr.dev/attestation/rebuild/v1`, the exact
//! bytes its rebuilder signed) sent with the detached signature; the registered rebuilder key that
//! made it is the rebuilder's identity (stored as the build's `builder_name` and `signed_by_key`),
//! so "k of n" counts distinct keys, and no body can claim to be someone else. Every report enters
//! the transparency log, so wallets can count agreement themselves (`verifier::attestation`).

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::{PgPool, Postgres, Transaction};
use utoipa::ToSchema;

use crate::auth::Rebuilder;
use crate::error::{ApiError, ErrorBody};
use crate::keys::KeyRole;
use crate::openpgp::{self, ErrorKind, VerifiedSignature};
use crate::respond::{cached_json, Path, RawBody};
use crate::state::AppState;
use crate::submission::{self, ArtifactSubmission, RebuildSubmission};

/// The header carrying a rebuild report's signature: the ASCII-armored detached signature
/// (`gpg --armor --detach-sign report.json`), base64-encoded on one line (`base64 -w0`).
pub const SIGNATURE_HEADER: &str = "mpr-signature";

/// k of n: how many rebuilders' (distinct registered keys') latest reports agree with the
/// official build.
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
    /// `official`, or the rebuilder: its key's first user ID (its fingerprint if it has none).
    pub builder: String,
    /// `official` or `rebuilder`.
    pub kind: String,
    /// GOOD, BAD, FAIL or UNKNOWN.
    pub status: String,
    pub record_sha256: Option<String>,
    pub summary: Option<String>,
    pub reported_at: DateTime<Utc>,
    pub artifacts: Vec<ArtifactView>,
    /// A rebuild report's signer: the registered rebuilder key's fingerprint.
    pub signed_by_key: Option<String>,
    /// When the rebuilder signed the report (the signature's creation time).
    pub signed_at: Option<DateTime<Utc>>,
    /// The exact signed report (JSON text) and its ASCII-armored detached signature, for anyone
    /// to verify against the key (GET /v1/keys/{signed_by_key}).
    pub report: Option<String>,
    pub report_signature: Option<String>,
    /// The report's index in the transparency log (`GET /v1/log/bundle?index=` gives its proof).
    pub log_index: Option<i64>,
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
        r#"SELECT b.id, b.builder_kind, b.builder_name, b.status, b.record_sha256, b.summary, b.reported_at,
                  b.signed_by_key, b.signed_at, b.report, b.report_signature, k.user_ids AS "user_ids?",
                  (SELECT min(l.index) FROM log_entries l
                    WHERE l.statement_sha256 = encode(sha256(b.report), 'hex')) AS log_index
           FROM builds b LEFT JOIN signing_keys k ON k.fingerprint = b.signed_by_key
           WHERE b.release_id = $1
           ORDER BY b.builder_kind = 'rebuilder', b.reported_at, b.id"#,
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
            builder: row
                .user_ids
                .and_then(|ids| ids.into_iter().next())
                .unwrap_or(row.builder_name),
            kind: row.builder_kind,
            status: row.status,
            record_sha256: row.record_sha256,
            summary: row.summary,
            reported_at: row.reported_at,
            artifacts: by_build.remove(&row.id).unwrap_or_default(),
            signed_by_key: row.signed_by_key,
            signed_at: row.signed_at,
            // Stored only after serde_json parsed it, so it is UTF-8.
            report: row
                .report
                .map(|bytes| String::from_utf8_lossy(&bytes).into_owned()),
            report_signature: row.report_signature,
            log_index: row.log_index,
        })
        .collect())
}

/// Inserts the official build of a release and its artifacts (all GOOD).
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
    insert_artifacts(tx, build_id, artifacts, statuses).await?;
    Ok(build_id)
}

/// A verified rebuild report, as stored.
struct SignedReport<'a> {
    release_id: i64,
    rebuild: &'a RebuildSubmission,
    status: &'a str,
    statuses: &'a [&'a str],
    signature: &'a VerifiedSignature,
    report: &'a [u8],
    armored_signature: &'a str,
    token: &'a str,
}

async fn insert_report(
    tx: &mut Transaction<'_, Postgres>,
    report: &SignedReport<'_>,
) -> Result<i64, sqlx::Error> {
    let key = &report.signature.key_fingerprint;
    let build_id = sqlx::query_scalar!(
        r#"INSERT INTO builds (release_id, builder_kind, builder_name, status, record_sha256, summary,
                               created_by_token, signed_by_key, signed_at, report, report_signature)
           VALUES ($1, 'rebuilder', $2, $3, $4, $5, $6, $2, $7, $8, $9) RETURNING id"#,
        report.release_id,
        key,
        report.status,
        report.rebuild.record_sha256.as_deref(),
        report.rebuild.summary.as_deref(),
        report.token,
        report.signature.signed_at,
        report.report,
        report.armored_signature
    )
    .fetch_one(&mut **tx)
    .await?;
    insert_artifacts(tx, build_id, &report.rebuild.artifacts, report.statuses).await?;
    Ok(build_id)
}

/// `statuses` gives each artifact's status by position (missing: GOOD).
async fn insert_artifacts(
    tx: &mut Transaction<'_, Postgres>,
    build_id: i64,
    artifacts: &[ArtifactSubmission],
    statuses: &[&str],
) -> Result<(), sqlx::Error> {
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
    Ok(())
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
    params(("version" = String, Path),
           ("mpr-signature" = String, Header, description = "the report's ASCII-armored detached signature by a registered rebuilder key, base64-encoded (gpg --armor --detach-sign report.json; base64 -w0 report.json.asc)")),
    request_body(content = String, content_type = "application/json", description = "the rebuild report: an in-toto Statement v1 with predicateType https://mpr.dev/attestation/rebuild/v1 in canonical form (as `mpr rebuild verify --submit` renders it), the exact bytes that were signed"),
    security(("publisher_token" = [])),
    responses((status = 201, body = RebuildVerdict), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody, description = "this report, or a newer one by the same key, is recorded"),
              (status = 422, body = ErrorBody)))]
pub async fn report_rebuild(
    State(state): State<AppState>,
    rebuilder: Rebuilder,
    Path(version): Path<String>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Result<Response, ApiError> {
    let armored_signature = signature_header(&headers)?;
    let rebuild = submission::parse_rebuild(&body).map_err(ApiError::InvalidInput)?;
    if rebuild.release != version {
        return Err(ApiError::invalid(format!(
            "the report is for release {:?} but was sent to release {version:?}; a signed report counts only for the release it names",
            rebuild.release
        )));
    }
    let signature = verify_report(&state.pool, &body, armored_signature.as_bytes()).await?;
    check_named_rebuilder(&state.pool, &rebuild, &signature).await?;
    let mut tx = state.pool.begin().await?;
    let release_id = sqlx::query_scalar!("SELECT id FROM releases WHERE version = $1", version)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| crate::releases::not_found(&version))?;
    // One report at a time per release, so that "a key's latest report" is also its last row.
    sqlx::query!("SELECT pg_advisory_xact_lock($1)", release_id)
        .execute(&mut *tx)
        .await?;
    let release_statement = sqlx::query_scalar!(
        "SELECT sha256 FROM statements WHERE release_id = $1 AND kind = 'release'",
        release_id
    )
    .fetch_optional(&mut *tx)
    .await?;
    if let Some(release_statement) = release_statement {
        if release_statement != rebuild.release_statement_sha256 {
            return Err(ApiError::invalid(format!(
                "the report rebuilt release statement {} but release {version}'s statement is {release_statement}; rebuild the statement the registry serves (GET /v1/releases/{version}/statements) and report on that",
                rebuild.release_statement_sha256
            )));
        }
    }
    let latest = sqlx::query_scalar!(
        r#"SELECT max(signed_at) AS "latest" FROM builds WHERE release_id = $1 AND signed_by_key = $2"#,
        release_id,
        signature.key_fingerprint
    )
    .fetch_one(&mut *tx)
    .await?;
    if let Some(latest) = latest.filter(|latest| *latest >= signature.signed_at) {
        return Err(ApiError::Conflict(format!(
            "key {} already has a report for release {version} signed at {} (this one is signed at {}); a replayed or older report does not replace it: sign a new report",
            signature.key_fingerprint,
            latest.to_rfc3339(),
            signature.signed_at.to_rfc3339()
        )));
    }
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
    let report = SignedReport {
        release_id,
        rebuild: &rebuild,
        status: &status,
        statuses: &statuses,
        signature: &signature,
        report: &body,
        armored_signature: &armored_signature,
        token: &rebuilder.name,
    };
    insert_report(&mut tx, &report).await?;
    // The exact signed statement bytes are what the log commits to.
    let report_sha256 = hex::encode(Sha256::digest(report.report));
    crate::statements::store::append_to_log(
        &mut tx,
        verifier::tlog::EntryKind::Rebuild,
        &report_sha256,
    )
    .await?;
    tx.commit().await?;
    state.cache.invalidate();
    tracing::info!(%version, key = %signature.key_fingerprint, %status, token = %rebuilder.name, "rebuild reported");
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

/// The armored signature from the `Mpr-Signature` header.
fn signature_header(headers: &HeaderMap) -> Result<String, ApiError> {
    let value = headers
        .get(SIGNATURE_HEADER)
        .ok_or_else(|| ApiError::invalid(format!("a rebuild report must be signed: {SIGN_HOW}")))?;
    decode_signature_header(value.as_bytes())
}

const SIGN_HOW: &str = "sign the exact report bytes (gpg --armor --detach-sign report.json) and send the signature base64-encoded in the Mpr-Signature header (base64 -w0 report.json.asc)";

/// The armored signature in an `Mpr-Signature` header's value (shared with the fuzz target).
pub fn decode_signature_header(value: &[u8]) -> Result<String, ApiError> {
    use base64::Engine;
    const HOW: &str = SIGN_HOW;
    // Base64 of at most MAX_SIGNATURE_BYTES, so the decoded signature is bounded too.
    if value.len() > openpgp::MAX_SIGNATURE_BYTES.div_ceil(3) * 4 {
        return Err(ApiError::invalid(format!(
            "the Mpr-Signature header is longer than a signature of at most {} bytes",
            openpgp::MAX_SIGNATURE_BYTES
        )));
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(value)
        .map_err(|error| {
            ApiError::invalid(format!(
                "the Mpr-Signature header is not base64 ({error}): {HOW}"
            ))
        })?;
    String::from_utf8(decoded)
        .ok()
        .map(|text| text.trim().to_owned())
        .filter(|text| text.starts_with("-----BEGIN PGP SIGNATURE-----"))
        .ok_or_else(|| {
            ApiError::invalid(format!(
                "the Mpr-Signature header does not hold an ASCII-armored signature: {HOW}"
            ))
        })
}

/// Verifies the report against registered rebuilder keys; a signature by a registered release
/// key is refused as such (a key has one role).
async fn verify_report(
    pool: &PgPool,
    report: &[u8],
    signature: &[u8],
) -> Result<VerifiedSignature, ApiError> {
    let rebuilder_keys = crate::keys::usable_with_role(pool, KeyRole::Rebuilder).await?;
    match openpgp::verify_detached(&rebuilder_keys, report, signature) {
        Ok(verified) => Ok(verified),
        Err(error) if error.kind() == ErrorKind::UnknownKey => {
            let release_keys = crate::keys::usable_with_role(pool, KeyRole::Release).await?;
            match openpgp::verify_detached(&release_keys, report, signature) {
                Ok(verified) => Err(ApiError::SignatureRejected(format!(
                    "the report is signed by key {}, a release key, not a rebuilder key; rebuild reports are signed by the rebuilder's own key, registered by an admin with POST /v1/keys?role=rebuilder",
                    verified.key_fingerprint
                ))),
                Err(_) => Err(ApiError::from(error)),
            }
        }
        Err(error) => Err(ApiError::from(error)),
    }
}

/// A report may name its rebuilder (for people reading the signed bytes), but only as the key
/// that signed it: its fingerprint, one of its user IDs, or an e-mail address in one.
async fn check_named_rebuilder(
    pool: &PgPool,
    rebuild: &RebuildSubmission,
    signature: &VerifiedSignature,
) -> Result<(), ApiError> {
    let Some(named) = &rebuild.rebuilder else {
        return Ok(());
    };
    let user_ids = sqlx::query_scalar!(
        "SELECT user_ids FROM signing_keys WHERE fingerprint = $1",
        signature.key_fingerprint
    )
    .fetch_one(pool)
    .await?;
    if names_key(named, &signature.key_fingerprint, &user_ids) {
        return Ok(());
    }
    Err(ApiError::invalid(format!(
        "the report names rebuilder {named:?} but is signed by key {} ({}); a rebuilder reports only as its own key: name this key or leave \"rebuilder\" out",
        signature.key_fingerprint,
        if user_ids.is_empty() {
            "no user ID".to_owned()
        } else {
            user_ids.join(", ")
        }
    )))
}

fn names_key(named: &str, fingerprint: &str, user_ids: &[String]) -> bool {
    let compact: String = named.chars().filter(|c| !c.is_whitespace()).collect();
    compact.eq_ignore_ascii_case(fingerprint)
        || user_ids.iter().any(|user_id| {
            user_id == named
                || user_id
                    .rsplit_once('<')
                    .and_then(|(_, rest)| rest.strip_suffix('>'))
                    .is_some_and(|email| email.eq_ignore_ascii_case(named))
        })
}

#[cfg(test)]
mod tests {
    use super::names_key;

    #[test]
    fn a_report_names_its_key_by_fingerprint_user_id_or_email() {
        let fingerprint = "0123456789ABCDEF0123456789ABCDEF01234567";
        let ids = vec!["Alice Rebuilder <alice@example.org>".to_owned()];
        assert!(names_key(fingerprint, fingerprint, &ids));
        assert!(names_key(&fingerprint.to_lowercase(), fingerprint, &ids));
        assert!(names_key(
            "0123 4567 89AB CDEF 0123  4567 89AB CDEF 0123 4567",
            fingerprint,
            &ids
        ));
        assert!(names_key(
            "Alice Rebuilder <alice@example.org>",
            fingerprint,
            &ids
        ));
        assert!(names_key("ALICE@example.org", fingerprint, &ids));
        assert!(!names_key("alice", fingerprint, &ids));
        assert!(!names_key("bob@example.org", fingerprint, &ids));
        assert!(!names_key("Alice Rebuilder", fingerprint, &[]));
    }
}
