//! Azure's HCL report: what the paravisor (HCL) writes to vTPM NV index 0x01400001, tying the vTPM's
//! attestation key to a hardware report. Little-endian:
//!
//! ```text
//! 0x000  "HCLA", u32 version, u32 report_size, u32 request_type, u32 status, 12 reserved bytes
//! 0x020  the hardware report, in a 1184-byte slot: an SEV-SNP report, or a 1024-byte TDREPORT
//! 0x4C0  IgvmRequestData: u32 data_size, u32 version, u32 report_type (2 SNP, 4 TDX),
//!        u32 hash_type (1 SHA-256), u32 variable_data_size
//! 0x4D4  the runtime data: JSON {"keys":[{"kid":"HCLAkPub","kty":"RSA","n":…,"e":…},…],…}
//! ```
//!
//! The binding: SHA-256(runtime data) = report_data[0..32] of the hardware report, so the
//! hardware's signature over the report covers the AK the JSON names.

use base64::Engine as _;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::public::AkKey;
use super::reader::Reader;
use super::TpmError;

/// The NV index holds at most a few KiB; a report is 2-3 KiB.
pub const MAX_HCL_REPORT_BYTES: usize = 16 << 10;
const HEADER_BYTES: usize = 0x20;
const HARDWARE_REPORT_BYTES: usize = 1184;
const TDREPORT_BYTES: usize = 1024;
/// report_data sits at 0x50 of an SEV-SNP report and at 128 of a TDREPORT.
const SNP_REPORT_DATA_OFFSET: usize = 0x50;
const TDX_REPORT_DATA_OFFSET: usize = 128;
const REPORT_TYPE_SNP: u32 = 2;
const REPORT_TYPE_TDX: u32 = 4;
const HASH_TYPE_SHA256: u32 = 1;
/// The runtime data's key id for the vTPM's attestation key.
pub const AK_KEY_ID: &str = "HCLAkPub";

/// Which hardware vouches for the runtime data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HardwareKind {
    SevSnp,
    Tdx,
}

/// A parsed HCL report. The binding is checked by [`HclReport::check_binding`]; the hardware
/// report's own signature is for its platform's verifier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HclReport {
    pub kind: HardwareKind,
    /// The SEV-SNP report (1184 bytes) or the TDREPORT (1024 bytes).
    pub hardware_report: Vec<u8>,
    pub report_data: [u8; 64],
    /// The runtime data JSON, exactly the bytes the binding hashes.
    pub runtime_data: Vec<u8>,
}

#[derive(Deserialize)]
struct RuntimeData {
    keys: Vec<Jwk>,
}

#[derive(Deserialize)]
struct Jwk {
    kid: String,
    kty: String,
    #[serde(default)]
    n: Option<String>,
    #[serde(default)]
    e: Option<String>,
}

pub fn parse_hcl_report(bytes: &[u8]) -> Result<HclReport, TpmError> {
    read_hcl(bytes).map_err(TpmError::HclMalformed)
}

fn read_hcl(bytes: &[u8]) -> Result<HclReport, String> {
    let mut r = Reader::limited(bytes, MAX_HCL_REPORT_BYTES)?;
    if r.take(4, "signature")? != b"HCLA" {
        return Err("it does not start with \"HCLA\": read NV index 0x01400001 of the vTPM".into());
    }
    r.take(HEADER_BYTES - 4, "header")?;
    let slot = r.take(HARDWARE_REPORT_BYTES, "hardware report")?;
    r.u32_le("data_size")?;
    r.u32_le("version")?;
    let report_type = r.u32_le("report_type")?;
    let hash_type = r.u32_le("hash_type")?;
    let size = r.u32_le("variable_data_size")? as usize;
    let runtime_data = r.take(size, "runtime data")?.to_vec();
    if hash_type != HASH_TYPE_SHA256 {
        return Err(format!(
            "hash_type {hash_type}: only 1 (SHA-256) binds the runtime data here"
        ));
    }
    let (kind, report, offset) = match report_type {
        REPORT_TYPE_SNP => (HardwareKind::SevSnp, slot, SNP_REPORT_DATA_OFFSET),
        REPORT_TYPE_TDX => (
            HardwareKind::Tdx,
            &slot[..TDREPORT_BYTES],
            TDX_REPORT_DATA_OFFSET,
        ),
        other => {
            return Err(format!(
                "report_type {other} is neither SEV-SNP (2) nor TDX (4)"
            ))
        }
    };
    let mut report_data = [0u8; 64];
    report_data.copy_from_slice(&report[offset..offset + 64]);
    // The NV index is larger than the report; what follows the runtime data is padding.
    Ok(HclReport {
        kind,
        hardware_report: report.to_vec(),
        report_data,
        runtime_data,
    })
}

impl HclReport {
    /// SHA-256(runtime data) must be report_data[0..32].
    pub fn check_binding(&self) -> Result<(), TpmError> {
        let digest: [u8; 32] = Sha256::digest(&self.runtime_data).into();
        if digest[..] == self.report_data[..32] {
            Ok(())
        } else {
            Err(TpmError::HclBindingMismatch {
                runtime_sha256: hex::encode(digest),
                report_data: hex::encode(&self.report_data[..32]),
            })
        }
    }

    /// The binding and HCLAkPub = `ak`: every failure, none when the report vouches for `ak`
    /// (given its hardware report is genuine, which the caller checks).
    pub fn check_binding_and_ak(&self, ak: &AkKey) -> Vec<TpmError> {
        let mut errors = Vec::new();
        if let Err(error) = self.check_binding() {
            errors.push(error);
        }
        match self.ak_key() {
            Ok(key) if key == *ak => {}
            Ok(_) => errors.push(TpmError::HclAkMismatch),
            Err(error) => errors.push(error),
        }
        errors
    }

    /// The attestation key the runtime data names (`HCLAkPub`, an RSA JWK).
    pub fn ak_key(&self) -> Result<AkKey, TpmError> {
        runtime_ak_key(&self.runtime_data)
    }
}

/// The `HCLAkPub` key of a runtime-data JSON.
pub fn runtime_ak_key(runtime_data: &[u8]) -> Result<AkKey, TpmError> {
    let malformed = |what: String| TpmError::HclMalformed(format!("runtime data: {what}"));
    let data: RuntimeData =
        serde_json::from_slice(runtime_data).map_err(|e| malformed(e.to_string()))?;
    let mut keys = data.keys.iter().filter(|key| key.kid == AK_KEY_ID);
    let (Some(key), None) = (keys.next(), keys.next()) else {
        return Err(malformed(format!("not exactly one {AK_KEY_ID} key")));
    };
    if key.kty != "RSA" {
        return Err(malformed(format!(
            "{AK_KEY_ID} is a {} key, not RSA",
            key.kty
        )));
    }
    let decode = |field: &Option<String>, name: &str| {
        let text = field
            .as_deref()
            .ok_or_else(|| malformed(format!("{AK_KEY_ID} has no {name}")))?;
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(text.trim_end_matches('='))
            .map_err(|e| malformed(format!("{AK_KEY_ID}.{name} is not base64url ({e})")))
    };
    AkKey::rsa(&decode(&key.n, "n")?, &decode(&key.e, "e")?).map_err(malformed)
}
