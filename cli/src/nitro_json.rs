//! The `"Measurements"` object exactly as nitro-cli prints it (build-enclave, describe-eif), so scripts
//! written against nitro-cli read mpr's output unchanged.

use measurer::pcr::NitroPcrs;
use serde::Serialize;

/// nitro-cli prints the Debug form of its hasher here; `sha2`'s is "Sha384 { ... }". Scripts match on it.
const HASH_ALGORITHM: &str = "Sha384 { ... }";

#[derive(Debug, Serialize)]
pub struct Measurements {
    #[serde(rename = "HashAlgorithm")]
    hash_algorithm: &'static str,
    #[serde(rename = "PCR0")]
    pcr0: String,
    #[serde(rename = "PCR1")]
    pcr1: String,
    #[serde(rename = "PCR2")]
    pcr2: String,
    #[serde(rename = "PCR8", skip_serializing_if = "Option::is_none")]
    pcr8: Option<String>,
}

impl From<&NitroPcrs> for Measurements {
    fn from(pcrs: &NitroPcrs) -> Self {
        Measurements {
            hash_algorithm: HASH_ALGORITHM,
            pcr0: pcrs.pcr0.to_hex(),
            pcr1: pcrs.pcr1.to_hex(),
            pcr2: pcrs.pcr2.to_hex(),
            pcr8: pcrs.pcr8.map(|d| d.to_hex()),
        }
    }
}

/// `{ "Measurements": { ... } }`, the whole output of `nitro-cli build-enclave`.
#[derive(Debug, Serialize)]
pub struct MeasurementsDocument {
    #[serde(rename = "Measurements")]
    pub measurements: Measurements,
}

impl From<&NitroPcrs> for MeasurementsDocument {
    fn from(pcrs: &NitroPcrs) -> Self {
        MeasurementsDocument {
            measurements: pcrs.into(),
        }
    }
}

/// Text form shared by every command that prints PCRs.
pub fn print_pcrs(pcrs: &NitroPcrs) -> std::io::Result<()> {
    outln!("PCR0 {}", pcrs.pcr0)?;
    outln!("PCR1 {}", pcrs.pcr1)?;
    outln!("PCR2 {}", pcrs.pcr2)?;
    if let Some(pcr8) = &pcrs.pcr8 {
        outln!("PCR8 {pcr8}")?;
    }
    Ok(())
}
