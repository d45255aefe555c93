//! TPM2_Quote and the TPMS_ATTEST it signs (Part 2, 10.12.12): the attester checks its own quote's
//! extraData and PCR digest before handing it out, so a wrong answer fails here, not in a wallet.

use super::client::{Command, TpmClient};
use super::pcr::{read_selection, sha256_selection};
use super::public::{TPM_ALG_ECDSA, TPM_ALG_NULL, TPM_ALG_RSASSA};
use super::wire::{Reader, WireError, Writer};
use super::TpmError;

const TPM_CC_QUOTE: u32 = 0x158;
const TPM_GENERATED_VALUE: u32 = 0xff54_4347;
const TPM_ST_ATTEST_QUOTE: u16 = 0x8018;
const TPM_ALG_RSAPSS: u16 = 0x0016;
const TPM_ALG_ECDAA: u16 = 0x001A;
const TPM_ALG_SM2: u16 = 0x001B;
const TPM_ALG_ECSCHNORR: u16 = 0x001C;

/// The parts of a quote's TPMS_ATTEST a verifier checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuoteInfo {
    pub extra_data: Vec<u8>,
    /// SHA-256 PCRs quoted (bit n = PCR n).
    pub pcr_mask: u32,
    pub pcr_digest: Vec<u8>,
    pub reset_count: u32,
    pub restart_count: u32,
}

/// Parses a TPMS_ATTEST of type quote.
pub fn parse_attest(bytes: &[u8]) -> Result<QuoteInfo, WireError> {
    let mut reader = Reader::new(bytes);
    let magic = reader.u32("magic")?;
    if magic != TPM_GENERATED_VALUE {
        return Err(WireError(format!(
            "magic {magic:#010x}, not TPM_GENERATED_VALUE"
        )));
    }
    let kind = reader.u16("type")?;
    if kind != TPM_ST_ATTEST_QUOTE {
        return Err(WireError(format!(
            "attestation type {kind:#06x}, not a quote"
        )));
    }
    reader.tpm2b("qualifiedSigner")?;
    let extra_data = reader.tpm2b("extraData")?.to_vec();
    reader.u64("clock")?;
    let reset_count = reader.u32("resetCount")?;
    let restart_count = reader.u32("restartCount")?;
    reader.u8("safe")?;
    reader.u64("firmwareVersion")?;
    let pcr_mask = read_selection(&mut reader)?;
    let pcr_digest = reader.tpm2b("pcrDigest")?.to_vec();
    reader.finish("TPMS_ATTEST")?;
    Ok(QuoteInfo {
        extra_data,
        pcr_mask,
        pcr_digest,
        reset_count,
        restart_count,
    })
}

/// Checks that `bytes` is exactly one TPMT_SIGNATURE by an RSA or ECC scheme.
pub fn parse_signature(bytes: &[u8]) -> Result<u16, WireError> {
    let mut reader = Reader::new(bytes);
    let algorithm = reader.u16("sigAlg")?;
    match algorithm {
        TPM_ALG_RSASSA | TPM_ALG_RSAPSS => {
            reader.u16("hash")?;
            reader.tpm2b("signature")?;
        }
        TPM_ALG_ECDSA | TPM_ALG_ECDAA | TPM_ALG_SM2 | TPM_ALG_ECSCHNORR => {
            reader.u16("hash")?;
            reader.tpm2b("signatureR")?;
            reader.tpm2b("signatureS")?;
        }
        other => return Err(WireError(format!("signature algorithm {other:#06x}"))),
    }
    reader.finish("TPMT_SIGNATURE")?;
    Ok(algorithm)
}

/// Quote's parameters: TPM2B_ATTEST then TPMT_SIGNATURE, each returned as its own bytes.
pub fn parse_quote_response(parameters: &[u8]) -> Result<(Vec<u8>, Vec<u8>), WireError> {
    let mut reader = Reader::new(parameters);
    let attest = reader.tpm2b("quoted")?.to_vec();
    let signature = reader.remaining().to_vec();
    parse_signature(&signature)?;
    Ok((attest, signature))
}

impl TpmClient {
    /// Quote of the SHA-256 PCRs in `mask` by `key`, with `qualifying_data` as extraData and the
    /// signature scheme `scheme` (TPM_ALG_NULL: the key's own). Returns TPMS_ATTEST and
    /// TPMT_SIGNATURE bytes.
    pub fn quote(
        &mut self,
        key: u32,
        qualifying_data: &[u8],
        scheme: (u16, Option<u16>),
        mask: u32,
    ) -> Result<(Vec<u8>, Vec<u8>), TpmError> {
        const NAME: &str = "TPM2_Quote";
        let malformed = TpmError::malformed(NAME);
        let mut parameters = Writer::new();
        parameters.tpm2b(qualifying_data).map_err(malformed)?;
        parameters.u16(scheme.0);
        if scheme.0 != TPM_ALG_NULL {
            parameters.u16(scheme.1.unwrap_or(super::public::TPM_ALG_SHA256));
        }
        parameters.bytes(&sha256_selection(mask));
        let command = Command::new(NAME, TPM_CC_QUOTE)
            .authorized_handle(key)
            .parameters(parameters);
        let response = self.execute(&command, 0)?;
        parse_quote_response(&response.parameters).map_err(malformed)
    }
}
