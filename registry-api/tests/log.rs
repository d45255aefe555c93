//! The transparency log end to end on a real PostgreSQL: appends inside transactions, the
//! integrator, the served checkpoint, proofs, tiles and entry bundles checked against an independent
//! RFC 6962 computation and the verifier's own checks, witness cosignatures, and a restart in the
//! middle of appends.

mod log_support;
mod support;

use std::collections::HashSet;
use std::time::Duration;

use base64::Engine as _;
use log_support::{append_batch, entry, key, naive_root, stored_leaf_hashes, trusted, LogRegistry};
use rand::{Rng, SeedableRng};
use registry_api::log;
use verifier::tlog::{self as tlog, Checkpoint, KeyKind, Note, ProofBundle};

fn b64(text: &str) -> [u8; 32] {
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .expect("base64")
        .try_into()
        .expect("32 bytes")
}

fn hashes(value: &serde_json::Value) -> Vec<[u8; 32]> {
    value
        .as_array()
        .expect("a list of hashes")
        .iter()
        .map(|hash| b64(hash.as_str().expect("a base64 string")))
        .collect()
}

/// The served checkpoint, its log signature verified, parsed.
async fn served_checkpoint(registry: &LogRegistry) -> (String, Checkpoint) {
    let note = registry
        .get("/log/checkpoint")
        .await
        .text()
        .await
        .expect("checkpoint text");
    let verified = trusted(&registry.vkey, &[], 0)
        .verify_checkpoint(&note)
        .expect("the log's signature verifies");
    (note, verified.checkpoint)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn appends_get_contiguous_indexes_across_concurrent_and_rolled_back_transactions() {
    let url = log_support::fresh_database().await;
    let pool = registry_api::db::lazy_pool(&url, &Default::default()).expect("pool");
    let mut writers = Vec::new();
    for writer in 0..6u64 {
        let pool = pool.clone();
        writers.push(tokio::spawn(async move {
            let mut kept = Vec::new();
            for round in 0..20u64 {
                let seed = writer * 1000 + round * 10;
                let mut transaction = pool.begin().await.expect("begin");
                let first = if round % 2 == 0 {
                    log::append(&mut transaction, &entry(seed))
                        .await
                        .expect("append")
                } else {
                    let batch: Vec<_> = (seed..seed + 3).map(entry).collect();
                    log::append_many(&mut transaction, &batch)
                        .await
                        .expect("append_many")
                };
                // Every third round changes its mind: its indexes go to the next appender.
                if round % 3 == 2 {
                    transaction.rollback().await.expect("rollback");
                } else {
                    transaction.commit().await.expect("commit");
                    kept.push(first);
                }
            }
            kept
        }));
    }
    let mut firsts = HashSet::new();
    for writer in writers {
        for first in writer.await.expect("writer") {
            assert!(firsts.insert(first), "index {first} handed out twice");
        }
    }
    // 6 writers × (rounds kept: 14 of 20; 7 single + 7 triple) = 6 × 28 entries.
    let leaves = stored_leaf_hashes(&pool).await;
    assert_eq!(leaves.len(), 6 * 28);
    let head: i64 = sqlx::query_scalar("SELECT size FROM log_head")
        .fetch_one(&pool)
        .await
        .expect("head");
    assert_eq!(head, 6 * 28);
    let entry_text: Vec<u8> = sqlx::query_scalar("SELECT entry FROM log_entries WHERE index = 0")
        .fetch_one(&pool)
        .await
        .expect("entry");
    assert!(
        entry_text.starts_with(b"mpr.dev/log-entry/v1\nkind "),
        "{entry_text:?}"
    );
    assert_eq!(leaves[0], tlog::leaf_hash(&entry_text));
}

#[tokio::test]
async fn log_rows_cannot_be_updated_deleted_or_truncated() {
    let url = log_support::fresh_database().await;
    let registry = LogRegistry::serve(&url, log_support::signer(), Vec::new()).await;
    append_batch(&registry.pool, 0, 3).await;
    registry.wait_for_size(3).await;
    for statement in [
        "UPDATE log_entries SET kind = 'status' WHERE index = 0",
        "DELETE FROM log_entries WHERE index = 2",
        "TRUNCATE log_entries CASCADE",
        "UPDATE log_checkpoints SET body = 'x'",
        "DELETE FROM log_checkpoints",
        "TRUNCATE log_checkpoints CASCADE",
        "UPDATE log_head SET size = 1",
        "DELETE FROM log_head",
    ] {
        let error = sqlx::query(statement)
            .execute(&registry.pool)
            .await
            .expect_err(statement);
        let message = error.to_string();
        assert!(
            message.contains("append-only") || message.contains("only grows"),
            "{statement}: {message}"
        );
    }
    assert_eq!(stored_leaf_hashes(&registry.pool).await.len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn served_checkpoints_and_proofs_match_an_independent_computation_and_verify() {
    let registry = LogRegistry::start(Vec::new()).await;
    // An empty log has a signed checkpoint too, so witnesses can start from nothing.
    registry.wait_for_size(0).await;
    let (_, empty) = served_checkpoint(&registry).await;
    assert_eq!(
        (empty.origin.as_str(), empty.size),
        (log_support::ORIGIN, 0)
    );

    let mut sizes = vec![0u64];
    let mut seed = 0;
    for batch in [1u64, 1, 5, 60, 190, 300, 43] {
        append_batch(&registry.pool, seed, batch).await;
        seed += batch;
        let size = registry.wait_for_size(seed).await;
        assert_eq!(size, seed);
        sizes.push(size);
    }
    let leaves = stored_leaf_hashes(&registry.pool).await;
    let (_, checkpoint) = served_checkpoint(&registry).await;
    assert_eq!(checkpoint.size, leaves.len() as u64);
    assert_eq!(checkpoint.root, naive_root(&leaves));

    let mut random = rand::rngs::StdRng::seed_from_u64(6962);
    for _ in 0..200 {
        let size = random.gen_range(1..=checkpoint.size);
        let index = random.gen_range(0..size);
        let (status, proof) = registry
            .get_json(&format!(
                "/v1/log/proof/inclusion?index={index}&size={size}"
            ))
            .await;
        assert_eq!(status, 200, "{proof}");
        let root = naive_root(&leaves[..size as usize]);
        assert_eq!(b64(proof["root"].as_str().unwrap()), root);
        assert_eq!(
            b64(proof["leaf_hash"].as_str().unwrap()),
            leaves[index as usize]
        );
        tlog::verify_inclusion(
            index,
            size,
            &leaves[index as usize],
            &hashes(&proof["proof"]),
            &root,
        )
        .unwrap_or_else(|error| panic!("inclusion {index} in {size}: {error}"));
    }
    // Consistency across every pair of checkpoints seen while appending, and random pairs.
    let mut pairs: Vec<(u64, u64)> = sizes
        .iter()
        .flat_map(|&a| sizes.iter().map(move |&b| (a, b)))
        .filter(|(a, b)| a <= b)
        .collect();
    pairs.extend((0..100).map(|_| {
        let to = random.gen_range(1..=checkpoint.size);
        (random.gen_range(1..=to), to)
    }));
    for (from, to) in pairs {
        let (status, proof) = registry
            .get_json(&format!("/v1/log/proof/consistency?from={from}&to={to}"))
            .await;
        assert_eq!(status, 200, "{proof}");
        let (old_root, new_root) = (
            naive_root(&leaves[..from as usize]),
            naive_root(&leaves[..to as usize]),
        );
        assert_eq!(b64(proof["to_root"].as_str().unwrap()), new_root);
        if from > 0 {
            tlog::verify_consistency(from, to, &old_root, &new_root, &hashes(&proof["proof"]))
                .unwrap_or_else(|error| panic!("consistency {from} → {to}: {error}"));
        }
    }
    // The default size is the checkpoint's.
    let (status, proof) = registry.get_json("/v1/log/proof/inclusion?index=0").await;
    assert_eq!(status, 200);
    assert_eq!(proof["size"], checkpoint.size);
}

/// Splits C2SP entry bundle bytes: each entry behind a big-endian u16 length.
fn bundle_entries(mut bytes: &[u8]) -> Vec<Vec<u8>> {
    let mut entries = Vec::new();
    while !bytes.is_empty() {
        let length = usize::from(u16::from_be_bytes([bytes[0], bytes[1]]));
        entries.push(bytes[2..2 + length].to_vec());
        bytes = &bytes[2 + length..];
    }
    entries
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tiles_and_entry_bundles_served_over_http_rebuild_the_checkpoint_root() {
    let registry = LogRegistry::start(Vec::new()).await;
    append_batch(&registry.pool, 0, 700).await;
    registry.wait_for_size(700).await;
    let (_, checkpoint) = served_checkpoint(&registry).await;

    // 700 leaves: level-0 tiles 000 and 001 full, 002 partial of 188; level 1: 000 of 2.
    let mut leaves = Vec::new();
    let mut entries = Vec::new();
    for (tile, width) in [("000", 256), ("001", 256), ("002.p/188", 188)] {
        let response = registry.get(&format!("/log/tile/0/{tile}")).await;
        assert_eq!(response.status(), 200, "tile 0/{tile}");
        let cache = response.headers()["cache-control"]
            .to_str()
            .unwrap()
            .to_owned();
        assert_eq!(cache.contains("immutable"), width == 256, "{tile}: {cache}");
        let bytes = response.bytes().await.unwrap();
        assert_eq!(bytes.len(), 32 * width, "tile 0/{tile}");
        leaves.extend(
            bytes
                .chunks(32)
                .map(|hash| <[u8; 32]>::try_from(hash).unwrap()),
        );

        let response = registry.get(&format!("/log/tile/entries/{tile}")).await;
        assert_eq!(response.status(), 200, "entries/{tile}");
        let bundle = bundle_entries(&response.bytes().await.unwrap());
        assert_eq!(bundle.len(), width);
        entries.extend(bundle);
    }
    assert_eq!(naive_root(&leaves), checkpoint.root);
    for (index, (leaf, data)) in leaves.iter().zip(&entries).enumerate() {
        assert_eq!(*leaf, tlog::leaf_hash(data), "entry {index}");
        let expected = entry(index as u64).encode();
        assert_eq!(data, &expected, "entry {index}");
    }
    let level_one = registry
        .get("/log/tile/1/000.p/2")
        .await
        .bytes()
        .await
        .unwrap();
    assert_eq!(level_one.len(), 64);
    assert_eq!(&level_one[..32], naive_root(&leaves[..256]));
    assert_eq!(&level_one[32..], naive_root(&leaves[256..512]));

    // Nothing beyond the checkpoint; nonsense paths are JSON 404s.
    for path in [
        "/log/tile/0/002",
        "/log/tile/0/003.p/1",
        "/log/tile/1/000",
        "/log/tile/entries/002.p/189",
        "/log/tile/0/x",
        "/log/tile/9/000",
    ] {
        let response = registry.get(path).await;
        assert_eq!(response.status(), 404, "{path}");
        let body: serde_json::Value = response.json().await.expect("JSON error");
        assert_eq!(body["error"]["code"], "not_found", "{path}");
    }
}

#[tokio::test]
async fn bad_query_values_are_json_400s_naming_the_parameter() {
    let registry = LogRegistry::start(Vec::new()).await;
    append_batch(&registry.pool, 0, 10).await;
    registry.wait_for_size(10).await;
    for (path, parameter) in [
        ("/v1/log/proof/inclusion", "index"),
        ("/v1/log/proof/inclusion?index=abc&size=5", "index"),
        ("/v1/log/proof/inclusion?index=1&size=-3", "size"),
        ("/v1/log/proof/inclusion?index=5&size=5", "index"),
        ("/v1/log/proof/inclusion?index=1&size=11", "size"),
        ("/v1/log/proof/consistency?to=3", "from"),
        ("/v1/log/proof/consistency?from=4&to=3", "from"),
        ("/v1/log/proof/consistency?from=1&to=99", "to"),
        ("/v1/log/entries", "statement"),
        ("/v1/log/entries?statement=sha256:XYZ", "statement"),
        ("/v1/log/bundle?index=ten", "index"),
    ] {
        let (status, body) = registry.get_json(path).await;
        assert_eq!(status, 400, "{path}: {body}");
        assert_eq!(body["error"]["code"], "invalid_input", "{path}");
        let message = body["error"]["message"].as_str().unwrap_or_default();
        assert!(
            message.contains(&format!("`{parameter}`")),
            "{path}: {message}"
        );
    }
}

#[tokio::test]
async fn statements_are_found_by_digest_and_bundles_verify_offline() {
    let registry = LogRegistry::start(Vec::new()).await;
    append_batch(&registry.pool, 0, 37).await;
    registry.wait_for_size(37).await;
    let wanted = entry(21);
    let digest = hex::encode(wanted.statement_sha256);
    let (status, found) = registry
        .get_json(&format!("/v1/log/entries?statement=sha256:{digest}"))
        .await;
    assert_eq!(status, 200, "{found}");
    assert_eq!(found["entries"][0]["index"], 21);
    assert_eq!(found["entries"][0]["kind"], wanted.kind.as_str());
    let (_, none) = registry
        .get_json(&format!(
            "/v1/log/entries?statement=sha256:{}",
            "0".repeat(64)
        ))
        .await;
    assert_eq!(none["entries"].as_array().map(Vec::len), Some(0));

    let response = registry.get("/v1/log/bundle?index=21").await;
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    assert!(text.starts_with("c2sp.org/tlog-proof@v1\n"), "{text}");
    let bundle = ProofBundle::parse(&text).expect("a tlog-proof@v1 bundle");
    let log = trusted(&registry.vkey, &[], 0);
    let verified = bundle
        .verify(&wanted.encode(), &log)
        .expect("the bundle verifies offline");
    assert_eq!(verified.checkpoint.checkpoint.size, 37);
    // The same bundle does not prove another entry.
    assert!(bundle.verify(&entry(22).encode(), &log).is_err());
    let (status, _) = registry.get_json("/v1/log/bundle?index=37").await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn witness_cosignatures_are_verified_stored_and_served() {
    let witness = key("witness.test", KeyKind::CosignatureV1);
    let stranger = key("stranger.test", KeyKind::CosignatureV1);
    let registry = LogRegistry::start(vec![witness.verifier()]).await;
    append_batch(&registry.pool, 0, 12).await;
    registry.wait_for_size(12).await;

    let (status, body) = registry.get_json("/v1/log/bundle?index=3").await;
    assert_eq!(status, 404, "no cosigned checkpoint yet: {body}");

    let (note, checkpoint) = served_checkpoint(&registry).await;
    let text = Note::parse(&note).unwrap().text().to_owned();
    let post = |body: serde_json::Value| {
        let request = registry
            .client
            .post(registry.url("/v1/log/cosignatures"))
            .json(&body);
        async move {
            let response = request.send().await.expect("POST");
            let status = response.status().as_u16();
            (
                status,
                response
                    .json::<serde_json::Value>()
                    .await
                    .unwrap_or_default(),
            )
        }
    };
    let (status, refused) = post(serde_json::json!({"size": 12, "cosignature": stranger.cosign(&text, 1_800_000_000).unwrap().line()})).await;
    assert_eq!(status, 422, "{refused}");
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .contains("unknown witness key stranger.test"),
        "{refused}"
    );
    let forged = witness
        .cosign(&text.replace("\n12\n", "\n13\n"), 1_800_000_000)
        .unwrap()
        .line();
    let (status, refused) = post(serde_json::json!({"size": 12, "cosignature": forged})).await;
    assert_eq!(status, 422, "{refused}");
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .contains("does not verify"),
        "{refused}"
    );
    let (status, refused) = post(
        serde_json::json!({"size": 99, "cosignature": witness.cosign(&text, 1).unwrap().line()}),
    )
    .await;
    assert_eq!(status, 404, "{refused}");
    let (status, refused) = post(serde_json::json!({"cosignature": "x"})).await;
    assert_eq!(status, 400, "{refused}");

    let line = witness.cosign(&text, 1_800_000_000).unwrap().line();
    let (status, accepted) = post(serde_json::json!({"size": 12, "cosignature": line})).await;
    assert_eq!(status, 201, "{accepted}");
    assert_eq!(accepted["witness"], "witness.test");

    // Served with the checkpoint once the integrator saw the notification.
    let begun = std::time::Instant::now();
    let served = loop {
        let served = registry.get("/log/checkpoint").await.text().await.unwrap();
        if served.len() > note.len() || begun.elapsed() > Duration::from_secs(10) {
            break served;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(served, format!("{note}{}\n", line.trim_end()));
    trusted(&registry.vkey, &[witness.verifier()], 1)
        .verify_checkpoint(&served)
        .expect("the served checkpoint carries a valid cosignature");

    let response = registry.get("/v1/log/bundle?index=3").await;
    assert_eq!(response.status(), 200);
    let bundle = ProofBundle::parse(&response.text().await.unwrap()).unwrap();
    let verified = bundle
        .verify(
            &entry(3).encode(),
            &trusted(&registry.vkey, &[witness.verifier()], 1),
        )
        .expect("the bundle verifies with one required witness");
    assert_eq!(verified.checkpoint.checkpoint.size, checkpoint.size);
}

/// Appends batches until the runtime running it is dropped.
async fn append_forever(pool: sqlx::PgPool) {
    let mut seed = 0;
    loop {
        let batch: Vec<_> = (seed..seed + 25).map(entry).collect();
        let mut transaction = pool.begin().await.expect("begin");
        log::append_many(&mut transaction, &batch)
            .await
            .expect("append");
        // Work after the append, inside the transaction, as a statement's other rows would be.
        tokio::time::sleep(Duration::from_millis(2)).await;
        transaction.commit().await.expect("commit");
        seed += 25;
    }
}

#[test]
fn a_restart_in_the_middle_of_appends_loses_nothing_and_serves_only_stored_entries() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let url = runtime.block_on(log_support::fresh_database());
    let signer_key = log_support::signer().secret_key_text();

    // First life: a server and an appender, both stopped dead mid-stream (the runtime is dropped
    // with transactions open, as a crash would leave them).
    let first = tokio::runtime::Runtime::new().expect("runtime");
    let served_before = first.block_on(async {
        let signer = verifier::tlog::NoteSigner::from_secret_key_text(&signer_key).unwrap();
        let registry = LogRegistry::serve(&url, signer, Vec::new()).await;
        tokio::spawn(append_forever(registry.pool.clone()));
        tokio::time::sleep(Duration::from_millis(1500)).await;
        registry.log.published().map(|published| published.size)
    });
    drop(first);
    let served_before = served_before.expect("a checkpoint was served before the crash");
    assert!(served_before > 0);

    runtime.block_on(async {
        let signer = verifier::tlog::NoteSigner::from_secret_key_text(&signer_key).unwrap();
        let registry = LogRegistry::serve(&url, signer, Vec::new()).await;
        let leaves = stored_leaf_hashes(&registry.pool).await;
        let stored = leaves.len() as u64;
        assert!(
            stored >= served_before,
            "{stored} entries stored, {served_before} served before"
        );
        assert_eq!(stored % 25, 0, "a half-committed batch: {stored} entries");
        assert_eq!(registry.wait_for_size(stored).await, stored);
        let (_, checkpoint) = served_checkpoint(&registry).await;
        assert_eq!(checkpoint.root, naive_root(&leaves));

        // Every checkpoint either life signed is a prefix of what is stored.
        let log = trusted(&registry.vkey, &[], 0);
        let notes: Vec<(i64, String)> =
            sqlx::query_as("SELECT size, body FROM log_checkpoints ORDER BY size")
                .fetch_all(&registry.pool)
                .await
                .unwrap();
        assert!(notes.len() >= 2, "{} checkpoints", notes.len());
        for (size, note) in notes {
            let parsed = log.verify_checkpoint(&note).unwrap().checkpoint;
            assert_eq!(parsed.size, size as u64);
            assert_eq!(
                parsed.root,
                naive_root(&leaves[..size as usize]),
                "checkpoint {size}"
            );
        }
        for index in [0, stored / 2, stored - 1] {
            let (status, proof) = registry
                .get_json(&format!(
                    "/v1/log/proof/inclusion?index={index}&size={stored}"
                ))
                .await;
            assert_eq!(status, 200);
            tlog::verify_inclusion(
                index,
                stored,
                &leaves[index as usize],
                &hashes(&proof["proof"]),
                &checkpoint.root,
            )
            .expect("inclusion after restart");
        }
        let (status, proof) = registry
            .get_json(&format!(
                "/v1/log/proof/consistency?from={served_before}&to={stored}"
            ))
            .await;
        assert_eq!(status, 200);
        tlog::verify_consistency(
            served_before,
            stored,
            &naive_root(&leaves[..served_before as usize]),
            &checkpoint.root,
            &hashes(&proof["proof"]),
        )
        .expect("what was served before the crash is a prefix of what is served after");
    });
}
