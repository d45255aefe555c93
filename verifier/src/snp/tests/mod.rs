//! Tests against the real AMD fixtures (`shared/fixtures/snp`) and against a test-key chain.
//!
//! The real reports are verified with `check_crl = false`: no real AMD CRL is available offline
//! (AMD KDS serves them), so revocation is tested with the test-key chain instead.

mod cert_table;
mod fixtures;
mod test_keys;

use x509_cert::der::Decode;
use x509_cert::Certificate;

pub(super) const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/fixtures/snp");

pub(super) fn fixture(path: &str) -> Vec<u8> {
    std::fs::read(format!("{FIXTURES}/{path}")).unwrap_or_else(|e| panic!("{path}: {e}"))
}

pub(super) fn report(id: &str) -> Vec<u8> {
    fixture(&format!("reports/{id}.bin"))
}

pub(super) fn leaf(id: &str) -> Vec<u8> {
    fixture(&format!("certs/{id}.der"))
}

/// One day after the leaf's notBefore: inside every certificate's validity.
pub(super) fn valid_time(leaf_der: &[u8]) -> u64 {
    let cert = Certificate::from_der(leaf_der).expect("fixture certificate parses");
    cert.tbs_certificate
        .validity
        .not_before
        .to_unix_duration()
        .as_secs()
        + 86_400
}

pub(super) fn no_crl() -> super::SnpTrust {
    super::SnpTrust {
        check_crl: false,
        ..super::SnpTrust::default()
    }
}
