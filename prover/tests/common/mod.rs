//! TEST-ONLY PARAMETER SOURCE, shared by the tests and the benchmark (never part of a release build).
//!
//! The official *prover* keys of the built-in circuits cannot be downloaded here, so
//! [`test_params_dir`] regenerates the zswap output prover key from the official circuit and
//! parameters in ../shared/fixtures/midnight (keygen is deterministic: its SHA-256 equals the digest
//! built into the Midnight crates, which the server checks on every read) and places it, with links to
//! the fixtures, in a parameter directory. The server reads it through the same `--params-dir` path
//! as production.
#![allow(dead_code)] // each test binary uses a different subset

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
