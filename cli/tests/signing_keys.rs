//! `mpr key generate|export` and `mpr manifest sign` as users see them: key files 0600 and never
//! overwritten, passphrases required unless refused explicitly, clear errors, and no passphrase
//! or secret key material in anything mpr prints, even at trace level.

mod signing_support;

use std::os::unix::fs::PermissionsExt;
use std::process::Output;

use sequoia_openpgp as openpgp;
use signing_support::*;

use openpgp::parse::Parse;

#[test]
fn key_file_is_private_and_never_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let (key, fingerprint) = generate_key(dir.path(), "release.key");
    let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let text = std::fs::read_to_string(&key).unwrap();
    assert!(
        text.starts_with("-----BEGIN PGP PRIVATE KEY BLOCK-----"),
        "{text}"
    );

    let pass = passphrase_file(dir.path());
    let again = mpr(
        &[
            "key",
            "generate",
            "--user-id",
            USER_ID,
            "--out",
            path_str(&key),
            "--passphrase-file",
            path_str(&pass),
        ],
        &[],
    );
    let stderr = failed(&again);
    assert!(stderr.contains("already exists"), "{stderr}");
    assert!(stderr.contains("choose another path"), "{stderr}");
    assert_eq!(std::fs::read_to_string(&key).unwrap(), text);
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names.len(), 2, "no temporary file left: {names:?}");

    // --json, and the passphrase from the environment.
    let other = dir.path().join("other.key");
    let out = mpr(
        &[
            "--json",
            "key",
            "generate",
            "--user-id",
            USER_ID,
            "--out",
            path_str(&other),
        ],
        &[("MPR_KEY_PASSPHRASE", PASSPHRASE)],
    );
    let report: serde_json::Value = serde_json::from_str(&ok(&out)).unwrap();
    assert_eq!(report["encrypted"], true);
    assert_eq!(report["user_id"], USER_ID);
    assert_ne!(report["fingerprint"], fingerprint.as_str());
    assert_eq!(report["fingerprint"].as_str().unwrap().len(), 40);
}

#[test]
fn a_passphrase_is_required_unless_refused_explicitly() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("k");
    let stderr = failed(&mpr(
        &[
            "key",
            "generate",
            "--user-id",
            USER_ID,
            "--out",
            path_str(&key),
        ],
        &[],
    ));
    assert!(stderr.contains("--no-passphrase"), "{stderr}");
    assert!(stderr.contains("MPR_KEY_PASSPHRASE"), "{stderr}");
    assert!(!key.exists());

    let out = mpr(
        &[
            "key",
            "generate",
            "--user-id",
            USER_ID,
            "--out",
            path_str(&key),
            "--no-passphrase",
        ],
        &[],
    );
    ok(&out);
    assert!(String::from_utf8_lossy(&out.stderr).contains("UNENCRYPTED"));
    let statement = dir.path().join("s.json");
    std::fs::write(&statement, STATEMENT).unwrap();
    ok(&mpr(
        &[
            "manifest",
            "sign",
            "--key",
            path_str(&key),
            "--statement",
            path_str(&statement),
        ],
        &[],
    ));
    let public = export_key(&key, dir.path());
    let signature = dir.path().join("s.json.asc");
    let (good, output) = mpr_verify(&public, &signature, &statement);
    assert!(good, "{output}");
}

#[test]
fn wrong_or_missing_passphrase_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let (key, fingerprint) = generate_key(dir.path(), "release.key");
    let statement = dir.path().join("s.json");
    std::fs::write(&statement, STATEMENT).unwrap();
    let out_path = dir.path().join("s.json.asc");
    let sign = |env: &[(&str, &str)]| {
        mpr(
            &[
                "manifest",
                "sign",
                "--key",
                path_str(&key),
                "--statement",
                path_str(&statement),
            ],
            env,
        )
    };
    let stderr = failed(&sign(&[("MPR_KEY_PASSPHRASE", "wrong horse")]));
    assert!(stderr.contains("wrong passphrase"), "{stderr}");
    assert!(stderr.contains(&fingerprint), "{stderr}");
    assert!(!out_path.exists());
    let stderr = failed(&sign(&[]));
    assert!(stderr.contains("protected by a passphrase"), "{stderr}");
    assert!(stderr.contains("--passphrase-file"), "{stderr}");
    // The public certificate is not a secret key.
    let public = export_key(&key, dir.path());
    let stderr = failed(&mpr(
        &[
            "manifest",
            "sign",
            "--key",
            path_str(&public),
            "--statement",
            path_str(&statement),
        ],
        &[],
    ));
    assert!(stderr.contains("only the public certificate"), "{stderr}");
}

fn all_output(outputs: &[Output]) -> Vec<u8> {
    outputs
        .iter()
        .flat_map(|o| [o.stdout.clone(), o.stderr.clone()])
        .flatten()
        .collect()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn no_passphrase_or_secret_key_material_is_ever_printed() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("release.key");
    let pass = passphrase_file(dir.path());
    let statement = dir.path().join("s.json");
    std::fs::write(&statement, STATEMENT).unwrap();
    let trace = [("RUST_LOG", "trace")];
    let with_pass = [("RUST_LOG", "trace"), ("MPR_KEY_PASSPHRASE", PASSPHRASE)];
    let k = path_str(&key);
    let s = path_str(&statement);
    let mut outputs = vec![mpr(
        &[
            "-vv",
            "key",
            "generate",
            "--user-id",
            USER_ID,
            "--out",
            k,
            "--passphrase-file",
            path_str(&pass),
        ],
        &trace,
    )];
    ok(&outputs[0]);
    type Env<'a> = &'a [(&'a str, &'a str)];
    let runs: Vec<(Vec<&str>, Env)> = vec![
        (vec!["key", "export", "--key", k], &trace),
        (vec!["--json", "key", "export", "--key", k], &trace),
        (
            vec!["manifest", "sign", "--key", k, "--statement", s],
            &with_pass,
        ),
        (
            vec!["--json", "manifest", "sign", "--key", k, "--statement", s],
            &with_pass,
        ),
        (
            vec!["manifest", "sign", "--key", k, "--statement", s],
            &[("MPR_KEY_PASSPHRASE", "wrong")],
        ),
        (
            vec!["key", "generate", "--user-id", USER_ID, "--out", k],
            &with_pass,
        ),
        (
            vec![
                "manifest",
                "verify",
                "--statement",
                s,
                "--signature",
                s,
                "--keyring",
                k,
            ],
            &trace,
        ),
    ];
    for (args, env) in &runs {
        let mut args = args.clone();
        args.insert(0, "-vv");
        outputs.push(mpr(&args, env));
    }
    let printed = all_output(&outputs);
    assert!(
        contains(&printed, b"BEGIN PGP PUBLIC KEY BLOCK"),
        "the runs did print"
    );
    assert!(
        !contains(&printed, PASSPHRASE.as_bytes()),
        "the passphrase was printed"
    );

    // The armored secret key's lines that are not also in the public certificate.
    let secret_text = std::fs::read_to_string(&key).unwrap();
    let public_text = String::from_utf8(outputs[1].stdout.clone()).unwrap();
    let secret_lines: Vec<&str> = secret_text
        .lines()
        .filter(|l| l.len() > 20 && !public_text.contains(*l))
        .collect();
    assert!(secret_lines.len() > 3, "{secret_text}");
    for line in secret_lines {
        assert!(
            !contains(&printed, line.as_bytes()),
            "secret key line printed: {line}"
        );
    }
    // The decrypted secret scalars, raw and hex.
    let cert = openpgp::Cert::from_bytes(secret_text.as_bytes()).unwrap();
    let password: openpgp::crypto::Password = PASSPHRASE.into();
    let mut scalars = 0;
    for ka in cert.keys().secret() {
        let key = ka.key().clone().decrypt_secret(&password).unwrap();
        let Some(openpgp::packet::key::SecretKeyMaterial::Unencrypted(secret)) =
            key.optional_secret()
        else {
            panic!("not decrypted");
        };
        secret.map(|m| match m {
            openpgp::crypto::mpi::SecretKeyMaterial::EdDSA { scalar } => {
                let raw = scalar.value();
                assert!(!contains(&printed, raw), "raw secret printed");
                for hex in [hex::encode(raw), hex::encode_upper(raw)] {
                    assert!(!contains(&printed, hex.as_bytes()), "hex secret printed");
                }
                scalars += 1;
            }
            other => panic!("unexpected key material {:?}", other.algo()),
        });
    }
    assert_eq!(scalars, 2);
}
