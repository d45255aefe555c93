//! The log's rows in PostgreSQL: appending entries inside the caller's transaction, reading leaf
//! hashes and entries back, and storing checkpoints and cosignatures.
//!
//! Index assignment: one statement bumps the single `log_head` row and inserts the entries at the
//! indexes it returned. The row lock is held until the caller's transaction ends, so appenders
//! queue behind each other and committed indexes never have gaps: the integrator can treat the
//! rows below any committed index as final.

use sqlx::{PgConnection, PgPool};
use verifier::tlog::{leaf_hash, Hash, LogEntry};

use crate::error::ApiError;

/// Entry bundles store each entry behind a big-endian u16 length (C2SP tlog-tiles).
pub const MAX_ENTRY_BYTES: usize = u16::MAX as usize;

/// The most rows one [`leaf_hashes_from`] call returns: bounds memory per round of integration.
pub const LEAF_BATCH: i64 = 262_144;

/// Appends one entry and returns its index. Call it inside the transaction that stores the
/// statement, so both commit or neither does; keep the rest of that transaction short after the
/// call, since other appenders wait for it to end.
pub async fn append(conn: &mut PgConnection, entry: &LogEntry) -> Result<u64, ApiError> {
    let first = append_many(conn, std::slice::from_ref(entry)).await?;
    Ok(first)
}

/// Appends entries in order and returns the index of the first (the others follow it).
pub async fn append_many(conn: &mut PgConnection, entries: &[LogEntry]) -> Result<u64, ApiError> {
    let mut kinds = Vec::with_capacity(entries.len());
    let mut statements = Vec::with_capacity(entries.len());
    let mut bodies = Vec::with_capacity(entries.len());
    let mut leaves = Vec::with_capacity(entries.len());
    for entry in entries {
        let body = entry.encode();
        if body.len() > MAX_ENTRY_BYTES {
            return Err(ApiError::invalid(format!(
                "a log entry of {} bytes is over the {MAX_ENTRY_BYTES}-byte limit of entry bundles",
                body.len()
            )));
        }
        kinds.push(entry.kind.as_str().to_owned());
        statements.push(hex::encode(entry.statement_sha256));
        leaves.push(leaf_hash(&body).to_vec());
        bodies.push(body);
    }
    let count = i64::try_from(entries.len()).map_err(ApiError::internal)?;
    if count == 0 {
        return Err(ApiError::invalid(
            "nothing to append: the list of log entries is empty",
        ));
    }
    // One statement, so that even outside a transaction the head and the rows move together.
    let first = sqlx::query_scalar!(
        r#"WITH head AS (
               UPDATE log_head SET size = size + $1 RETURNING size - $1 AS first
           ), inserted AS (
               INSERT INTO log_entries (index, kind, statement_sha256, entry, leaf_hash)
               SELECT head.first + e.position - 1, e.kind, e.statement, e.entry, e.leaf
               FROM head, UNNEST($2::text[], $3::text[], $4::bytea[], $5::bytea[])
                   WITH ORDINALITY AS e(kind, statement, entry, leaf, position)
               RETURNING index
           )
           SELECT first AS "first!" FROM head"#,
        count,
        &kinds,
        &statements,
        &bodies,
        &leaves,
    )
    .fetch_one(&mut *conn)
    .await?;
    u64::try_from(first).map_err(ApiError::internal)
}

/// Leaf hashes of the committed entries from `start` on, in index order, at most [`LEAF_BATCH`].
pub async fn leaf_hashes_from(pool: &PgPool, start: u64) -> Result<Vec<(u64, Hash)>, sqlx::Error> {
    let start = i64::try_from(start).unwrap_or(i64::MAX);
    let rows = sqlx::query!(
        "SELECT index, leaf_hash FROM log_entries WHERE index >= $1 ORDER BY index LIMIT $2",
        start,
        LEAF_BATCH,
    )
    .fetch_all(pool)
    .await?;
    rows.into_iter()
        .map(|row| {
            let hash: Hash = row.leaf_hash.as_slice().try_into().map_err(|_| {
                sqlx::Error::Decode(
                    format!(
                        "log entry {} has a leaf hash of {} bytes",
                        row.index,
                        row.leaf_hash.len()
                    )
                    .into(),
                )
            })?;
            Ok((row.index as u64, hash))
        })
        .collect()
}

/// The entries with indexes in `start..end`, in order.
pub async fn entries(pool: &PgPool, start: u64, end: u64) -> Result<Vec<Vec<u8>>, sqlx::Error> {
    let (start, end) = (start as i64, end as i64);
    sqlx::query_scalar!(
        "SELECT entry FROM log_entries WHERE index >= $1 AND index < $2 ORDER BY index",
        start,
        end
    )
    .fetch_all(pool)
    .await
}

/// Where a statement was logged.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct LoggedStatement {
    pub index: u64,
    /// release, status, addendum or rebuild
    pub kind: String,
    pub appended_at: chrono::DateTime<chrono::Utc>,
}

pub async fn entries_of_statement(
    pool: &PgPool,
    statement_sha256: &str,
) -> Result<Vec<LoggedStatement>, sqlx::Error> {
    let rows = sqlx::query!(
        "SELECT index, kind, appended_at FROM log_entries WHERE statement_sha256 = $1 ORDER BY index",
        statement_sha256
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| LoggedStatement {
            index: row.index as u64,
            kind: row.kind,
            appended_at: row.appended_at,
        })
        .collect())
}

/// Stores a signed checkpoint unless one of that size is already stored, and returns the stored
/// one: servers sharing the database (or a restart) then all serve the same note for a size.
pub async fn store_checkpoint(pool: &PgPool, size: u64, note: &str) -> Result<String, sqlx::Error> {
    let size = size as i64;
    sqlx::query!(
        "INSERT INTO log_checkpoints (size, body) VALUES ($1, $2) ON CONFLICT (size) DO NOTHING",
        size,
        note
    )
    .execute(pool)
    .await?;
    sqlx::query_scalar!("SELECT body FROM log_checkpoints WHERE size = $1", size)
        .fetch_one(pool)
        .await
}

/// The largest stored checkpoint, if any.
pub async fn latest_checkpoint(pool: &PgPool) -> Result<Option<(u64, String)>, sqlx::Error> {
    let row = sqlx::query!("SELECT size, body FROM log_checkpoints ORDER BY size DESC LIMIT 1")
        .fetch_optional(pool)
        .await?;
    Ok(row.map(|row| (row.size as u64, row.body)))
}

/// A stored checkpoint and the cosignature lines witnesses sent for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCheckpoint {
    pub size: u64,
    pub note: String,
    pub cosignatures: Vec<String>,
}

pub async fn checkpoint(pool: &PgPool, size: u64) -> Result<Option<StoredCheckpoint>, sqlx::Error> {
    let size = size as i64;
    let Some(note) = sqlx::query_scalar!("SELECT body FROM log_checkpoints WHERE size = $1", size)
        .fetch_optional(pool)
        .await?
    else {
        return Ok(None);
    };
    let cosignatures = sqlx::query_scalar!(
        "SELECT line FROM log_cosignatures WHERE checkpoint_size = $1 ORDER BY received_at, witness_name",
        size
    )
    .fetch_all(pool)
    .await?;
    Ok(Some(StoredCheckpoint {
        size: size as u64,
        note,
        cosignatures,
    }))
}

/// The size of the largest checkpoint any witness cosigned.
pub async fn latest_cosigned_size(pool: &PgPool) -> Result<Option<u64>, sqlx::Error> {
    let size = sqlx::query_scalar!("SELECT max(checkpoint_size) FROM log_cosignatures")
        .fetch_one(pool)
        .await?;
    Ok(size.map(|size| size as u64))
}

/// Records a verified cosignature line; a witness sending the same one again is not an error.
pub async fn store_cosignature(
    pool: &PgPool,
    size: u64,
    witness_name: &str,
    witness_key_id: u32,
    line: &str,
) -> Result<(), sqlx::Error> {
    let size = size as i64;
    let key_id = format!("{witness_key_id:08x}");
    sqlx::query!(
        "INSERT INTO log_cosignatures (checkpoint_size, witness_name, witness_key_id, line)
         VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
        size,
        witness_name,
        key_id,
        line
    )
    .execute(pool)
    .await?;
    Ok(())
}
