//! AMD SEV-SNP attestation reports, verified the way a wallet must: every check fails closed.
//!
//! - [`report`]: the 1184-byte report layout ([`parse_report`]).
//! - [`cert_table`]: the GHCB certificate table a host returns with a report.
//! - `chain`, `leaf`, `crl`: AMD's certificate chain, the VCEK/VLEK extensions, revocation.
//! - [`tcb`]: products and their TCB encodings.
//! - [`verify_report`] / [`SnpVerifier`]: all checks together.
//!
//! Revocation: `SnpTrust::default()` requires a CRL from AMD KDS for the report's product; this
//! crate does no I/O, so the caller fetches it.

mod cert_table;
mod chain;
mod crl;
mod error;
mod leaf;
mod report;
mod tcb;
#[cfg(any(test, feature = "test-keys"))]
pub mod testing;
#[cfg(test)]
mod tests;
mod trust;
mod verify;

pub use cert_table::{
    build_certificate_table, parse_certificate_table, SnpCertificates, ARK_GUID, ASK_GUID,
    MAX_CERTIFICATE_TABLE_BYTES, VCEK_GUID, VLEK_GUID,
};
pub use chain::MAX_CERTIFICATE_BYTES;
pub use crl::MAX_CRL_BYTES;
pub use error::SnpError;
pub use report::{parse_report, SnpReport, REPORT_BYTES, SIGNED_BYTES};
pub use tcb::{Product, Tcb};
pub(crate) use trust::hex_literal;
pub use trust::{SnpTrust, AMD_ARK_SHA256};
pub use verify::{verify_report, SnpVerifier, VerifiedSnpReport};

/// Which key signed a report (report flags bits 2–4), and which kind a leaf certificate is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SigningKeyKind {
    /// Versioned Chip Endorsement Key: per chip and TCB, certified by the ASK.
    Vcek,
    /// Versioned Loaded Endorsement Key: per cloud provider, certified by the ASVK.
    Vlek,
}
