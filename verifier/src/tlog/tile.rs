//! c2sp.org/tlog-tiles: tile paths `tile/<L>/<N>[.p/<W>]` and `tile/entries/<N>[.p/<W>]`, tile
//! contents read from a [`HashStore`], and entry bundles (uint16 big-endian length-prefixed entries).
//!
//! A tile at level L holds up to 256 consecutive hashes of Merkle level 8·L: tile N of level L covers
//! leaves `[N·256^(L+1), (N+1)·256^(L+1))`. The rightmost tiles of a tree are partial (width < 256).

use super::hash::Hash;
use super::tree::{HashStore, NodeId, TreeError};

/// Hashes in a full tile, entries in a full bundle.
pub const TILE_WIDTH: u64 = 256;
/// Merkle levels spanned by one tile level.
pub const TILE_HEIGHT: u8 = 8;
/// The highest tile level that can exist below 2^64 leaves (tile level 7 holds Merkle level 56).
pub const MAX_TILE_LEVEL: u8 = 7;
/// Longest entry an entry bundle can carry (its length prefix is 16 bits).
pub const MAX_BUNDLE_ENTRY_BYTES: usize = u16::MAX as usize;
/// Longest tile path accepted from a URL.
pub const MAX_TILE_PATH_BYTES: usize = 64;

/// A tile of Merkle hashes, or with `level` None an entry bundle. `width` is 1..=256; below 256 the
/// tile is partial.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Tile {
    /// None for an entry bundle (`tile/entries/...`).
    pub level: Option<u8>,
    pub index: u64,
    pub width: u16,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TilePathError {
    #[error(
        "a tile path is tile/<level>/<index>[.p/<width>] or tile/entries/<index>[.p/<width>]; {0}"
    )]
    Shape(String),
    #[error("tile level {0:?} is not a decimal 0 to {MAX_TILE_LEVEL} without leading zeros (higher levels cannot exist below 2^64 leaves)")]
    Level(String),
    #[error("tile index element {0:?} is not three digits, with an 'x' before every element but the last and no leading x000")]
    IndexElement(String),
    #[error("tile index is beyond any tree of fewer than 2^64 leaves")]
    IndexTooLarge,
    #[error("partial tile width {0:?} is not a decimal 1 to 255 without leading zeros")]
    Width(String),
    #[error("the tile path is longer than {MAX_TILE_PATH_BYTES} bytes")]
    TooLong,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BundleError {
    #[error("entry {index} is {len} bytes, more than the {MAX_BUNDLE_ENTRY_BYTES} an entry bundle's 16-bit length allows")]
    EntryTooLong { index: usize, len: usize },
    #[error("an entry bundle holds at most {TILE_WIDTH} entries, not {0}")]
    TooManyEntries(usize),
    #[error("the entry bundle ends inside entry {index}: it was truncated")]
    Truncated { index: usize },
    #[error("the entry bundle has {found} entries, the tile needs {expected}: fetch the bundle of the matching width")]
    WrongCount { expected: usize, found: usize },
}

/// `index` as zero-padded 3-digit path elements, all but the last starting with `x`.
fn encode_index(index: u64) -> String {
    let mut groups = vec![index % 1000];
    let mut rest = index / 1000;
    while rest > 0 {
        groups.push(rest % 1000);
        rest /= 1000;
    }
    let mut out = String::new();
    for (i, group) in groups.iter().rev().enumerate() {
        if i > 0 {
            out.push('/');
        }
        if i + 1 < groups.len() {
            out.push('x');
        }
        out.push_str(&format!("{group:03}"));
    }
    out
}

fn three_digits(text: &str) -> Option<u64> {
    (text.len() == 3 && text.bytes().all(|b| b.is_ascii_digit())).then(|| text.parse().ok())?
}

fn parse_small_decimal(text: &str, max: u64) -> Option<u64> {
    if text.is_empty()
        || text.len() > 3
        || !text.bytes().all(|b| b.is_ascii_digit())
        || (text.len() > 1 && text.starts_with('0'))
    {
        return None;
    }
    text.parse().ok().filter(|n| *n <= max)
}

impl Tile {
    /// The full tile (or bundle) `index` at `level`.
    pub fn full(level: Option<u8>, index: u64) -> Self {
        Self {
            level,
            index,
            width: TILE_WIDTH as u16,
        }
    }

    pub fn is_partial(&self) -> bool {
        u64::from(self.width) < TILE_WIDTH
    }

    /// The path below the log prefix, e.g. `tile/0/x001/x234/067.p/5` or `tile/entries/000`.
    pub fn path(&self) -> String {
        let level = match self.level {
            Some(level) => level.to_string(),
            None => "entries".to_owned(),
        };
        let mut out = format!("tile/{level}/{}", encode_index(self.index));
        if self.is_partial() {
            out.push_str(&format!(".p/{}", self.width));
        }
        out
    }

    /// Parses a path below the log prefix (`tile/...`), strictly: only the canonical form of each
    /// tile is accepted, so every tile has exactly one URL.
    pub fn parse_path(path: &str) -> Result<Self, TilePathError> {
        if path.len() > MAX_TILE_PATH_BYTES {
            return Err(TilePathError::TooLong);
        }
        let rest = path
            .strip_prefix("tile/")
            .ok_or_else(|| TilePathError::Shape("it does not start with tile/".into()))?;
        let (level_text, rest) = rest
            .split_once('/')
            .ok_or_else(|| TilePathError::Shape("no index".into()))?;
        let level = if level_text == "entries" {
            None
        } else {
            let level = parse_small_decimal(level_text, u64::from(MAX_TILE_LEVEL))
                .ok_or_else(|| TilePathError::Level(level_text.into()))?;
            Some(level as u8)
        };
        let (index_text, width) = match rest.split_once(".p/") {
            Some((index_text, width_text)) => {
                let width = parse_small_decimal(width_text, TILE_WIDTH - 1)
                    .filter(|w| *w > 0)
                    .ok_or_else(|| TilePathError::Width(width_text.into()))?;
                (index_text, width as u16)
            }
            None => (rest, TILE_WIDTH as u16),
        };
        let elements: Vec<&str> = index_text.split('/').collect();
        let mut index: u64 = 0;
        for (i, element) in elements.iter().enumerate() {
            let last = i + 1 == elements.len();
            let digits = if last {
                Some(*element)
            } else {
                element.strip_prefix('x')
            };
            let group = digits
                .and_then(three_digits)
                .ok_or_else(|| TilePathError::IndexElement((*element).into()))?;
            if i == 0 && !last && group == 0 {
                return Err(TilePathError::IndexElement((*element).into()));
            }
            index = index
                .checked_mul(1000)
                .and_then(|n| n.checked_add(group))
                .ok_or(TilePathError::IndexTooLarge)?;
        }
        let tile = Self {
            level,
            index,
            width,
        };
        tile.start_leaf().ok_or(TilePathError::IndexTooLarge)?;
        Ok(tile)
    }

    /// Leaves per hash in this tile (1 for level 0 and for bundles).
    fn leaves_per_hash_log2(&self) -> u32 {
        u32::from(self.level.unwrap_or(0)) * u32::from(TILE_HEIGHT)
    }

    /// The first leaf this tile covers, None if beyond 2^64.
    pub fn start_leaf(&self) -> Option<u64> {
        let per_tile_log2 = self.leaves_per_hash_log2() + 8;
        if per_tile_log2 >= 64 {
            return (self.index == 0).then_some(0);
        }
        self.index.checked_mul(1u64 << per_tile_log2)
    }

    /// The Merkle nodes whose hashes this tile holds, in order.
    pub fn nodes(&self) -> Vec<NodeId> {
        let level = self.leaves_per_hash_log2() as u8;
        (0..u64::from(self.width))
            .map(|i| {
                NodeId::new(
                    level,
                    self.index.saturating_mul(TILE_WIDTH).saturating_add(i),
                )
            })
            .collect()
    }

    /// The tile (or bundle) `index` at `level` as it exists in a tree of `tree_size` leaves: full,
    /// partial, or None when the tree has no such tile.
    pub fn at_size(level: Option<u8>, index: u64, tree_size: u64) -> Option<Self> {
        let per_hash_log2 = u32::from(level.unwrap_or(0)) * u32::from(TILE_HEIGHT);
        if per_hash_log2 >= 64 {
            return None;
        }
        let hashes = tree_size >> per_hash_log2;
        let full_tiles = hashes / TILE_WIDTH;
        if index < full_tiles {
            return Some(Self::full(level, index));
        }
        let width = hashes % TILE_WIDTH;
        (index == full_tiles && width > 0).then_some(Self {
            level,
            index,
            width: width as u16,
        })
    }

    /// Every tile of Merkle hashes a tree of `tree_size` leaves has at its right edge (the ones that
    /// change as it grows): one per level, partial or full.
    pub fn right_edge(tree_size: u64) -> Vec<Self> {
        (0..=MAX_TILE_LEVEL)
            .filter_map(|level| {
                let hashes = tree_size >> (u32::from(level) * 8);
                if hashes == 0 {
                    return None;
                }
                Self::at_size(Some(level), (hashes - 1) / TILE_WIDTH, tree_size)
            })
            .collect()
    }
}

/// The bytes of a Merkle tile: its hashes concatenated. The caller checks with [`Tile::at_size`]
/// that the tile exists at the served tree size.
pub fn tile_bytes<S: HashStore>(store: &S, tile: &Tile) -> Result<Vec<u8>, TreeError<S::Error>> {
    let nodes = tile.nodes();
    let hashes = store.hashes(&nodes).map_err(TreeError::Store)?;
    if hashes.len() != nodes.len() {
        return Err(TreeError::StoreAnswer {
            asked: nodes.len(),
            got: hashes.len(),
        });
    }
    Ok(hashes.concat())
}

/// Splits tile bytes into hashes; None if the length is not a multiple of 32 or above 256 hashes.
pub fn tile_hashes(bytes: &[u8]) -> Option<Vec<Hash>> {
    if !bytes.len().is_multiple_of(32) || bytes.len() / 32 > TILE_WIDTH as usize {
        return None;
    }
    Some(
        bytes
            .chunks_exact(32)
            .map(|c| c.try_into().expect("32-byte chunk"))
            .collect(),
    )
}

/// Encodes an entry bundle: each entry as a big-endian u16 length and its bytes.
pub fn encode_bundle<E: AsRef<[u8]>>(entries: &[E]) -> Result<Vec<u8>, BundleError> {
    if entries.len() > TILE_WIDTH as usize {
        return Err(BundleError::TooManyEntries(entries.len()));
    }
    let mut out = Vec::with_capacity(entries.iter().map(|e| e.as_ref().len() + 2).sum());
    for (index, entry) in entries.iter().enumerate() {
        let entry = entry.as_ref();
        let len = u16::try_from(entry.len()).map_err(|_| BundleError::EntryTooLong {
            index,
            len: entry.len(),
        })?;
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(entry);
    }
    Ok(out)
}

/// Decodes an entry bundle; with `expected` set, the count must match (the tile's width).
pub fn decode_bundle(bytes: &[u8], expected: Option<usize>) -> Result<Vec<&[u8]>, BundleError> {
    let mut entries = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        let index = entries.len();
        if index == TILE_WIDTH as usize {
            return Err(BundleError::TooManyEntries(index + 1));
        }
        let [hi, lo, tail @ ..] = rest else {
            return Err(BundleError::Truncated { index });
        };
        let len = usize::from(u16::from_be_bytes([*hi, *lo]));
        if tail.len() < len {
            return Err(BundleError::Truncated { index });
        }
        entries.push(&tail[..len]);
        rest = &tail[len..];
    }
    if let Some(expected) = expected {
        if entries.len() != expected {
            return Err(BundleError::WrongCount {
                expected,
                found: entries.len(),
            });
        }
    }
    Ok(entries)
}
