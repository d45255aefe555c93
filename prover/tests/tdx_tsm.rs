//! Intel TDX through configfs-tsm, against the fake device in a temporary directory
//! (`common::fake_tsm`) whose provider is `tdx_guest` and whose outblob is a real DCAP v4 TD quote
//! (../shared/fixtures/tdx/dcapqvl-tdx_quote_v4.bin) with the inblob written into its REPORT_DATA:
//! the quote comes back whole, base64 in the envelope, carrying the binding. Device failures (no
//! outblob, generation moving, unknown provider) are checked for both providers in `attestation.rs`.

mod common;

use std::time::Duration;

use common::fake_tsm::{reports_dir, FakeTsm, TD_QUOTE_V4_REPORT_DATA};
use common::running::{base64_field, expected_binding, fake_tee, start};
use prover::attestation::configfs_tsm::request_report;
use prover::attestation::Platform;

const REPORT_DATA: [u8; 64] = [0xd7; 64];

fn td_quote() -> Vec<u8> {
    let quote = common::shared_fixture("tdx/dcapqvl-tdx_quote_v4.bin");
    assert_eq!(&quote[..2], &[4, 0], "a v4 quote");
    assert_eq!(&quote[4..8], &[0x81, 0, 0, 0], "of a TD");
    quote
}

/// The quote with `report_data` where the TDX module puts it.
fn quote_carrying(report_data: &[u8]) -> Vec<u8> {
    let mut quote = td_quote();
    quote[TD_QUOTE_V4_REPORT_DATA..TD_QUOTE_V4_REPORT_DATA + 64].copy_from_slice(report_data);
    quote
}

fn tdx_device() -> FakeTsm {
    let mut device = FakeTsm::new("tdx_guest");
    device.quote_template = Some(td_quote());
    device
}

#[test]
fn a_tdx_guest_entry_gives_the_whole_quote_with_the_report_data() {
    let dir = tempfile::tempdir().unwrap();
    let reports = reports_dir(dir.path());
    let mut device = tdx_device();
    // Older kernels list an (empty) auxblob for TDX too; it is no certificate table.
    device.auxblob = Some(Vec::new());
    let (create, seen) = device.install();
    let report = request_report(&reports, &create, &REPORT_DATA).unwrap();
    assert_eq!(report.platform, Platform::Tdx);
    assert_eq!(
        report.report.len(),
        5006,
        "the quote with its PCK chain, whole"
    );
    assert_eq!(report.report, quote_carrying(&REPORT_DATA));
    assert_eq!(
        &report.report[TD_QUOTE_V4_REPORT_DATA..TD_QUOTE_V4_REPORT_DATA + 64],
        REPORT_DATA
    );
    assert_eq!(report.auxblob, None);
    let seen = seen.recv_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(seen.report_data, REPORT_DATA);
    assert!(!seen.entry.exists(), "the entry is removed");
}

#[tokio::test]
async fn the_envelope_carries_the_quote_base64_with_the_binding_as_report_data() {
    let dir = tempfile::tempdir().unwrap();
    let (create, seen) = tdx_device().install();
    let server = start(&["--tls"], fake_tee(dir.path(), create)).await;
    let nonce_hex = "7d".repeat(24);
    let envelope = server
        .get_json(&format!("/attestation?nonce={nonce_hex}"))
        .await;
    assert_eq!(envelope["platform"], "tdx");
    let expected = expected_binding(&envelope, &nonce_hex, server.spki.as_deref());
    let quote = base64_field(&envelope, "evidence");
    assert_eq!(quote, quote_carrying(&expected));
    assert_eq!(
        &quote[TD_QUOTE_V4_REPORT_DATA..TD_QUOTE_V4_REPORT_DATA + 64],
        expected,
        "report_data is the binding"
    );
    assert_eq!(
        seen.recv_timeout(Duration::from_secs(10))
            .unwrap()
            .report_data,
        expected
    );
    let object = envelope.as_object().unwrap();
    for absent in ["snp_certificate_table", "snp_crls", "tpm_signature"] {
        assert!(!object.contains_key(absent), "{absent} in {envelope}");
    }
    server.stop().await;
}
