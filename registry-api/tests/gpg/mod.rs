// Shared by the openpgp and signatures test binaries; each uses part of it.
#![allow(dead_code)]

//! GnuPG driven as a publisher would drive it: keys made, exported and edited, and data signed,
//! in a throw-away GNUPGHOME.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// A temporary GnuPG home; its agent is stopped on drop.
pub struct Gpg {
    home: tempfile::TempDir,
}

impl Gpg {
    pub fn new() -> Gpg {
        let home = tempfile::tempdir().expect("tempdir");
        Gpg { home }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.home.path().join(name)
    }

    pub fn run(&self, args: &[&str]) -> Vec<u8> {
        let out = Command::new("gpg")
            .env("GNUPGHOME", self.home.path())
            .args([
                "--batch",
                "--yes",
                "--pinentry-mode",
                "loopback",
                "--passphrase",
                "",
            ])
            .args(args)
            .output()
            .expect("run gpg (is GnuPG installed?)");
        assert!(
            out.status.success(),
            "gpg {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }

    /// Generates a key and returns its primary fingerprint as gpg lists it.
    pub fn gen_key(&self, uid: &str, algo: &str, usage: &str) -> String {
        self.run(&["--quick-gen-key", uid, algo, usage, "never"]);
        self.fingerprints(uid)[0].clone()
    }

    /// Fingerprints (`fpr` lines) of the key matching `query`: primary first, then subkeys.
    pub fn fingerprints(&self, query: &str) -> Vec<String> {
        let listing = self.run(&["--with-colons", "--list-keys", query]);
        String::from_utf8(listing)
            .unwrap()
            .lines()
            .filter(|l| l.starts_with("fpr:"))
            .map(|l| l.split(':').nth(9).unwrap().to_string())
            .collect()
    }

    pub fn export(&self, fpr: &str) -> Vec<u8> {
        self.run(&["--armor", "--export", fpr])
    }

    pub fn export_binary(&self, fpr: &str) -> Vec<u8> {
        self.run(&["--export", fpr])
    }

    pub fn write(&self, name: &str, data: &[u8]) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, data).unwrap();
        path
    }

    /// Detached signature over `data` by `signer` (append `!` to force a subkey).
    pub fn sign(&self, signer: &str, data: &[u8], armor: bool) -> Vec<u8> {
        let input = self.write("data", data);
        let output = self.path("data.sig");
        let mut args = vec!["--local-user", signer, "--detach-sign", "--output"];
        args.push(output.to_str().unwrap());
        if armor {
            args.insert(0, "--armor");
        }
        args.push(input.to_str().unwrap());
        self.run(&args);
        std::fs::read(output).unwrap()
    }

    /// Runs gpg's `--edit-key` on `key` with `commands` on its command fd (one per line) and
    /// checks it succeeded; its output is dropped.
    pub fn edit_key(&self, key: &str, commands: &str) {
        let mut child = Command::new("gpg")
            .env("GNUPGHOME", self.home.path())
            .args(["--batch", "--pinentry-mode", "loopback", "--passphrase", ""])
            .args(["--command-fd", "0", "--edit-key", key])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::io::Write::write_all(child.stdin.as_mut().unwrap(), commands.as_bytes()).unwrap();
        assert!(child.wait().unwrap().success());
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

/// A path as a command-line argument.
pub fn path_str(p: &Path) -> &str {
    p.to_str().unwrap()
}
