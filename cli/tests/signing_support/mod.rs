// Shared by the signing_* test binaries; each uses part of it.
#![allow(dead_code)]

//! The `mpr` binary, GnuPG in a throw-away GNUPGHOME and Debian's `sqv`, driven as a release
//! manager and a verifier would drive them.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub const PASSPHRASE: &str = "tr0ub4dor & 3 horses, 9c1e";
pub const USER_ID: &str = "Release Team <release@example.org>";
pub const STATEMENT: &[u8] = br#"{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"proof-server.eif","digest":{"sha256":"4f2a"}}]}"#;

/// Runs `mpr` with `args` and extra environment; no passphrase from the caller's environment.
pub fn mpr(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_mpr"));
    command
        .args(args)
        .env_remove("MPR_KEY_PASSPHRASE")
        .env_remove("RUST_LOG");
    for (k, v) in env {
        command.env(k, v);
    }
    command.stdin(Stdio::null()).output().expect("mpr runs")
}

pub fn ok(output: &Output) -> String {
    assert!(
        output.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).expect("utf-8 output")
}

/// The standard error of a command that must have failed with status 1.
pub fn failed(output: &Output) -> String {
    assert_eq!(
        output.status.code(),
        Some(1),
        "should have failed; stdout: {} stderr: {}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stderr).into_owned()
}

pub fn path_str(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// A passphrase file holding [`PASSPHRASE`].
pub fn passphrase_file(dir: &Path) -> PathBuf {
    let path = dir.join("passphrase");
    std::fs::write(&path, format!("{PASSPHRASE}\n")).unwrap();
    path
}

/// `mpr key generate` with [`PASSPHRASE`] from a file; returns the key file and fingerprint.
pub fn generate_key(dir: &Path, name: &str) -> (PathBuf, String) {
    let key = dir.join(name);
    let pass = passphrase_file(dir);
    let out = mpr(
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
    let fingerprint = ok(&out).trim().to_string();
    assert_eq!(fingerprint.len(), 40, "{fingerprint}");
    (key, fingerprint)
}

/// `mpr key export` into `dir/public.asc`.
pub fn export_key(key: &Path, dir: &Path) -> PathBuf {
    let public = dir.join("public.asc");
    ok(&mpr(
        &[
            "key",
            "export",
            "--key",
            path_str(key),
            "--out",
            path_str(&public),
        ],
        &[],
    ));
    public
}

/// A temporary GnuPG home; its agent is stopped on drop.
pub struct Gpg {
    pub home: tempfile::TempDir,
}

impl Gpg {
    pub fn new() -> Gpg {
        Gpg {
            home: tempfile::tempdir().expect("tempdir"),
        }
    }

    pub fn home_str(&self) -> &str {
        path_str(self.home.path())
    }

    /// gpg with `args`, its output whatever the status.
    pub fn output(&self, args: &[&str]) -> Output {
        Command::new("gpg")
            .env("GNUPGHOME", self.home.path())
            .arg("--batch")
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run gpg (apt-get install gnupg; ci/setup.sh does)")
    }

    pub fn run(&self, args: &[&str]) -> Vec<u8> {
        let out = self.output(args);
        assert!(
            out.status.success(),
            "gpg {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }

    /// Generates an Ed25519 signing key protected by `passphrase` ("" for none); returns its
    /// primary fingerprint.
    pub fn gen_key(&self, uid: &str, passphrase: &str) -> String {
        self.run(&[
            "--pinentry-mode",
            "loopback",
            "--passphrase",
            passphrase,
            "--quick-gen-key",
            uid,
            "ed25519",
            "sign",
            "never",
        ]);
        let listing = String::from_utf8(self.run(&["--with-colons", "--list-keys", uid])).unwrap();
        listing
            .lines()
            .find(|l| l.starts_with("fpr:"))
            .and_then(|l| l.split(':').nth(9))
            .expect("a fingerprint")
            .to_string()
    }

    /// `gpg --verify SIG FILE`: whether gpg accepts it, and its status lines.
    pub fn verify(&self, signature: &Path, file: &Path) -> (bool, String) {
        let out = self.output(&[
            "--status-fd",
            "1",
            "--verify",
            path_str(signature),
            path_str(file),
        ]);
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr),
        )
    }
}

impl Drop for Gpg {
    fn drop(&mut self) {
        let _ = Command::new("gpgconf")
            .env("GNUPGHOME", self.home.path())
            .args(["--kill", "gpg-agent"])
            .status();
    }
}

/// `sqv --keyring KEYRING SIG FILE`: whether sqv accepts it, and what it printed. sqv is
/// required: Debian's `sqv` package, installed by ci/setup.sh.
pub fn sqv(keyring: &Path, signature: &Path, file: &Path) -> (bool, String) {
    let out = Command::new("sqv")
        .args([
            "--keyring",
            path_str(keyring),
            path_str(signature),
            path_str(file),
        ])
        .output()
        .expect("sqv is required for this test: apt-get install sqv (ci/setup.sh does)");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

/// `mpr manifest verify`, its success and all it printed.
pub fn mpr_verify(keyring: &Path, signature: &Path, file: &Path) -> (bool, String) {
    let out = mpr(
        &[
            "manifest",
            "verify",
            "--statement",
            path_str(file),
            "--signature",
            path_str(signature),
            "--keyring",
            path_str(keyring),
        ],
        &[],
    );
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}
