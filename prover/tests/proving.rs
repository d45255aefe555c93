//! /k, /check and /prove end to end over HTTP on the official Midnight data in ../shared/fixtures/midnight:
//! the official circuits (expected /k answers), the official KZG parameters for k <= 14 and request
//! bodies made with the official crates (expected /check answer). The proof is verified independently
//! with the official verifier key.
//!
//! TEST-ONLY PARAMETER SOURCE: the official *prover* keys of the built-in circuits cannot be downloaded
//! here, so [`test_params_dir`] regenerates the zswap output prover key from the official circuit and
//! parameters (keygen is deterministic: its SHA-256 equals the digest built into the Midnight crates,
//! which the server checks on every read) and places it, with links to the fixtures, in a temporary
//! parameter directory. The server reads it through the same `--params-dir` path as production.

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Parser;
use midnight_ledger::structure::{ProofPreimageVersioned, ProofVersioned};
use midnight_serialize::{tagged_deserialize, tagged_serialize};
use midnight_transient_crypto::proofs::{ParamsProverProvider, VerifierKey, Zkir, PARAMS_VERIFIER};
use midnight_zkir::IrSource;
use prover::attestation::DevicePaths;
use prover::config::Config;
use prover::listen::ListenAddr;
use prover::proving::{ParamsConfig, Prover, ProvingError, PublicParams};
use prover::startup::BoundServer;
use rand::rngs::OsRng;
use sha2::{Digest, Sha256};

const FIXTURES: &str = "../../shared/fixtures/midnight";
/// The digest built into midnight-zswap 8.1.3 for zswap/9/output.prover.
const OUTPUT_PROVER_SHA256: &str =
    "d992b04f13c3fd432f55fb8bfe6466d87bc181f1a2acf233ec228030bbdd4ed8";

fn fixture(path: &str) -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(FIXTURES)
        .join(path);
    assert!(
        path.exists(),
        "{} is missing: the shared fixtures must sit next to the repository",
        path.display()
    );
    path
}

fn read(path: &str) -> Vec<u8> {
    std::fs::read(fixture(path)).unwrap()
}

fn link(target: &Path, link: &Path) {
    std::fs::create_dir_all(link.parent().unwrap()).unwrap();
    std::os::unix::fs::symlink(target, link).unwrap();
}

/// The test-only parameter directory described at the top of this file.
fn test_params_dir(dir: &Path, with_output_prover_key: bool) {
    for k in 0..=14 {
        let name = format!("bls_midnight_2p{k}");
        link(&fixture(&format!("params/{name}")), &dir.join(name));
    }
    for (fixture_name, key) in [
        ("zswap-output", "zswap/9/output"),
        ("zswap-spend", "zswap/9/spend"),
        ("zswap-sign", "zswap/9/sign"),
        ("dust-spend", "dust/9/spend"),
    ] {
        for ext in ["bzkir", "verifier"] {
            link(
                &fixture(&format!("ledger-8.1.0/{fixture_name}.{ext}")),
                &dir.join(format!("{key}.{ext}")),
            );
        }
    }
    if with_output_prover_key {
        let params = PublicParams::new(&ParamsConfig {
            dir: Some(dir.to_owned()),
            fetch: false,
        })
        .unwrap();
        let ir: IrSource =
            tagged_deserialize(&read("ledger-8.1.0/zswap-output.bzkir")[..]).unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let srs = ParamsFromDir(dir.to_owned());
        let (prover_key, _) = runtime.block_on(ir.keygen(&srs)).unwrap();
        let mut bytes = Vec::new();
        tagged_serialize(&prover_key, &mut bytes).unwrap();
        assert_eq!(hex::encode(Sha256::digest(&bytes)), OUTPUT_PROVER_SHA256);
        std::fs::write(dir.join("zswap/9/output.prover"), bytes).unwrap();
        drop(params);
    }
}

/// Reads the official SRS files directly (the keygen above needs no built-in key).
struct ParamsFromDir(PathBuf);

impl ParamsProverProvider for ParamsFromDir {
    async fn get_params(
        &self,
        k: u8,
    ) -> std::io::Result<midnight_transient_crypto::proofs::ParamsProver> {
        let file = std::fs::File::open(self.0.join(format!("bls_midnight_2p{k}")))?;
        midnight_transient_crypto::proofs::ParamsProver::read(std::io::BufReader::new(file))
    }
}

#[test]
fn k_answers_the_official_circuits() {
    for (file, k) in [
        ("ledger-8.1.0/zswap-spend.bzkir", "15"),
        ("ledger-8.1.0/zswap-output.bzkir", "14"),
        ("ledger-8.1.0/zswap-sign.bzkir", "13"),
        ("ledger-8.1.0/dust-spend.bzkir", "13"),
        ("legacy/node-simple-merkle-tree-check.bzkir", "13"),
        ("legacy/node-simple-merkle-tree-store.bzkir", "13"),
    ] {
        assert_eq!(Prover::k(&read(file)).unwrap(), k, "{file}");
    }
    for not_a_circuit in [
        "ledger-8.1.0/zswap-output.verifier",
        "requests/check-zswap-output.resp",
    ] {
        let err = Prover::k(&read(not_a_circuit)).unwrap_err();
        assert!(
            matches!(err, ProvingError::BadInput(ref m) if m == "Unsupported ZKIR version"),
            "{err}"
        );
    }
    assert!(matches!(Prover::k(b""), Err(ProvingError::BadInput(_))));
    assert_eq!(Prover::proof_versions(), "[\"V2\"]");
}

#[test]
fn check_matches_the_official_answer_and_rejects_bad_bodies() {
    let dir = tempfile::tempdir().unwrap();
    test_params_dir(dir.path(), false);
    let prover = Prover::new(std::sync::Arc::new(
        PublicParams::new(&ParamsConfig {
            dir: Some(dir.path().to_owned()),
            fetch: false,
        })
        .unwrap(),
    ));
    let expected = read("requests/check-zswap-output.resp");
    assert_eq!(
        prover
            .check(&read("requests/check-zswap-output-with-ir.req"))
            .unwrap(),
        expected
    );
    let wrong = prover
        .check(&read("requests/check-zswap-output-wrong-ir.req"))
        .unwrap_err();
    assert!(matches!(wrong, ProvingError::BadInput(_)), "{wrong}");
    // Built-in key location without its prover key on disk: a clear error, not a panic.
    assert!(prover
        .check(&read("requests/check-zswap-output-builtin.req"))
        .is_err());
    let mut truncated = read("requests/check-zswap-output-with-ir.req");
    truncated.truncate(truncated.len() / 2);
    assert!(matches!(
        prover.check(&truncated),
        Err(ProvingError::BadInput(_))
    ));
    assert!(matches!(
        prover.check(b"midnight:wrong-tag:"),
        Err(ProvingError::BadInput(_))
    ));
    assert!(matches!(
        prover.prove(b"\x00\x01garbage"),
        Err(ProvingError::BadInput(_))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prove_over_http_gives_a_proof_the_official_verifier_key_accepts() {
    let dir = tempfile::tempdir().unwrap();
    let params_dir = dir.path().join("params");
    let setup_dir = params_dir.clone();
    tokio::task::spawn_blocking(move || test_params_dir(&setup_dir, true))
        .await
        .unwrap();
    let no_tee = DevicePaths {
        nsm: dir.path().join("nsm"),
        tsm_reports: dir.path().join("tsm"),
    };
    let config = Config::try_parse_from([
        "proof-server",
        "--listen",
        "tcp:127.0.0.1:0",
        "--no-fetch-params",
        "--params-dir",
        params_dir.to_str().unwrap(),
    ])
    .unwrap();
    let server = BoundServer::bind(&config, &no_tee).await.unwrap();
    let ListenAddr::Tcp(addr) = server.local_addrs()[0] else {
        panic!("tcp expected")
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(server.serve(async {
        let _ = stopped.await;
    }));
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()
        .unwrap();
    let url = |path: &str| format!("http://{addr}{path}");

    let k = client
        .post(url("/k"))
        .body(read("ledger-8.1.0/zswap-output.bzkir"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        (k.status().as_u16(), k.text().await.unwrap()),
        (200, "14".to_string())
    );
    let bad = client
        .post(url("/k"))
        .body("not a circuit")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);

    let check = client
        .post(url("/check"))
        .body(read("requests/check-zswap-output-builtin.req"))
        .send()
        .await
        .unwrap();
    assert_eq!(check.status(), 200);
    assert_eq!(
        check.bytes().await.unwrap().to_vec(),
        read("requests/check-zswap-output.resp")
    );

    let body = read("requests/prove-zswap-output-builtin.req");
    let response = client.post(url("/prove")).body(body).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let answer = response.bytes().await.unwrap();
    assert!(answer.starts_with(b"midnight:proof-versioned:"));
    let ProofVersioned::V2(proof) = tagged_deserialize::<ProofVersioned>(&answer[..]).unwrap()
    else {
        panic!("V2 proof expected")
    };

    // Independent check: the statement of this preimage, verified against the official verifier key.
    let preimage: ProofPreimageVersioned =
        tagged_deserialize(&read("requests/proof-preimage-zswap-output.bin")[..]).unwrap();
    let ProofPreimageVersioned::V2(preimage) = preimage else {
        panic!("V2 preimage expected")
    };
    let ir: IrSource = tagged_deserialize(&read("ledger-8.1.0/zswap-output.bzkir")[..]).unwrap();
    let prover_key =
        tagged_deserialize(&std::fs::read(params_dir.join("zswap/9/output.prover")).unwrap()[..])
            .unwrap();
    let srs = ParamsFromDir(params_dir.clone());
    let (_, statement, _) = tokio::task::spawn_blocking(move || {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(ir.prove(OsRng, &srs, prover_key, &preimage))
    })
    .await
    .unwrap()
    .unwrap();
    let verifier: VerifierKey =
        tagged_deserialize(&read("ledger-8.1.0/zswap-output.verifier")[..]).unwrap();
    verifier
        .verify(&PARAMS_VERIFIER, &proof, statement.iter().copied())
        .unwrap();
    let mut tampered = statement.clone();
    tampered[0] = tampered[0] + midnight_transient_crypto::curve::Fr::from(1u64);
    assert!(verifier
        .verify(&PARAMS_VERIFIER, &proof, tampered.into_iter())
        .is_err());

    let metrics = client
        .get(url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("proof_server_jobs_total{endpoint=\"prove\",outcome=\"ok\"} 1"),
        "{metrics}"
    );
    let _ = stop.send(());
    task.await.unwrap();
}
