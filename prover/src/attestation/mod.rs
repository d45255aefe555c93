//! Attestation evidence that binds a client's nonce and the server's TLS key.
//!
//! [`Attester::detect`] finds the platform's attestation device once at start-up; [`Attester::attest`]
//! then answers each `GET /attestation?nonce=<hex>`. Without a TEE device the server answers 503 with
//! [`AttestationError::NoTeeDevice`], which names every device looked for: never a made-up document.

mod binding;
mod configfs_tsm;
mod nitro;
mod nonce;

use std::path::{Path, PathBuf};

use serde::Serialize;

pub use binding::report_data;
pub use nonce::{Nonce, NonceError, MAX_NONCE_LEN, MIN_NONCE_LEN};

/// Where the kernel exposes each attestation interface.
#[derive(Debug, Clone)]
pub struct DevicePaths {
    /// AWS Nitro Secure Module.
    pub nsm: PathBuf,
    /// configfs-tsm report directory (SEV-SNP `sev_guest`, TDX `tdx_guest`).
    pub tsm_reports: PathBuf,
}

impl Default for DevicePaths {
    fn default() -> Self {
        DevicePaths {
            nsm: PathBuf::from("/dev/nsm"),
            tsm_reports: PathBuf::from("/sys/kernel/config/tsm/report"),
        }
    }
}

/// The TEE platform that produced a piece of evidence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Platform {
    AwsNitro,
    SevSnp,
    Tdx,
}

/// One attestation: the raw platform evidence and how it binds the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evidence {
    pub platform: Platform,
    /// Nitro: the NSM's COSE_Sign1 document. SEV-SNP: the attestation report. TDX: the quote.
    pub document: Vec<u8>,
    /// The REPORT_DATA bound into SEV-SNP/TDX evidence; Nitro carries nonce and key in their own fields.
    pub report_data: Option<[u8; 64]>,
}

#[derive(Debug, thiserror::Error)]
pub enum AttestationError {
    #[error(
        "no TEE attestation device: looked for {} (AWS Nitro Enclaves) and {} (SEV-SNP or TDX \
         configfs-tsm, Linux >= 6.7 with configfs mounted); this server is not running inside a TEE",
        nsm.display(),
        tsm_reports.display()
    )]
    NoTeeDevice { nsm: PathBuf, tsm_reports: PathBuf },
    #[error("attestation device {}: {problem}", path.display())]
    Device { path: PathBuf, problem: String },
}

/// The platform's attestation interface, found at start-up.
#[derive(Debug, Clone)]
pub enum Attester {
    Nitro { device: PathBuf },
    ConfigfsTsm { reports: PathBuf },
}

impl Attester {
    /// Looks for a Nitro Secure Module, then for configfs-tsm.
    pub fn detect(paths: &DevicePaths) -> Result<Attester, AttestationError> {
        if paths.nsm.exists() {
            return Ok(Attester::Nitro {
                device: paths.nsm.clone(),
            });
        }
        if paths.tsm_reports.is_dir() {
            return Ok(Attester::ConfigfsTsm {
                reports: paths.tsm_reports.clone(),
            });
        }
        Err(AttestationError::NoTeeDevice {
            nsm: paths.nsm.clone(),
            tsm_reports: paths.tsm_reports.clone(),
        })
    }

    /// Evidence for `nonce` on the channel whose TLS key has SubjectPublicKeyInfo `spki_der`.
    /// Blocking (a device round trip): call it from a blocking thread.
    pub fn attest(&self, nonce: &Nonce, spki_der: &[u8]) -> Result<Evidence, AttestationError> {
        match self {
            Attester::Nitro { device } => Ok(Evidence {
                platform: Platform::AwsNitro,
                document: nitro::request_document(device, nonce, spki_der)?,
                report_data: None,
            }),
            Attester::ConfigfsTsm { reports } => {
                let data = report_data(nonce, spki_der);
                let report = configfs_tsm::request_report(reports, &data)?;
                Ok(Evidence {
                    platform: report.platform,
                    document: report.report,
                    report_data: Some(data),
                })
            }
        }
    }

    pub fn device(&self) -> &Path {
        match self {
            Attester::Nitro { device } => device,
            Attester::ConfigfsTsm { reports } => reports,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_a_tee_detection_names_every_device_it_looked_for() {
        let dir = tempfile::tempdir().unwrap();
        let paths = DevicePaths {
            nsm: dir.path().join("nsm"),
            tsm_reports: dir.path().join("tsm/report"),
        };
        let err = Attester::detect(&paths).unwrap_err();
        assert!(matches!(err, AttestationError::NoTeeDevice { .. }));
        let message = err.to_string();
        assert!(
            message.contains(&paths.nsm.display().to_string()),
            "{message}"
        );
        assert!(
            message.contains(&paths.tsm_reports.display().to_string()),
            "{message}"
        );
        assert!(message.contains("not running inside a TEE"), "{message}");
    }

    #[test]
    fn detection_prefers_the_nitro_module_then_configfs_tsm() {
        let dir = tempfile::tempdir().unwrap();
        let paths = DevicePaths {
            nsm: dir.path().join("nsm"),
            tsm_reports: dir.path().join("report"),
        };
        std::fs::create_dir(&paths.tsm_reports).unwrap();
        assert!(matches!(
            Attester::detect(&paths).unwrap(),
            Attester::ConfigfsTsm { .. }
        ));
        std::fs::write(&paths.nsm, b"").unwrap();
        assert!(matches!(
            Attester::detect(&paths).unwrap(),
            Attester::Nitro { .. }
        ));
    }
}
