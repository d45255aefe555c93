//! TPMS_ATTEST of a quote (TPM 2.0 Part 2, §10.12) and TPMT_SIGNATURE (§11.3.4).
//!
//! ```text
//! TPMS_ATTEST: u32 magic = TPM_GENERATED_VALUE, u16 type = TPM_ST_ATTEST_QUOTE,
//!   TPM2B_NAME qualifiedSigner, TPM2B_DATA extraData,
//!   TPMS_CLOCK_INFO { u64 clock, u32 resetCount, u32 restartCount, u8 safe },
//!   u64 firmwareVersion,
//!   TPMS_QUOTE_INFO { TPML_PCR_SELECTION { u32 count, count × { u16 hash, u8 sizeofSelect, bitmap } },
//!                     TPM2B_DIGEST pcrDigest }
//! ```

use super::reader::Reader;
use super::{HashAlg, TpmError, PCR_COUNT};

pub const TPM_GENERATED_VALUE: u32 = 0xff54_4347;
pub const TPM_ST_ATTEST_QUOTE: u16 = 0x8018;
/// A quote over every bank of a PC-client TPM is about 150 bytes; anything near this is not one.
pub const MAX_ATTEST_BYTES: usize = 1024;
/// TPMT_SIGNATURE of an RSA-4096 key is 520 bytes.
pub const MAX_SIGNATURE_BYTES: usize = 1024;
/// TPM2B_NAME: a hash algorithm and a SHA-512 digest at most.
const MAX_NAME_BYTES: usize = 2 + 64;
/// TPM2B_DATA holds at most a SHA-512 digest (TPMU_HA).
pub const MAX_EXTRA_DATA_BYTES: usize = 64;
/// TPML_PCR_SELECTION holds one entry per implemented bank (HASH_COUNT).
const MAX_SELECTIONS: u32 = 8;
/// A PC-client TPM has 24 PCRs: 3 bytes of bitmap; 4 leaves room for no more than 32.
const MAX_SELECT_BYTES: u8 = 4;

pub const TPM_ALG_RSASSA: u16 = 0x0014;
pub const TPM_ALG_RSAPSS: u16 = 0x0016;
pub const TPM_ALG_ECDSA: u16 = 0x0018;

/// One bank of a TPML_PCR_SELECTION and the PCRs selected in it, in ascending order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PcrSelection {
    pub bank: HashAlg,
    pub pcrs: Vec<u8>,
}

/// A parsed quote. Nothing in it is trusted until the AK's signature over its bytes is checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attest {
    pub qualified_signer: Vec<u8>,
    /// The qualifying data the quote was asked for (extraData).
    pub extra_data: Vec<u8>,
    pub clock: u64,
    pub reset_count: u32,
    pub restart_count: u32,
    pub safe: bool,
    pub firmware_version: u64,
    /// The selected banks and PCRs, in the order the TPM hashed them into `pcr_digest`.
    pub selections: Vec<PcrSelection>,
    pub pcr_digest: Vec<u8>,
}

impl Attest {
    /// Whether PCR `index` of `bank` is among the quoted ones.
    pub fn selects(&self, bank: HashAlg, index: u8) -> bool {
        self.selections
            .iter()
            .any(|selection| selection.bank == bank && selection.pcrs.contains(&index))
    }
}

pub fn parse_attest(bytes: &[u8]) -> Result<Attest, TpmError> {
    read_attest(bytes).map_err(TpmError::QuoteMalformed)
}

fn read_attest(bytes: &[u8]) -> Result<Attest, String> {
    let mut r = Reader::limited(bytes, MAX_ATTEST_BYTES)?;
    let magic = r.u32_be("magic")?;
    if magic != TPM_GENERATED_VALUE {
        // The TPM refuses to sign external data starting with this value, so a restricted key's
        // signature over bytes that start with it proves the TPM made them.
        return Err(format!(
            "magic {magic:#010x} is not TPM_GENERATED_VALUE {TPM_GENERATED_VALUE:#010x}"
        ));
    }
    let kind = r.u16_be("type")?;
    if kind != TPM_ST_ATTEST_QUOTE {
        return Err(format!(
            "type {kind:#06x} is not TPM_ST_ATTEST_QUOTE {TPM_ST_ATTEST_QUOTE:#06x}"
        ));
    }
    let qualified_signer = r.sized(MAX_NAME_BYTES, "qualifiedSigner")?.to_vec();
    let extra_data = r.sized(MAX_EXTRA_DATA_BYTES, "extraData")?.to_vec();
    let clock = r.u64_be("clock")?;
    let reset_count = r.u32_be("resetCount")?;
    let restart_count = r.u32_be("restartCount")?;
    let safe = match r.u8("safe")? {
        0 => false,
        1 => true,
        other => return Err(format!("clockInfo.safe is {other}, not a TPMI_YES_NO")),
    };
    let firmware_version = r.u64_be("firmwareVersion")?;
    let selections = read_selections(&mut r)?;
    let pcr_digest = r.sized(MAX_EXTRA_DATA_BYTES, "pcrDigest")?.to_vec();
    r.finish("quote")?;
    Ok(Attest {
        qualified_signer,
        extra_data,
        clock,
        reset_count,
        restart_count,
        safe,
        firmware_version,
        selections,
        pcr_digest,
    })
}

fn read_selections(r: &mut Reader) -> Result<Vec<PcrSelection>, String> {
    let count = r.u32_be("pcrSelect count")?;
    if count > MAX_SELECTIONS {
        return Err(format!(
            "the PCR selection lists {count} banks, more than {MAX_SELECTIONS}"
        ));
    }
    let mut selections: Vec<PcrSelection> = Vec::new();
    for _ in 0..count {
        let id = r.u16_be("pcrSelect hash")?;
        let bank = HashAlg::from_id(id).ok_or_else(|| {
            format!(
                "the PCR selection names hash algorithm {id:#06x}, not SHA-1, SHA-256 or SHA-384"
            )
        })?;
        if selections.iter().any(|s| s.bank == bank) {
            return Err(format!(
                "the PCR selection lists the {} bank twice",
                bank.name()
            ));
        }
        let size = r.u8("sizeofSelect")?;
        if size > MAX_SELECT_BYTES {
            return Err(format!(
                "sizeofSelect is {size}, more than {MAX_SELECT_BYTES}"
            ));
        }
        let bitmap = r.take(usize::from(size), "pcrSelect")?;
        let mut pcrs = Vec::new();
        for (byte_index, byte) in bitmap.iter().enumerate() {
            for bit in 0..8 {
                if byte & (1 << bit) != 0 {
                    let index = byte_index * 8 + bit;
                    if index >= PCR_COUNT {
                        return Err(format!(
                            "the PCR selection names PCR {index}; a TPM has {PCR_COUNT}"
                        ));
                    }
                    pcrs.push(index as u8);
                }
            }
        }
        selections.push(PcrSelection { bank, pcrs });
    }
    Ok(selections)
}

/// A TPMT_SIGNATURE of the schemes an AK quotes with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TpmSignature {
    RsaSsa { hash: u16, signature: Vec<u8> },
    RsaPss { hash: u16, signature: Vec<u8> },
    Ecdsa { hash: u16, r: Vec<u8>, s: Vec<u8> },
}

impl TpmSignature {
    /// The TPM_ALG_ID of the hash the signature (and the quote's pcrDigest) was made with.
    pub fn hash_id(&self) -> u16 {
        match self {
            TpmSignature::RsaSsa { hash, .. }
            | TpmSignature::RsaPss { hash, .. }
            | TpmSignature::Ecdsa { hash, .. } => *hash,
        }
    }

    pub fn scheme_name(&self) -> &'static str {
        match self {
            TpmSignature::RsaSsa { .. } => "RSASSA-PKCS1-v1_5",
            TpmSignature::RsaPss { .. } => "RSASSA-PSS",
            TpmSignature::Ecdsa { .. } => "ECDSA",
        }
    }
}

pub fn parse_signature(bytes: &[u8]) -> Result<TpmSignature, TpmError> {
    read_signature(bytes).map_err(TpmError::SignatureMalformed)
}

fn read_signature(bytes: &[u8]) -> Result<TpmSignature, String> {
    let mut r = Reader::limited(bytes, MAX_SIGNATURE_BYTES)?;
    let scheme = r.u16_be("sigAlg")?;
    let hash = r.u16_be("hash")?;
    let signature = match scheme {
        TPM_ALG_RSASSA | TPM_ALG_RSAPSS => {
            let signature = r.sized(512, "RSA signature")?.to_vec();
            if scheme == TPM_ALG_RSASSA {
                TpmSignature::RsaSsa { hash, signature }
            } else {
                TpmSignature::RsaPss { hash, signature }
            }
        }
        TPM_ALG_ECDSA => TpmSignature::Ecdsa {
            hash,
            r: r.sized(66, "ECDSA r")?.to_vec(),
            s: r.sized(66, "ECDSA s")?.to_vec(),
        },
        other => {
            return Err(format!(
                "signature scheme {other:#06x} is not RSASSA, RSAPSS or ECDSA"
            ))
        }
    };
    r.finish("signature")?;
    Ok(signature)
}
