//! Any bytes given as an SEV-SNP report (and the rest as a leaf certificate) are parsed or
//! refused with an error, never a panic, by parsing and by verification with AMD's default
//! trust (a corpus seeded with a real report and its VCEK may verify: that is fine).
#![no_main]

use libfuzzer_sys::fuzz_target;
use verifier::snp::{parse_report, verify_report, SnpCertificates, SnpTrust, REPORT_BYTES};

fuzz_target!(|data: &[u8]| {
    let _ = parse_report(data);
    let split = data.len().min(REPORT_BYTES);
    let (report, leaf) = data.split_at(split);
    let certs = SnpCertificates::leaf_only(leaf.to_vec());
    let trust = SnpTrust {
        check_crl: false,
        ..SnpTrust::default()
    };
    let _ = verify_report(report, &certs, &trust, 1_800_000_000);
});
