//! `registry_api::openpgp` against real GnuPG: keys and signatures made by `gpg` in a
//! throw-away GNUPGHOME, and (when installed) Sequoia's `sqv` reading our re-serialised keys.

mod gpg;

use std::path::PathBuf;
use std::process::Command;

use chrono::Utc;
use gpg::{path_str, Gpg};
use registry_api::openpgp::{
    parse_public_key, parse_stored_key, verify_detached, ErrorKind, OpenPgpError, PublicKey,
    MAX_KEY_BYTES, MAX_SIGNATURE_BYTES,
};

const MANIFEST: &[u8] = b"{\"release\":\"1.2.3\",\"pcr0\":\"00ff\"}\n";

fn err<T: std::fmt::Debug>(result: Result<T, OpenPgpError>) -> OpenPgpError {
    match result {
        Ok(v) => panic!("expected an error, got {v:?}"),
        Err(e) => e,
    }
}

fn assert_recent(t: chrono::DateTime<Utc>) {
    let age = Utc::now() - t;
    assert!(
        age >= chrono::Duration::seconds(-60) && age <= chrono::Duration::minutes(10),
        "{t} is not close to now"
    );
}

#[test]
fn parses_armored_and_binary_exports() {
    let gpg = Gpg::new();
    let ed = gpg.gen_key("Release Signer <release@example.org>", "ed25519", "sign");
    let rsa = gpg.gen_key("RSA Signer <rsa@example.org>", "rsa3072", "sign");

    let key = parse_public_key(&gpg.export(&ed)).unwrap();
    assert_eq!(key.fingerprint, ed);
    assert_eq!(key.fingerprint.len(), 40);
    assert_eq!(key.user_ids, ["Release Signer <release@example.org>"]);
    assert_eq!(key.algorithm, "EdDSA");
    assert_recent(key.created_at);
    assert_eq!(key.expires_at, None);
    assert!(key
        .armored
        .starts_with("-----BEGIN PGP PUBLIC KEY BLOCK-----"));
    assert!(!key.armored.contains("PRIVATE"));
    // Binary and armored exports give the same key, and the stored form reads back as is.
    assert_eq!(parse_public_key(&gpg.export_binary(&ed)).unwrap(), key);
    assert_eq!(parse_public_key(key.armored.as_bytes()).unwrap(), key);
    assert_eq!(parse_stored_key(key.armored.as_bytes()).unwrap(), key);

    let key = parse_public_key(&gpg.export_binary(&rsa)).unwrap();
    assert_eq!(key.fingerprint, rsa);
    assert_eq!(key.user_ids, ["RSA Signer <rsa@example.org>"]);
    assert_eq!(key.algorithm, "RSA (3072 bits)");
    assert_eq!(parse_public_key(&gpg.export(&rsa)).unwrap(), key);

    // A key with an expiry reports it.
    gpg.run(&[
        "--quick-gen-key",
        "Expiring <exp@example.org>",
        "ed25519",
        "sign",
        "1y",
    ]);
    let exp = gpg.fingerprints("exp@example.org")[0].clone();
    let key = parse_public_key(&gpg.export(&exp)).unwrap();
    let days = (key.expires_at.unwrap() - key.created_at).num_days();
    assert!((364..=366).contains(&days), "expires after {days} days");
}

#[test]
fn verifies_good_signatures() {
    let gpg = Gpg::new();
    let ed = gpg.gen_key("Release Signer <release@example.org>", "ed25519", "sign");
    let rsa = gpg.gen_key("RSA Signer <rsa@example.org>", "rsa3072", "sign");
    let keys = [
        parse_public_key(&gpg.export(&ed)).unwrap(),
        parse_public_key(&gpg.export(&rsa)).unwrap(),
    ];

    let sig = gpg.sign(&ed, MANIFEST, true);
    assert!(sig.starts_with(b"-----BEGIN PGP SIGNATURE-----"));
    let ok = verify_detached(&keys, MANIFEST, &sig).unwrap();
    assert_eq!(ok.key_fingerprint, ed);
    assert_eq!(ok.signing_key_fingerprint, ed);
    assert_recent(ok.signed_at);

    let sig = gpg.sign(&rsa, MANIFEST, false);
    assert!(sig[0] & 0x80 != 0, "binary signature");
    let ok = verify_detached(&keys, MANIFEST, &sig).unwrap();
    assert_eq!(ok.key_fingerprint, rsa);
    assert_eq!(ok.signing_key_fingerprint, rsa);
    assert_recent(ok.signed_at);

    // Text-mode signatures (CRLF-canonicalised) verify too.
    let data = gpg.write("text", MANIFEST);
    let out = gpg.path("text.asc");
    gpg.run(&[
        "--armor",
        "--textmode",
        "--local-user",
        &ed,
        "--detach-sign",
        "--output",
        out.to_str().unwrap(),
        data.to_str().unwrap(),
    ]);
    let sig = std::fs::read(out).unwrap();
    assert_eq!(
        verify_detached(&keys, MANIFEST, &sig)
            .unwrap()
            .key_fingerprint,
        ed
    );
}

#[test]
fn refuses_changed_data_and_unknown_signers() {
    let gpg = Gpg::new();
    let ed = gpg.gen_key("Release Signer <release@example.org>", "ed25519", "sign");
    let rsa = gpg.gen_key("RSA Signer <rsa@example.org>", "rsa3072", "sign");
    let ed_key = parse_public_key(&gpg.export(&ed)).unwrap();
    let rsa_key = parse_public_key(&gpg.export(&rsa)).unwrap();
    let keys = [ed_key.clone(), rsa_key];

    for (signer, armor) in [(&ed, true), (&rsa, false)] {
        let sig = gpg.sign(signer, MANIFEST, armor);
        let mut changed = MANIFEST.to_vec();
        changed[3] ^= 1;
        let e = err(verify_detached(&keys, &changed, &sig));
        assert!(matches!(e, OpenPgpError::SignatureMismatch { .. }), "{e:?}");
        assert_eq!(e.kind(), ErrorKind::BadSignature);
        let msg = e.to_string();
        assert!(
            msg.contains(signer.as_str()) && msg.contains("does not match the data"),
            "{msg}"
        );
        // Appending a byte is a change too.
        let mut longer = MANIFEST.to_vec();
        longer.push(b'\n');
        let e = err(verify_detached(&keys, &longer, &sig));
        assert_eq!(e.kind(), ErrorKind::BadSignature, "{e}");
    }

    // Signed by the RSA key, only the Ed25519 key registered.
    let sig = gpg.sign(&rsa, MANIFEST, true);
    for keys in [&[ed_key][..], &[][..]] {
        let e = err(verify_detached(keys, MANIFEST, &sig));
        assert_eq!(e.kind(), ErrorKind::UnknownKey);
        match &e {
            OpenPgpError::UnknownSigner { issuers } => assert_eq!(*issuers, [rsa.as_str()]),
            other => panic!("{other:?}"),
        }
        let msg = e.to_string();
        assert!(msg.contains(&rsa) && msg.contains("register"), "{msg}");
    }
}

#[test]
fn refuses_bad_key_uploads() {
    let gpg = Gpg::new();
    let a = gpg.gen_key("Release Signer <release@example.org>", "ed25519", "sign");
    let b = gpg.gen_key("Other Signer <other@example.org>", "ed25519", "sign");

    // Secret keys, armored and binary.
    for secret in [
        gpg.run(&["--armor", "--export-secret-keys", &a]),
        gpg.run(&["--export-secret-keys", &a]),
        gpg.run(&["--armor", "--export-secret-subkeys", &a]),
    ] {
        let e = err(parse_public_key(&secret));
        match &e {
            OpenPgpError::SecretKeyMaterial { fingerprint } => {
                assert_eq!(fingerprint.as_deref(), Some(a.as_str()))
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
        let msg = e.to_string();
        assert!(
            msg.contains("only the public key") && msg.contains("gpg --armor --export"),
            "{msg}"
        );
        // Never echoes the secret back.
        assert!(!msg.contains("PRIVATE KEY BLOCK"));
    }

    // Two certificates: one armor block with both, two armor blocks, binary concatenation.
    let one_block = gpg.run(&["--armor", "--export", &a, &b]);
    let e = err(parse_public_key(&one_block));
    match &e {
        OpenPgpError::MultipleCertificates {
            count: 2,
            fingerprints,
        } => {
            assert!(
                fingerprints.contains(&a) && fingerprints.contains(&b),
                "{fingerprints:?}"
            )
        }
        other => panic!("{other:?}"),
    }
    assert!(e.to_string().contains("exactly one public key"), "{e}");
    let two_blocks = [gpg.export(&a), gpg.export(&b)].concat();
    let e = err(parse_public_key(&two_blocks));
    assert!(
        matches!(e, OpenPgpError::MultipleCertificates { count: 2, .. }),
        "{e:?}"
    );
    let binary = [gpg.export_binary(&a), gpg.export_binary(&b)].concat();
    let e = err(parse_public_key(&binary));
    assert!(
        matches!(e, OpenPgpError::MultipleCertificates { count: 2, .. }),
        "{e:?}"
    );

    // Garbage, empty, oversized, truncated, and the wrong kind of OpenPGP data.
    for garbage in [
        &b"hello, world"[..],
        b"\xff\xfe\x00garbage",
        b"-----BEGIN PGP PUBLIC KEY BLOCK-----\n\n!!!\n",
    ] {
        let e = err(parse_public_key(garbage));
        assert!(
            matches!(e, OpenPgpError::NotOpenPgp { .. }),
            "{garbage:?}: {e:?}"
        );
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
        assert!(e.to_string().contains("gpg --armor --export"), "{e}");
    }
    for empty in [&b""[..], b" \n\t\n"] {
        let e = err(parse_public_key(empty));
        assert!(matches!(e, OpenPgpError::Empty { .. }), "{e:?}");
    }
    let e = err(parse_public_key(&vec![b'A'; MAX_KEY_BYTES + 1]));
    assert!(matches!(e, OpenPgpError::TooLarge { .. }), "{e:?}");
    assert!(e.to_string().contains("65536 bytes"), "{e}");
    let binary = gpg.export_binary(&a);
    for cut in [1, 5, binary.len() / 2, binary.len() - 1] {
        let e = err(parse_public_key(&binary[..cut]));
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "cut at {cut}: {e}");
    }
    let sig = gpg.sign(&a, MANIFEST, true);
    let e = err(parse_public_key(&sig));
    assert!(matches!(e, OpenPgpError::WrongKind { .. }), "{e:?}");
    assert!(e.to_string().contains("signature"), "{e}");
    let sig = gpg.sign(&a, MANIFEST, false);
    let e = err(parse_public_key(&sig));
    assert!(matches!(e, OpenPgpError::WrongKind { .. }), "{e:?}");

    // A certify-only key cannot sign releases.
    let c = gpg.gen_key("Certifier <cert@example.org>", "ed25519", "cert");
    let e = err(parse_public_key(&gpg.export(&c)));
    assert!(matches!(e, OpenPgpError::NoSigningKey { .. }), "{e:?}");
    assert_eq!(e.kind(), ErrorKind::KeyUnusable);
    assert!(e.to_string().contains("--quick-add-key"), "{e}");
}

#[test]
fn refuses_bad_signature_uploads() {
    let gpg = Gpg::new();
    let a = gpg.gen_key("Release Signer <release@example.org>", "ed25519", "sign");
    let keys = [parse_public_key(&gpg.export(&a)).unwrap()];

    let check = |sig: &[u8], what: &str| {
        let e = err(verify_detached(&keys, MANIFEST, sig));
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{what}: {e}");
        assert!(
            e.to_string().contains("gpg --armor --detach-sign"),
            "{what}: {e}"
        );
        e
    };
    check(b"", "empty");
    check(b"not a signature", "text");
    check(b"\x88\x05garbage", "truncated binary");
    let e = check(&vec![b'A'; MAX_SIGNATURE_BYTES + 1], "oversized");
    assert!(e.to_string().contains("16384 bytes"), "{e}");
    let e = check(&gpg.export(&a), "a key");
    assert!(matches!(e, OpenPgpError::WrongKind { .. }), "{e:?}");

    // An inline-signed message and a cleartext signature are not detached signatures.
    let data = gpg.write("data", MANIFEST);
    let inline = gpg.run(&[
        "--armor",
        "--local-user",
        &a,
        "--sign",
        "--output",
        "-",
        data.to_str().unwrap(),
    ]);
    check(&inline, "inline signed");
    let clear = gpg.run(&[
        "--local-user",
        &a,
        "--clearsign",
        "--output",
        "-",
        data.to_str().unwrap(),
    ]);
    check(&clear, "cleartext signed");

    // Truncated armor and a flipped bit inside a binary signature.
    let sig = gpg.sign(&a, MANIFEST, true);
    check(&sig[..sig.len() / 2], "truncated armor");
    let mut sig = gpg.sign(&a, MANIFEST, false);
    let last = sig.len() - 3;
    sig[last] ^= 0x40;
    let e = err(verify_detached(&keys, MANIFEST, &sig));
    assert_ne!(e.kind(), ErrorKind::Internal, "{e}");
}

#[test]
fn verifies_signing_subkeys() {
    let gpg = Gpg::new();
    let primary = gpg.gen_key("Release Signer <release@example.org>", "ed25519", "cert");
    let before = parse_stored_key(&gpg.export(&primary)).unwrap();
    gpg.run(&["--quick-add-key", &primary, "ed25519", "sign"]);
    let fprs = gpg.fingerprints(&primary);
    assert_eq!(fprs.len(), 2);
    let subkey = fprs[1].clone();

    let key = parse_public_key(&gpg.export(&primary)).unwrap();
    assert_eq!(key.fingerprint, primary);
    let sig = gpg.sign(&format!("{subkey}!"), MANIFEST, true);
    let ok = verify_detached(&[key], MANIFEST, &sig).unwrap();
    assert_eq!(ok.key_fingerprint, primary);
    assert_eq!(ok.signing_key_fingerprint, subkey);

    // Registered before the subkey was added: the subkey is unknown, and the message says to
    // upload the updated key.
    let e = err(verify_detached(&[before], MANIFEST, &sig));
    match &e {
        OpenPgpError::UnknownSigner { issuers } => assert_eq!(*issuers, [subkey.as_str()]),
        other => panic!("{other:?}"),
    }
    assert!(e.to_string().contains("updated key"), "{e}");
}

#[test]
fn refuses_expired_keys() {
    let gpg = Gpg::new();
    let a = gpg.gen_key("Release Signer <release@example.org>", "ed25519", "sign");
    let registered = parse_public_key(&gpg.export(&a)).unwrap();
    // Signed while the key was valid; gpg refuses to sign with an expired key.
    let sig = gpg.sign(&a, MANIFEST, true);
    assert!(verify_detached(std::slice::from_ref(&registered), MANIFEST, &sig).is_ok());

    gpg.run(&["--quick-set-expire", &a, "seconds=1"]);
    std::thread::sleep(std::time::Duration::from_secs(3));
    let expired = gpg.export(&a);

    // Not accepted as a new registration...
    let e = err(parse_public_key(&expired));
    assert!(matches!(e, OpenPgpError::KeyExpired { .. }), "{e:?}");
    assert_eq!(e.kind(), ErrorKind::KeyUnusable);
    assert!(
        e.to_string().contains("expired") && e.to_string().contains("--quick-set-expire"),
        "{e}"
    );
    // ... but readable as a stored key, with its expiry in the past.
    let stored = parse_stored_key(&expired).unwrap();
    assert_eq!(stored.fingerprint, a);
    assert!(stored.expires_at.unwrap() < Utc::now());

    // Policy: a signature made while the key was valid is refused once the key has expired
    // (signature times are set by the signer and could be backdated).
    let e = err(verify_detached(&[stored], MANIFEST, &sig));
    match &e {
        OpenPgpError::KeyExpired {
            fingerprint,
            expired_at,
        } => {
            assert_eq!(fingerprint, &a);
            assert!(expired_at.is_some());
        }
        other => panic!("{other:?}"),
    }
    assert!(e.to_string().contains(&a), "{e}");

    // Extending the expiry makes the key usable again.
    gpg.run(&["--quick-set-expire", &a, "1y"]);
    let renewed = parse_public_key(&gpg.export(&a)).unwrap();
    assert!(verify_detached(&[renewed], MANIFEST, &sig).is_ok());
}

#[test]
fn refuses_revoked_keys() {
    let gpg = Gpg::new();
    let a = gpg.gen_key("Release Signer <release@example.org>", "ed25519", "sign");
    let sig = gpg.sign(&a, MANIFEST, false);

    // gpg's pre-made revocation certificate, with its guard colon removed.
    let rev: PathBuf = gpg.path("openpgp-revocs.d").join(format!("{a}.rev"));
    let text = std::fs::read_to_string(&rev).unwrap();
    let text = text.replace(
        ":-----BEGIN PGP PUBLIC KEY BLOCK",
        "-----BEGIN PGP PUBLIC KEY BLOCK",
    );
    let cleaned = gpg.write("rev.asc", text.as_bytes());
    gpg.run(&["--import", path_str(&cleaned)]);
    let revoked = gpg.export(&a);

    let e = err(parse_public_key(&revoked));
    assert!(matches!(e, OpenPgpError::KeyRevoked { .. }), "{e:?}");
    assert_eq!(e.kind(), ErrorKind::KeyUnusable);

    let stored = parse_stored_key(&revoked).unwrap();
    let e = err(verify_detached(&[stored], MANIFEST, &sig));
    match &e {
        OpenPgpError::KeyRevoked { fingerprint, .. } => assert_eq!(fingerprint, &a),
        other => panic!("{other:?}"),
    }
    let msg = e.to_string();
    assert!(msg.contains("is revoked") && msg.contains(&a), "{msg}");
}

/// A binary key just under the upload limit is accepted although its armored form is over
/// it, and the registry's re-armored copy still reads back and verifies.
#[test]
fn large_keys_round_trip() {
    let gpg = Gpg::new();
    let a = gpg.gen_key("Release Signer <release@example.org>", "ed25519", "sign");
    // 150 long user IDs in one gpg process (one --quick-add-uid each would take minutes).
    let mut script = String::new();
    for i in 0..150 {
        script += &format!(
            "adduid\nRelease Signer {i} {}\nr{i}@example.org\n\n",
            "x".repeat(180)
        );
    }
    script += "save\n";
    gpg.edit_key(&a, &script);

    let binary = gpg.export_binary(&a);
    let armored = gpg.export(&a);
    assert!(binary.len() < MAX_KEY_BYTES && armored.len() > MAX_KEY_BYTES);
    let e = err(parse_public_key(&armored));
    assert!(matches!(e, OpenPgpError::TooLarge { .. }), "{e:?}");
    let key = parse_public_key(&binary).unwrap();
    assert_eq!(key.user_ids.len(), 151);
    assert!(key.armored.len() > MAX_KEY_BYTES);
    assert_eq!(parse_stored_key(key.armored.as_bytes()).unwrap(), key);
    let sig = gpg.sign(&a, MANIFEST, true);
    assert_eq!(
        verify_detached(&[key], MANIFEST, &sig)
            .unwrap()
            .key_fingerprint,
        a
    );
}

/// Sequoia's `sqv` (Debian package `sqv`) accepts our re-serialised key as a keyring for a
/// gpg signature. Skipped when sqv is not installed.
#[test]
fn sqv_reads_reserialised_keys() {
    if Command::new("sqv").arg("--version").output().is_err() {
        eprintln!("sqv not installed (apt-get install sqv): skipping");
        return;
    }
    let gpg = Gpg::new();
    let a = gpg.gen_key("Release Signer <release@example.org>", "rsa3072", "sign");
    let key: PublicKey = parse_public_key(&gpg.export_binary(&a)).unwrap();
    let keyring = gpg.write("keyring.asc", key.armored.as_bytes());
    let sig = gpg.sign(&a, MANIFEST, true);
    let sig_path = gpg.write("manifest.asc", &sig);
    let data = gpg.write("manifest", MANIFEST);
    let out = Command::new("sqv")
        .args([
            "--keyring",
            path_str(&keyring),
            path_str(&sig_path),
            path_str(&data),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "sqv: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), a);
    assert_eq!(
        verify_detached(&[key], MANIFEST, &sig)
            .unwrap()
            .signing_key_fingerprint,
        a
    );
}

/// xorshift64*: deterministic, dependency-free randomness for the mutation test.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn mutate(&mut self, input: &[u8]) -> Vec<u8> {
        let mut out = input.to_vec();
        for _ in 0..=self.below(3) {
            let at = self.below(out.len());
            match self.below(6) {
                0 if !out.is_empty() => out[at] ^= 1 << self.below(8),
                1 if !out.is_empty() => out[at] = self.next() as u8,
                2 => out.truncate(at),
                3 => out.insert(at.min(out.len()), self.next() as u8),
                4 if !out.is_empty() => {
                    let end = (at + self.below(64)).min(out.len());
                    let chunk = out[at..end].to_vec();
                    let to = self.below(out.len());
                    out.splice(to..to, chunk);
                }
                _ if !out.is_empty() => {
                    // Packet headers and lengths live in the first bytes: hit them often.
                    let at = self.below(out.len().min(8));
                    out[at] = self.next() as u8;
                }
                _ => {}
            }
        }
        out
    }
}

/// Thousands of mutations of real gpg keys and signatures: every call returns, none panics,
/// and nothing mutated in a signature is accepted as the original signer's unless the
/// signature still verifies over the same data.
#[test]
fn mutated_inputs_never_panic() {
    let gpg = Gpg::new();
    let ed = gpg.gen_key("Release Signer <release@example.org>", "ed25519", "cert");
    gpg.run(&["--quick-add-key", &ed, "ed25519", "sign"]);
    let rsa = gpg.gen_key("RSA Signer <rsa@example.org>", "rsa3072", "sign");
    let keys = [
        parse_public_key(&gpg.export(&ed)).unwrap(),
        parse_public_key(&gpg.export(&rsa)).unwrap(),
    ];
    let key_inputs = [
        gpg.export(&ed),
        gpg.export_binary(&ed),
        gpg.export_binary(&rsa),
        gpg.run(&["--export-secret-keys", &ed]),
    ];
    let sig_inputs = [
        gpg.sign(&ed, MANIFEST, true),
        gpg.sign(&ed, MANIFEST, false),
        gpg.sign(&rsa, MANIFEST, false),
    ];
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let started = std::time::Instant::now();
    for i in 0..3000 {
        let input = rng.mutate(&key_inputs[i % key_inputs.len()]);
        let _ = parse_public_key(&input);
        if let Ok(key) = parse_stored_key(&input) {
            let _ = verify_detached(&[key], MANIFEST, &sig_inputs[i % sig_inputs.len()]);
        }
        let sig = rng.mutate(&sig_inputs[i % sig_inputs.len()]);
        let data = if i % 5 == 0 {
            rng.mutate(MANIFEST)
        } else {
            MANIFEST.to_vec()
        };
        if let Ok(ok) = verify_detached(&keys, &data, &sig) {
            assert_eq!(
                data, MANIFEST,
                "a mutated signature verified over other data"
            );
            assert!(ok.key_fingerprint == ed || ok.key_fingerprint == rsa);
        }
    }
    eprintln!("3000 mutation rounds in {:?}", started.elapsed());
}
