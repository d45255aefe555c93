//! Measured boot of a unified kernel image (UKI): the SHA-256 vTPM PCRs that UEFI firmware,
//! systemd-stub and the Linux EFI stub extend when a confidential VM (GCP, Azure) boots our disk,
//! predicted from the UKI file alone.
//!
//! What each PCR receives, in order (each event a TPM2_PCR_Extend of its SHA-256 digest):
//! - PCR 4 (firmware): EV_EFI_ACTION "Calling EFI Application from Boot Option", the EV_SEPARATOR
//!   that ends the pre-boot phase, then EV_EFI_BOOT_SERVICES_APPLICATION with the Authenticode
//!   digest of the UKI, and another with the Authenticode digest of the kernel (`.linux`), which
//!   systemd-stub starts through the firmware's LoadImage.
//! - PCR 9 (Linux EFI stub): EV_EVENT_TAG of the load options (the command line as UTF-16LE with
//!   its NUL), then EV_EVENT_TAG "Linux initrd" with the SHA-256 of the initrd.
//! - PCR 11 (systemd-stub): for each UKI section it knows, in its fixed order, EV_IPL of the name
//!   with its NUL, then EV_IPL of the section's contents — what `systemd-measure calculate
//!   --phase=` prints.
//! - PCR 12 (systemd-stub): stays zero: the stub measures a command line there only when the boot
//!   loader overrides the UKI's, and credentials or system extensions only when the ESP has them;
//!   our disk has none, so a non-zero PCR 12 means someone added them.
//!
//! Checked against a boot under QEMU with OVMF and swtpm (cli/tests/uki_boot.rs), whose event log
//! and PCRs must equal this prediction, and PCR 11 against systemd-measure.

mod authenticode;
pub mod pe;
mod slice;
mod stub;

use std::fs::File;
use std::io::{BufReader, Read, Seek};

use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub use authenticode::authenticode_sha256;
pub use pe::{PeError, PeHeaders, Section};
pub use stub::{stub_version, MEASURED_SECTIONS, SUPPORTED_STUB_MAJORS};

use slice::FileSlice;

/// The digest of the EV_EFI_ACTION string UEFI's boot manager logs before starting a boot option.
pub const CALLING_EFI_APPLICATION: &str = "Calling EFI Application from Boot Option";

#[derive(Debug, thiserror::Error)]
pub enum UkiError {
    #[error("{path}: {source}")]
    Pe {
        path: String,
        #[source]
        source: PeError,
    },
    #[error("{path}: the UKI has no {section} section; systemd-stub needs .linux, and mpr's UKIs always carry .cmdline and .initrd")]
    MissingSection { path: String, section: &'static str },
    #[error("{path}: {problem}")]
    Stub { path: String, problem: String },
    #[error("{path}: the .cmdline section is not UTF-8 text: systemd-stub could not pass it to the kernel")]
    CmdlineNotText { path: String },
}

/// One TPM extend that measured boot performs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PredictedEvent {
    pub pcr: u32,
    /// The TCG event type (`EV_EFI_ACTION`, `EV_IPL`, ...).
    pub event_type: String,
    /// What is measured, for people.
    pub description: String,
    /// The SHA-256 digest extended, hex.
    pub digest: String,
}

/// The SHA-256 bank values of PCRs 4, 9, 11 and 12 after the boot, with the events behind them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VtpmPrediction {
    /// `systemd-stub 252.39-1~deb12u2`, as the stub's `.sdmagic` section says.
    pub stub: String,
    pub pcr4: String,
    pub pcr9: String,
    pub pcr11: String,
    pub pcr12: String,
    pub events: Vec<PredictedEvent>,
}

impl VtpmPrediction {
    /// `("PCR4", hex)`, ...: the registers a published measurement set carries.
    pub fn registers(&self) -> [(&'static str, &str); 4] {
        [
            ("PCR4", &self.pcr4),
            ("PCR9", &self.pcr9),
            ("PCR11", &self.pcr11),
            ("PCR12", &self.pcr12),
        ]
    }
}

/// Replays `events` for `pcr` from zero.
fn replay(events: &[PredictedEvent], pcr: u32) -> String {
    let value = events
        .iter()
        .filter(|e| e.pcr == pcr)
        .fold([0u8; 32], |value, event| {
            let digest = hex::decode(&event.digest).expect("digests are hex we wrote");
            extend_sha256(&value, &digest)
        });
    hex::encode(value)
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn event(pcr: u32, event_type: &str, description: String, digest: String) -> PredictedEvent {
    PredictedEvent {
        pcr,
        event_type: event_type.to_owned(),
        description,
        digest,
    }
}

/// What the second thread computes: the stub's section digests and the kernel's Authenticode.
struct SectionDigests {
    sections: Vec<(&'static str, String)>,
    kernel_authenticode: String,
}

fn section_digests(path: &Path, headers: &PeHeaders) -> Result<SectionDigests, UkiError> {
    let pe_err = |source| UkiError::Pe {
        path: path.display().to_string(),
        source,
    };
    let open = || File::open(path).map_err(|e| pe_err(e.into()));
    let mut sections = Vec::new();
    for &name in MEASURED_SECTIONS {
        let Some(section) = headers.section(name) else {
            continue;
        };
        let mut data = FileSlice::new(open()?, section.raw_offset, section.data_len());
        let mut hasher = Sha256::new();
        std::io::copy(&mut data, &mut slice::DigestWriter(&mut hasher))
            .map_err(|e| pe_err(e.into()))?;
        sections.push((name, hex::encode(hasher.finalize())));
    }
    let linux = headers.section(".linux").expect("checked by the caller");
    let mut kernel = BufReader::new(FileSlice::new(open()?, linux.raw_offset, linux.data_len()));
    let kernel_headers = PeHeaders::read(&mut kernel).map_err(|source| UkiError::Pe {
        path: format!("{} (.linux)", path.display()),
        source,
    })?;
    kernel.rewind().map_err(|e| pe_err(e.into()))?;
    let kernel_authenticode =
        authenticode_sha256(&mut kernel, &kernel_headers, u64::from(linux.data_len())).map_err(
            |source| UkiError::Pe {
                path: format!("{} (.linux)", path.display()),
                source,
            },
        )?;
    Ok(SectionDigests {
        sections,
        kernel_authenticode: hex::encode(kernel_authenticode),
    })
}

/// Predicts the vTPM PCRs of a boot of the UKI at `path` (see the module documentation).
/// Reads the file twice, in two threads: once for the UKI's Authenticode digest, once for the
/// section digests; on two cores this costs about one SHA-256 pass.
pub fn predict_vtpm_pcrs(path: &Path) -> Result<VtpmPrediction, UkiError> {
    let shown = || path.display().to_string();
    let pe_err = |source| UkiError::Pe {
        path: shown(),
        source,
    };
    let mut file = File::open(path).map_err(|e| pe_err(e.into()))?;
    let len = file.metadata().map_err(|e| pe_err(e.into()))?.len();
    let headers = PeHeaders::read(&mut file).map_err(pe_err)?;
    for section in [".linux", ".cmdline", ".initrd"] {
        if headers.section(section).is_none() {
            return Err(UkiError::MissingSection {
                path: shown(),
                section,
            });
        }
    }
    let stub = stub_version(&mut file, &headers).map_err(|problem| UkiError::Stub {
        path: shown(),
        problem,
    })?;
    let cmdline = {
        let section = headers.section(".cmdline").expect("checked above");
        let mut text = Vec::new();
        FileSlice::new(
            file.try_clone().map_err(|e| pe_err(e.into()))?,
            section.raw_offset,
            section.data_len(),
        )
        .read_to_end(&mut text)
        .map_err(|e| pe_err(e.into()))?;
        let end = text.iter().position(|&b| b == 0).unwrap_or(text.len());
        String::from_utf8(text[..end].to_vec())
            .map_err(|_| UkiError::CmdlineNotText { path: shown() })?
    };

    let (uki_authenticode, digests) = std::thread::scope(|scope| {
        let sections = scope.spawn(|| section_digests(path, &headers));
        let whole =
            authenticode_sha256(BufReader::with_capacity(1 << 20, &mut file), &headers, len)
                .map_err(pe_err);
        (
            whole,
            sections.join().expect("the section thread does not panic"),
        )
    });
    let uki_authenticode = hex::encode(uki_authenticode?);
    let digests = digests?;

    let mut events = vec![
        event(
            4,
            "EV_EFI_ACTION",
            CALLING_EFI_APPLICATION.to_owned(),
            sha256_hex(CALLING_EFI_APPLICATION.as_bytes()),
        ),
        event(
            4,
            "EV_SEPARATOR",
            "end of pre-boot".to_owned(),
            sha256_hex(&[0; 4]),
        ),
        event(
            4,
            "EV_EFI_BOOT_SERVICES_APPLICATION",
            "the UKI (Authenticode SHA-256)".to_owned(),
            uki_authenticode,
        ),
        event(
            4,
            "EV_EFI_BOOT_SERVICES_APPLICATION",
            "the kernel, .linux (Authenticode SHA-256)".to_owned(),
            digests.kernel_authenticode,
        ),
    ];
    let mut load_options: Vec<u8> = cmdline.encode_utf16().flat_map(u16::to_le_bytes).collect();
    load_options.extend_from_slice(&[0, 0]);
    events.push(event(
        9,
        "EV_EVENT_TAG",
        format!("kernel load options {cmdline:?} (UTF-16LE with NUL)"),
        sha256_hex(&load_options),
    ));
    let initrd = digests
        .sections
        .iter()
        .find(|(name, _)| *name == ".initrd")
        .map(|(_, digest)| digest.clone())
        .expect("the .initrd section was hashed");
    events.push(event(9, "EV_EVENT_TAG", "Linux initrd".to_owned(), initrd));
    for (name, digest) in &digests.sections {
        let mut with_nul = name.as_bytes().to_vec();
        with_nul.push(0);
        events.push(event(
            11,
            "EV_IPL",
            format!("section name {name}"),
            sha256_hex(&with_nul),
        ));
        events.push(event(
            11,
            "EV_IPL",
            format!("section {name}"),
            digest.clone(),
        ));
    }
    Ok(VtpmPrediction {
        stub,
        pcr4: replay(&events, 4),
        pcr9: replay(&events, 9),
        pcr11: replay(&events, 11),
        pcr12: replay(&events, 12),
        events,
    })
}

/// Extends `value` (a SHA-256 PCR) with `digest`: what TPM2_PCR_Extend does.
pub fn extend_sha256(value: &[u8; 32], digest: &[u8]) -> [u8; 32] {
    Sha256::new()
        .chain_update(value)
        .chain_update(digest)
        .finalize()
        .into()
}
