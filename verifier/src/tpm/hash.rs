//! The hash algorithms of PCR banks and signatures, by their TPM_ALG_ID, and PCR values per bank.

use std::collections::BTreeMap;

use sha1::Sha1;
use sha2::{Digest, Sha256, Sha384};

/// A PCR bank's (or a signature's) hash algorithm. SHA-1 is only ever replayed, never trusted
/// for a signature: vTPMs still keep a SHA-1 bank and firmware logs still fill it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum HashAlg {
    Sha1,
    Sha256,
    Sha384,
}

impl HashAlg {
    pub fn from_id(id: u16) -> Option<HashAlg> {
        match id {
            0x0004 => Some(HashAlg::Sha1),
            0x000b => Some(HashAlg::Sha256),
            0x000c => Some(HashAlg::Sha384),
            _ => None,
        }
    }

    pub fn id(self) -> u16 {
        match self {
            HashAlg::Sha1 => 0x0004,
            HashAlg::Sha256 => 0x000b,
            HashAlg::Sha384 => 0x000c,
        }
    }

    /// The bank name of the `tpm_pcrs` envelope field and of event-log reports.
    pub fn name(self) -> &'static str {
        match self {
            HashAlg::Sha1 => "sha1",
            HashAlg::Sha256 => "sha256",
            HashAlg::Sha384 => "sha384",
        }
    }

    pub fn from_name(name: &str) -> Option<HashAlg> {
        [HashAlg::Sha1, HashAlg::Sha256, HashAlg::Sha384]
            .into_iter()
            .find(|alg| alg.name() == name)
    }

    pub fn size(self) -> usize {
        match self {
            HashAlg::Sha1 => 20,
            HashAlg::Sha256 => 32,
            HashAlg::Sha384 => 48,
        }
    }

    pub fn digest(self, parts: &[&[u8]]) -> Vec<u8> {
        fn run<D: Digest>(parts: &[&[u8]]) -> Vec<u8> {
            let mut hasher = D::new();
            for part in parts {
                hasher.update(part);
            }
            hasher.finalize().to_vec()
        }
        match self {
            HashAlg::Sha1 => run::<Sha1>(parts),
            HashAlg::Sha256 => run::<Sha256>(parts),
            HashAlg::Sha384 => run::<Sha384>(parts),
        }
    }
}

/// PCR values per bank: bank → PCR index → value (exactly the bank's digest size).
pub type PcrBanks = BTreeMap<HashAlg, BTreeMap<u8, Vec<u8>>>;
