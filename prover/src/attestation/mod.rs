//! Attestation evidence that binds a client's nonce, the server's TLS key and its OHTTP key config
//! (see [`binding`] for the encoding).
//!
//! [`Attester::detect`] finds the platform's attestation device once at start-up; [`Attester::attest`]
//! then answers each `GET /attestation?nonce=<hex>`. Without a TEE device the server answers 503 with
//! [`AttestationError::NoTeeDevice`], which names every device looked for: never a made-up document.

pub mod binding;
pub mod configfs_tsm;
mod nitro;
mod nonce;

use std::path::{Path, PathBuf};

use serde::Serialize;

pub use binding::{binding, BindingError};
pub use configfs_tsm::CreateReportEntry;
pub use nonce::{Nonce, NonceError, MAX_NONCE_LEN, MIN_NONCE_LEN};

/// Where the kernel exposes each attestation interface.
#[derive(Debug, Clone)]
pub struct DevicePaths {
    /// AWS Nitro Secure Module.
    pub nsm: PathBuf,
    /// configfs-tsm report directory (SEV-SNP `sev_guest`, TDX `tdx_guest`).
    pub tsm_reports: PathBuf,
    /// How a configfs-tsm report entry is made (`mkdir` on the real device).
    pub tsm_create_entry: CreateReportEntry,
}

impl Default for DevicePaths {
    fn default() -> Self {
        DevicePaths {
            nsm: PathBuf::from("/dev/nsm"),
            tsm_reports: PathBuf::from("/sys/kernel/config/tsm/report"),
            tsm_create_entry: CreateReportEntry::kernel(),
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

/// One attestation: the raw platform evidence and the binding it carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evidence {
    pub platform: Platform,
    /// Nitro: the NSM's COSE_Sign1 document. SEV-SNP: the attestation report. TDX: the quote.
    pub document: Vec<u8>,
    /// SEV-SNP/TDX: the REPORT_DATA; Nitro: the document's `user_data`.
    pub binding: [u8; 64],
    /// SEV-SNP: the host's certificate table (configfs-tsm `auxblob`), when it gave one.
    pub snp_certificate_table: Option<Vec<u8>>,
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
    #[error("cannot compute the channel binding: {0}")]
    Binding(#[from] BindingError),
}

/// The platform's attestation interface, found at start-up.
#[derive(Debug, Clone)]
pub enum Attester {
    Nitro {
        device: PathBuf,
    },
    ConfigfsTsm {
        reports: PathBuf,
        create_entry: CreateReportEntry,
    },
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
                create_entry: paths.tsm_create_entry.clone(),
            });
        }
        Err(AttestationError::NoTeeDevice {
            nsm: paths.nsm.clone(),
            tsm_reports: paths.tsm_reports.clone(),
        })
    }

    /// Evidence for `nonce` on the channel whose TLS key has SubjectPublicKeyInfo `tls_spki` (None
    /// without TLS), for a server whose encoded OHTTP key config is `key_config`.
    /// Blocking (a device round trip): call it from a blocking thread.
    pub fn attest(
        &self,
        nonce: &Nonce,
        tls_spki: Option<&[u8]>,
        key_config: &[u8],
    ) -> Result<Evidence, AttestationError> {
        let binding = binding(nonce, tls_spki.unwrap_or_default(), key_config)?;
        match self {
            Attester::Nitro { device } => Ok(Evidence {
                platform: Platform::AwsNitro,
                document: nitro::request_document(device, nonce, tls_spki, &binding)?,
                binding,
                snp_certificate_table: None,
            }),
            Attester::ConfigfsTsm {
                reports,
                create_entry,
            } => {
                let report = configfs_tsm::request_report(reports, create_entry, &binding)?;
                // Only SEV-SNP defines auxblob as the certificate table.
                let snp_certificate_table = match report.platform {
                    Platform::SevSnp => report.auxblob,
                    Platform::AwsNitro | Platform::Tdx => None,
                };
                Ok(Evidence {
                    platform: report.platform,
                    document: report.report,
                    binding,
                    snp_certificate_table,
                })
            }
        }
    }

    pub fn device(&self) -> &Path {
        match self {
            Attester::Nitro { device } => device,
            Attester::ConfigfsTsm { reports, .. } => reports,
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
            tsm_create_entry: CreateReportEntry::kernel(),
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
            tsm_create_entry: CreateReportEntry::kernel(),
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
