//! Answers to public GETs, kept in memory until the registry changes. Releases are written rarely
//! and read by every wallet, so the hot path is a map lookup instead of a database round trip.
//!
//! Correctness: every write commits a `pg_notify` (a trigger in the schema), and a listener task
//! clears the cache on each notification, so servers sharing a database stay coherent. While the
//! listener is disconnected, changes could be missed, so the cache is bypassed until it is back
//! (and cleared then). A generation number stops a load that raced with a change from storing
//! its stale answer.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::RwLock;
use std::time::Duration;

use bytes::Bytes;
use sqlx::postgres::PgListener;
use sqlx::PgPool;

/// Beyond this many distinct URLs the cache is emptied rather than grown: query strings are
/// chosen by clients, and memory must stay bounded.
pub const MAX_ENTRIES: usize = 10_000;
pub const CHANNEL: &str = "mpr_registry_changed";

#[derive(Clone)]
pub struct CachedAnswer {
    pub body: Bytes,
    /// Ready to send: built once when the answer is cached, not on every hit.
    pub etag: axum::http::HeaderValue,
}

#[derive(Default)]
pub struct ResponseCache {
    entries: RwLock<HashMap<String, CachedAnswer>>,
    generation: AtomicU64,
    listening: AtomicBool,
}

impl ResponseCache {
    pub fn get(&self, key: &str) -> Option<CachedAnswer> {
        if !self.listening.load(Ordering::Acquire) {
            return None;
        }
        self.entries.read().ok()?.get(key).cloned()
    }

    /// The generation to pass to [`ResponseCache::insert`]; read it before loading.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    pub fn insert(&self, key: String, answer: CachedAnswer, loaded_at_generation: u64) {
        if !self.listening.load(Ordering::Acquire) {
            return;
        }
        let Ok(mut entries) = self.entries.write() else {
            return;
        };
        // Checked under the write lock: invalidate() bumps the generation before taking it.
        if self.generation.load(Ordering::Acquire) != loaded_at_generation {
            return;
        }
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(key, answer);
    }

    pub fn invalidate(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        if let Ok(mut entries) = self.entries.write() {
            entries.clear();
        }
    }

    fn set_listening(&self, listening: bool) {
        self.invalidate();
        self.listening.store(listening, Ordering::Release);
    }

    pub fn is_listening(&self) -> bool {
        self.listening.load(Ordering::Acquire)
    }
}

/// Follows the change notifications for as long as the server runs, reconnecting with a short
/// back-off when the database goes away.
pub async fn follow_changes(pool: PgPool, cache: std::sync::Arc<ResponseCache>) {
    loop {
        match listen(&pool, &cache).await {
            Ok(()) => {}
            Err(error) => tracing::debug!(%error, "change listener disconnected"),
        }
        cache.set_listening(false);
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

async fn listen(pool: &PgPool, cache: &ResponseCache) -> Result<(), sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    // sqlx would silently reconnect and lose notifications sent meanwhile; we want to know.
    listener.ignore_pool_close_event(false);
    // And at once: by default try_recv reconnects before reporting the loss, which keeps the cache
    // answering for up to the acquire timeout after the database crashed.
    listener.eager_reconnect(false);
    listener.listen(CHANNEL).await?;
    cache.set_listening(true);
    tracing::debug!("following registry changes");
    loop {
        match listener.try_recv().await? {
            Some(_) => cache.invalidate(),
            None => return Ok(()),
        }
    }
}
