//! Any complete-subtree hash from tlog-tiles: a [`HashStore`] over a source of tiles, so a client
//! that fetched tiles (or a server that keeps only tiles) computes roots and proofs with the same
//! code as [`super::MemoryTree`]. A subtree of 2^(8·L + r) leaves is the fold of 2^r consecutive
//! hashes of one tile at level L.

use super::hash::{node_hash, Hash};
use super::tile::{Tile, TILE_HEIGHT, TILE_WIDTH};
use super::tree::{HashStore, NodeId};

/// Where tiles come from (a cache, a database, files fetched over HTTP by the caller).
pub trait TileSource {
    type Error: std::error::Error + Send + Sync + 'static;

    /// The hashes of each tile asked for, in order; each answer must have exactly `tile.width` hashes.
    fn tiles(&self, tiles: &[Tile]) -> Result<Vec<Vec<Hash>>, Self::Error>;
}

impl<T: TileSource + ?Sized> TileSource for &T {
    type Error = T::Error;
    fn tiles(&self, tiles: &[Tile]) -> Result<Vec<Vec<Hash>>, Self::Error> {
        (**self).tiles(tiles)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TiledStoreError<E: std::error::Error + 'static> {
    #[error("subtree at level {} index {} is not inside the tree of {tree_size} leaves: ask only for subtrees of that tree", node.level, node.index)]
    OutsideTree { node: NodeId, tree_size: u64 },
    #[error("tile {path} came with {got} hashes instead of {expected}: the tile source is broken or serves another tree")]
    WrongWidth {
        path: String,
        expected: usize,
        got: usize,
    },
    #[error("reading tiles failed: {0}")]
    Source(#[source] E),
}

/// The tiles of the tree of `tree_size` leaves, as a [`HashStore`].
#[derive(Debug, Clone)]
pub struct TiledStore<T> {
    pub source: T,
    pub tree_size: u64,
}

impl<T> TiledStore<T> {
    pub fn new(source: T, tree_size: u64) -> Self {
        Self { source, tree_size }
    }

    /// The tile holding the hashes `node` folds from, and the range of them within the tile.
    fn locate(&self, node: NodeId) -> Option<(Tile, usize, usize)> {
        let tile_level = node.level / TILE_HEIGHT;
        let fold_levels = u32::from(node.level % TILE_HEIGHT);
        let count = 1u64 << fold_levels;
        let first = node.index.checked_mul(count)?;
        let tile = Tile::at_size(Some(tile_level), first / TILE_WIDTH, self.tree_size)?;
        let offset = (first % TILE_WIDTH) as usize;
        // The whole subtree must lie inside the tile's hashes.
        (offset as u64 + count <= u64::from(tile.width)).then_some((tile, offset, count as usize))
    }
}

fn fold(hashes: &[Hash]) -> Hash {
    let mut level: Vec<Hash> = hashes.to_vec();
    while level.len() > 1 {
        level = level
            .chunks_exact(2)
            .map(|pair| node_hash(&pair[0], &pair[1]))
            .collect();
    }
    level[0]
}

impl<T: TileSource> HashStore for TiledStore<T> {
    type Error = TiledStoreError<T::Error>;

    fn hash(&self, node: NodeId) -> Result<Hash, Self::Error> {
        Ok(self.hashes(&[node])?[0])
    }

    fn hashes(&self, nodes: &[NodeId]) -> Result<Vec<Hash>, Self::Error> {
        let mut located = Vec::with_capacity(nodes.len());
        let mut tiles: Vec<Tile> = Vec::new();
        for &node in nodes {
            let (tile, offset, count) = self.locate(node).ok_or(TiledStoreError::OutsideTree {
                node,
                tree_size: self.tree_size,
            })?;
            let slot = match tiles.iter().position(|t| *t == tile) {
                Some(slot) => slot,
                None => {
                    tiles.push(tile);
                    tiles.len() - 1
                }
            };
            located.push((slot, offset, count));
        }
        let answers = self.source.tiles(&tiles).map_err(TiledStoreError::Source)?;
        for (i, tile) in tiles.iter().enumerate() {
            let got = answers.get(i).map_or(0, Vec::len);
            if got != usize::from(tile.width) {
                return Err(TiledStoreError::WrongWidth {
                    path: tile.path(),
                    expected: usize::from(tile.width),
                    got,
                });
            }
        }
        Ok(located
            .into_iter()
            .map(|(slot, offset, count)| fold(&answers[slot][offset..offset + count]))
            .collect())
    }
}
