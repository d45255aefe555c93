//! Trust policies and tlog-proof@v1 bundles, end to end: a log built here, a checkpoint signed by the
//! log and cosigned by witnesses, a proof bundle, and a policy file that trusts them.

use rand::{rngs::StdRng, SeedableRng};
use verifier::policy::{PolicyError, TrustPolicy};
use verifier::tlog::{
    checkpoint::CheckpointVerifyError,
    entry::{EntryKind, LogEntry},
    keys::{KeyKind, NoteSigner},
    note::Note,
    proof::ProofVerifyError,
    proof_bundle::{ProofBundle, ProofBundleError},
    Checkpoint, MemoryTree,
};

const ORIGIN: &str = "mpr.example/log";
const FPR_A: &str = "0123456789ABCDEF0123456789ABCDEF01234567";
const FPR_B: &str = "89ABCDEF0123456789ABCDEF0123456789ABCDEF";
const FPR_V6: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

struct Log {
    key: NoteSigner,
    witnesses: Vec<NoteSigner>,
    tree: MemoryTree,
    entries: Vec<Vec<u8>>,
}

fn log() -> Log {
    let mut rng = StdRng::seed_from_u64(11);
    let mut signer = |name: &str, kind| {
        NoteSigner::from_secret_key_text(
            &NoteSigner::generate(name, kind, &mut rng)
                .unwrap()
                .secret_key,
        )
        .unwrap()
    };
    let key = signer(ORIGIN, KeyKind::Ed25519);
    let witnesses = (0..3)
        .map(|i| signer(&format!("witness{i}.example"), KeyKind::CosignatureV1))
        .collect();
    let mut tree = MemoryTree::new();
    let mut entries = Vec::new();
    for i in 0..1000u32 {
        let kind = EntryKind::ALL[i as usize % 4];
        let mut digest = [0u8; 32];
        digest[..4].copy_from_slice(&i.to_be_bytes());
        let entry = LogEntry::new(kind, digest);
        tree.push(entry.leaf_hash());
        entries.push(entry.encode());
    }
    Log {
        key,
        witnesses,
        tree,
        entries,
    }
}

impl Log {
    /// The signed checkpoint at the current size, cosigned by the first `cosigners` witnesses.
    fn checkpoint(&self, cosigners: usize) -> Note {
        let text = Checkpoint::new(ORIGIN, self.tree.size(), self.tree.root()).format();
        let mut note = Note::new(&text).unwrap();
        note.add_signature(self.key.sign(&text).unwrap()).unwrap();
        for w in &self.witnesses[..cosigners] {
            note.add_signature(w.cosign(&text, 1_780_000_000).unwrap())
                .unwrap();
        }
        note
    }

    fn bundle(&self, index: u64, cosigners: usize) -> ProofBundle {
        ProofBundle {
            extra: Some(b"mpr".to_vec()),
            index,
            proof: self.tree.inclusion_proof(index, self.tree.size()).unwrap(),
            checkpoint: self.checkpoint(cosigners),
        }
    }

    fn policy(&self, witness_threshold: usize) -> String {
        let witnesses: Vec<String> = self
            .witnesses
            .iter()
            .map(|w| format!("{:?}", w.verifier().vkey()))
            .collect();
        format!(
            r#"
[release]
keys = ["{FPR_A}", "89ab cdef 0123 4567 89ab  cdef 0123 4567 89ab cdef", "{FPR_V6}"]
threshold = 2

[rebuilders]
keys = ["{FPR_A}"]
threshold = 0

[log]
origin = "{ORIGIN}"
key = "{}"

[witnesses]
keys = [{}]
threshold = {witness_threshold}
"#,
            self.key.verifier().vkey(),
            witnesses.join(", ")
        )
    }
}

#[test]
fn a_policy_verifies_a_witnessed_proof_bundle() {
    let log = log();
    let policy = TrustPolicy::parse(&log.policy(2)).unwrap();
    assert_eq!(
        policy.release.keys,
        vec![FPR_A.to_string(), FPR_B.to_string(), FPR_V6.to_string()]
    );
    for index in [0, 1, 511, 998, 999] {
        let bundle = log.bundle(index, 2);
        let text = bundle.format();
        assert_eq!(ProofBundle::parse(&text).unwrap(), bundle);
        let verified = policy
            .verify_proof_bundle(&text, &log.entries[index as usize])
            .unwrap();
        assert_eq!(verified.index, index);
        assert_eq!(verified.checkpoint.checkpoint.size, 1000);
        assert_eq!(verified.checkpoint.witnesses.len(), 2);
    }
    let text = log.bundle(7, 2).format();
    let err = policy
        .verify_proof_bundle(&text, &log.entries[8])
        .unwrap_err();
    assert!(
        matches!(
            err,
            PolicyError::ProofBundle(ProofBundleError::Inclusion {
                index: 7,
                size: 1000,
                source: ProofVerifyError::RootMismatch
            })
        ),
        "{err}"
    );
    // One witness short.
    let err = policy
        .verify_proof_bundle(&log.bundle(7, 1).format(), &log.entries[7])
        .unwrap_err();
    assert!(
        matches!(
            err,
            PolicyError::ProofBundle(ProofBundleError::Checkpoint(
                CheckpointVerifyError::NotEnoughWitnesses {
                    needed: 2,
                    found: 1,
                    ..
                }
            ))
        ),
        "{err}"
    );
    assert!(
        err.to_string()
            .contains("1 of the 2 required witness cosignatures"),
        "{err}"
    );
    policy
        .verify_checkpoint(&log.checkpoint(3).format())
        .unwrap();
    assert!(policy
        .verify_checkpoint(&log.checkpoint(0).format())
        .is_err());
    // A bundle without the extra line, and one whose index lies about the entry.
    let mut bundle = log.bundle(3, 3);
    bundle.extra = None;
    policy
        .verify_proof_bundle(&bundle.format(), &log.entries[3])
        .unwrap();
    bundle.index = 4;
    assert!(policy
        .verify_proof_bundle(&bundle.format(), &log.entries[3])
        .is_err());
}

#[test]
fn malformed_bundles() {
    let log = log();
    let good = log.bundle(5, 1).format();
    let bad_cases = [
        (
            good.replace("c2sp.org/tlog-proof@v1", "c2sp.org/tlog-proof@v2"),
            "Header",
        ),
        (good.replace("index 5", "index 05"), "Index"),
        (good.replace("index 5", "index -5"), "Index"),
        (good.replace("extra bXBy", "extra bXB"), "Extra"),
        // Without the blank line the checkpoint's origin reads as a proof hash.
        (good.replacen("\n\n", "\n", 1), "ProofHash"),
        (
            "c2sp.org/tlog-proof@v1\nindex 0\n".to_string(),
            "NoCheckpoint",
        ),
        (
            good.replace("index 5\n", "index 5\nnot-base64\n"),
            "ProofHash",
        ),
        (
            good.replace(
                "index 5\n",
                &format!(
                    "index 5\n{}",
                    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n".repeat(65)
                ),
            ),
            "TooManyHashes",
        ),
        (good.trim_end().to_string(), "CheckpointNote"),
        ("x".repeat(2 << 20), "TooLarge"),
    ];
    for (text, expected) in bad_cases {
        let err = ProofBundle::parse(&text).unwrap_err();
        assert!(
            format!("{err:?}").starts_with(expected),
            "{expected}: {err:?}"
        );
    }
}

#[test]
fn signer_thresholds_count_distinct_policy_keys() {
    let log = log();
    let policy = TrustPolicy::parse(&log.policy(1)).unwrap();
    let matched = policy
        .check_release_signers(&[
            FPR_A.to_lowercase(),
            "0123 4567 89AB CDEF 0123 4567 89AB CDEF 0123 4567".into(),
            FPR_V6.into(),
        ])
        .unwrap();
    assert_eq!(matched, vec![FPR_A.to_string(), FPR_V6.to_string()]);
    let err = policy
        .check_release_signers(&[
            FPR_A.into(),
            FPR_A.into(),
            "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF".into(),
        ])
        .unwrap_err();
    assert!(
        matches!(
            err,
            PolicyError::NotEnoughSigners {
                role: "release",
                needed: 2,
                found: 1,
                ..
            }
        ),
        "{err}"
    );
    assert!(
        err.to_string().contains(&format!("matched: {FPR_A}")),
        "{err}"
    );
    assert_eq!(policy.check_rebuilders(&[]).unwrap(), Vec::<String>::new());
    assert_eq!(
        policy.check_rebuilders(&[FPR_A.into()]).unwrap(),
        vec![FPR_A.to_string()]
    );
}

#[test]
fn policy_validation() {
    let log = log();
    let good = log.policy(2);
    TrustPolicy::parse(&good).unwrap();
    let log_vkey = log.key.verifier().vkey();
    let witness_vkey = log.witnesses[0].verifier().vkey();
    let cases: Vec<(String, &str)> = vec![
        (
            good.replace(
                "threshold = 2\n\n[rebuilders]",
                "threshold = 4\n\n[rebuilders]",
            ),
            "Threshold",
        ),
        (
            good.replace(
                "threshold = 2\n\n[rebuilders]",
                "threshold = 0\n\n[rebuilders]",
            ),
            "Threshold",
        ),
        (good.replace("threshold = 0", "threshold = 2"), "Threshold"),
        (log.policy(4), "Threshold"),
        (log.policy(0), "Threshold"),
        (good.replace(FPR_V6, FPR_A), "DuplicateKey"),
        (good.replace(FPR_V6, "ABC"), "BadFingerprint"),
        (good.replace(FPR_V6, &"G".repeat(40)), "BadFingerprint"),
        (
            good.replace("[log]", "[log]\nurl = \"https://example.invalid\""),
            "Syntax",
        ),
        (
            good.replace("[release]", "[release]\nthreshhold = 1"),
            "Syntax",
        ),
        (good.replace("[release]", "[signers]"), "Syntax"),
        (format!("{good}\n[extra]\n"), "Syntax"),
        (
            good.replace(
                &format!("origin = \"{ORIGIN}\""),
                "origin = \"mpr.example/other\"",
            ),
            "LogKeyName",
        ),
        (
            good.replace(&format!("origin = \"{ORIGIN}\""), "origin = \"\""),
            "Origin",
        ),
        (
            good.replace(&log_vkey, &log_vkey[..log_vkey.len() - 2]),
            "LogKey",
        ),
        (
            good.replace(
                &format!("key = \"{log_vkey}\""),
                &format!("key = \"{witness_vkey}\""),
            ),
            "LogKeyKind",
        ),
        (good.replace(&witness_vkey, &log_vkey), "WitnessIsLog"),
        (
            good.replace(&log.witnesses[1].verifier().vkey(), &witness_vkey),
            "DuplicateKey",
        ),
        (good.replace(&witness_vkey, "not a key"), "WitnessKey"),
        (format!("{good}{}", " ".repeat(70_000)), "TooLarge"),
    ];
    for (text, expected) in cases {
        let err = TrustPolicy::parse(&text).unwrap_err();
        assert!(
            format!("{err:?}").starts_with(expected),
            "{expected}: {err:?}"
        );
    }
    // The witness section is optional; without it the log's signature suffices.
    let start = good.find("[witnesses]").unwrap();
    let unwitnessed = TrustPolicy::parse(&good[..start]).unwrap();
    unwitnessed
        .verify_checkpoint(&log.checkpoint(0).format())
        .unwrap();
    // So is the rebuilders section (threshold 0).
    let start = good.find("[rebuilders]").unwrap();
    let end = good.find("[log]").unwrap();
    let no_rebuilders = format!("{}{}", &good[..start], &good[end..]);
    assert_eq!(
        TrustPolicy::parse(&no_rebuilders)
            .unwrap()
            .rebuilders
            .threshold,
        0
    );
    let err = TrustPolicy::parse(&good.replace(
        "threshold = 2\n\n[rebuilders]",
        "threshold = 9\n\n[rebuilders]",
    ))
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "[release] threshold 9 is impossible with 3 keys: use 1 to 3"
    );
}
