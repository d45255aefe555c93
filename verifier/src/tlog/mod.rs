//! The transparency log, pure parts: RFC 6962 / RFC 9162 Merkle trees and proofs, C2SP signed notes,
//! checkpoints, cosignatures, tiles and offline proof bundles. The registry serves the log with these
//! types; wallets verify with them.

pub mod checkpoint;
pub mod cosignature;
pub mod entry;
pub mod hash;
pub mod keys;
pub mod memory;
pub mod note;
pub mod proof;
pub mod proof_bundle;
pub mod tile;
pub mod tiled;
pub mod tree;

pub use checkpoint::{
    Checkpoint, CheckpointError, CheckpointSignError, CheckpointVerifyError, TrustedLog,
    VerifiedCheckpoint,
};
pub use entry::{EntryError, EntryKind, LogEntry};
pub use hash::{leaf_hash, node_hash, Hash, EMPTY_ROOT};
pub use keys::{GeneratedKey, KeyError, KeyKind, NoteSigner, NoteVerifier};
pub use memory::MemoryTree;
pub use note::{Note, NoteError, NoteSignature, VerifiedSignature};
pub use proof::{verify_consistency, verify_inclusion, ProofVerifyError};
pub use proof_bundle::{verify_proof_bundle, ProofBundle, ProofBundleError, VerifiedProof};
pub use tile::{BundleError, Tile, TilePathError};
pub use tiled::{TileSource, TiledStore, TiledStoreError};
pub use tree::{consistency_proof, inclusion_proof, root, HashStore, NodeId, TreeError};
