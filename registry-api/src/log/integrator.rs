//! The integrator: loads every committed leaf hash into the in-memory tree at start, then follows
//! new rows (notifications, with a periodic poll as a safety net), extends the tree, signs a
//! checkpoint for the new size, stores it and only then serves it. Since the tree is built only
//! from committed rows, every served checkpoint covers entries (and so tiles and entry bundles)
//! that are all in the database; a restart rebuilds the same tree from the same rows.

use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::PgListener;
use verifier::tlog::Hash;

use super::storage::{self, LEAF_BATCH};
use super::{Log, Published};

/// Notifications wake the integrator at once; the poll catches anything they missed.
pub const POLL_INTERVAL: Duration = Duration::from_secs(1);
pub const CHANNEL: &str = "mpr_log_changed";
/// Leaves added per write lock, so that proof requests never wait long behind an integration.
const LEAVES_PER_LOCK: usize = 4096;

#[derive(Debug, thiserror::Error)]
pub enum IntegrationError {
    #[error("reading or writing the log in the database failed: {0}")]
    Database(#[from] sqlx::Error),
    #[error("log entry {found} follows {expected} entries: the database has a gap in the log and the log is not served until it is repaired")]
    Gap { expected: u64, found: u64 },
    #[error("the stored checkpoint for size {size} does not match the tree rebuilt from the database (stored:\n{stored}\nrebuilt:\n{rebuilt}): log rows were changed or lost; the log is not served")]
    Diverged {
        size: u64,
        stored: String,
        rebuilt: String,
    },
    #[error("the database holds a checkpoint of size {checkpoint} but only {entries} entries: log rows were lost; the log is not served")]
    EntriesMissing { checkpoint: u64, entries: u64 },
    #[error("signing the checkpoint failed: {0}")]
    Signing(String),
}

/// Runs for as long as the server does, reconnecting with a back-off when the database goes away.
pub async fn run(log: Arc<Log>) {
    let mut checked_history = false;
    loop {
        let outcome = follow(&log, &mut checked_history).await;
        if let Err(error) = outcome {
            match error {
                IntegrationError::Database(error) => {
                    tracing::warn!(%error, "log integrator lost the database; retrying")
                }
                other => tracing::error!(error = %other, "log integrator stopped"),
            }
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

async fn follow(log: &Log, checked_history: &mut bool) -> Result<(), IntegrationError> {
    let mut listener = PgListener::connect_with(&log.pool).await?;
    listener.ignore_pool_close_event(false);
    listener.eager_reconnect(false);
    listener.listen(CHANNEL).await?;
    loop {
        integrate(log).await?;
        if !*checked_history {
            check_stored_history(log).await?;
            *checked_history = true;
        }
        publish(log).await?;
        match tokio::time::timeout(POLL_INTERVAL, listener.try_recv()).await {
            Ok(Ok(Some(_))) | Err(_) => {}
            Ok(Ok(None)) => return Ok(()),
            Ok(Err(error)) => return Err(error.into()),
        }
        // One round integrates every commit so far: the notifications queued meanwhile say nothing more.
        while listener.next_buffered().is_some() {}
    }
}

/// Adds every committed entry the tree does not have yet.
pub async fn integrate(log: &Log) -> Result<u64, IntegrationError> {
    loop {
        let start = log.tree_size();
        let rows = storage::leaf_hashes_from(&log.pool, start).await?;
        let fetched = rows.len();
        for chunk in rows.chunks(LEAVES_PER_LOCK) {
            let mut tree = log
                .tree
                .write()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            for &(index, leaf) in chunk {
                if index != tree.size() {
                    return Err(IntegrationError::Gap {
                        expected: tree.size(),
                        found: index,
                    });
                }
                tree.push(leaf);
            }
        }
        if (fetched as i64) < LEAF_BATCH {
            return Ok(log.tree_size());
        }
    }
}

/// At start: the newest stored checkpoint must be a prefix of the tree rebuilt from the rows.
async fn check_stored_history(log: &Log) -> Result<(), IntegrationError> {
    let Some((size, stored)) = storage::latest_checkpoint(&log.pool).await? else {
        return Ok(());
    };
    let entries = log.tree_size();
    if size > entries {
        return Err(IntegrationError::EntriesMissing {
            checkpoint: size,
            entries,
        });
    }
    let rebuilt = log.checkpoint_text(size, root_at(log, size));
    if !signed_text_is(&stored, &rebuilt) {
        return Err(IntegrationError::Diverged {
            size,
            stored,
            rebuilt,
        });
    }
    Ok(())
}

/// Signs and stores a checkpoint for the tree's size if none is published for it, and refreshes
/// the cosignatures of what is served.
pub async fn publish(log: &Log) -> Result<(), IntegrationError> {
    let _one_at_a_time = log.publishing.lock().await;
    let size = log.tree_size();
    let current = log.published();
    let note = match &current {
        Some(published) if published.size == size => published.note.clone(),
        _ => {
            let root = root_at(log, size);
            let text = log.checkpoint_text(size, root);
            let signed = log.sign(&text).map_err(IntegrationError::Signing)?;
            let stored = storage::store_checkpoint(&log.pool, size, &signed).await?;
            if !signed_text_is(&stored, &text) {
                return Err(IntegrationError::Diverged {
                    size,
                    stored,
                    rebuilt: text,
                });
            }
            stored
        }
    };
    let cosignatures = storage::checkpoint(&log.pool, size)
        .await?
        .map(|stored| stored.cosignatures)
        .unwrap_or_default();
    let latest = Published::new(size, root_at(log, size), note, cosignatures);
    let cosigned = match storage::latest_cosigned_size(&log.pool).await? {
        Some(cosigned_size) if cosigned_size == size => Some(latest.clone()),
        Some(cosigned_size) if cosigned_size <= size => {
            let stored = storage::checkpoint(&log.pool, cosigned_size).await?;
            stored.map(|stored| {
                Published::new(
                    cosigned_size,
                    root_at(log, cosigned_size),
                    stored.note,
                    stored.cosignatures,
                )
            })
        }
        _ => None,
    };
    log.set_published(latest, cosigned.map(Arc::new));
    Ok(())
}

fn root_at(log: &Log, size: u64) -> Hash {
    let tree = log
        .tree
        .read()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    tree.root_at(size)
        .expect("asked only for sizes up to the tree's own")
}

/// Whether a signed note carries exactly `text` as its signed text.
fn signed_text_is(note: &str, text: &str) -> bool {
    note.strip_prefix(text)
        .is_some_and(|signatures| signatures.starts_with('\n'))
}
