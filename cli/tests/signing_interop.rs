//! `mpr manifest sign|verify` against the real GnuPG and Debian's `sqv`, both ways: mpr's
//! signatures verify with gpg and sqv, gpg's with mpr, and a one-byte change to the statement
//! or the signature is refused by all three. sqv is required: a missing sqv fails the test.

mod signing_support;

use std::path::{Path, PathBuf};

use signing_support::*;

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

/// Every verifier's verdict on `signature` over `file`, with the output of those that accepted.
fn verdicts(
    gpg: &Gpg,
    keyring: &Path,
    signature: &Path,
    file: &Path,
) -> Vec<(&'static str, bool, String)> {
    let (g, g_out) = gpg.verify(signature, file);
    let (s, s_out) = sqv(keyring, signature, file);
    let (m, m_out) = mpr_verify(keyring, signature, file);
    vec![("gpg", g, g_out), ("sqv", s, s_out), ("mpr", m, m_out)]
}

fn assert_all_accept(gpg: &Gpg, keyring: &Path, signature: &Path, file: &Path, signer: &str) {
    for (tool, accepted, output) in verdicts(gpg, keyring, signature, file) {
        assert!(accepted, "{tool} refused a good signature: {output}");
        assert!(
            output.contains(signer),
            "{tool} did not name {signer}: {output}"
        );
    }
}

fn assert_all_refuse(gpg: &Gpg, keyring: &Path, signature: &Path, file: &Path, what: &str) {
    for (tool, accepted, output) in verdicts(gpg, keyring, signature, file) {
        assert!(!accepted, "{tool} accepted {what}: {output}");
    }
}

/// The statement with one byte changed.
fn tampered_statement(dir: &Path) -> PathBuf {
    let mut bytes = STATEMENT.to_vec();
    let i = bytes.len() / 2;
    bytes[i] ^= 0x01;
    write(dir, "tampered.json", &bytes)
}

/// The armored signature with one base64 character of its body changed, and the binary
/// signature with one byte of its signature value changed.
fn tampered_signatures(gpg: &Gpg, dir: &Path, signature: &Path) -> Vec<(PathBuf, &'static str)> {
    let text = std::fs::read_to_string(signature).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let body = lines
        .iter()
        .position(|l| l.is_empty())
        .expect("armor header ends with an empty line")
        + 1;
    let mut changed: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
    let line = &mut changed[body];
    let mid = line.len() / 2;
    let c = line.as_bytes()[mid];
    let replacement = if c == b'A' { "B" } else { "A" };
    line.replace_range(mid..mid + 1, replacement);
    let armored = write(dir, "tampered.asc", (changed.join("\n") + "\n").as_bytes());

    let mut binary = gpg.run(&["--dearmor", "--output", "-", path_str(signature)]);
    let last = binary.len() - 1;
    binary[last] ^= 0x01;
    let binary = write(dir, "tampered.sig", &binary);
    vec![
        (armored, "an armored signature with one character changed"),
        (
            binary,
            "a binary signature with one byte of its value changed",
        ),
    ]
}

#[test]
fn mpr_signatures_verify_with_gpg_and_sqv_and_changes_are_refused_by_all() {
    let dir = tempfile::tempdir().unwrap();
    let (key, fingerprint) = generate_key(dir.path(), "release.key");
    let public = export_key(&key, dir.path());
    let statement = write(dir.path(), "statement.json", STATEMENT);
    let signature = dir.path().join("statement.json.asc");
    let out = mpr(
        &[
            "manifest",
            "sign",
            "--key",
            path_str(&key),
            "--statement",
            path_str(&statement),
        ],
        &[("MPR_KEY_PASSPHRASE", PASSPHRASE)],
    );
    assert_eq!(ok(&out).trim(), path_str(&signature));
    let armored = std::fs::read_to_string(&signature).unwrap();
    assert!(
        armored.starts_with("-----BEGIN PGP SIGNATURE-----"),
        "{armored}"
    );

    let gpg = Gpg::new();
    gpg.run(&["--import", path_str(&public)]);
    let (_, status) = gpg.verify(&signature, &statement);
    // VALIDSIG <fpr> <date> <time> <expiry> <version> <reserved> <pk algo> <hash algo: 10 = SHA-512>
    // <signature class: 00 = binary document> <primary fpr>
    let validsig = status
        .lines()
        .find(|l| l.contains("VALIDSIG"))
        .unwrap_or_else(|| panic!("no VALIDSIG: {status}"));
    let fields: Vec<&str> = validsig.split_whitespace().collect();
    assert_eq!(fields[10], "00", "signature class: {validsig}");
    assert_eq!(fields[9], "10", "hash algorithm: {validsig}");
    assert_eq!(fields[11], fingerprint, "primary key: {validsig}");

    assert_all_accept(&gpg, &public, &signature, &statement, &fingerprint);
    let tampered = tampered_statement(dir.path());
    assert_all_refuse(&gpg, &public, &signature, &tampered, "a changed statement");
    for (bad, what) in tampered_signatures(&gpg, dir.path(), &signature) {
        assert_all_refuse(&gpg, &public, &bad, &statement, what);
    }
    // mpr names the failing signature and why.
    let (_, output) = mpr_verify(&public, &signature, &tampered);
    assert!(output.contains("statement.json.asc"), "{output}");
    assert!(output.contains("does not match the data"), "{output}");
}

#[test]
fn gpg_signatures_verify_with_mpr() {
    let dir = tempfile::tempdir().unwrap();
    let gpg = Gpg::new();
    let fingerprint = gpg.gen_key("GnuPG Signer <gpg@example.org>", "");
    let public = write(
        dir.path(),
        "gpg.asc",
        &gpg.run(&["--armor", "--export", &fingerprint]),
    );
    let statement = write(dir.path(), "statement.json", STATEMENT);
    let signature = dir.path().join("statement.json.asc");
    gpg.run(&[
        "--armor",
        "--detach-sign",
        "--local-user",
        &fingerprint,
        "--output",
        path_str(&signature),
        path_str(&statement),
    ]);
    let out = mpr(
        &[
            "--json",
            "manifest",
            "verify",
            "--statement",
            path_str(&statement),
            "--signature",
            path_str(&signature),
            "--keyring",
            path_str(&public),
        ],
        &[],
    );
    let report: serde_json::Value = serde_json::from_str(&ok(&out)).unwrap();
    assert_eq!(report["valid"], true);
    assert_eq!(report["signers"], serde_json::json!([fingerprint]));
    assert_eq!(
        report["signatures"][0]["key_fingerprint"],
        fingerprint.as_str()
    );
    assert_eq!(
        report["signatures"][0]["user_ids"],
        serde_json::json!(["GnuPG Signer <gpg@example.org>"])
    );

    assert_all_accept(&gpg, &public, &signature, &statement, &fingerprint);
    let tampered = tampered_statement(dir.path());
    assert_all_refuse(&gpg, &public, &signature, &tampered, "a changed statement");
    for (bad, what) in tampered_signatures(&gpg, dir.path(), &signature) {
        assert_all_refuse(&gpg, &public, &bad, &statement, what);
    }
}

#[test]
fn verify_names_every_failing_signature_and_counts_distinct_signers() {
    let dir = tempfile::tempdir().unwrap();
    let (key, fingerprint) = generate_key(dir.path(), "release.key");
    let public = export_key(&key, dir.path());
    let gpg = Gpg::new();
    let stranger = gpg.gen_key("Stranger <stranger@example.org>", "");
    let statement = write(dir.path(), "statement.json", STATEMENT);
    let pass = passphrase_file(dir.path());
    let ours = dir.path().join("ours.asc");
    ok(&mpr(
        &[
            "manifest",
            "sign",
            "--key",
            path_str(&key),
            "--passphrase-file",
            path_str(&pass),
            "--statement",
            path_str(&statement),
            "--out",
            path_str(&ours),
        ],
        &[],
    ));
    let theirs = dir.path().join("theirs.asc");
    gpg.run(&[
        "--armor",
        "--detach-sign",
        "--local-user",
        &stranger,
        "--output",
        path_str(&theirs),
        path_str(&statement),
    ]);
    let garbage = write(dir.path(), "garbage.asc", b"not a signature");
    let out = mpr(
        &[
            "manifest",
            "verify",
            "--statement",
            path_str(&statement),
            "--signature",
            path_str(&ours),
            path_str(&theirs),
            path_str(&garbage),
            "--keyring",
            path_str(&public),
        ],
        &[],
    );
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = failed(&out);
    assert!(
        stdout.contains(&format!("ours.asc: good signature by {fingerprint}")),
        "{stdout}"
    );
    assert!(stderr.contains("2 of 3 signatures"), "{stderr}");
    assert!(
        stderr.contains("theirs.asc: the signature was made by"),
        "{stderr}"
    );
    assert!(
        stderr.contains(&stranger[24..]),
        "names the unknown signer: {stderr}"
    );
    assert!(
        stderr.contains("garbage.asc: the signature is not OpenPGP data"),
        "{stderr}"
    );

    // Both keys in one keyring (gpg's export appended to ours): both signatures verify.
    let both = dir.path().join("both.asc");
    let mut ring = std::fs::read(&public).unwrap();
    ring.extend(gpg.run(&["--armor", "--export", &stranger]));
    std::fs::write(&both, ring).unwrap();
    let out = mpr(
        &[
            "manifest",
            "verify",
            "--statement",
            path_str(&statement),
            "--signature",
            path_str(&ours),
            path_str(&theirs),
            "--keyring",
            path_str(&both),
        ],
        &[],
    );
    assert!(ok(&out).contains("2 signature(s) verified, by 2 distinct key(s)"));
}

#[test]
fn mpr_signs_through_gpg() {
    let dir = tempfile::tempdir().unwrap();
    let gpg = Gpg::new();
    let fingerprint = gpg.gen_key("Token Holder <token@example.org>", PASSPHRASE);
    let public = write(
        dir.path(),
        "gpg.asc",
        &gpg.run(&["--armor", "--export", &fingerprint]),
    );
    let statement = write(dir.path(), "statement.json", STATEMENT);
    let signature = dir.path().join("gpg-signed.asc");
    let sign = |env: &[(&str, &str)], key_id: &str| {
        let mut vars = vec![("GNUPGHOME", gpg.home_str())];
        vars.extend_from_slice(env);
        mpr(
            &[
                "--json",
                "manifest",
                "sign",
                "--gpg",
                key_id,
                "--statement",
                path_str(&statement),
                "--out",
                path_str(&signature),
            ],
            &vars,
        )
    };
    // A wrong passphrase first: once right, gpg-agent caches it.
    let stderr = failed(&sign(&[("MPR_KEY_PASSPHRASE", "not it")], &fingerprint));
    assert!(stderr.contains("gpg --detach-sign failed"), "{stderr}");
    assert!(
        stderr.contains("Bad passphrase"),
        "gpg's stderr is shown: {stderr}"
    );
    assert!(!signature.exists());
    let stderr = failed(&sign(&[], "0000000000000000000000000000000000000000"));
    assert!(stderr.contains("No secret key"), "{stderr}");

    let out = sign(&[("MPR_KEY_PASSPHRASE", PASSPHRASE)], &fingerprint);
    let report: serde_json::Value = serde_json::from_str(&ok(&out)).unwrap();
    assert_eq!(report["backend"], "gpg");
    assert_eq!(report["key_fingerprint"], fingerprint.as_str());
    let packet = gpg.run(&["--list-packets", path_str(&signature)]);
    let packet = String::from_utf8_lossy(&packet);
    assert!(packet.contains("digest algo 10"), "SHA-512: {packet}");
    assert_all_accept(&gpg, &public, &signature, &statement, &fingerprint);

    // The agent now holds the passphrase: no passphrase needed, none passed.
    ok(&sign(&[], &fingerprint));
    assert_all_accept(&gpg, &public, &signature, &statement, &fingerprint);
}
