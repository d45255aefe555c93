//! `mpr manifest verify --policy TRUST.toml [--proof BUNDLE]`: k of n release keys must have
//! signed, and an offline tlog-proof@v1 bundle must show the statement in the policy's log,
//! cosigned by its witnesses. The log is built here with the verifier crate's own types.

mod signing_support;

use std::path::{Path, PathBuf};

use rand::{rngs::StdRng, SeedableRng};
use sha2::Digest;
use signing_support::*;
use verifier::tlog::{
    Checkpoint, EntryKind, KeyKind, LogEntry, MemoryTree, Note, NoteSigner, ProofBundle,
};

const ORIGIN: &str = "mpr.example/log";

struct Log {
    key: NoteSigner,
    witness: NoteSigner,
    tree: MemoryTree,
}

impl Log {
    /// A log of five entries whose third is `statement` as a release.
    fn with(statement: &[u8]) -> Log {
        let mut rng = StdRng::seed_from_u64(7);
        let mut signer = |name: &str, kind| {
            let generated = NoteSigner::generate(name, kind, &mut rng).unwrap();
            NoteSigner::from_secret_key_text(&generated.secret_key).unwrap()
        };
        let key = signer(ORIGIN, KeyKind::Ed25519);
        let witness = signer("witness.example", KeyKind::CosignatureV1);
        let mut tree = MemoryTree::new();
        for i in 0..5u8 {
            let digest: [u8; 32] = if i == 2 {
                sha2::Sha256::digest(statement).into()
            } else {
                [i; 32]
            };
            tree.push(LogEntry::new(EntryKind::Release, digest).leaf_hash());
        }
        Log { key, witness, tree }
    }

    fn bundle(&self, index: u64, cosigned: bool) -> String {
        let text = Checkpoint::new(ORIGIN, self.tree.size(), self.tree.root()).format();
        let mut note = Note::new(&text).unwrap();
        note.add_signature(self.key.sign(&text).unwrap()).unwrap();
        if cosigned {
            note.add_signature(self.witness.cosign(&text, 1_780_000_000).unwrap())
                .unwrap();
        }
        ProofBundle {
            extra: None,
            index,
            proof: self.tree.inclusion_proof(index, self.tree.size()).unwrap(),
            checkpoint: note,
        }
        .format()
    }

    fn policy(&self, release_keys: &[&str], threshold: usize) -> String {
        format!(
            "[release]\nkeys = {release_keys:?}\nthreshold = {threshold}\n\n\
             [log]\norigin = \"{ORIGIN}\"\nkey = \"{}\"\n\n\
             [witnesses]\nkeys = [\"{}\"]\nthreshold = 1\n",
            self.key.verifier().vkey(),
            self.witness.verifier().vkey()
        )
    }
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn sign(key: &Path, statement: &Path, out: &Path, pass: &Path) {
    ok(&mpr(
        &[
            "manifest",
            "sign",
            "--key",
            path_str(key),
            "--passphrase-file",
            path_str(pass),
            "--statement",
            path_str(statement),
            "--out",
            path_str(out),
        ],
        &[],
    ));
}

fn verify(
    statement: &Path,
    signatures: &[&Path],
    keyring: &Path,
    extra: &[&str],
) -> std::process::Output {
    let mut args = vec![
        "manifest",
        "verify",
        "--statement",
        path_str(statement),
        "--signature",
    ];
    args.extend(signatures.iter().map(|p| path_str(p)));
    args.extend(["--keyring", path_str(keyring)]);
    args.extend(extra);
    mpr(&args, &[])
}

#[test]
fn k_of_n_release_keys_and_an_offline_log_proof() {
    let dir = tempfile::tempdir().unwrap();
    let (key_a, fpr_a) = generate_key(dir.path(), "a.key");
    let (key_b, fpr_b) = generate_key(dir.path(), "b.key");
    let pass = passphrase_file(dir.path());
    let public_a = std::fs::read(export_key(&key_a, dir.path())).unwrap();
    let public_b = std::fs::read(export_key(&key_b, dir.path())).unwrap();
    let keyring = write(dir.path(), "keyring.asc", &[public_a, public_b].concat());
    let statement = write(dir.path(), "statement.json", STATEMENT);
    let sig_a = dir.path().join("a.asc");
    let sig_b = dir.path().join("b.asc");
    sign(&key_a, &statement, &sig_a, &pass);
    sign(&key_b, &statement, &sig_b, &pass);

    let log = Log::with(STATEMENT);
    let policy = write(
        dir.path(),
        "trust.toml",
        log.policy(&[&fpr_a, &fpr_b], 2).as_bytes(),
    );
    let p = path_str(&policy);

    // One of the two required release keys.
    let stderr = failed(&verify(&statement, &[&sig_a], &keyring, &["--policy", p]));
    assert!(
        stderr.contains("1 of the 2 required release signatures"),
        "{stderr}"
    );
    assert!(stderr.contains(&fpr_a), "{stderr}");

    // Both, and the statement in the log under a witnessed checkpoint.
    let proof = write(dir.path(), "proof.txt", log.bundle(2, true).as_bytes());
    let out = verify(
        &statement,
        &[&sig_a, &sig_b],
        &keyring,
        &["--policy", p, "--proof", path_str(&proof)],
    );
    let stdout = ok(&out);
    assert!(
        stdout.contains("2 of the required 2 release keys signed"),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("log {ORIGIN}: the statement is entry 2 of 5")),
        "{stdout}"
    );
    assert!(stdout.contains("witness.example"), "{stdout}");
    let json = mpr(
        &[
            "--json",
            "manifest",
            "verify",
            "--statement",
            path_str(&statement),
            "--signature",
            path_str(&sig_a),
            path_str(&sig_b),
            "--keyring",
            path_str(&keyring),
            "--policy",
            p,
            "--proof",
            path_str(&proof),
        ],
        &[],
    );
    let report: serde_json::Value = serde_json::from_str(&ok(&json)).unwrap();
    assert_eq!(report["valid"], true);
    assert_eq!(report["policy"]["log"]["index"], 2);
    assert_eq!(
        report["policy"]["matched_keys"].as_array().unwrap().len(),
        2
    );

    // The proof of another entry, a checkpoint without the witness, a changed statement.
    let wrong_index = write(dir.path(), "wrong.txt", log.bundle(3, true).as_bytes());
    let unwitnessed = write(dir.path(), "bare.txt", log.bundle(2, false).as_bytes());
    for (bundle, why) in [
        (&wrong_index, "not at index 3"),
        (&unwitnessed, "0 of the 1 required witness"),
    ] {
        let stderr = failed(&verify(
            &statement,
            &[&sig_a, &sig_b],
            &keyring,
            &["--policy", p, "--proof", path_str(bundle)],
        ));
        assert!(stderr.contains(path_str(bundle)), "{why}: {stderr}");
        assert!(stderr.contains(why), "{why}: {stderr}");
    }
    // A status statement is another log entry than the release with the same bytes.
    let stderr = failed(&verify(
        &statement,
        &[&sig_a, &sig_b],
        &keyring,
        &[
            "--policy",
            p,
            "--proof",
            path_str(&proof),
            "--kind",
            "status",
        ],
    ));
    assert!(
        stderr.contains("kind status") || stderr.contains("status statement"),
        "{stderr}"
    );

    // A policy that does not parse is named.
    let bad = write(
        dir.path(),
        "bad.toml",
        b"[release]\nkeys = [\"nope\"]\nthreshold = 1\n",
    );
    let stderr = failed(&verify(
        &statement,
        &[&sig_a],
        &keyring,
        &["--policy", path_str(&bad)],
    ));
    assert!(stderr.contains("bad.toml"), "{stderr}");
}
