//! PCR selections and PCR_Read. A TPM returns at most 8 digests per call (TPML_DIGEST), so reading
//! 16 PCRs takes a loop; each answer says which PCRs it holds and the PCR update counter at the
//! time, which must not move between the calls of one reading.

use std::collections::BTreeMap;

use super::client::{Command, TpmClient};
use super::public::TPM_ALG_SHA256;
use super::wire::{Reader, WireError, Writer};
use super::TpmError;

const TPM_CC_PCR_READ: u32 = 0x17E;
/// PCRs 0-15: firmware (0-7), the boot loader and UKI (4, 9, 11 hold our code), and the OS's.
/// 16-23 are debug/locality PCRs that the verifier has no use for.
pub const QUOTED_PCRS: u32 = 0xFFFF;
/// sizeofSelect for 24 PCRs, the PC Client minimum; a TPM rejects a shorter select.
const SELECT_BYTES: usize = 3;

/// TPML_PCR_SELECTION with one SHA-256 bank and the PCRs set in `mask` (bit n = PCR n).
pub fn sha256_selection(mask: u32) -> Vec<u8> {
    let mut writer = Writer::new();
    writer.u32(1).u16(TPM_ALG_SHA256).u8(SELECT_BYTES as u8);
    for byte in 0..SELECT_BYTES {
        writer.u8((mask >> (8 * byte)) as u8);
    }
    writer.into_bytes()
}

/// Reads a TPML_PCR_SELECTION; returns the SHA-256 bank's mask, refusing any other bank (the
/// attester asks for SHA-256 only, so another one means the answer is not to our question).
pub fn read_selection(reader: &mut Reader<'_>) -> Result<u32, WireError> {
    let count = reader.u32("selection count")?;
    let mut mask = 0u32;
    for _ in 0..count {
        let hash = reader.u16("selection hash")?;
        let size = reader.u8("sizeofSelect")?;
        let bytes = reader.take(usize::from(size), "pcrSelect")?;
        if bytes.iter().all(|b| *b == 0) {
            continue;
        }
        if hash != TPM_ALG_SHA256 {
            return Err(WireError(format!(
                "PCRs selected in bank {hash:#06x}, not SHA-256"
            )));
        }
        for (i, byte) in bytes.iter().enumerate() {
            if i >= 4 {
                return Err(WireError("a PCR beyond 31 is selected".into()));
            }
            mask |= u32::from(*byte) << (8 * i);
        }
    }
    Ok(mask)
}

/// One PCR_Read answer: update counter, PCRs returned (mask) and their digests in PCR order.
pub fn parse_pcr_read(parameters: &[u8]) -> Result<(u32, u32, Vec<[u8; 32]>), WireError> {
    let mut reader = Reader::new(parameters);
    let counter = reader.u32("pcrUpdateCounter")?;
    let mask = read_selection(&mut reader)?;
    let count = reader.u32("digest count")?;
    if count != mask.count_ones() {
        return Err(WireError(format!(
            "{count} digests for {} selected PCRs",
            mask.count_ones()
        )));
    }
    let mut digests = Vec::with_capacity(count as usize);
    for _ in 0..count {
        let digest = reader.tpm2b("PCR digest")?;
        digests.push(
            <[u8; 32]>::try_from(digest)
                .map_err(|_| WireError(format!("a {}-byte SHA-256 PCR", digest.len())))?,
        );
    }
    reader.finish("PCR_Read response")?;
    Ok((counter, mask, digests))
}

/// The SHA-256 PCRs in `mask`, read at one update counter value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PcrReading {
    pub update_counter: u32,
    pub values: BTreeMap<u32, [u8; 32]>,
}

impl PcrReading {
    /// Quote's pcrDigest for these values: SHA-256 of the digests in PCR order.
    pub fn digest(&self) -> [u8; 32] {
        use sha2::{Digest, Sha256};
        let mut hasher = Sha256::new();
        for value in self.values.values() {
            hasher.update(value);
        }
        hasher.finalize().into()
    }
}

impl TpmClient {
    /// The SHA-256 PCRs in `mask`, or [`TpmError::PcrsKeptChanging`] when an extend landed
    /// between two of the calls.
    pub fn pcr_read(&mut self, mask: u32) -> Result<PcrReading, TpmError> {
        const NAME: &str = "TPM2_PCR_Read";
        let mut remaining = mask;
        let mut values = BTreeMap::new();
        let mut update_counter = None;
        while remaining != 0 {
            let mut parameters = Writer::new();
            parameters.bytes(&sha256_selection(remaining));
            let command = Command::new(NAME, TPM_CC_PCR_READ).parameters(parameters);
            let response = self.execute(&command, 0)?;
            let (counter, got, digests) =
                parse_pcr_read(&response.parameters).map_err(TpmError::malformed(NAME))?;
            if got == 0 || got & !remaining != 0 {
                return Err(TpmError::Malformed {
                    command: NAME,
                    problem: format!("asked for PCRs {remaining:#x}, got {got:#x}"),
                });
            }
            if *update_counter.get_or_insert(counter) != counter {
                return Err(TpmError::PcrsKeptChanging { attempts: 1 });
            }
            let pcrs = (0..32).filter(|pcr| got & (1 << pcr) != 0);
            for (pcr, digest) in pcrs.zip(digests) {
                values.insert(pcr, digest);
            }
            remaining &= !got;
        }
        Ok(PcrReading {
            update_counter: update_counter.unwrap_or_default(),
            values,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selects_pcrs_0_to_15_in_the_sha256_bank() {
        assert_eq!(
            hex::encode(sha256_selection(QUOTED_PCRS)),
            "00000001000b03ffff00"
        );
        let mut reader = Reader::new(&[0, 0, 0, 1, 0, 4, 3, 0xff, 0, 0]);
        assert!(
            read_selection(&mut reader).is_err(),
            "SHA-1 is not asked for"
        );
    }

    #[test]
    fn a_digest_count_that_disagrees_with_the_selection_is_refused() {
        let mut answer = vec![0, 0, 0, 7];
        answer.extend(sha256_selection(0b11));
        answer.extend([0, 0, 0, 1, 0, 32]);
        answer.extend([0u8; 32]);
        let err = parse_pcr_read(&answer).unwrap_err();
        assert!(err.0.contains("1 digests for 2"), "{err}");
    }
}
