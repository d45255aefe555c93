//! The transparency log: every statement the registry records gets an entry (appended in the
//! statement's own transaction, see [`append`]); an integrator task keeps an in-memory Merkle tree
//! of the committed entries and signs checkpoints; the HTTP side serves C2SP tlog-tiles (checkpoint,
//! tiles, entry bundles), JSON proofs, tlog-proof@v1 bundles, and takes witness cosignatures.
//!
//! The hashing, proofs, notes and formats are the `verifier` crate's (the same code wallets run);
//! this module only stores, integrates and serves.

pub mod cosign;
pub mod http;
pub mod integrator;
pub mod storage;

use std::sync::{Arc, RwLock};

use sqlx::PgPool;
use verifier::tlog::{Checkpoint, Hash, MemoryTree, Note, NoteVerifier};

pub use storage::{append, append_many};

/// What a registry's log is: its name (checkpoint origin and key name), its signing key and the
/// witnesses whose cosignatures it accepts.
pub struct LogConfig {
    pub origin: String,
    /// A type 0x01 (Ed25519) signed-note key named like the origin.
    pub signer: verifier::tlog::NoteSigner,
    /// Type 0x04 (tlog-cosignature v1) witness keys.
    pub witnesses: Vec<verifier::tlog::NoteVerifier>,
}

/// A signed checkpoint that is being served, with the witnesses' cosignature lines.
#[derive(Debug, Clone)]
pub struct Published {
    pub size: u64,
    pub root: Hash,
    /// The note as signed by the log.
    pub note: String,
    pub cosignatures: Vec<String>,
    /// `note` followed by the cosignature lines: what GET /log/checkpoint answers.
    pub served: String,
}

impl Published {
    pub fn new(size: u64, root: Hash, note: String, cosignatures: Vec<String>) -> Self {
        let mut served = note.clone();
        for line in &cosignatures {
            served.push_str(line.trim_end_matches('\n'));
            served.push('\n');
        }
        Published {
            size,
            root,
            note,
            cosignatures,
            served,
        }
    }
}

#[derive(Default)]
struct Served {
    latest: Option<Arc<Published>>,
    cosigned: Option<Arc<Published>>,
}

/// The log as a server holds it: the tree of every integrated entry and what is published.
pub struct Log {
    pool: PgPool,
    config: LogConfig,
    tree: RwLock<MemoryTree>,
    served: RwLock<Served>,
    /// One publication at a time (the integrator's, a cosignature handler's): each reads the
    /// database after the previous one finished, so none overwrites a newer state with an older.
    publishing: tokio::sync::Mutex<()>,
}

impl Log {
    pub fn new(pool: PgPool, config: LogConfig) -> Log {
        Log {
            pool,
            config,
            tree: RwLock::new(MemoryTree::new()),
            served: RwLock::new(Served::default()),
            publishing: tokio::sync::Mutex::new(()),
        }
    }

    pub fn origin(&self) -> &str {
        &self.config.origin
    }

    /// The log's verifier key (`name+id+key`), for wallets and witnesses.
    pub fn verifier_key(&self) -> String {
        self.config.signer.verifier().vkey()
    }

    /// Entries integrated into the tree (a checkpoint for this size may not be published yet).
    pub fn tree_size(&self) -> u64 {
        self.read_tree().size()
    }

    /// The checkpoint being served, once the integrator has published one.
    pub fn published(&self) -> Option<Arc<Published>> {
        self.served
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .latest
            .clone()
    }

    /// The newest checkpoint at least one witness cosigned.
    pub fn cosigned(&self) -> Option<Arc<Published>> {
        self.served
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .cosigned
            .clone()
    }

    fn set_published(&self, latest: Published, cosigned: Option<Arc<Published>>) {
        let mut served = self
            .served
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        served.latest = Some(Arc::new(latest));
        served.cosigned = cosigned;
    }

    fn read_tree(&self) -> std::sync::RwLockReadGuard<'_, MemoryTree> {
        self.tree
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn checkpoint_text(&self, size: u64, root: Hash) -> String {
        Checkpoint::new(&self.config.origin, size, root).format()
    }

    /// The signed note of a checkpoint text.
    fn sign(&self, text: &str) -> Result<String, String> {
        let signature = self
            .config
            .signer
            .sign(text)
            .map_err(|error| error.to_string())?;
        let mut note = Note::new(text).map_err(|error| error.to_string())?;
        note.add_signature(signature)
            .map_err(|error| error.to_string())?;
        Ok(note.format())
    }

    pub fn witnesses(&self) -> &[NoteVerifier] {
        &self.config.witnesses
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

/// Creates the log for a server and starts its integrator; the log is served once the integrator
/// has loaded the tree from the database and published a checkpoint.
pub fn start(pool: PgPool, config: LogConfig) -> Arc<Log> {
    let log = Arc::new(Log::new(pool, config));
    tokio::spawn(integrator::run(log.clone()));
    log
}
