//! Nitro PCRs: the values the Nitro Secure Module reports for an enclave image.
//!
//! Every EIF PCR is one extend of an all-zero register: `PCR = SHA384(48 × 0x00 ‖ SHA384(data))`, where
//! - PCR0's data is kernel ‖ cmdline ‖ ramdisk0 ‖ … ‖ ramdiskN (section data only, in file order),
//! - PCR1's data is kernel ‖ cmdline ‖ ramdisk0 (nitro-cli's bootstrap ramdisk),
//! - PCR2's data is ramdisk1 ‖ … ‖ ramdiskN (the application ramdisks),
//! - PCR8's data is the DER of the signing certificate, when the EIF is signed.

use std::io::Read;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::digest::Digest384;
use crate::eif::hashing::{measure_while, Measured};
use crate::eif::signature::certificate_der;
use crate::eif::{validate_cmdline, EifError, InputFile};
use crate::sha384::{sha384, Sha384};

/// A PCR after one extend of the all-zero register with a SHA-384 value.
pub fn extend(data_sha384: &[u8; 48]) -> Digest384 {
    let mut register = Sha384::new();
    register.update(&[0u8; 48]);
    register.update(data_sha384);
    Digest384(register.finish())
}

/// The PCR of a whole stream, as `nitro-cli pcr --input FILE` prints it.
pub fn pcr_of_reader(mut reader: impl Read) -> std::io::Result<Digest384> {
    let mut hasher = Sha384::new();
    let mut buffer = vec![0u8; 1 << 16];
    loop {
        let n = match reader.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(buffer.get(..n).unwrap_or_default());
    }
    Ok(extend(&hasher.finish()))
}

/// PCR8 for a signing certificate given as PEM (the first CERTIFICATE block) or DER, as
/// `nitro-cli pcr --signing-certificate` computes it.
pub fn pcr8_of_certificate(pem_or_der: &[u8]) -> Result<Digest384, EifError> {
    Ok(pcr8_of_der(&certificate_der(pem_or_der)?))
}

/// PCR8 of a certificate already in DER form.
pub(crate) fn pcr8_of_der(der: &[u8]) -> Digest384 {
    extend(&sha384(der))
}

/// The PCRs an EIF built from these inputs will have.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NitroPcrs {
    pub pcr0: Digest384,
    pub pcr1: Digest384,
    pub pcr2: Digest384,
    /// Present only for signed images.
    pub pcr8: Option<Digest384>,
}

/// The PCRs of the EIF that [`crate::eif::write_eif`] would build from these inputs, without building
/// it (one streaming pass over the files). The cmdline rules are the writer's: no NUL byte, at most
/// [`crate::eif::format::MAX_CMDLINE_SIZE`] bytes, at least one ramdisk.
pub fn measure_components(
    kernel: &Path,
    cmdline: &str,
    ramdisks: &[PathBuf],
    signing_certificate: Option<&[u8]>,
) -> Result<NitroPcrs, EifError> {
    validate_cmdline(cmdline)?;
    if ramdisks.is_empty() {
        return Err(EifError::NoRamdisk);
    }
    let pcr8 = signing_certificate.map(pcr8_of_certificate).transpose()?;
    let ((), measured) = measure_while(&|_| {}, |feeder| {
        InputFile::open(kernel, "kernel")?.copy_into(
            feeder,
            Measured::Boot,
            &mut std::io::sink(),
        )?;
        feeder.feed(cmdline.as_bytes(), Measured::Boot)?;
        for (index, ramdisk) in ramdisks.iter().enumerate() {
            let measured = if index == 0 {
                Measured::Boot
            } else {
                Measured::Application
            };
            let mut input = InputFile::open(ramdisk, &format!("ramdisk {index}"))?;
            input.copy_into(feeder, measured, &mut std::io::sink())?;
        }
        Ok(())
    })?;
    Ok(NitroPcrs {
        pcr0: measured.pcr0,
        pcr1: measured.pcr1,
        pcr2: measured.pcr2,
        pcr8,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pcr_of_empty_input_is_the_extend_of_sha384_of_nothing() {
        let empty = pcr_of_reader(std::io::empty()).unwrap();
        assert_eq!(empty, extend(&sha384(b"")));
        // Independent check of the extend definition (sha2, not the module under test):
        // SHA384(48 zero bytes ‖ SHA384("")).
        use sha2::Digest;
        let mut manual = vec![0u8; 48];
        manual.extend_from_slice(&sha2::Sha384::digest(b""));
        assert_eq!(empty.0, <[u8; 48]>::from(sha2::Sha384::digest(&manual)));
    }
}
