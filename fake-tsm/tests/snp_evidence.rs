//! A report read through the mounted fake configfs-tsm passes the verifier's full SEV-SNP checks
//! when, and only when, the verifier pins the test chain: what a wallet would accept from a proof
//! server running on the fake. Needs root, /dev/fuse and fusermount3 (Debian package fuse3).

use std::fs;
use std::sync::Arc;

use fake_tsm::{FakeTsm, SnpTestSigner};
use verifier::snp::testing::{TestChain, VALID_AT};
use verifier::snp::{parse_certificate_table, verify_report, SnpError, SnpTrust, REPORT_BYTES};

#[test]
fn a_report_read_through_the_mount_verifies_against_the_pinned_test_chain() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let measurement = [0x5a; 48];
    let signer = Arc::new(SnpTestSigner::new(TestChain::generate(), measurement));
    let tsm = FakeTsm::mount(dir.path(), signer.clone()).unwrap_or_else(|e| {
        panic!("mounting the fake configfs-tsm failed (needs root, /dev/fuse, fusermount3 from fuse3): {e}")
    });

    let entry = tsm.reports_dir().join("wallet-check");
    fs::create_dir(&entry).unwrap();
    let mut report_data = [0u8; 64];
    for (i, byte) in report_data.iter_mut().enumerate() {
        *byte = 0xc0 ^ i as u8;
    }
    fs::write(entry.join("inblob"), report_data).unwrap();
    assert_eq!(
        fs::read_to_string(entry.join("provider")).unwrap(),
        "sev_guest\n"
    );
    let outblob = fs::read(entry.join("outblob")).unwrap();
    let auxblob = fs::read(entry.join("auxblob")).unwrap();
    fs::remove_dir(&entry).unwrap();
    assert_eq!(outblob.len(), REPORT_BYTES);

    let certificates =
        parse_certificate_table(&auxblob).expect("auxblob is a GHCB certificate table");
    assert_eq!(certificates, signer.chain().certificates());

    let trust = SnpTrust {
        ark_sha256: vec![signer.chain().ark_sha256()],
        check_crl: true,
        crls: vec![signer.chain().crl(&[])],
        ..SnpTrust::default()
    };
    let verified = verify_report(&outblob, &certificates, &trust, VALID_AT)
        .expect("the report verifies against the pinned test ARK");
    assert_eq!(verified.report.report_data, report_data);
    assert_eq!(verified.report.measurement, measurement);
    assert!(verified.crl_checked);

    // A wallet with AMD's real roots refuses it: test keys never pass for hardware.
    let amd_only = SnpTrust {
        crls: vec![signer.chain().crl(&[])],
        ..SnpTrust::default()
    };
    let refused = verify_report(&outblob, &certificates, &amd_only, VALID_AT).unwrap_err();
    assert!(matches!(refused, SnpError::RootNotPinned(_)), "{refused:?}");
    assert_eq!(tsm.reports_served(), 1);
}
