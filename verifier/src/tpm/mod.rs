//! TPM 2.0 quote evidence from the vTPM of a confidential VM (GCP, Azure), checked the way a
//! wallet must: every parser bounded and panic-free, every check failing closed under a stable code.
//!
//! - [`attest`]: TPMS_ATTEST (a TPM2_Quote's signed bytes) and TPMT_SIGNATURE.
//! - [`public`]: TPMT_PUBLIC of the attestation key (AK): its key, attributes and TPM Name.
//! - [`quote`]: the AK's signature, restricted-signing attributes, qualifying data, pcrDigest.
//! - [`eventlog`]: the TCG firmware event log, parsed and replayed per bank.
//! - [`hcl`]: Azure's HCL report (vTPM NV index 0x01400001) binding the AK to an SEV-SNP report.
//! - [`azure`]: the Azure trust path: that report verified, bound, and naming the quote's AK.
//! - [`azure_tdx`]: the same for a TDX HCL report, through the TD quote of its TDREPORT.
//! - [`ak_certificate`]: an AK certificate chained to a pinned CA (Google's, or a policy's).
//!
//! The structures are parsed by hand rather than with `tpm2-protocol`: that crate needs Rust 1.95
//! (edition 2024) while this workspace promises 1.94, and the checks need the exact bytes of
//! TPMT_PUBLIC (for the Name) and TPMS_ATTEST (for the signature) anyway; the few structures a
//! quote uses fit in a small big-endian reader with explicit limits.

pub mod ak_certificate;
pub mod attest;
pub mod azure;
pub mod azure_tdx;
mod error;
pub mod eventlog;
mod hash;
pub mod hcl;
pub mod public;
pub mod quote;
mod reader;
#[cfg(any(test, feature = "test-keys"))]
pub mod testing;

pub use error::TpmError;
pub use hash::{HashAlg, PcrBanks};

/// PCRs a TPM 2.0 PC-client platform has (0-23); selections and event logs name no others.
pub const PCR_COUNT: usize = 24;

#[cfg(test)]
mod tests;
