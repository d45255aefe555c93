use std::os::unix::fs::PermissionsExt;

use sequoia_openpgp as openpgp;

use openpgp::parse::Parse;
use openpgp::serialize::SerializeInto;
use openpgp::types::{HashAlgorithm, SignatureType};

use super::*;
use crate::openpgp::{parse_keyring, parse_public_key, verify_detached, OpenPgpError};

const PASSPHRASE: &str = "correct horse battery staple 7f3a";
const USER_ID: &str = "Release Team <release@example.org>";

fn passphrase() -> Passphrase {
    Passphrase::new(PASSPHRASE.as_bytes().to_vec()).unwrap()
}

fn written_key(
    dir: &std::path::Path,
    passphrase: Option<&Passphrase>,
) -> (GeneratedKey, SecretKey) {
    let generated = generate_key(USER_ID, passphrase).unwrap();
    let path = dir.join("release.key.asc");
    generated.write_secret_key_file(&path).unwrap();
    (generated, SecretKey::read(&path).unwrap())
}

/// The secret scalars of every key of the certificate, unencrypted.
fn secret_scalars(armored_tsk: &[u8], passphrase: &Passphrase) -> Vec<Vec<u8>> {
    let cert = openpgp::Cert::from_bytes(armored_tsk).unwrap();
    cert.keys()
        .secret()
        .map(|ka| {
            let key = ka.key().clone();
            let key = if key.has_unencrypted_secret() {
                key
            } else {
                key.decrypt_secret(passphrase.password()).unwrap()
            };
            match key.optional_secret() {
                Some(openpgp::packet::key::SecretKeyMaterial::Unencrypted(u)) => {
                    u.map(|m| match m {
                        openpgp::crypto::mpi::SecretKeyMaterial::EdDSA { scalar } => {
                            scalar.value().to_vec()
                        }
                        other => panic!("unexpected secret key material {:?}", other.algo()),
                    })
                }
                _ => panic!("no unencrypted secret"),
            }
        })
        .collect()
}

#[test]
fn generated_key_is_v4_ed25519_certify_primary_with_signing_subkey() {
    let generated = generate_key(USER_ID, Some(&passphrase())).unwrap();
    let cert = openpgp::Cert::from_bytes(generated.armored_secret()).unwrap();
    assert_eq!(cert.primary_key().key().version(), 4);
    assert_eq!(cert.keys().count(), 2);
    let vc = cert.with_policy(&POLICY, None).unwrap();
    let primary = vc.primary_key();
    assert!(primary.for_certification() && !primary.for_signing());
    assert_eq!(primary.key_expiration_time(), None);
    let sub = vc.keys().subkeys().next().unwrap();
    assert!(sub.for_signing() && !sub.for_certification());
    assert_eq!(
        sub.key().fingerprint().to_hex(),
        generated.signing_key_fingerprint
    );
    for ka in cert.keys() {
        assert_eq!(
            ka.key().pk_algo(),
            openpgp::types::PublicKeyAlgorithm::EdDSA
        );
        assert!(ka.key().has_secret() && !ka.key().has_unencrypted_secret());
    }
    assert_eq!(generated.fingerprint, cert.fingerprint().to_hex());
    // The exported public part is what the registry accepts as a release key.
    let public = parse_public_key(generated.armored_public().as_bytes()).unwrap();
    assert_eq!(public.fingerprint, generated.fingerprint);
    assert_eq!(public.user_ids, vec![USER_ID.to_string()]);
}

#[test]
fn key_file_is_0600_and_never_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let (generated, key) = written_key(dir.path(), Some(&passphrase()));
    let path = dir.path().join("release.key.asc");
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    assert_eq!(key.fingerprint(), generated.fingerprint);
    let before = std::fs::read(&path).unwrap();

    let other = generate_key(USER_ID, Some(&passphrase())).unwrap();
    let err = other.write_secret_key_file(&path).unwrap_err();
    assert!(matches!(err, SigningError::AlreadyExists { .. }), "{err}");
    assert!(err.to_string().contains("choose another path"), "{err}");
    assert_eq!(std::fs::read(&path).unwrap(), before);
    // No temporary file left behind.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn signs_sha512_binary_detached_signatures_that_verify() {
    let dir = tempfile::tempdir().unwrap();
    let (generated, key) = written_key(dir.path(), Some(&passphrase()));
    let statement = br#"{"_type":"https://in-toto.io/Statement/v1"}"#;
    let signature = sign_detached(&key, Some(&passphrase()), statement).unwrap();
    assert!(signature
        .armored
        .starts_with("-----BEGIN PGP SIGNATURE-----"));
    assert_eq!(signature.verified.key_fingerprint, generated.fingerprint);
    assert_eq!(
        signature.verified.signing_key_fingerprint,
        generated.signing_key_fingerprint
    );

    let pile = openpgp::PacketPile::from_bytes(signature.armored.as_bytes()).unwrap();
    let packets: Vec<_> = pile.into_children().collect();
    let [openpgp::Packet::Signature(packet)] = &packets[..] else {
        panic!("not one signature packet: {packets:?}");
    };
    assert_eq!(packet.hash_algo(), HashAlgorithm::SHA512);
    assert_eq!(packet.typ(), SignatureType::Binary);

    let public = parse_public_key(key.armored_public().unwrap().as_bytes()).unwrap();
    let keys = [public];
    verify_detached(&keys, statement, signature.armored.as_bytes()).unwrap();
    let mut changed = statement.to_vec();
    changed[10] ^= 1;
    let err = verify_detached(&keys, &changed, signature.armored.as_bytes()).unwrap_err();
    assert!(
        matches!(err, OpenPgpError::SignatureMismatch { .. }),
        "{err}"
    );
}

#[test]
fn wrong_or_missing_passphrase_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let (generated, key) = written_key(dir.path(), Some(&passphrase()));
    let wrong = Passphrase::new(b"not the passphrase".to_vec()).unwrap();
    let err = sign_detached(&key, Some(&wrong), b"data").unwrap_err();
    assert!(matches!(err, SigningError::WrongPassphrase { .. }), "{err}");
    assert!(err.to_string().contains("wrong passphrase"), "{err}");
    assert!(err.to_string().contains(&generated.fingerprint), "{err}");
    let err = sign_detached(&key, None, b"data").unwrap_err();
    assert!(
        matches!(err, SigningError::PassphraseRequired { .. }),
        "{err}"
    );
    assert!(err.to_string().contains(PASSPHRASE_ENV), "{err}");
}

#[test]
fn unprotected_key_signs_without_a_passphrase() {
    let dir = tempfile::tempdir().unwrap();
    let (generated, key) = written_key(dir.path(), None);
    assert!(!generated.encrypted);
    let signature = sign_detached(&key, None, b"data").unwrap();
    assert_eq!(signature.verified.key_fingerprint, generated.fingerprint);
}

#[test]
fn secrets_stay_out_of_debug_output_and_errors() {
    let dir = tempfile::tempdir().unwrap();
    let pass = passphrase();
    let (generated, key) = written_key(dir.path(), Some(&pass));
    let scalars = secret_scalars(generated.armored_secret(), &pass);
    assert_eq!(scalars.len(), 2);
    let wrong = Passphrase::new(b"wrong passphrase 1234".to_vec()).unwrap();
    let texts = [
        format!("{pass:?}"),
        format!("{generated:?}"),
        format!("{key:?}"),
        format!("{:?}", sign_detached(&key, Some(&pass), b"x").unwrap()),
        format!("{:?}", sign_detached(&key, Some(&wrong), b"x").unwrap_err()),
        sign_detached(&key, Some(&wrong), b"x")
            .unwrap_err()
            .to_string(),
        format!("{wrong:?}"),
    ];
    for text in &texts {
        assert!(!text.contains(PASSPHRASE), "passphrase in {text}");
        assert!(
            !text.contains("wrong passphrase 1234"),
            "passphrase in {text}"
        );
        for scalar in &scalars {
            assert!(!text.contains(&hex::encode(scalar)), "secret in {text}");
            assert!(
                !text.contains(&hex::encode_upper(scalar)),
                "secret in {text}"
            );
            assert!(!text.contains(&format!("{scalar:?}")), "secret in {text}");
        }
    }
}

#[test]
fn passphrase_file_is_its_first_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pass");
    std::fs::write(&path, format!("{PASSPHRASE}\r\nsecond line\n")).unwrap();
    let from_file = Passphrase::from_file(&path).unwrap();
    from_file
        .password()
        .map(|p| assert_eq!(&p[..], PASSPHRASE.as_bytes()));
    std::fs::write(&path, "\nsomething").unwrap();
    let err = Passphrase::from_file(&path).unwrap_err();
    assert!(matches!(err, SigningError::EmptyPassphrase { .. }), "{err}");
    std::fs::write(&path, vec![b'a'; 5000]).unwrap();
    let err = Passphrase::from_file(&path).unwrap_err();
    assert!(matches!(err, SigningError::TooLarge { .. }), "{err}");
    assert!(Passphrase::new(Vec::new()).is_err());
}

#[test]
fn bad_user_ids_and_non_secret_key_files_are_refused() {
    for bad in ["", "  ", "Name\n<a@b>", &"x".repeat(300)] {
        let err = generate_key(bad, None).unwrap_err();
        assert!(matches!(err, SigningError::InvalidUserId { .. }), "{err}");
    }
    let dir = tempfile::tempdir().unwrap();
    let generated = generate_key(USER_ID, None).unwrap();
    let public = dir.path().join("public.asc");
    std::fs::write(&public, generated.armored_public()).unwrap();
    let err = SecretKey::read(&public).unwrap_err();
    assert!(matches!(err, SigningError::NotASecretKey { .. }), "{err}");
    assert!(
        err.to_string().contains("only the public certificate"),
        "{err}"
    );
    let garbage = dir.path().join("garbage");
    std::fs::write(&garbage, b"not a key").unwrap();
    assert!(matches!(
        SecretKey::read(&garbage).unwrap_err(),
        SigningError::NotASecretKey { .. }
    ));
}

#[test]
fn keyrings_hold_several_certificates_in_one_or_several_blocks() {
    let a = generate_key("A <a@example.org>", None).unwrap();
    let b = generate_key("B <b@example.org>", None).unwrap();
    let fingerprints = vec![a.fingerprint.clone(), b.fingerprint.clone()];

    let concatenated = format!("{}\n{}", a.armored_public(), b.armored_public());
    let keys = parse_keyring(concatenated.as_bytes()).unwrap();
    let got: Vec<_> = keys.iter().map(|k| k.fingerprint.clone()).collect();
    assert_eq!(got, fingerprints);

    // gpg --armor --export A B: one block holding both.
    let mut binary = Vec::new();
    for k in [&a, &b] {
        let cert = openpgp::Cert::from_bytes(k.armored_public().as_bytes()).unwrap();
        binary.extend(cert.to_vec().unwrap());
    }
    let keys = parse_keyring(&binary).unwrap();
    assert_eq!(keys.len(), 2);
    let mut writer =
        openpgp::armor::Writer::new(Vec::new(), openpgp::armor::Kind::PublicKey).unwrap();
    std::io::Write::write_all(&mut writer, &binary).unwrap();
    let one_block = writer.finalize().unwrap();
    let got: Vec<_> = parse_keyring(&one_block)
        .unwrap()
        .into_iter()
        .map(|k| k.fingerprint)
        .collect();
    assert_eq!(got, fingerprints);

    let with_secret = [concatenated.as_bytes(), a.armored_secret()].concat();
    let err = parse_keyring(&with_secret).unwrap_err();
    assert!(
        matches!(err, OpenPgpError::SecretKeyMaterial { .. }),
        "{err}"
    );
    let twice = format!("{}\n{}", a.armored_public(), a.armored_public());
    assert!(parse_keyring(twice.as_bytes())
        .unwrap_err()
        .to_string()
        .contains("appears twice"));
    assert!(matches!(
        parse_keyring(b"  \n").unwrap_err(),
        OpenPgpError::Empty { .. }
    ));
}
