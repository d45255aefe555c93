//! The transparency log, pure parts: RFC 6962 / RFC 9162 Merkle trees and proofs, C2SP signed notes,
//! checkpoints, cosignatures, tiles and offline proof bundles. The registry serves the log with these
//! types; wallets verify with them.

pub mod hash;
pub mod memory;
pub mod proof;
pub mod tree;

pub use hash::{leaf_hash, node_hash, Hash, EMPTY_ROOT};
pub use memory::MemoryTree;
pub use proof::{verify_consistency, verify_inclusion, ProofVerifyError};
pub use tree::{consistency_proof, inclusion_proof, root, HashStore, NodeId, TreeError};
