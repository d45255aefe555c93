//! Proof generation (RFC 9162 §2.1.3.1 and §2.1.4.1) over any store of complete-subtree hashes.
//!
//! A log stores only hashes of *complete* subtrees (what C2SP tlog-tiles serve): the subtree of
//! 2^level leaves starting at leaf `index << level`. The hashes a proof needs for the incomplete right
//! edge of a tree are folded here from complete ones, so a store never has to know the tree size.
//! Every function first lists the complete subtrees it needs and then asks the store for all of them
//! in one [`HashStore::hashes`] call, so a database-backed store can answer a proof in one query.

use super::hash::{node_hash, Hash, EMPTY_ROOT};

/// A complete subtree: the 2^`level` leaves starting at leaf `index << level`. Level 0 is a leaf.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId {
    pub level: u8,
    pub index: u64,
}

impl NodeId {
    pub fn new(level: u8, index: u64) -> Self {
        Self { level, index }
    }
}

/// Where a log keeps its complete-subtree hashes (memory, tiles in a database, a tile cache).
pub trait HashStore {
    type Error: std::error::Error + Send + Sync + 'static;

    /// The hash of the complete subtree `node`. Asked only for subtrees inside the tree size that
    /// the caller gave to [`root`], [`inclusion_proof`] or [`consistency_proof`].
    fn hash(&self, node: NodeId) -> Result<Hash, Self::Error>;

    /// The hashes of several subtrees, in the order asked. Override to fetch them in one batch.
    fn hashes(&self, nodes: &[NodeId]) -> Result<Vec<Hash>, Self::Error> {
        nodes.iter().map(|&node| self.hash(node)).collect()
    }
}

impl<S: HashStore + ?Sized> HashStore for &S {
    type Error = S::Error;
    fn hash(&self, node: NodeId) -> Result<Hash, Self::Error> {
        (**self).hash(node)
    }
    fn hashes(&self, nodes: &[NodeId]) -> Result<Vec<Hash>, Self::Error> {
        (**self).hashes(nodes)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TreeError<E: std::error::Error + 'static> {
    #[error("leaf index {index} is not in a tree of {size} leaves: ask for an index below the tree size")]
    IndexOutOfRange { index: u64, size: u64 },
    #[error(
        "no consistency proof from {old_size} to {new_size} leaves: the old size must not exceed the new size"
    )]
    SizesOutOfOrder { old_size: u64, new_size: u64 },
    #[error("tree size {size} is beyond the {available} leaves this store holds: ask for a size the log has reached")]
    SizeBeyondStore { size: u64, available: u64 },
    #[error("reading subtree hashes from the store failed: {0}")]
    Store(#[source] E),
    #[error("the hash store answered {got} hashes when asked for {asked}: its HashStore::hashes implementation is broken")]
    StoreAnswer { asked: usize, got: usize },
}

/// Leaves `[start, end)` where `start` is a multiple of the largest power of two not above
/// `end - start`: a complete subtree, or the right edge of one. RFC 6962 only ever hashes such ranges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Range {
    pub start: u64,
    pub end: u64,
}

impl Range {
    /// The complete subtrees covering the range, largest (leftmost) first.
    fn push_nodes(self, out: &mut Vec<NodeId>) {
        let mut start = self.start;
        while start < self.end {
            let level = (self.end - start).ilog2();
            out.push(NodeId::new(level as u8, start >> level));
            start += 1 << level;
        }
    }
}

/// The largest power of two strictly below `n` (n ≥ 2): RFC 6962's split point.
pub(crate) fn split(n: u64) -> u64 {
    1 << (n - 1).ilog2()
}

/// RFC 9162 §2.1.3.1 PATH(index, D[0:size]): the subtrees whose hashes form the inclusion proof,
/// from the leaf upwards.
pub(crate) fn inclusion_ranges(index: u64, size: u64) -> Vec<Range> {
    let mut top_down = Vec::new();
    let (mut lo, mut hi) = (0, size);
    while hi - lo > 1 {
        let k = split(hi - lo);
        if index < lo + k {
            top_down.push(Range {
                start: lo + k,
                end: hi,
            });
            hi = lo + k;
        } else {
            top_down.push(Range {
                start: lo,
                end: lo + k,
            });
            lo += k;
        }
    }
    top_down.reverse();
    top_down
}

/// RFC 9162 §2.1.4.1 PROOF(old, D[0:new]) for 0 < old < new: the subtrees of the consistency proof.
pub(crate) fn consistency_ranges(old: u64, new: u64) -> Vec<Range> {
    let mut top_down = Vec::new();
    let (mut m, mut lo, mut hi, mut whole_old_tree) = (old, 0, new, true);
    while m != hi - lo {
        let k = split(hi - lo);
        if m <= k {
            top_down.push(Range {
                start: lo + k,
                end: hi,
            });
            hi = lo + k;
        } else {
            top_down.push(Range {
                start: lo,
                end: lo + k,
            });
            lo += k;
            m -= k;
            whole_old_tree = false;
        }
    }
    // The old tree's root is known to the verifier; any other subtree it ends at is not.
    if !whole_old_tree {
        top_down.push(Range { start: lo, end: hi });
    }
    top_down.reverse();
    top_down
}

/// Hashes of `ranges`, read from `store` in one batch and folded right to left within each range.
pub(crate) fn range_hashes<S: HashStore>(
    store: &S,
    ranges: &[Range],
) -> Result<Vec<Hash>, TreeError<S::Error>> {
    let mut nodes = Vec::new();
    let mut counts = Vec::with_capacity(ranges.len());
    for range in ranges {
        let before = nodes.len();
        range.push_nodes(&mut nodes);
        counts.push(nodes.len() - before);
    }
    let hashes = store.hashes(&nodes).map_err(TreeError::Store)?;
    if hashes.len() != nodes.len() {
        return Err(TreeError::StoreAnswer {
            asked: nodes.len(),
            got: hashes.len(),
        });
    }
    let mut pieces = hashes.into_iter();
    let mut out = Vec::with_capacity(ranges.len());
    for count in counts {
        let range_pieces: Vec<Hash> = pieces.by_ref().take(count).collect();
        let mut folded = range_pieces.iter().rev();
        let last = *folded
            .next()
            .expect("a non-empty range has at least one subtree");
        out.push(folded.fold(last, |acc, left| node_hash(left, &acc)));
    }
    Ok(out)
}

/// The root hash of the tree made of the first `size` leaves.
pub fn root<S: HashStore>(store: &S, size: u64) -> Result<Hash, TreeError<S::Error>> {
    if size == 0 {
        return Ok(EMPTY_ROOT);
    }
    let hashes = range_hashes(
        store,
        &[Range {
            start: 0,
            end: size,
        }],
    )?;
    Ok(hashes[0])
}

/// The audit path proving that leaf `index` is in the tree of the first `size` leaves.
pub fn inclusion_proof<S: HashStore>(
    store: &S,
    index: u64,
    size: u64,
) -> Result<Vec<Hash>, TreeError<S::Error>> {
    if index >= size {
        return Err(TreeError::IndexOutOfRange { index, size });
    }
    range_hashes(store, &inclusion_ranges(index, size))
}

/// The proof that the tree of `new_size` leaves extends the tree of `old_size` leaves. Empty when
/// `old_size` is 0 or equal to `new_size` (nothing to prove).
pub fn consistency_proof<S: HashStore>(
    store: &S,
    old_size: u64,
    new_size: u64,
) -> Result<Vec<Hash>, TreeError<S::Error>> {
    if old_size > new_size {
        return Err(TreeError::SizesOutOfOrder { old_size, new_size });
    }
    if old_size == 0 || old_size == new_size {
        return Ok(Vec::new());
    }
    range_hashes(store, &consistency_ranges(old_size, new_size))
}
