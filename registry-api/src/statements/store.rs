//! Storing each kind of statement inside the caller's transaction, after checking it against the
//! release: one function per kind, the place where a statement also enters the transparency log.

use sqlx::{Postgres, Transaction};
use verifier::statement::{self as shape, StatementKind};

use crate::error::ApiError;
use verifier::tlog::{EntryKind, LogEntry};

/// Appends a stored statement to the transparency log in the same transaction, so a statement
/// is never recorded without its log entry (or the other way round).
pub(crate) async fn append_to_log(
    tx: &mut Transaction<'_, Postgres>,
    kind: EntryKind,
    sha256: &str,
) -> Result<u64, ApiError> {
    let mut statement_sha256 = [0u8; 32];
    hex::decode_to_slice(sha256, &mut statement_sha256)
        .map_err(|_| ApiError::invalid(format!("{sha256:?} is not a SHA-256 in hex")))?;
    crate::log::append(
        tx,
        &LogEntry {
            kind,
            statement_sha256,
        },
    )
    .await
}

async fn insert_statement(
    tx: &mut Transaction<'_, Postgres>,
    kind: StatementKind,
    release_id: i64,
    body: &[u8],
    sha256: &str,
    created_by: &str,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar!(
        r#"INSERT INTO statements (kind, release_id, sha256, body, created_by)
           VALUES ($1, $2, $3, $4, $5) RETURNING id"#,
        kind.as_str(),
        release_id,
        sha256,
        body,
        created_by
    )
    .fetch_one(&mut **tx)
    .await
}

/// Stores a release's statement (with its release, in the release's transaction).
pub(crate) async fn store_release(
    tx: &mut Transaction<'_, Postgres>,
    release_id: i64,
    body: &[u8],
    sha256: &str,
    created_by: &str,
) -> Result<i64, ApiError> {
    let id = insert_statement(
        tx,
        StatementKind::Release,
        release_id,
        body,
        sha256,
        created_by,
    )
    .await?;
    append_to_log(tx, EntryKind::Release, sha256).await?;
    Ok(id)
}

/// The release a later statement is about, locked until the transaction ends so that statements
/// about one release are applied one at a time.
struct ReleaseRow {
    id: i64,
    statement_sha256: String,
}

async fn lock_release(
    tx: &mut Transaction<'_, Postgres>,
    version: &str,
    subject_sha256: &str,
) -> Result<ReleaseRow, ApiError> {
    let row = sqlx::query!(
        r#"SELECT r.id, st.sha256 FROM releases r
           JOIN statements st ON st.release_id = r.id AND st.kind = 'release'
           WHERE r.version = $1 FOR UPDATE OF r"#,
        version
    )
    .fetch_optional(&mut **tx)
    .await?
    .ok_or_else(|| crate::releases::not_found(version))?;
    if row.sha256 != subject_sha256 {
        return Err(ApiError::invalid(format!(
            "the statement's subject is {subject_sha256}, but release {version}'s statement has SHA-256 {}; render it again against this registry",
            row.sha256
        )));
    }
    Ok(ReleaseRow {
        id: row.id,
        statement_sha256: row.sha256,
    })
}

/// Checks a status change against the set's current status and stores it.
pub(super) async fn store_set_status(
    tx: &mut Transaction<'_, Postgres>,
    statement: &shape::SetStatusStatement,
    body: &[u8],
    sha256: &str,
    created_by: &str,
) -> Result<i64, ApiError> {
    let change = &statement.predicate;
    let release = lock_release(tx, &change.version, statement.release_statement_sha256()).await?;
    let current = sqlx::query!(
        r#"SELECT s.id, v.status AS "status!", v.sequence AS "sequence!"
           FROM measurement_sets s JOIN measurement_set_status v ON v.set_id = s.id
           WHERE s.release_id = $1 AND s.name = $2"#,
        release.id,
        change.measurement_set
    )
    .fetch_optional(&mut **tx)
    .await?
    .ok_or_else(|| {
        ApiError::NotFound(format!(
            "release {} has no measurement set {:?}",
            change.version, change.measurement_set
        ))
    })?;
    let expected = i64::from(current.sequence) + 1;
    if i64::from(change.sequence) != expected {
        return Err(ApiError::Conflict(format!(
            "the statement has sequence {}, but set {:?} of release {} is at sequence {} (its next status statement is {expected}); render it again",
            change.sequence, change.measurement_set, change.version, current.sequence
        )));
    }
    if current.status == change.status.as_str() {
        return Err(ApiError::Conflict(format!(
            "set {:?} of release {} is already {}",
            change.measurement_set, change.version, current.status
        )));
    }
    let id = insert_statement(
        tx,
        StatementKind::SetStatus,
        release.id,
        body,
        sha256,
        created_by,
    )
    .await?;
    sqlx::query!(
        r#"INSERT INTO set_status_changes (statement_id, set_id, sequence, status, reason)
           VALUES ($1, $2, $3, $4, $5)"#,
        id,
        current.id,
        current.sequence + 1,
        change.status.as_str(),
        change.reason
    )
    .execute(&mut **tx)
    .await?;
    append_to_log(tx, EntryKind::Status, sha256).await?;
    Ok(id)
}

/// Checks an addendum's set against the platform rules and the release's sets and stores it.
pub(super) async fn store_set_addendum(
    tx: &mut Transaction<'_, Postgres>,
    statement: &shape::SetAddendumStatement,
    body: &[u8],
    sha256: &str,
    created_by: &str,
) -> Result<i64, ApiError> {
    let addendum = &statement.predicate;
    let set = crate::statement::measurement_set_submission(&addendum.measurement_set)
        .map_err(ApiError::InvalidInput)?;
    let release = lock_release(tx, &addendum.version, statement.release_statement_sha256()).await?;
    let existing = sqlx::query_scalar!(
        "SELECT id FROM measurement_sets WHERE release_id = $1 AND name = $2",
        release.id,
        set.name
    )
    .fetch_optional(&mut **tx)
    .await?;
    if existing.is_some() {
        return Err(ApiError::Conflict(format!(
            "release {} already has a measurement set {:?}; an addendum adds a set under a new name",
            addendum.version, set.name
        )));
    }
    let id = insert_statement(
        tx,
        StatementKind::SetAddendum,
        release.id,
        body,
        sha256,
        created_by,
    )
    .await?;
    crate::measurements::insert_sets(tx, release.id, id, std::slice::from_ref(&set), created_by)
        .await?;
    tracing::debug!(release = %release.statement_sha256, "addendum applies to release statement");
    append_to_log(tx, EntryKind::Addendum, sha256).await?;
    Ok(id)
}
