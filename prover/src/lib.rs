//! The Midnight-compatible proof server, built to run inside a TEE (work in progress, issue 3).
//!
//! What a wallet needs from the TEE side, independent of the proving work:
//! - [`tls`]: a TLS identity generated at start-up whose private key never leaves the process;
//! - [`attestation`]: platform evidence (AWS Nitro NSM, SEV-SNP or TDX through configfs-tsm) that binds
//!   the wallet's nonce **and** that TLS key, so a relay cannot forward a genuine document while
//!   terminating TLS somewhere else.

pub mod attestation;
pub mod tls;
