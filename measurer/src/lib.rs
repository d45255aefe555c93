//! The measurer computes, from build outputs, the values that TEE hardware will report at launch,
//! bit for bit with the hardware and the reference tools:
//!
//! - [`eif`]: the AWS Nitro Enclave Image Format: a streaming, validating reader, a byte-deterministic
//!   writer (with P-384 signing) and the PCR0/1/2/8 computation ([`pcr`]).
//! - [`snp`]: the AMD SEV-SNP launch digest of a direct-boot guest (OVMF + kernel + initrd + cmdline),
//!   identical to `sev-snp-measure` 0.0.13.
//! - [`uki`]: the vTPM PCRs 4, 9, 11 and 12 that measured boot of a unified kernel image produces on
//!   GCP and Azure confidential VMs, predicted from the UKI file.
//!
//! Every SHA-384 goes through [`sha384`] (OpenSSL's implementation; see there for why).
//!
//! It is a pure library: no async runtime, no network, no database. Large inputs are streamed, never
//! read whole into memory.

pub mod digest;
pub mod eif;
pub mod pcr;
pub mod sha384;
pub mod snp;
pub mod uki;

pub use digest::Digest384;
