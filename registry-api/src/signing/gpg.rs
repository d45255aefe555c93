//! Signing through GnuPG, for keys that live in gpg-agent or on a hardware token (OpenPGP card,
//! YubiKey) and never leave it.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use super::{DetachedSignature, Passphrase, SigningError};
use crate::openpgp::{parse_keyring, verify_detached};

/// Most of gpg's standard error kept in an error message.
const MAX_STDERR_CHARS: usize = 2000;

/// Makes a detached ASCII-armored SHA-512 signature of the file at `statement` with
/// `gpg --batch --detach-sign --armor --local-user KEY_ID`, in the caller's `GNUPGHOME`.
///
/// A `passphrase` is handed to gpg on its standard input (`--pinentry-mode loopback
/// --passphrase-fd 0`) only when one is given; otherwise gpg-agent asks for it, or the token
/// does its own PIN handling. On failure the error holds gpg's standard error.
///
/// The signature is then checked like one made by [`super::sign_detached`], against the
/// public certificate `gpg --export KEY_ID` gives.
pub fn gpg_sign_detached(
    key_id: &str,
    passphrase: Option<&Passphrase>,
    statement: &Path,
) -> Result<DetachedSignature, SigningError> {
    check_key_id(key_id)?;
    let data = super::read_statement(statement)?;
    let signature = run_gpg_sign(key_id, passphrase, statement)?;
    let armored = String::from_utf8(signature).map_err(|_| SigningError::GpgOutput {
        detail: "the signature is not UTF-8".into(),
    })?;
    let keys = exported_keys(key_id)?;
    let verified = verify_detached(&keys, &data, armored.as_bytes()).map_err(|source| {
        SigningError::SelfCheck {
            fingerprint: keys
                .iter()
                .map(|k| k.fingerprint.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            source,
        }
    })?;
    Ok(DetachedSignature { armored, verified })
}

/// The ASCII-armoured public certificate gpg holds for `fingerprint` (a primary key's).
pub fn gpg_export_public(fingerprint: &str) -> Result<String, SigningError> {
    exported_keys(fingerprint)?
        .into_iter()
        .find(|key| key.fingerprint.eq_ignore_ascii_case(fingerprint))
        .map(|key| key.armored)
        .ok_or_else(|| SigningError::GpgOutput {
            detail: format!("gpg --export {fingerprint} gave no certificate with that fingerprint"),
        })
}

/// The public certificates `gpg --export KEY_ID` gives.
fn exported_keys(key_id: &str) -> Result<Vec<crate::openpgp::PublicKey>, SigningError> {
    let output = Command::new("gpg")
        .args(["--batch", "--no-tty", "--armor", "--export", "--", key_id])
        .stdin(Stdio::null())
        .output()
        .map_err(|source| SigningError::GpgMissing { source })?;
    if !output.status.success() || output.stdout.is_empty() {
        return Err(SigningError::GpgOutput {
            detail: format!(
                "gpg --export {key_id} gave no public key ({}): {}",
                output.status,
                stderr_text(&output.stderr)
            ),
        });
    }
    parse_keyring(&output.stdout).map_err(|e| SigningError::GpgOutput {
        detail: format!("gpg --export {key_id}: {e}"),
    })
}

fn run_gpg_sign(
    key_id: &str,
    passphrase: Option<&Passphrase>,
    statement: &Path,
) -> Result<Vec<u8>, SigningError> {
    let mut command = Command::new("gpg");
    command.args([
        "--batch",
        "--no-tty",
        "--detach-sign",
        "--armor",
        "--digest-algo",
        "SHA512",
        "--local-user",
        key_id,
        "--output",
        "-",
    ]);
    if passphrase.is_some() {
        command.args(["--pinentry-mode", "loopback", "--passphrase-fd", "0"]);
    }
    command
        .arg("--")
        .arg(statement)
        .stdin(if passphrase.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command
        .spawn()
        .map_err(|source| SigningError::GpgMissing { source })?;
    if let (Some(passphrase), Some(mut stdin)) = (passphrase, child.stdin.take()) {
        // gpg reads one line; a write error means it exited early, and its status says why.
        let _ = passphrase
            .password()
            .map(|p| stdin.write_all(p).and_then(|()| stdin.write_all(b"\n")));
    }
    let output = child
        .wait_with_output()
        .map_err(|source| SigningError::GpgMissing { source })?;
    if !output.status.success() {
        return Err(SigningError::GpgFailed {
            status: output.status.to_string(),
            stderr: stderr_text(&output.stderr),
        });
    }
    let text = String::from_utf8_lossy(&output.stdout);
    let trimmed = text.trim_start();
    if !trimmed.starts_with("-----BEGIN PGP SIGNATURE-----")
        || !trimmed.trim_end().ends_with("-----END PGP SIGNATURE-----")
    {
        return Err(SigningError::GpgOutput {
            detail: format!(
                "{} bytes on standard output; gpg said: {}",
                output.stdout.len(),
                stderr_text(&output.stderr)
            ),
        });
    }
    Ok(output.stdout)
}

fn check_key_id(key_id: &str) -> Result<(), SigningError> {
    let invalid = |detail: &str| {
        Err(SigningError::InvalidGpgKeyId {
            key_id: key_id.chars().take(100).collect(),
            detail: detail.to_string(),
        })
    };
    if key_id.trim().is_empty() {
        return invalid("it is empty; give a fingerprint (gpg --list-secret-keys --with-colons)");
    }
    if key_id.starts_with('-') {
        return invalid("it starts with '-'; give a fingerprint, key ID or e-mail address");
    }
    if key_id.len() > 256 || key_id.chars().any(char::is_control) {
        return invalid("it is too long or contains control characters");
    }
    Ok(())
}

/// gpg's standard error on one bounded line-preserving block, control characters escaped.
fn stderr_text(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    let text = text.trim();
    if text.is_empty() {
        return "gpg printed nothing on standard error".into();
    }
    let start = text
        .char_indices()
        .rev()
        .nth(MAX_STDERR_CHARS)
        .map(|(i, _)| i)
        .unwrap_or(0);
    let tail = &text[start..];
    let mut out = String::with_capacity(tail.len());
    if start > 0 {
        out.push('…');
    }
    for c in tail.chars() {
        match c {
            '\n' => out.push_str(" | "),
            c if c.is_control() => out.extend(c.escape_default()),
            c => out.push(c),
        }
    }
    out
}
