//! TEST-ONLY PARAMETER SOURCE, shared by the tests and the benchmark (never part of a release build).
//!
//! The official *prover* keys of the built-in circuits cannot be downloaded here, so
//! [`test_params_dir`] regenerates the zswap output prover key from the official circuit and
//! parameters in ../shared/fixtures/midnight (keygen is deterministic: its SHA-256 equals the digest
//! built into the Midnight crates, which the server checks on every read) and places it, with links to
//! the fixtures, in a parameter directory. The server reads it through the same `--params-dir` path
//! as production.
//!
//! [`running`] starts a server on a real socket for the HTTP tests.
#![allow(dead_code)] // each test binary uses a different subset

pub mod fake_tsm;
pub mod running;
pub mod service_double;
pub mod swtpm;

use std::path::{Path, PathBuf};

use midnight_serialize::{tagged_deserialize, tagged_serialize};
use midnight_transient_crypto::proofs::{ParamsProverProvider, Zkir};
use midnight_zkir::IrSource;
use sha2::{Digest, Sha256};

const FIXTURES: &str = "../../shared/fixtures/midnight";
/// The digest built into midnight-zswap 8.1.3 for zswap/9/output.prover.
const OUTPUT_PROVER_SHA256: &str =
    "d992b04f13c3fd432f55fb8bfe6466d87bc181f1a2acf233ec228030bbdd4ed8";

pub fn fixture(path: &str) -> PathBuf {
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

pub fn read(path: &str) -> Vec<u8> {
    std::fs::read(fixture(path)).unwrap()
}

/// A file of ../shared/fixtures (real evidence: `azure/…`, `tdx/…`).
pub fn shared_fixture(path: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/fixtures")
        .join(path);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn link(target: &Path, link: &Path) {
    std::fs::create_dir_all(link.parent().unwrap()).unwrap();
    std::os::unix::fs::symlink(target, link).unwrap();
}

/// The test-only parameter directory described at the top of this file.
pub fn test_params_dir(dir: &Path, with_output_prover_key: bool) {
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
    }
}

/// Reads the official SRS files directly (the keygen above needs no built-in key).
pub struct ParamsFromDir(pub PathBuf);

impl ParamsProverProvider for ParamsFromDir {
    async fn get_params(
        &self,
        k: u8,
    ) -> std::io::Result<midnight_transient_crypto::proofs::ParamsProver> {
        let file = std::fs::File::open(self.0.join(format!("bls_midnight_2p{k}")))?;
        midnight_transient_crypto::proofs::ParamsProver::read(std::io::BufReader::new(file))
    }
}

/// The benchmark's test circuit: `squarings` chained multiplications x, x², x⁴, … of one input, whose
/// size sets k (1000 squarings: k = 10; 16000: k = 14). Its keys are made here from the official
/// parameters and sent with the request as the client's own key material, so this also exercises
/// /prove's non-built-in path. Returns the tagged /prove body and the circuit's k.
pub fn square_chain_prove_request(params_dir: &Path, squarings: usize) -> (Vec<u8>, u8) {
    use midnight_ledger::structure::ProofPreimageVersioned;
    use midnight_transient_crypto::curve::Fr;
    use midnight_transient_crypto::proofs::{KeyLocation, ProofPreimage, ProvingKeyMaterial};

    let instructions: Vec<String> = (0..squarings)
        .map(|i| format!(r#"{{"op":"mul","a":{i},"b":{i}}}"#))
        .collect();
    let json = format!(
        r#"{{"version":{{"major":2,"minor":0}},"do_communications_commitment":false,"num_inputs":1,"instructions":[{}]}}"#,
        instructions.join(",")
    );
    let ir = IrSource::load(json.as_bytes()).expect("test circuit parses");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let (prover_key, verifier_key) = runtime
        .block_on(ir.keygen(&ParamsFromDir(params_dir.to_owned())))
        .expect("keygen");
    let tagged = |write: &dyn Fn(&mut Vec<u8>) -> std::io::Result<()>| {
        let mut bytes = Vec::new();
        write(&mut bytes).unwrap();
        bytes
    };
    let material = ProvingKeyMaterial {
        prover_key: tagged(&|out| tagged_serialize(&prover_key, out)),
        verifier_key: tagged(&|out| tagged_serialize(&verifier_key, out)),
        ir_source: tagged(&|out| tagged_serialize(&ir, out)),
    };
    let preimage = ProofPreimage {
        inputs: vec![Fr::from(3u64)],
        private_transcript: vec![],
        public_transcript_inputs: vec![],
        public_transcript_outputs: vec![],
        binding_input: Fr::from(0u64),
        communications_commitment: None,
        key_location: KeyLocation(std::borrow::Cow::Borrowed("test/square-chain")),
    };
    let body = (
        ProofPreimageVersioned::V2(std::sync::Arc::new(preimage)),
        Some(material),
        None::<Fr>,
    );
    let mut out = Vec::new();
    tagged_serialize(&body, &mut out).expect("request encodes");
    (out, ir.k())
}

/// A /prove-tx body: an unproven transaction with one zswap output made from `seed`, and no extra
/// keys (the built-in zswap output key proves it).
pub fn prove_tx_request(seed: u64) -> Vec<u8> {
    use midnight_ledger::structure::{ProofPreimageMarker, Transaction};
    use midnight_storage::db::InMemoryDB;
    use midnight_transient_crypto::commitment::PedersenRandomness;
    use midnight_transient_crypto::proofs::{KeyLocation, ProofPreimage, ProvingKeyMaterial};
    use rand::Rng;

    let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(seed);
    let keys = midnight_zswap::keys::SecretKeys::from_rng_seed(&mut rng);
    let coin = rng.gen();
    let output = midnight_zswap::Output::<ProofPreimage, InMemoryDB>::new(
        &mut rng,
        &coin,
        Some(0),
        &keys.coin_public_key(),
        None,
    )
    .unwrap();
    let offer = midnight_zswap::Offer::new(vec![], vec![output], vec![]).unwrap();
    let transaction: Transaction<
        midnight_base_crypto::signatures::Signature,
        ProofPreimageMarker,
        PedersenRandomness,
        InMemoryDB,
    > = Transaction::new(
        "mpr-test",
        midnight_storage::storage::HashMap::new(),
        Some(offer),
        midnight_storage::storage::HashMap::new(),
    );
    let mut body = Vec::new();
    let no_extra_keys = std::collections::HashMap::<KeyLocation, ProvingKeyMaterial>::new();
    tagged_serialize(&(transaction, no_extra_keys), &mut body).unwrap();
    body
}
