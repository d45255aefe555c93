//! Wallet-side verification for mpr. Pure: no I/O, no async runtime and no clock of its own (the
//! time is always an input), so native and browser wallets can embed it. It depends on no other
//! crate of this workspace; the registry and the CLI use it.

pub mod attestation;
pub mod channel;
pub mod confidential_space;
pub mod nitro;
pub mod policy;
pub mod signature;
pub mod snp;
pub mod statement;
pub mod tdx;
pub mod tlog;
pub mod tpm;
