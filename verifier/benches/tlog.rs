//! The registry keeps its log in a MemoryTree: what appending a million leaves costs, and what one
//! proof costs at a million leaves (generation on the server, verification in the wallet).
//!
//! `cargo bench -p verifier --bench tlog`

use criterion::{black_box, criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use verifier::tlog::{leaf_hash, verify_consistency, verify_inclusion, Hash, MemoryTree};

const LEAVES: u64 = 1_000_000;

fn leaves() -> Vec<Hash> {
    (0..LEAVES).map(|i| leaf_hash(&i.to_be_bytes())).collect()
}

/// Indexes spread over the tree without a random generator (Knuth's multiplicative hash).
fn spread(i: u64, below: u64) -> u64 {
    i.wrapping_mul(2_654_435_761) % below
}

fn push(c: &mut Criterion) {
    let leaves = leaves();
    let mut group = c.benchmark_group("memory_tree");
    group.sample_size(10);
    group.throughput(Throughput::Elements(LEAVES));
    group.bench_function("push_1000000", |b| {
        b.iter_batched(
            || leaves.clone(),
            |leaves| {
                let mut tree = MemoryTree::new();
                for leaf in leaves {
                    tree.push(leaf);
                }
                tree
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

fn proofs(c: &mut Criterion) {
    let leaves = leaves();
    let tree = MemoryTree::from_leaf_hashes(leaves.iter().copied());
    let root = tree.root();
    let mut group = c.benchmark_group("proofs_at_1000000");
    let mut i = 0u64;
    group.bench_function("inclusion_proof", |b| {
        b.iter(|| {
            i += 1;
            tree.inclusion_proof(spread(i, LEAVES), LEAVES).unwrap()
        })
    });
    group.bench_function("consistency_proof", |b| {
        b.iter(|| {
            i += 1;
            tree.consistency_proof(1 + spread(i, LEAVES - 1), LEAVES)
                .unwrap()
        })
    });
    group.bench_function("root", |b| {
        b.iter(|| tree.root_at(black_box(LEAVES - 1)).unwrap())
    });

    let index = spread(12345, LEAVES);
    let path = tree.inclusion_proof(index, LEAVES).unwrap();
    group.bench_function("verify_inclusion", |b| {
        b.iter(|| {
            verify_inclusion(
                black_box(index),
                LEAVES,
                &leaves[index as usize],
                &path,
                &root,
            )
            .unwrap()
        })
    });
    let old = 765_432;
    let old_root = tree.root_at(old).unwrap();
    let proof = tree.consistency_proof(old, LEAVES).unwrap();
    group.bench_function("verify_consistency", |b| {
        b.iter(|| verify_consistency(black_box(old), LEAVES, &old_root, &root, &proof).unwrap())
    });
    group.finish();
}

criterion_group!(benches, push, proofs);
criterion_main!(benches);
