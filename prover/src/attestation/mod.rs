//! Attestation evidence that binds a client's nonce, the server's TLS key and its OHTTP key config
//! (see [`binding`] for the encoding).
//!
//! [`Attester::detect`] finds the platform's attestation device once at start-up; [`Attester::attest`]
//! then answers each `GET /attestation?nonce=<hex>`. Without a TEE device the server answers 503 with
//! [`AttestationError::NoTeeDevice`], which names every device looked for: never a made-up document.
//!
//! Detection order (`--attestation auto`): the Confidential Space launcher's socket
//! (`--launcher-socket`, default `/run/container_launcher/teeserver.sock`; a Confidential Space
//! container has no TPM device of its own, and the launcher's token covers the workload image,
//! see [`confidential_space`]), the Nitro Secure Module, then a TPM (`--tpm-device`, default
//! `/dev/tpmrm0`), then configfs-tsm. The TPM comes before SEV-SNP/TDX because on GCP and Azure
//! confidential VMs the hardware report covers the provider's firmware or paravisor, not our code,
//! while the vTPM's measured boot (PCRs 4, 9, 11 of our UKI) does; see [`tpm`] (on Azure TDX VMs it
//! also fetches the TD quote of the HCL report from IMDS, `--azure-imds-url`). On a self-hosted
//! SEV-SNP/TDX guest whose vTPM the host emulates outside the TEE, force `--attestation tsm`: such a
//! vTPM vouches for nothing. `--attestation confidential-space|nitro|tpm|tsm` uses that interface
//! only, and a forced one that is unavailable stops the start. Requests to the launcher and to IMDS
//! give up after `--attestation-timeout`.

pub mod binding;
pub mod confidential_space;
pub mod configfs_tsm;
mod nitro;
mod nonce;
pub mod service;
pub mod tpm;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

pub use binding::{binding, BindingError};
pub use confidential_space::{Launcher, TokenType};
pub use configfs_tsm::CreateReportEntry;
pub use nonce::{Nonce, NonceError, MAX_NONCE_LEN, MIN_NONCE_LEN};
pub use tpm::{AzureImds, TpmAttester, TpmError, TpmEvidence};

/// How long a request to the launcher or IMDS may take: each makes a quote and, for the launcher,
/// a round trip to Google's attestation service.
pub const DEFAULT_SERVICE_TIMEOUT: Duration = Duration::from_secs(20);

/// Which attestation interface to use: detect one, or insist on one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum AttestationChoice {
    /// The Confidential Space launcher, else the Nitro Secure Module, else a TPM, else configfs-tsm.
    #[default]
    Auto,
    ConfidentialSpace,
    Nitro,
    Tpm,
    Tsm,
}

/// Where the kernel exposes each attestation interface.
#[derive(Debug, Clone)]
pub struct DevicePaths {
    /// AWS Nitro Secure Module.
    pub nsm: PathBuf,
    /// configfs-tsm report directory (SEV-SNP `sev_guest`, TDX `tdx_guest`).
    pub tsm_reports: PathBuf,
    /// How a configfs-tsm report entry is made (`mkdir` on the real device).
    pub tsm_create_entry: CreateReportEntry,
    /// A TPM character device (`/dev/tpmrm0`) or a swtpm Unix socket.
    pub tpm: PathBuf,
    /// The firmware's TCG event log returned with TPM quotes.
    pub tpm_event_log: PathBuf,
    /// GCP Confidential Space: the launcher's socket and the token asked of it.
    pub launcher: Launcher,
    /// Azure TDX: where the vTPM path gets the TD quote of the HCL report.
    pub azure_imds: AzureImds,
    pub choice: AttestationChoice,
}

impl Default for DevicePaths {
    fn default() -> Self {
        DevicePaths {
            nsm: PathBuf::from("/dev/nsm"),
            tsm_reports: PathBuf::from("/sys/kernel/config/tsm/report"),
            tsm_create_entry: CreateReportEntry::kernel(),
            tpm: PathBuf::from("/dev/tpmrm0"),
            tpm_event_log: PathBuf::from(tpm::DEFAULT_EVENT_LOG),
            launcher: Launcher::default(),
            azure_imds: AzureImds::default(),
            choice: AttestationChoice::Auto,
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
    /// A TPM 2.0 quote (GCP and Azure confidential VMs' vTPMs).
    Vtpm,
    /// A token from Google's attestation service, through the Confidential Space launcher.
    GcpConfidentialSpace,
}

/// One attestation: the raw platform evidence and the binding it carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evidence {
    pub platform: Platform,
    /// Nitro: the NSM's COSE_Sign1 document. SEV-SNP: the attestation report. TDX: the quote.
    /// vTPM: the quote's TPMS_ATTEST. Confidential Space: the token's ASCII bytes.
    pub document: Vec<u8>,
    /// SEV-SNP/TDX: the REPORT_DATA; Nitro: the document's `user_data`; vTPM: its SHA-256 is the
    /// quote's extraData; Confidential Space: its SHA-256, hex, is the token's `eat_nonce`.
    pub binding: [u8; 64],
    /// SEV-SNP: the host's certificate table (configfs-tsm `auxblob`), when it gave one.
    pub snp_certificate_table: Option<Vec<u8>>,
    /// vTPM: signature, AK, PCRs, event log, AK certificate or HCL report.
    pub tpm: Option<TpmEvidence>,
}

#[derive(Debug, thiserror::Error)]
pub enum AttestationError {
    #[error(
        "no TEE attestation device: looked for {} (GCP Confidential Space launcher), {} (AWS \
         Nitro Enclaves), {} (a TPM: GCP or Azure confidential VM) and {} (SEV-SNP or TDX \
         configfs-tsm, Linux >= 6.7 with configfs mounted); this server is not running inside a TEE",
        launcher.display(),
        nsm.display(),
        tpm.display(),
        tsm_reports.display()
    )]
    NoTeeDevice {
        launcher: PathBuf,
        nsm: PathBuf,
        tpm: PathBuf,
        tsm_reports: PathBuf,
    },
    #[error("--attestation {choice}: {problem}")]
    ForcedUnavailable {
        choice: &'static str,
        problem: String,
    },
    #[error("TPM {}: {source}", path.display())]
    Tpm { path: PathBuf, source: TpmError },
    #[error("attestation device {}: {problem}", path.display())]
    Device { path: PathBuf, problem: String },
    #[error("Confidential Space launcher {}: {problem}", socket.display())]
    Launcher { socket: PathBuf, problem: String },
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
    /// Shared: the TPM connection and its attestation key live as long as the server.
    Tpm(Arc<TpmAttester>),
    /// A token from the launcher per attestation.
    ConfidentialSpace(Launcher),
}

impl Attester {
    /// Finds the attestation interface `paths.choice` asks for (see the module docs for the order).
    /// Opening a TPM creates its attestation key: slow, call it from a blocking thread.
    pub fn detect(paths: &DevicePaths) -> Result<Attester, AttestationError> {
        let nitro = || Attester::Nitro {
            device: paths.nsm.clone(),
        };
        let tsm = || Attester::ConfigfsTsm {
            reports: paths.tsm_reports.clone(),
            create_entry: paths.tsm_create_entry.clone(),
        };
        let tpm = || {
            TpmAttester::open_with_imds(&paths.tpm, &paths.tpm_event_log, paths.azure_imds.clone())
                .map(|attester| Attester::Tpm(Arc::new(attester)))
        };
        // Only its existence: asking for a token here would cost a call to Google's service.
        let confidential_space = || Attester::ConfidentialSpace(paths.launcher.clone());
        let forced =
            |choice, problem: String| AttestationError::ForcedUnavailable { choice, problem };
        match paths.choice {
            AttestationChoice::Auto => {
                if paths.launcher.socket.exists() {
                    Ok(confidential_space())
                } else if paths.nsm.exists() {
                    Ok(nitro())
                } else if paths.tpm.exists() {
                    tpm().map_err(|source| AttestationError::Tpm {
                        path: paths.tpm.clone(),
                        source,
                    })
                } else if paths.tsm_reports.is_dir() {
                    Ok(tsm())
                } else {
                    Err(AttestationError::NoTeeDevice {
                        launcher: paths.launcher.socket.clone(),
                        nsm: paths.nsm.clone(),
                        tpm: paths.tpm.clone(),
                        tsm_reports: paths.tsm_reports.clone(),
                    })
                }
            }
            AttestationChoice::ConfidentialSpace if paths.launcher.socket.exists() => {
                Ok(confidential_space())
            }
            AttestationChoice::ConfidentialSpace => Err(forced(
                "confidential-space",
                format!(
                    "no Confidential Space launcher socket at {} (pass --launcher-socket if it is \
                     mounted elsewhere)",
                    paths.launcher.socket.display()
                ),
            )),
            AttestationChoice::Nitro if paths.nsm.exists() => Ok(nitro()),
            AttestationChoice::Nitro => Err(forced(
                "nitro",
                format!("no Nitro Secure Module at {}", paths.nsm.display()),
            )),
            AttestationChoice::Tpm => tpm().map_err(|e| forced("tpm", e.to_string())),
            AttestationChoice::Tsm if paths.tsm_reports.is_dir() => Ok(tsm()),
            AttestationChoice::Tsm => Err(forced(
                "tsm",
                format!(
                    "no configfs-tsm report directory at {}",
                    paths.tsm_reports.display()
                ),
            )),
        }
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
                tpm: None,
            }),
            Attester::Tpm(attester) => {
                let quote = attester
                    .quote(&binding)
                    .map_err(|source| AttestationError::Tpm {
                        path: attester.device().to_owned(),
                        source,
                    })?;
                Ok(Evidence {
                    platform: Platform::Vtpm,
                    document: quote.attest.clone(),
                    binding,
                    snp_certificate_table: None,
                    tpm: Some(quote),
                })
            }
            Attester::ConfidentialSpace(launcher) => Ok(Evidence {
                platform: Platform::GcpConfidentialSpace,
                document: launcher.token(&binding)?,
                binding,
                snp_certificate_table: None,
                tpm: None,
            }),
            Attester::ConfigfsTsm {
                reports,
                create_entry,
            } => {
                let report = configfs_tsm::request_report(reports, create_entry, &binding)?;
                // Only SEV-SNP defines auxblob as the certificate table. TDX has none to pass on:
                // its PCK chain is inside the quote (see configfs_tsm).
                let snp_certificate_table = match report.platform {
                    Platform::SevSnp => report.auxblob,
                    Platform::AwsNitro
                    | Platform::Tdx
                    | Platform::Vtpm
                    | Platform::GcpConfidentialSpace => None,
                };
                Ok(Evidence {
                    platform: report.platform,
                    document: report.report,
                    binding,
                    snp_certificate_table,
                    tpm: None,
                })
            }
        }
    }

    pub fn device(&self) -> &Path {
        match self {
            Attester::Nitro { device } => device,
            Attester::ConfigfsTsm { reports, .. } => reports,
            Attester::Tpm(attester) => attester.device(),
            Attester::ConfidentialSpace(launcher) => &launcher.socket,
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
            tpm: dir.path().join("tpmrm0"),
            launcher: Launcher {
                socket: dir.path().join("teeserver.sock"),
                ..Launcher::default()
            },
            ..DevicePaths::default()
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
        assert!(
            message.contains(&paths.tpm.display().to_string()),
            "{message}"
        );
        assert!(
            message.contains(&paths.launcher.socket.display().to_string()),
            "{message}"
        );
        assert!(message.contains("not running inside a TEE"), "{message}");
    }

    #[test]
    fn detection_prefers_the_launcher_then_the_nitro_module_then_configfs_tsm() {
        let dir = tempfile::tempdir().unwrap();
        let mut paths = DevicePaths {
            nsm: dir.path().join("nsm"),
            tsm_reports: dir.path().join("report"),
            tsm_create_entry: CreateReportEntry::kernel(),
            tpm: dir.path().join("tpmrm0"),
            launcher: Launcher {
                socket: dir.path().join("teeserver.sock"),
                ..Launcher::default()
            },
            ..DevicePaths::default()
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
        // A Confidential Space container sees the launcher's socket (a plain file does here:
        // detection only looks for it); it wins over every device.
        paths.choice = AttestationChoice::ConfidentialSpace;
        let err = Attester::detect(&paths).unwrap_err();
        assert!(
            err.to_string()
                .contains("--attestation confidential-space: no Confidential Space launcher"),
            "{err}"
        );
        std::fs::write(&paths.launcher.socket, b"").unwrap();
        for choice in [
            AttestationChoice::Auto,
            AttestationChoice::ConfidentialSpace,
        ] {
            paths.choice = choice;
            let attester = Attester::detect(&paths).unwrap();
            assert!(matches!(attester, Attester::ConfidentialSpace(_)));
            assert_eq!(attester.device(), paths.launcher.socket);
        }
    }
}
