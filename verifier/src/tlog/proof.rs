//! Proof verification, RFC 9162 §2.1.3.2 (inclusion) and §2.1.4.2 (consistency).
//!
//! Conventions outside the RFC's domain: an inclusion proof needs `index < size`; a consistency proof
//! from size 0 is accepted only when it is empty and the old root is the empty-tree root (every tree
//! extends the empty tree; this is CCTV's convention, transparency-dev rejects it), and one between
//! equal sizes only when it is empty and both roots are equal.

use super::hash::{node_hash, Hash, EMPTY_ROOT};
use super::tree::{consistency_ranges, inclusion_ranges};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofVerifyError {
    #[error(
        "leaf index {index} is not in a tree of {size} leaves: the proof is for another tree size"
    )]
    IndexOutOfRange { index: u64, size: u64 },
    #[error("a proof for these sizes has {expected} hashes, this one has {found}: the proof was made for other sizes or was truncated")]
    WrongLength { expected: usize, found: usize },
    #[error("the proof does not lead to the expected root hash: the leaf is not in this tree, or the proof or root was altered")]
    RootMismatch,
    #[error("old tree size {old_size} exceeds new tree size {new_size}: a log never shrinks; swap the sizes or distrust the log")]
    SizesOutOfOrder { old_size: u64, new_size: u64 },
    #[error("the proof does not lead to the old root hash: the new tree does not extend the old one (the log forked) or the proof was altered")]
    OldRootMismatch,
    #[error("the proof does not lead to the new root hash: the new tree does not extend the old one or the proof was altered")]
    NewRootMismatch,
}

/// Checks that `leaf_hash` is leaf `index` of the tree of `size` leaves whose root is `root`.
pub fn verify_inclusion(
    index: u64,
    size: u64,
    leaf_hash: &Hash,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), ProofVerifyError> {
    if index >= size {
        return Err(ProofVerifyError::IndexOutOfRange { index, size });
    }
    let expected = inclusion_ranges(index, size).len();
    if proof.len() != expected {
        return Err(ProofVerifyError::WrongLength {
            expected,
            found: proof.len(),
        });
    }
    let (mut fn_, mut sn) = (index, size - 1);
    let mut r = *leaf_hash;
    for p in proof {
        // The length check above guarantees sn > 0 here.
        if fn_ & 1 == 1 || fn_ == sn {
            r = node_hash(p, &r);
            if fn_ & 1 == 0 {
                while fn_ & 1 == 0 && fn_ != 0 {
                    fn_ >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    if sn != 0 {
        return Err(ProofVerifyError::WrongLength {
            expected,
            found: proof.len(),
        });
    }
    if r != *root {
        return Err(ProofVerifyError::RootMismatch);
    }
    Ok(())
}

/// Checks that the tree of `new_size` leaves with root `new_root` extends the tree of `old_size`
/// leaves with root `old_root`.
pub fn verify_consistency(
    old_size: u64,
    new_size: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> Result<(), ProofVerifyError> {
    if old_size > new_size {
        return Err(ProofVerifyError::SizesOutOfOrder { old_size, new_size });
    }
    if old_size == 0 || old_size == new_size {
        if !proof.is_empty() {
            return Err(ProofVerifyError::WrongLength {
                expected: 0,
                found: proof.len(),
            });
        }
        if old_size == 0 && *old_root != EMPTY_ROOT {
            return Err(ProofVerifyError::OldRootMismatch);
        }
        if old_size == new_size && old_root != new_root {
            return Err(ProofVerifyError::NewRootMismatch);
        }
        return Ok(());
    }
    let expected = consistency_ranges(old_size, new_size).len();
    if proof.len() != expected {
        return Err(ProofVerifyError::WrongLength {
            expected,
            found: proof.len(),
        });
    }
    // When the old tree is a complete subtree its root is the proof's implicit first hash.
    let mut path: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    if old_size.is_power_of_two() {
        path.push(*old_root);
    }
    path.extend_from_slice(proof);

    let (mut fn_, mut sn) = (old_size - 1, new_size - 1);
    while fn_ & 1 == 1 {
        fn_ >>= 1;
        sn >>= 1;
    }
    let (mut fr, mut sr) = (path[0], path[0]);
    for c in &path[1..] {
        if sn == 0 {
            return Err(ProofVerifyError::WrongLength {
                expected,
                found: proof.len(),
            });
        }
        if fn_ & 1 == 1 || fn_ == sn {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            while fn_ & 1 == 0 && fn_ != 0 {
                fn_ >>= 1;
                sn >>= 1;
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    if sn != 0 {
        return Err(ProofVerifyError::WrongLength {
            expected,
            found: proof.len(),
        });
    }
    if fr != *old_root {
        return Err(ProofVerifyError::OldRootMismatch);
    }
    if sr != *new_root {
        return Err(ProofVerifyError::NewRootMismatch);
    }
    Ok(())
}
