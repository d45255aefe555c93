//! An in-memory log tree: every complete-subtree hash, level by level. Appending is amortised O(1)
//! (one node hash per completed subtree, about one per leaf) and a proof reads O(log n) stored hashes.
//! A million leaves take about 64 MiB (two hashes per leaf).

use super::hash::Hash;
use super::tree::{self, HashStore, NodeId, TreeError};

#[derive(Debug, Clone, Default)]
pub struct MemoryTree {
    /// `levels[l][i]` is the hash of the complete subtree of 2^l leaves starting at leaf `i << l`.
    levels: Vec<Vec<Hash>>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the tree holds no complete subtree at level {} index {} (it has {size} leaves): ask only for subtrees inside the tree", node.level, node.index)]
pub struct MissingNode {
    pub node: NodeId,
    pub size: u64,
}

impl MemoryTree {
    pub fn new() -> Self {
        Self::default()
    }

    /// A tree of these leaf hashes, in order.
    pub fn from_leaf_hashes<I: IntoIterator<Item = Hash>>(leaf_hashes: I) -> Self {
        let mut tree = Self::new();
        for leaf in leaf_hashes {
            tree.push(leaf);
        }
        tree
    }

    /// Appends a leaf (its RFC 6962 leaf hash, see [`super::leaf_hash`]) and returns its index.
    pub fn push(&mut self, leaf_hash: Hash) -> u64 {
        let index = self.size();
        let mut hash = leaf_hash;
        let mut level = 0;
        loop {
            if self.levels.len() == level {
                self.levels.push(Vec::new());
            }
            let nodes = &mut self.levels[level];
            nodes.push(hash);
            let count = nodes.len();
            // A node at an odd position completes its parent.
            if count % 2 == 1 {
                break;
            }
            hash = super::node_hash(&nodes[count - 2], &nodes[count - 1]);
            level += 1;
        }
        index
    }

    /// The number of leaves.
    pub fn size(&self) -> u64 {
        self.levels.first().map_or(0, |leaves| leaves.len() as u64)
    }

    /// The leaf hash at `index`, if the tree has it.
    pub fn leaf_hash(&self, index: u64) -> Option<Hash> {
        self.get(NodeId::new(0, index))
    }

    /// The hash of a complete subtree, if the tree has it.
    pub fn get(&self, node: NodeId) -> Option<Hash> {
        let nodes = self.levels.get(usize::from(node.level))?;
        nodes.get(usize::try_from(node.index).ok()?).copied()
    }

    /// The root of the whole tree.
    pub fn root(&self) -> Hash {
        self.root_at(self.size())
            .expect("the tree holds every subtree of its own size")
    }

    /// The root of the tree of the first `size` leaves.
    pub fn root_at(&self, size: u64) -> Result<Hash, TreeError<MissingNode>> {
        self.check_size(size)?;
        tree::root(self, size)
    }

    /// The inclusion proof of leaf `index` in the tree of the first `size` leaves.
    pub fn inclusion_proof(
        &self,
        index: u64,
        size: u64,
    ) -> Result<Vec<Hash>, TreeError<MissingNode>> {
        self.check_size(size)?;
        tree::inclusion_proof(self, index, size)
    }

    /// The consistency proof from the first `old_size` leaves to the first `new_size` leaves.
    pub fn consistency_proof(
        &self,
        old_size: u64,
        new_size: u64,
    ) -> Result<Vec<Hash>, TreeError<MissingNode>> {
        self.check_size(new_size)?;
        tree::consistency_proof(self, old_size, new_size)
    }

    fn check_size(&self, size: u64) -> Result<(), TreeError<MissingNode>> {
        if size > self.size() {
            return Err(TreeError::SizeBeyondStore {
                size,
                available: self.size(),
            });
        }
        Ok(())
    }
}

impl HashStore for MemoryTree {
    type Error = MissingNode;

    fn hash(&self, node: NodeId) -> Result<Hash, MissingNode> {
        self.get(node).ok_or(MissingNode {
            node,
            size: self.size(),
        })
    }
}
