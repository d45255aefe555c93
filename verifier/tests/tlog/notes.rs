//! Signed notes, keys, checkpoints and cosignatures against the real notes in the fixtures
//! (sum.golang.org, Rekor v2 staging with three witnesses, the C2SP and x/mod examples).

use rand::{rngs::StdRng, SeedableRng};
use verifier::tlog::{
    checkpoint::{
        Checkpoint, CheckpointError, CheckpointSignError, CheckpointVerifyError, TrustedLog,
    },
    keys::{key_id, KeyError, KeyKind, NoteSigner, NoteVerifier},
    leaf_hash,
    note::{Note, NoteError, MAX_NOTE_BYTES, MAX_SIGNATURES},
    verify_inclusion,
};

use super::{bytes, hash, hashes, read_json, read_text};

/// golang.org/x/mod sumdb/note/note_test.go (BSD-3-Clause): the test secret key whose public half is
/// the PeterNeumann vkey of signed-note-x-mod-example.txt.
const PETER_NEUMANN_SKEY: &str =
    "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";

fn verifiers(vkeys: &serde_json::Value) -> Vec<NoteVerifier> {
    vkeys
        .as_array()
        .unwrap()
        .iter()
        .map(|v| NoteVerifier::from_vkey(v.as_str().unwrap()).unwrap())
        .collect()
}

#[test]
fn every_fixture_note_parses_verifies_and_round_trips() {
    let index = read_json("signed-notes.json");
    let mut notes = 0;
    for entry in index["notes"].as_array().unwrap() {
        let text = read_text(entry["file"].as_str().unwrap());
        let note = Note::parse(&text).unwrap();
        assert_eq!(note.text(), entry["signed_text"].as_str().unwrap());
        assert_eq!(note.format(), text, "{} does not round-trip", entry["file"]);
        let keys = verifiers(&entry["vkeys"]);
        for (key, vkey) in keys.iter().zip(entry["vkeys"].as_array().unwrap()) {
            assert_eq!(key.vkey(), vkey.as_str().unwrap());
        }
        let verified = note.verify(&keys).unwrap();
        let expected = entry["signatures"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| {
                s["result_with_listed_vkeys"]
                    .as_str()
                    .unwrap()
                    .starts_with("verified")
            })
            .count();
        assert_eq!(verified.len(), expected, "{}", entry["file"]);
        // Each key alone suffices and every other signature is ignored as unknown.
        for key in &keys {
            assert_eq!(note.verify(std::slice::from_ref(key)).unwrap().len(), 1);
        }
        notes += 1;
    }
    assert_eq!(notes, 6);
}

#[test]
fn altered_notes_are_rejected() {
    let text = read_text("checkpoint-example-cosigned.txt");
    let keys = verifiers(&serde_json::json!([
        "sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8"
    ]));
    let altered_text = text.replacen("6476701", "6476702", 1);
    assert!(matches!(
        Note::parse(&altered_text).unwrap().verify(&keys),
        Err(NoteError::BadSignature { .. })
    ));
    // One flipped bit inside the log's signature, past the key ID (the first 6 base64 characters).
    let line_start = text.find("— sum.golang.org ").unwrap() + "— sum.golang.org ".len();
    let mut altered = text.clone().into_bytes();
    altered[line_start + 20] = if altered[line_start + 20] == b'A' {
        b'B'
    } else {
        b'A'
    };
    let err = Note::parse(std::str::from_utf8(&altered).unwrap())
        .unwrap()
        .verify(&keys)
        .unwrap_err();
    assert!(
        matches!(err, NoteError::BadSignature { ref name, .. } if name == "sum.golang.org"),
        "{err}"
    );

    // A key with the right name and another ID, or the reverse, is unknown: the note has no trusted signature.
    let other = NoteSigner::new(
        "sum.golang.org",
        KeyKind::Ed25519,
        ed25519_dalek::SigningKey::from_bytes(&[7; 32]),
    )
    .unwrap();
    let err = Note::parse(&text)
        .unwrap()
        .verify(&[other.verifier()])
        .unwrap_err();
    assert!(matches!(err, NoteError::NoTrustedSignature { .. }));
    assert!(err.to_string().contains("sum.golang.org+033de0ae"), "{err}");
}

#[test]
fn malformed_notes_have_clear_errors() {
    let good = read_text("signed-note-c2sp-example.txt");
    assert_eq!(Note::parse(good.trim_end()), Err(NoteError::NoFinalNewline));
    assert_eq!(
        Note::parse("text\n— a AAAAAAA=\n"),
        Err(NoteError::NoSignatureBlock)
    );
    assert_eq!(Note::parse("text\n\n\n"), Err(NoteError::NoSignatures));
    assert!(matches!(
        Note::parse(&good.replace('\n', "\r\n")),
        Err(NoteError::ControlCharacter { code: 0x0d, .. })
    ));
    assert!(matches!(
        Note::parse("text\n\n- a AAAAAAA=\n"),
        Err(NoteError::BadSignatureLine { line: 1, .. })
    ));
    assert!(matches!(
        Note::parse("text\n\n— a+b AAAAAAA=\n"),
        Err(NoteError::BadSignatureName { .. })
    ));
    assert!(matches!(
        Note::parse("text\n\n— a AAAA\n"),
        Err(NoteError::BadSignatureEncoding { .. })
    ));
    assert!(matches!(
        Note::parse("text\n\n— a AAAAAAA\n"),
        Err(NoteError::BadSignatureEncoding { .. })
    ));
    assert!(matches!(
        Note::parse("text\n\n— a\n"),
        Err(NoteError::BadSignatureLine { .. })
    ));
    let huge = "a".repeat(MAX_NOTE_BYTES + 1);
    assert!(matches!(
        Note::parse(&huge),
        Err(NoteError::TooLarge { .. })
    ));
    let many = format!("text\n\n{}", "— a AAAAAAA=\n".repeat(MAX_SIGNATURES + 1));
    assert_eq!(Note::parse(&many), Err(NoteError::TooManySignatures));
    let enough = format!("text\n\n{}", "— a AAAAAAA=\n".repeat(MAX_SIGNATURES));
    assert_eq!(
        Note::parse(&enough).unwrap().signatures().len(),
        MAX_SIGNATURES
    );
    assert!(Note::new("no newline").is_err());
    assert!(Note::new("ends blank\n\n").is_err());
}

#[test]
fn key_texts() {
    let signer = NoteSigner::from_secret_key_text(PETER_NEUMANN_SKEY).unwrap();
    assert_eq!(
        signer.verifier().vkey(),
        "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
    );
    assert_eq!(signer.secret_key_text(), PETER_NEUMANN_SKEY);
    assert!(
        !format!("{signer:?}").contains("AYEK"),
        "Debug must not print the secret key"
    );
    // Ed25519 is deterministic: signing the fixture text reproduces the published signature line.
    let text = read_text("signed-note-x-mod-example.txt");
    let note = Note::parse(&text).unwrap();
    let line = signer.sign(note.text()).unwrap().line();
    assert_eq!(
        line,
        text.lines()
            .find(|l| l.contains("PeterNeumann"))
            .unwrap()
            .to_owned()
            + "\n"
    );

    let vkey = "sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8";
    let key = NoteVerifier::from_vkey(vkey).unwrap();
    assert_eq!(key.key_id(), 0x033de0ae);
    assert_eq!(
        key_id("sum.golang.org", 0x01, key.public_key().as_bytes()),
        0x033de0ae
    );
    assert_eq!(
        NoteVerifier::from_vkey(&vkey.replace("033de0ae", "033de0af")),
        Err(KeyError::KeyIdMismatch {
            given: 0x033de0af,
            computed: 0x033de0ae
        })
    );
    assert!(matches!(
        NoteVerifier::from_vkey("sum.golang.org+033de0ae"),
        Err(KeyError::VkeyShape(2))
    ));
    assert!(matches!(
        NoteVerifier::from_vkey(&vkey.replace("033de0ae", "33de0ae")),
        Err(KeyError::BadKeyIdText(_))
    ));
    assert!(matches!(
        NoteVerifier::from_vkey(&vkey.replace("+Ac4", "+Bc4")),
        Err(KeyError::UnsupportedType(0x05))
    ));
    assert!(matches!(
        NoteVerifier::from_vkey(&vkey.replace("+Ac4", "+Cc4")),
        Err(KeyError::UnsupportedType(0x09))
    ));
    assert!(matches!(
        NoteVerifier::from_vkey(&vkey.replace("n8", "n")),
        Err(KeyError::BadBase64(_))
    ));
    assert!(matches!(
        NoteVerifier::from_vkey(&format!("bad name{}", &vkey[14..])),
        Err(KeyError::BadName(_))
    ));
    assert!(matches!(
        NoteSigner::from_secret_key_text(vkey),
        Err(KeyError::SecretKeyShape)
    ));
    assert!(matches!(
        NoteSigner::from_secret_key_text(&PETER_NEUMANN_SKEY.replace("c74f20a3", "c74f20a4")),
        Err(KeyError::KeyIdMismatch { .. })
    ));

    let mut rng = StdRng::seed_from_u64(1);
    for kind in [KeyKind::Ed25519, KeyKind::CosignatureV1] {
        let generated = NoteSigner::generate("mpr.example/log", kind, &mut rng).unwrap();
        let signer = NoteSigner::from_secret_key_text(&generated.secret_key).unwrap();
        let verifier = NoteVerifier::from_vkey(&generated.verifier_key).unwrap();
        assert_eq!(signer.verifier(), verifier);
        assert_eq!(verifier.kind(), kind);
        assert!(!format!("{generated:?}").contains("PRIVATE"));
    }
    assert!(NoteSigner::generate("has space", KeyKind::Ed25519, &mut rng).is_err());
}

fn witnessed_log() -> TrustedLog {
    TrustedLog {
        origin: "log2025-alpha3.rekor.sigstage.dev".into(),
        log_key: NoteVerifier::from_vkey("log2025-alpha3.rekor.sigstage.dev+d3d3a70c+AZQ93VXPMmj9uZj7U/7CefQ9yy8RgYFv6mKzOseipjqp").unwrap(),
        witnesses: [
            "witness.navigli.sunlight.geomys.org+a3e00fe2+BNy/co4C1Hn1p+INwJrfUlgz7W55dSZReusH/GhUhJ/G",
            "witness.stagemole.eu+67f7aea0+BEqSG3yu9YrmcM3BHvQYTxwFj3uSWakQepafafpUqklv",
            "staging.witness.transparency.goog/ring-any-bells+2e1a8dc9+BG5JTpLc3FJtwzgh1Uv+Qelz9qeOH2bfWjS1s0s+y4rL",
        ]
        .iter()
        .map(|v| NoteVerifier::from_vkey(v).unwrap())
        .collect(),
        witness_threshold: 3,
    }
}

/// The real witnessed Rekor v2 checkpoint: log signature, three type 0x04 cosignatures, and the
/// real inclusion proof of an entry in that exact tree.
#[test]
fn witnessed_rekor_checkpoint_and_inclusion() {
    let log = witnessed_log();
    let text = read_text("checkpoint-rekor-v2-staging-witnessed.txt");
    let verified = log.verify_checkpoint(&text).unwrap();
    assert_eq!(verified.checkpoint.size, 4026479);
    assert_eq!(verified.witnesses.len(), 3);
    assert!(verified
        .witnesses
        .iter()
        .all(|w| w.timestamp == Some(1778700214)));

    let vectors = read_json("rfc6962-vectors.json");
    let entry = &vectors["real_world_inclusion"][1];
    assert_eq!(Some(verified.checkpoint.root), hash(&entry["root"]));
    let leaf = leaf_hash(&bytes(&entry["leaf_data"]));
    verify_inclusion(
        entry["leaf_index"].as_u64().unwrap(),
        verified.checkpoint.size,
        &leaf,
        &hashes(&entry["path"]).unwrap(),
        &verified.checkpoint.root,
    )
    .unwrap();

    let mut strict = log.clone();
    strict.witness_threshold = 4;
    let err = strict.verify_checkpoint(&text).unwrap_err();
    assert!(
        matches!(
            err,
            CheckpointVerifyError::NotEnoughWitnesses {
                needed: 4,
                found: 3,
                ..
            }
        ),
        "{err}"
    );
    // The same public key listed twice under two names counts once.
    let mut doubled = log.clone();
    doubled.witnesses.truncate(1);
    doubled.witnesses.push(doubled.witnesses[0].clone());
    doubled.witness_threshold = 2;
    assert!(matches!(
        doubled.verify_checkpoint(&text),
        Err(CheckpointVerifyError::NotEnoughWitnesses { found: 1, .. })
    ));
    let mut other_origin = log.clone();
    other_origin.origin = "mpr.dev/log".into();
    assert!(matches!(
        other_origin.verify_checkpoint(&text),
        Err(CheckpointVerifyError::WrongOrigin { .. })
    ));
    // Without the log's own signature no witness count helps.
    let unsigned_by_log: String = text
        .lines()
        .filter(|l| !l.starts_with("— log2025"))
        .map(|l| format!("{l}\n"))
        .collect();
    assert!(matches!(
        log.verify_checkpoint(&unsigned_by_log),
        Err(CheckpointVerifyError::LogSignature { .. })
    ));
    // A tampered cosignature of a trusted witness rejects the checkpoint.
    let tampered = text.replace("— witness.stagemole.eu Z/eu", "— witness.stagemole.eu Z/eU");
    assert!(log.verify_checkpoint(&tampered).is_err());
}

#[test]
fn sign_and_cosign_a_checkpoint() {
    let mut rng = StdRng::seed_from_u64(2);
    let log_key = NoteSigner::from_secret_key_text(
        &NoteSigner::generate("mpr.example/log", KeyKind::Ed25519, &mut rng)
            .unwrap()
            .secret_key,
    )
    .unwrap();
    let witnesses: Vec<NoteSigner> = (0..3)
        .map(|i| {
            NoteSigner::from_secret_key_text(
                &NoteSigner::generate(&format!("w{i}.example"), KeyKind::CosignatureV1, &mut rng)
                    .unwrap()
                    .secret_key,
            )
            .unwrap()
        })
        .collect();
    let mut checkpoint = Checkpoint::new("mpr.example/log", 42, [9; 32]);
    checkpoint.extensions.push("extension line".into());
    let text = checkpoint.format();
    assert_eq!(Checkpoint::parse(&text).unwrap(), checkpoint);
    let mut note = Note::new(&text).unwrap();
    note.add_signature(log_key.sign(&text).unwrap()).unwrap();
    for (i, w) in witnesses.iter().enumerate() {
        note.add_signature(w.cosign(&text, 1_700_000_000 + i as u64).unwrap())
            .unwrap();
    }
    assert!(log_key.cosign(&text, 1).is_err());
    assert!(witnesses[0].sign(&text).is_err());
    assert!(witnesses[0].cosign(&text, u64::MAX).is_err());
    let trusted = TrustedLog {
        origin: "mpr.example/log".into(),
        log_key: log_key.verifier(),
        witnesses: witnesses.iter().map(NoteSigner::verifier).collect(),
        witness_threshold: 2,
    };
    let verified = trusted.verify_checkpoint(&note.format()).unwrap();
    assert_eq!(verified.checkpoint, checkpoint);
    assert_eq!(
        verified
            .witnesses
            .iter()
            .map(|w| w.timestamp.unwrap())
            .collect::<Vec<_>>(),
        vec![1_700_000_000, 1_700_000_001, 1_700_000_002]
    );
    // A cosigner key cannot stand in for the log key.
    let mut wrong = trusted.clone();
    wrong.log_key = witnesses[0].verifier();
    assert!(matches!(
        wrong.verify_checkpoint(&note.format()),
        Err(CheckpointVerifyError::LogKeyKind { .. })
    ));

    // Checkpoint::sign gives the same note as signing by hand, and refuses what would not parse back.
    let mut signed = checkpoint.sign(&log_key).unwrap();
    assert_eq!(signed.signatures()[0], note.signatures()[0]);
    signed
        .add_signature(witnesses[0].cosign(signed.text(), 5).unwrap())
        .unwrap();
    trusted.verify_checkpoint(&signed.format()).unwrap_err();
    let mut one_witness = trusted.clone();
    one_witness.witness_threshold = 1;
    one_witness.verify_checkpoint(&signed.format()).unwrap();
    let mut empty_extension = Checkpoint::new("o", 1, [0; 32]);
    empty_extension.extensions.push(String::new());
    for bad in [
        Checkpoint::new("two\nlines", 1, [0; 32]),
        Checkpoint::new("", 1, [0; 32]),
        empty_extension,
    ] {
        assert!(
            matches!(bad.sign(&log_key), Err(CheckpointSignError::NotCanonical)),
            "{bad:?}"
        );
    }
    assert!(matches!(
        checkpoint.sign(&witnesses[0]),
        Err(CheckpointSignError::Key(_))
    ));
}

#[test]
fn checkpoint_text_is_strict() {
    let root = "mb8QLQIs0Z0yP5Cstq6guj87oXWeC9gEM8oVikmm9Wk=";
    assert_eq!(
        Checkpoint::parse(&format!("o\n0\n{root}\n")).unwrap().size,
        0
    );
    for (text, expected) in [
        (format!("o\n007\n{root}\n"), "BadSize"),
        (format!("o\n-1\n{root}\n"), "BadSize"),
        (format!("o\n+1\n{root}\n"), "BadSize"),
        (format!("o\n18446744073709551616\n{root}\n"), "BadSize"),
        (format!("o\n 1\n{root}\n"), "BadSize"),
        ("o\n1\nAAAA\n".to_string(), "BadRoot"),
        (format!("o\n1\n{}\n", root.trim_end_matches('=')), "BadRoot"),
        (
            format!("o\n1\n{}\n", root.replace("9Wk=", "9Wl=")),
            "BadRoot",
        ),
        (format!("\n1\n{root}\n"), "EmptyOrigin"),
        ("o\n1\n".to_string(), "TooFewLines"),
        (format!("o\n1\n{root}"), "NoFinalNewline"),
        (format!("o\n1\n{root}\next\n\n"), "Note"),
        (format!("o\n1\n{root}\n\next\n"), "EmptyExtension"),
        (format!("o\r\n1\n{root}\n"), "Note"),
    ] {
        let err = Checkpoint::parse(&text).unwrap_err();
        assert!(
            format!("{err:?}").starts_with(expected),
            "{text:?}: {err:?}"
        );
    }
    assert!(matches!(
        Checkpoint::parse(&format!("o\n1\n{root}\n{}", "x\n".repeat(65))),
        Err(CheckpointError::TooManyExtensions)
    ));
}
