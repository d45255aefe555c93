//! TPM 2.0 quotes from a (v)TPM: GCP and Azure confidential VMs, or any machine with a TPM.
//!
//! Why a TPM and not the SEV-SNP/TDX report on those clouds: there the hardware report measures the
//! provider's firmware or paravisor, not our code; the vTPM's measured boot does (PCRs 4, 9 and 11
//! hold the UKI, its kernel command line and initrd, and its sections). The report still matters to
//! the wallet, as the root that vouches for the vTPM (Azure: the HCL report names the AK; GCE: Google
//! certifies the AK). On Azure TDX VMs the HCL report holds a TDREPORT, which only the local platform
//! can check, so its TD quote is fetched from IMDS and returned next to it ([`azure_tdx`]).
//!
//! At start-up [`TpmAttester::open`] connects to the TPM (`/dev/tpmrm0`, or a swtpm Unix socket) and
//! loads the attestation key once ([`ak`]). Each attestation then quotes SHA-256 PCRs 0-15 with
//! qualifyingData = SHA-256(binding): the 64-byte binding does not fit TPM2B_DATA on vTPMs without
//! SHA-512, whose TPM2B_DATA holds at most 48 bytes.
//!
//! Commands are marshaled here ([`wire`], [`client`]) rather than with the `tpm2-protocol` crate:
//! every 1.2.x release needs Rust 1.95 and edition 2024, above this workspace's `rust-version`, and
//! the eight commands used take a few hundred lines with no C dependency either way.

pub mod ak;
pub mod azure_tdx;
pub mod client;
mod error;
mod event_log;
pub mod keys;
pub mod nv;
pub mod pcr;
pub mod public;
pub mod quote;
pub mod rc;
pub mod transport;
pub mod wire;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use sha2::{Digest, Sha256};

pub use ak::{AkOrigin, AttestationKey};
pub use azure_tdx::AzureImds;
pub use client::TpmClient;
pub use error::TpmError;
pub use event_log::{read_event_log, MAX_EVENT_LOG};
pub use transport::Transport;

/// Where Linux exposes the firmware event log.
pub const DEFAULT_EVENT_LOG: &str = "/sys/kernel/security/tpm0/binary_bios_measurements";
/// How often a quote is taken again when the PCRs move while it is made.
const QUOTE_ATTEMPTS: usize = 3;

/// A TPM quote and what a wallet needs to check it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TpmEvidence {
    /// TPMS_ATTEST (the TPM2B_ATTEST's contents).
    pub attest: Vec<u8>,
    /// TPMT_SIGNATURE.
    pub signature: Vec<u8>,
    /// TPMT_PUBLIC of the AK.
    pub ak_public: Vec<u8>,
    /// SHA-256 PCRs 0-15 as quoted.
    pub pcrs: BTreeMap<u32, [u8; 32]>,
    pub event_log: Option<Vec<u8>>,
    /// GCE: the AK certificate, DER.
    pub ak_certificate: Option<Vec<u8>>,
    /// Azure: the HCL report.
    pub azure_hcl_report: Option<Vec<u8>>,
    /// Azure TDX: the TD quote of the HCL report's TDREPORT (see [`azure_tdx`]).
    pub azure_td_quote: Option<Vec<u8>>,
}

/// An open TPM with its attestation key.
pub struct TpmAttester {
    device: PathBuf,
    event_log: PathBuf,
    state: Mutex<State>,
    /// Azure TDX: the HCL report's TDREPORT, whose quote IMDS gives.
    td_report: Option<Vec<u8>>,
    imds: AzureImds,
    /// The TDREPORT never changes while the VM runs, so neither does its quote: fetched on the
    /// first attestation (not at start-up, so IMDS being briefly away does not disable
    /// attestation for the server's life) and kept once IMDS gave it.
    td_quote: Mutex<Option<Vec<u8>>>,
}

struct State {
    client: TpmClient,
    key: AttestationKey,
}

impl Drop for State {
    fn drop(&mut self) {
        if self.key.transient {
            // Without a resource manager (swtpm, /dev/tpm0) the key would hold one of the TPM's
            // few object slots until reboot.
            if let Err(error) = self.client.flush_context(self.key.handle) {
                tracing::warn!(%error, "cannot flush the attestation key");
            }
        }
    }
}

impl std::fmt::Debug for TpmAttester {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TpmAttester")
            .field("device", &self.device)
            .field("event_log", &self.event_log)
            .finish_non_exhaustive()
    }
}

impl TpmAttester {
    /// Connects to the TPM at `device` and loads the attestation key, with Azure's own IMDS for
    /// TDX quotes. Slow (key generation).
    pub fn open(device: &Path, event_log: &Path) -> Result<TpmAttester, TpmError> {
        TpmAttester::open_with_imds(device, event_log, AzureImds::default())
    }

    /// [`TpmAttester::open`], asking `imds` for the TD quote on an Azure TDX VM.
    pub fn open_with_imds(
        device: &Path,
        event_log: &Path,
        imds: AzureImds,
    ) -> Result<TpmAttester, TpmError> {
        let mut client = TpmClient::new(Transport::open(device)?);
        let key = ak::load_attestation_key(&mut client)?;
        let td_report = match &key.azure_hcl_report {
            Some(hcl) => azure_tdx::hcl_td_report(hcl)
                .map_err(|problem| TpmError::Nv {
                    index: ak::AZURE_HCL_REPORT_INDEX,
                    problem,
                })?
                .map(<[u8]>::to_vec),
            None => None,
        };
        tracing::info!(
            device = %device.display(),
            origin = ?key.origin,
            handle = format_args!("{:#010x}", key.handle),
            certificate = key.certificate.is_some(),
            azure_tdx = td_report.is_some(),
            "TPM attestation key ready"
        );
        Ok(TpmAttester {
            device: device.to_owned(),
            event_log: event_log.to_owned(),
            state: Mutex::new(State { client, key }),
            td_report,
            imds,
            td_quote: Mutex::new(None),
        })
    }

    pub fn device(&self) -> &Path {
        &self.device
    }

    /// Where the AK came from.
    pub fn origin(&self) -> AkOrigin {
        self.lock().key.origin
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic mid-command leaves nothing half-done that a later command would trip on.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A quote of PCRs 0-15 carrying SHA-256(`binding`), with the PCR values it covers. The PCRs
    /// are read before and after the quote; if an extend landed in between (update counter moved,
    /// or the values do not hash to the quote's pcrDigest) the quote is taken again.
    pub fn quote(&self, binding: &[u8; 64]) -> Result<TpmEvidence, TpmError> {
        let qualifying: [u8; 32] = Sha256::digest(binding).into();
        let event_log = read_event_log(&self.event_log)?;
        let azure_td_quote = self.azure_td_quote()?;
        let mut state = self.lock();
        let State { client, key } = &mut *state;
        for _ in 0..QUOTE_ATTEMPTS {
            let before = match client.pcr_read(pcr::QUOTED_PCRS) {
                Err(TpmError::PcrsKeptChanging { .. }) => continue,
                other => other?,
            };
            let (attest, signature) = client.quote(
                key.handle,
                &qualifying,
                key.info.quote_scheme(),
                pcr::QUOTED_PCRS,
            )?;
            let after = match client.pcr_read(pcr::QUOTED_PCRS) {
                Err(TpmError::PcrsKeptChanging { .. }) => continue,
                other => other?,
            };
            let info = quote::parse_attest(&attest).map_err(TpmError::malformed("TPM2_Quote"))?;
            if info.extra_data != qualifying || info.pcr_mask != pcr::QUOTED_PCRS {
                return Err(TpmError::Malformed {
                    command: "TPM2_Quote",
                    problem: "the quote does not carry the qualifying data or PCRs asked for"
                        .into(),
                });
            }
            if before.update_counter != after.update_counter || info.pcr_digest != after.digest() {
                continue;
            }
            return Ok(TpmEvidence {
                attest,
                signature,
                ak_public: key.public.clone(),
                pcrs: after.values,
                event_log,
                ak_certificate: key.certificate.clone(),
                azure_hcl_report: key.azure_hcl_report.clone(),
                azure_td_quote,
            });
        }
        Err(TpmError::PcrsKeptChanging {
            attempts: QUOTE_ATTEMPTS,
        })
    }

    /// Azure TDX: the TD quote, from IMDS the first time. Outside the TPM lock: IMDS may take
    /// seconds, and two first attestations fetching it twice is harmless.
    fn azure_td_quote(&self) -> Result<Option<Vec<u8>>, TpmError> {
        let Some(td_report) = &self.td_report else {
            return Ok(None);
        };
        let cached = self
            .td_quote
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone();
        if let Some(quote) = cached {
            return Ok(Some(quote));
        }
        let quote = self.imds.td_quote(td_report)?;
        tracing::info!(
            url = self.imds.url(),
            bytes = quote.len(),
            "Azure TD quote fetched"
        );
        *self
            .td_quote
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(quote.clone());
        Ok(Some(quote))
    }
}
