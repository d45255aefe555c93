//! The release's signed statement, its signatures and its transparency-log proof, "stapled" to every
//! attestation answer so a wallet can check the release offline. Given at deploy time (flags, not the
//! measured image: the proof is made after the image is built), read once at start-up, passed through
//! as they are: the server does not interpret them, and a wallet trusts them only after verifying them.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use base64::Engine;
use serde::Serialize;

pub const MAX_STATEMENT_BYTES: u64 = 1 << 20;
pub const MAX_SIGNATURE_BYTES: u64 = 64 << 10;
pub const MAX_PROOF_BYTES: u64 = 256 << 10;
/// A release is signed by a few maintainers; more files than this is a deployment mistake.
pub const MAX_SIGNATURES: usize = 32;
/// AMD's CRLs are a few KiB; the verifier refuses larger than this.
pub const MAX_SNP_CRL_BYTES: u64 = 1 << 20;
/// As many as the verifier reads from an envelope.
pub const MAX_SNP_CRLS: usize = 8;

#[derive(Debug, thiserror::Error)]
pub enum StapleError {
    #[error("stapling needs --staple-statement, at least one --staple-signature and --staple-proof; {0} is missing")]
    Incomplete(&'static str),
    #[error("{} --staple-signature files; at most {MAX_SIGNATURES} are accepted", .0)]
    TooManySignatures(usize),
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{} is larger than {limit} bytes, the limit for a {what}", path.display())]
    TooLarge {
        path: PathBuf,
        what: &'static str,
        limit: u64,
    },
    #[error("{} is not UTF-8 text; a {what} is text (ASCII-armored signature, tlog-proof bundle)", path.display())]
    NotText { path: PathBuf, what: &'static str },
    #[error("{0} --snp-crl files; at most {MAX_SNP_CRLS} are accepted (AMD publishes one per product and key kind)")]
    TooManyCrls(usize),
}

/// The `staple` member of the attestation envelope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Staple {
    /// The statement's bytes, base64 (standard alphabet, padded).
    pub statement: String,
    /// ASCII-armored OpenPGP signatures over the statement, as given.
    pub signatures: Vec<String>,
    /// The `c2sp.org/tlog-proof@v1` bundle, as given.
    pub proof: String,
}

impl Staple {
    /// The staple from the deploy-time files, or `None` when none is configured.
    pub fn load(
        statement: Option<&Path>,
        signatures: &[PathBuf],
        proof: Option<&Path>,
    ) -> Result<Option<Staple>, StapleError> {
        if statement.is_none() && signatures.is_empty() && proof.is_none() {
            return Ok(None);
        }
        let statement = statement.ok_or(StapleError::Incomplete("--staple-statement"))?;
        let proof = proof.ok_or(StapleError::Incomplete("--staple-proof"))?;
        if signatures.is_empty() {
            return Err(StapleError::Incomplete("--staple-signature"));
        }
        if signatures.len() > MAX_SIGNATURES {
            return Err(StapleError::TooManySignatures(signatures.len()));
        }
        let statement_bytes = read_limited(statement, MAX_STATEMENT_BYTES, "statement")?;
        let signatures = signatures
            .iter()
            .map(|path| read_text(path, MAX_SIGNATURE_BYTES, "signature"))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Some(Staple {
            statement: base64::engine::general_purpose::STANDARD.encode(statement_bytes),
            signatures,
            proof: read_text(proof, MAX_PROOF_BYTES, "proof")?,
        }))
    }
}

/// AMD CRLs (DER, as KDS serves them at `/vcek/v1/{product}/crl`) returned with SEV-SNP evidence, so
/// a wallet can check revocation without reaching AMD. Read on every attestation, so an operator
/// refreshes them by replacing the files (write + rename), without a restart; read once at start-up
/// too, so a wrong path fails the start.
#[derive(Debug, Clone, Default)]
pub struct SnpCrls {
    paths: Vec<PathBuf>,
}

impl SnpCrls {
    pub fn load(paths: &[PathBuf]) -> Result<SnpCrls, StapleError> {
        if paths.len() > MAX_SNP_CRLS {
            return Err(StapleError::TooManyCrls(paths.len()));
        }
        let crls = SnpCrls {
            paths: paths.to_vec(),
        };
        crls.read()?;
        Ok(crls)
    }

    /// The files' current contents; blocking I/O.
    pub fn read(&self) -> Result<Vec<Vec<u8>>, StapleError> {
        self.paths
            .iter()
            .map(|path| read_limited(path, MAX_SNP_CRL_BYTES, "CRL"))
            .collect()
    }

    pub fn is_empty(&self) -> bool {
        self.paths.is_empty()
    }
}

fn read_text(path: &Path, limit: u64, what: &'static str) -> Result<String, StapleError> {
    String::from_utf8(read_limited(path, limit, what)?).map_err(|_| StapleError::NotText {
        path: path.to_owned(),
        what,
    })
}

fn read_limited(path: &Path, limit: u64, what: &'static str) -> Result<Vec<u8>, StapleError> {
    let read_error = |source| StapleError::Read {
        path: path.to_owned(),
        source,
    };
    let file = File::open(path).map_err(read_error)?;
    let mut content = Vec::new();
    file.take(limit + 1)
        .read_to_end(&mut content)
        .map_err(read_error)?;
    if content.len() as u64 > limit {
        return Err(StapleError::TooLarge {
            path: path.to_owned(),
            what,
            limit,
        });
    }
    Ok(content)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snp_crls_are_read_again_on_every_call_and_checked_at_start() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "milan.crl", b"first");
        let crls = SnpCrls::load(std::slice::from_ref(&path)).unwrap();
        assert_eq!(crls.read().unwrap(), vec![b"first".to_vec()]);
        // Replaced by the operator (write + rename): the next answer carries the new one.
        let fresh = write(dir.path(), "milan.crl.new", b"second");
        std::fs::rename(&fresh, &path).unwrap();
        assert_eq!(crls.read().unwrap(), vec![b"second".to_vec()]);

        let missing = dir.path().join("absent.crl");
        let error = SnpCrls::load(&[missing]).unwrap_err().to_string();
        assert!(error.contains("absent.crl"), "{error}");
        let too_many = vec![path; MAX_SNP_CRLS + 1];
        assert!(matches!(
            SnpCrls::load(&too_many),
            Err(StapleError::TooManyCrls(9))
        ));
        let big = write(
            dir.path(),
            "big.crl",
            &vec![0u8; MAX_SNP_CRL_BYTES as usize + 1],
        );
        let error = SnpCrls::load(&[big]).unwrap_err().to_string();
        assert!(error.contains("larger than"), "{error}");
    }

    fn write(dir: &Path, name: &str, content: &[u8]) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, content).unwrap();
        path
    }

    #[test]
    fn the_files_are_passed_through_statement_in_base64() {
        let dir = tempfile::tempdir().unwrap();
        let statement = write(dir.path(), "statement", b"{\"_type\":\"x\"}\xff");
        let signatures = [
            write(dir.path(), "a.asc", b"-----BEGIN PGP SIGNATURE-----\na\n"),
            write(dir.path(), "b.asc", b"-----BEGIN PGP SIGNATURE-----\nb\n"),
        ];
        let proof = write(dir.path(), "proof", b"c2sp.org/tlog-proof@v1\n");
        let staple = Staple::load(
            Some(statement.as_path()),
            &signatures,
            Some(proof.as_path()),
        )
        .unwrap()
        .unwrap();
        assert_eq!(staple.statement, "eyJfdHlwZSI6Ingiff8=");
        assert_eq!(staple.signatures.len(), 2);
        assert!(staple.signatures[1].ends_with("b\n"));
        assert_eq!(staple.proof, "c2sp.org/tlog-proof@v1\n");
        assert_eq!(Staple::load(None, &[], None).unwrap(), None);
    }

    #[test]
    fn incomplete_oversized_missing_and_binary_files_are_refused_naming_them() {
        let dir = tempfile::tempdir().unwrap();
        let statement = write(dir.path(), "statement", b"s");
        let signature = write(dir.path(), "sig.asc", b"sig");
        let proof = write(dir.path(), "proof", b"p");
        let error =
            Staple::load(Some(statement.as_path()), &[], Some(proof.as_path())).unwrap_err();
        assert!(
            error.to_string().contains("--staple-signature is missing"),
            "{error}"
        );
        let error = Staple::load(
            None,
            std::slice::from_ref(&signature),
            Some(proof.as_path()),
        )
        .unwrap_err();
        assert!(error.to_string().contains("--staple-statement"), "{error}");

        let big = write(
            dir.path(),
            "big.asc",
            &vec![b'a'; MAX_SIGNATURE_BYTES as usize + 1],
        );
        let error = Staple::load(
            Some(statement.as_path()),
            std::slice::from_ref(&big),
            Some(proof.as_path()),
        )
        .unwrap_err();
        assert!(matches!(error, StapleError::TooLarge { .. }));
        assert!(
            error.to_string().contains(&big.display().to_string()),
            "{error}"
        );

        let binary = write(dir.path(), "binary.asc", b"\xff\xfe");
        let error =
            Staple::load(Some(statement.as_path()), &[binary], Some(proof.as_path())).unwrap_err();
        assert!(matches!(error, StapleError::NotText { .. }), "{error}");

        let missing = dir.path().join("absent");
        let error =
            Staple::load(Some(missing.as_path()), &[signature], Some(proof.as_path())).unwrap_err();
        assert!(error.to_string().contains("absent"), "{error}");
    }
}
