//! SEV-SNP evidence from TEST keys: reports signed by the verifier crate's generated VCEK, and the
//! GHCB certificate table (VCEK, ASK, ARK) a host would return with them as `auxblob`. Nothing it
//! signs verifies unless the verifier pins this chain's ARK.

use verifier::snp::testing::TestChain;

use crate::ReportSigner;

/// A `sev_guest` provider whose "firmware" is a [`TestChain`] and whose guest has a fixed launch
/// measurement.
pub struct SnpTestSigner {
    chain: TestChain,
    measurement: [u8; 48],
    certificate_table: Vec<u8>,
}

impl SnpTestSigner {
    /// Reports for a guest launched with `measurement`, signed by `chain`'s VCEK.
    pub fn new(chain: TestChain, measurement: [u8; 48]) -> SnpTestSigner {
        // The table never changes: encode it once rather than on every report.
        let certificate_table = chain.certificate_table();
        SnpTestSigner {
            chain,
            measurement,
            certificate_table,
        }
    }

    /// The chain behind the reports: a verifier pins its ARK ([`TestChain::trust`]) and takes
    /// its CRL ([`TestChain::crl`]).
    pub fn chain(&self) -> &TestChain {
        &self.chain
    }

    pub fn measurement(&self) -> [u8; 48] {
        self.measurement
    }
}

impl ReportSigner for SnpTestSigner {
    fn provider(&self) -> &str {
        "sev_guest"
    }

    fn report(&self, report_data: &[u8; 64]) -> Vec<u8> {
        self.chain.sign_report(*report_data, self.measurement)
    }

    fn auxblob(&self) -> Vec<u8> {
        self.certificate_table.clone()
    }
}
