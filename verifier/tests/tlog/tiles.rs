//! Tile paths, tile contents, entry bundles and the mpr log entry format.

use rand::{rngs::StdRng, Rng, SeedableRng};
use verifier::tlog::{
    entry::{EntryError, EntryKind, LogEntry},
    leaf_hash,
    tile::{
        decode_bundle, encode_bundle, tile_bytes, tile_hashes, BundleError, Tile, TilePathError,
    },
    Hash, MemoryTree, NodeId,
};

#[test]
fn tile_paths_follow_the_spec_examples() {
    assert_eq!(Tile::full(Some(0), 1234067).path(), "tile/0/x001/x234/067");
    assert_eq!(Tile::full(Some(1), 0).path(), "tile/1/000");
    assert_eq!(Tile::full(None, 1000).path(), "tile/entries/x001/000");
    assert_eq!(
        Tile {
            level: Some(2),
            index: 5,
            width: 17
        }
        .path(),
        "tile/2/005.p/17"
    );
    assert_eq!(
        Tile {
            level: None,
            index: 0,
            width: 1
        }
        .path(),
        "tile/entries/000.p/1"
    );
    assert_eq!(
        Tile::full(Some(0), u64::MAX >> 8).path(),
        "tile/0/x072/x057/x594/x037/x927/935"
    );

    let mut rng = StdRng::seed_from_u64(3);
    for _ in 0..2000 {
        let level = if rng.gen_bool(0.2) {
            None
        } else {
            Some(rng.gen_range(0..=7u8))
        };
        let max_index = match level {
            Some(7) => 0,
            Some(l) => u64::MAX >> (8 * (u32::from(l) + 1)),
            None => u64::MAX >> 8,
        };
        let index = rng.gen_range(0..=max_index) >> rng.gen_range(0..56);
        let width = if rng.gen_bool(0.5) {
            256
        } else {
            rng.gen_range(1..256)
        };
        let tile = Tile {
            level,
            index,
            width,
        };
        assert_eq!(Tile::parse_path(&tile.path()), Ok(tile), "{}", tile.path());
    }
}

#[test]
fn tile_paths_are_canonical() {
    use TilePathError::*;
    for (path, expected) in [
        ("tile/0/1", "IndexElement"),
        ("tile/0/0001", "IndexElement"),
        ("tile/0/x000/001", "IndexElement"),
        ("tile/0/001/002", "IndexElement"),
        ("tile/0/x001", "IndexElement"),
        ("tile/0/x001/x002/", "IndexElement"),
        ("tile/0/00a", "IndexElement"),
        ("tile/00/000", "Level"),
        ("tile/8/000", "Level"),
        ("tile/-1/000", "Level"),
        ("tile/0/000.p/0", "Width"),
        ("tile/0/000.p/256", "Width"),
        ("tile/0/000.p/01", "Width"),
        ("tile/0/000.p/", "Width"),
        ("tile/7/001", "IndexTooLarge"),
        ("tile/0/x999/x999/x999/x999/x999/x999/999", "IndexTooLarge"),
        ("tiles/0/000", "Shape"),
        ("tile/0", "Shape"),
        ("checkpoint", "Shape"),
    ] {
        let err = Tile::parse_path(path).unwrap_err();
        assert!(format!("{err:?}").starts_with(expected), "{path}: {err:?}");
    }
    assert_eq!(
        Tile::parse_path(&format!("tile/0/{}", "x001/".repeat(20))),
        Err(TooLong)
    );
    assert!(Level("9".into()).to_string().contains("0 to 7"));
}

/// The spec's example: a tree of 70,000 leaves has 273 full level-0 tiles, a partial one of width
/// 112, one full level-1 tile, a partial level-1 tile of width 17 and a partial level-2 tile of width 1.
#[test]
fn tiles_at_a_tree_size() {
    let size = 70_000;
    assert_eq!(
        Tile::at_size(Some(0), 272, size),
        Some(Tile::full(Some(0), 272))
    );
    assert_eq!(
        Tile::at_size(Some(0), 273, size),
        Some(Tile {
            level: Some(0),
            index: 273,
            width: 112
        })
    );
    assert_eq!(Tile::at_size(Some(0), 274, size), None);
    assert_eq!(
        Tile::at_size(Some(1), 0, size),
        Some(Tile::full(Some(1), 0))
    );
    assert_eq!(
        Tile::at_size(Some(1), 1, size),
        Some(Tile {
            level: Some(1),
            index: 1,
            width: 17
        })
    );
    assert_eq!(
        Tile::at_size(Some(2), 0, size),
        Some(Tile {
            level: Some(2),
            index: 0,
            width: 1
        })
    );
    assert_eq!(Tile::at_size(Some(3), 0, size), None);
    assert_eq!(
        Tile::at_size(None, 273, size),
        Some(Tile {
            level: None,
            index: 273,
            width: 112
        })
    );
    assert_eq!(
        Tile::right_edge(size),
        vec![
            Tile {
                level: Some(0),
                index: 273,
                width: 112
            },
            Tile {
                level: Some(1),
                index: 1,
                width: 17
            },
            Tile {
                level: Some(2),
                index: 0,
                width: 1
            },
        ]
    );
    assert_eq!(
        Tile::right_edge(256),
        vec![
            Tile::full(Some(0), 0),
            Tile {
                level: Some(1),
                index: 0,
                width: 1
            }
        ]
    );
    assert_eq!(Tile::right_edge(0), vec![]);
}

/// Tile contents: level 0 holds leaf hashes, level 1 holds the roots of full level-0 tiles.
#[test]
fn tile_contents_from_a_memory_tree() {
    let leaves: Vec<Hash> = (0u32..70_000)
        .map(|i| leaf_hash(&i.to_be_bytes()))
        .collect();
    let tree = MemoryTree::from_leaf_hashes(leaves.iter().copied());
    let tile = Tile::at_size(Some(0), 273, tree.size()).unwrap();
    let bytes = tile_bytes(&tree, &tile).unwrap();
    assert_eq!(bytes.len(), 112 * 32);
    assert_eq!(tile_hashes(&bytes).unwrap(), leaves[273 * 256..].to_vec());
    let level1 =
        tile_hashes(&tile_bytes(&tree, &Tile::at_size(Some(1), 1, tree.size()).unwrap()).unwrap())
            .unwrap();
    assert_eq!(level1.len(), 17);
    for (i, hash) in level1.iter().enumerate() {
        let tile_root = verifier::tlog::MemoryTree::from_leaf_hashes(
            leaves[(256 + i) * 256..(257 + i) * 256].iter().copied(),
        )
        .root();
        assert_eq!(*hash, tile_root);
        assert_eq!(Some(*hash), tree.get(NodeId::new(8, 256 + i as u64)));
    }
    // A tile beyond the tree is a store error, not a panic.
    assert!(tile_bytes(&tree, &Tile::full(Some(0), 274)).is_err());
    assert_eq!(tile_hashes(&[0; 33]), None);
    assert_eq!(tile_hashes(&vec![0; 257 * 32]), None);
}

#[test]
fn entry_bundles() {
    let entries: Vec<Vec<u8>> = (0..256).map(|i| vec![i as u8; i * 3]).collect();
    let bytes = encode_bundle(&entries).unwrap();
    assert_eq!(&bytes[..2], &[0, 0]);
    let decoded = decode_bundle(&bytes, Some(256)).unwrap();
    assert_eq!(
        decoded.iter().map(|e| e.to_vec()).collect::<Vec<_>>(),
        entries
    );
    assert_eq!(
        decode_bundle(&bytes, Some(255)),
        Err(BundleError::WrongCount {
            expected: 255,
            found: 256
        })
    );
    assert_eq!(
        decode_bundle(&bytes[..bytes.len() - 1], None),
        Err(BundleError::Truncated { index: 255 })
    );
    assert_eq!(
        decode_bundle(&[0], None),
        Err(BundleError::Truncated { index: 0 })
    );
    let mut too_many = bytes.clone();
    too_many.extend_from_slice(&[0, 0]);
    assert_eq!(
        decode_bundle(&too_many, None),
        Err(BundleError::TooManyEntries(257))
    );
    assert_eq!(
        encode_bundle(&vec![vec![0u8]; 257]),
        Err(BundleError::TooManyEntries(257))
    );
    assert_eq!(
        encode_bundle(&[vec![0u8; 65_536]]),
        Err(BundleError::EntryTooLong {
            index: 0,
            len: 65_536
        })
    );
    assert_eq!(
        decode_bundle(&encode_bundle(&[vec![1u8; 65_535]]).unwrap(), Some(1)).unwrap()[0].len(),
        65_535
    );
    assert_eq!(decode_bundle(&[], Some(0)).unwrap().len(), 0);
}

#[test]
fn log_entries() {
    let digest = [0xab; 32];
    for kind in EntryKind::ALL {
        let entry = LogEntry::new(kind, digest);
        let bytes = entry.encode();
        assert_eq!(
            String::from_utf8(bytes.clone()).unwrap(),
            format!(
                "mpr.dev/log-entry/v1\nkind {kind}\nstatement sha256:{}\n",
                "ab".repeat(32)
            )
        );
        assert_eq!(LogEntry::parse(&bytes), Ok(entry));
        assert_eq!(entry.leaf_hash(), leaf_hash(&bytes));
    }
    let good = LogEntry::new(EntryKind::Rebuild, digest).encode();
    let good = String::from_utf8(good).unwrap();
    for (bad, expected) in [
        (good.replace("v1", "v2"), "Header"),
        (good.replace("rebuild", "Rebuild"), "Kind"),
        (good.replace("kind ", "kind  "), "Kind"),
        (good.replacen("ab", "AB", 1), "Statement"),
        (good.replacen("ab", "a", 1), "Statement"),
        (good.replace("sha256:", "sha512:"), "Statement"),
        (good.trim_end().to_string(), "Lines"),
        (format!("{good}extra\n"), "Lines"),
        (good.replace('\n', "\r\n"), "Header"),
        (format!("{good}{}", "x".repeat(100)), "TooLong"),
    ] {
        let err = LogEntry::parse(bad.as_bytes()).unwrap_err();
        assert!(format!("{err:?}").starts_with(expected), "{bad:?}: {err:?}");
    }
    assert_eq!(LogEntry::parse(&[0xff, 0xfe]), Err(EntryError::Header));
}

/// Tiles served from a MemoryTree, as a client would receive them.
struct ServedTiles<'a> {
    tree: &'a MemoryTree,
    calls: std::cell::Cell<usize>,
}

impl verifier::tlog::TileSource for ServedTiles<'_> {
    type Error = verifier::tlog::TreeError<verifier::tlog::memory::MissingNode>;
    fn tiles(&self, tiles: &[Tile]) -> Result<Vec<Vec<Hash>>, Self::Error> {
        self.calls.set(self.calls.get() + 1);
        tiles
            .iter()
            .map(|t| Ok(tile_hashes(&tile_bytes(self.tree, t)?).unwrap()))
            .collect()
    }
}

/// Roots and proofs computed from tiles equal those of the MemoryTree, at full and partial sizes,
/// with one tile request per proof.
#[test]
fn proofs_from_tiles() {
    use verifier::tlog::{consistency_proof, inclusion_proof, root, TiledStore, TiledStoreError};
    let tree = MemoryTree::from_leaf_hashes((0u32..70_001).map(|i| leaf_hash(&i.to_le_bytes())));
    let served = ServedTiles {
        tree: &tree,
        calls: std::cell::Cell::new(0),
    };
    let mut rng = StdRng::seed_from_u64(5);
    for size in [
        1u64, 2, 255, 256, 257, 511, 65_535, 65_536, 65_537, 70_000, 70_001,
    ] {
        let store = TiledStore::new(&served, size);
        assert_eq!(
            root(&store, size).unwrap(),
            tree.root_at(size).unwrap(),
            "root at {size}"
        );
        for _ in 0..20 {
            let index = rng.gen_range(0..size);
            let before = served.calls.get();
            assert_eq!(
                inclusion_proof(&store, index, size).unwrap(),
                tree.inclusion_proof(index, size).unwrap()
            );
            assert_eq!(served.calls.get(), before + 1);
            let old = rng.gen_range(1..=size);
            assert_eq!(
                consistency_proof(&store, old, size).unwrap(),
                tree.consistency_proof(old, size).unwrap()
            );
        }
    }
    let store = TiledStore::new(&served, 300);
    assert!(matches!(
        verifier::tlog::HashStore::hash(&store, NodeId::new(0, 300)),
        Err(TiledStoreError::OutsideTree { .. })
    ));
    assert!(matches!(
        verifier::tlog::HashStore::hash(&store, NodeId::new(9, 0)),
        Err(TiledStoreError::OutsideTree { .. })
    ));
    assert!(matches!(
        verifier::tlog::HashStore::hash(&store, NodeId::new(3, u64::MAX)),
        Err(TiledStoreError::OutsideTree { .. })
    ));

    struct Truncating;
    impl verifier::tlog::TileSource for Truncating {
        type Error = std::io::Error;
        fn tiles(&self, tiles: &[Tile]) -> Result<Vec<Vec<Hash>>, std::io::Error> {
            Ok(tiles
                .iter()
                .map(|t| vec![[0; 32]; usize::from(t.width) - 1])
                .collect())
        }
    }
    let err = root(&TiledStore::new(Truncating, 300), 300).unwrap_err();
    assert!(
        err.to_string()
            .contains("tile/1/000.p/1 came with 0 hashes instead of 1"),
        "{err}"
    );
}
