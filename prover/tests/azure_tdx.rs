//! Azure TDX confidential VMs: the HCL report's TDREPORT goes to an IMDS double
//! (`common::service_double::imds`, which checks the request as IMDS's /acc/tdquote takes it) and
//! the real TD quote of the real report (../shared/fixtures/azure/trustee-tdx-*) comes back into
//! the vTPM part of the envelope as `azure_td_quote`; failures are errors naming the URL, or 503.

mod common;

use std::time::{Duration, Instant};

use base64::Engine as _;
use common::running::{base64_field, no_tee, start_with};
use common::service_double::{imds, Behaviour};
use common::shared_fixture;
use common::swtpm::SwTpm;
use prover::attestation::tpm::azure_tdx::{hcl_td_report, MAX_IMDS_ANSWER};
use prover::attestation::tpm::{ak, TpmAttester, TpmError};
use prover::attestation::{AzureImds, DevicePaths};

const BINDING: [u8; 64] = [0x3c; 64];

fn hcl_report() -> Vec<u8> {
    shared_fixture("azure/trustee-tdx-hcl-report.bin")
}

fn td_quote() -> Vec<u8> {
    shared_fixture("azure/trustee-tdx-td-quote.bin")
}

/// The TDREPORT IMDS is asked about: 1024 bytes at 0x20 of the HCL report.
fn td_report() -> Vec<u8> {
    hcl_report()[0x20..0x420].to_vec()
}

fn imds_at(addr: std::net::SocketAddr, timeout: Duration) -> AzureImds {
    AzureImds::new(&format!("http://{addr}/acc/tdquote"), timeout).unwrap()
}

/// swtpm holds at most 2048 bytes per NV index (TPM_PT_NV_INDEX_MAX) where Azure's vTPM holds the
/// whole 2600-byte report; the prover reads the header, the TDREPORT and the report type
/// (0x4C8), all inside the first 2048, so that prefix stands in for it on swtpm.
fn hcl_report_for_swtpm() -> Vec<u8> {
    hcl_report()[..2048].to_vec()
}

#[test]
fn a_tdx_hcl_report_gets_the_td_quote_of_its_tdreport_from_imds() {
    let hcl = hcl_report();
    assert_eq!(hcl_td_report(&hcl).unwrap(), Some(&td_report()[..]));
    assert_eq!(
        hcl_td_report(&shared_fixture("azure/trustee-snp-hcl-report.bin")).unwrap(),
        None,
        "an SEV-SNP HCL report needs no quote"
    );
    let (double, addr) = imds(td_report(), td_quote(), None);
    let quote = imds_at(addr, Duration::from_secs(10))
        .td_quote(&td_report())
        .unwrap();
    assert_eq!(quote, td_quote());
    let seen = double.requests();
    assert_eq!(
        seen,
        [serde_json::json!({
            "report": base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(td_report())
        })]
    );
}

#[test]
fn imds_failures_are_errors_naming_the_url() {
    let free_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let message = imds_at(free_port, Duration::from_secs(5))
        .td_quote(&td_report())
        .unwrap_err()
        .to_string();
    assert!(
        message.contains(&format!("http://{free_port}/acc/tdquote")),
        "{message}"
    );
    assert!(message.contains("cannot connect"), "{message}");
    assert!(message.contains("--azure-imds-url"), "{message}");
    let other_quote = shared_fixture("tdx/dcapqvl-tdx_quote_v4.bin");
    let json = |value: serde_json::Value| serde_json::to_vec(&value).unwrap();
    let cases = [
        (
            Behaviour::Fail(500, "Internal error retrieving quote"),
            "HTTP 500: Internal error retrieving quote",
        ),
        (
            Behaviour::Answer(json(serde_json::json!({
                "quote": base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&other_quote)
            }))),
            "a quote of another report",
        ),
        (
            Behaviour::Answer(json(serde_json::json!({"quote": "bm90IGEgcXVvdGU"}))),
            "not a TDX quote",
        ),
        (
            Behaviour::Answer(json(serde_json::json!({"quote": "***"}))),
            "not base64url",
        ),
        (Behaviour::Answer(b"{}".to_vec()), "not {\"quote\": …}"),
        (
            Behaviour::Answer(vec![b' '; MAX_IMDS_ANSWER + 1]),
            "larger than 65536 bytes",
        ),
        (Behaviour::Hang, "no complete answer within 0.3 s"),
    ];
    for (behaviour, needle) in cases {
        let (_double, addr) = imds(td_report(), td_quote(), Some(behaviour));
        let started = Instant::now();
        let error = imds_at(addr, Duration::from_millis(300))
            .td_quote(&td_report())
            .unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(5));
        assert!(matches!(error, TpmError::AzureTdQuote { .. }), "{error}");
        let message = error.to_string();
        assert!(message.contains(needle), "{needle:?} not in {message}");
        assert!(message.contains(&addr.to_string()), "{message}");
    }
    // IMDS itself refuses what is not a TDREPORT; the double does the same.
    let (_double, addr) = imds(td_report(), td_quote(), None);
    let message = imds_at(addr, Duration::from_secs(5))
        .td_quote(&hcl_report()[..1024])
        .unwrap_err()
        .to_string();
    assert!(message.contains("HTTP 400"), "{message}");
}

#[tokio::test]
async fn the_envelope_carries_the_td_quote_next_to_the_hcl_report() {
    let swtpm = SwTpm::start();
    let hcl = hcl_report_for_swtpm();
    swtpm.provision_nv(ak::AZURE_HCL_REPORT_INDEX, &hcl, false);
    swtpm.persist_azure_ak();
    let dir = tempfile::tempdir().unwrap();

    // IMDS failing: the attestation fails naming it (no quote without the TD quote), and the next
    // attestation asks again.
    let (failing, addr) = imds(td_report(), td_quote(), Some(Behaviour::Fail(503, "busy")));
    let attester = TpmAttester::open_with_imds(
        &swtpm.socket(),
        &dir.path().join("no-log"),
        imds_at(addr, Duration::from_secs(5)),
    )
    .unwrap();
    for _ in 0..2 {
        let error = attester.quote(&BINDING).unwrap_err();
        assert!(error.to_string().contains("HTTP 503: busy"), "{error}");
    }
    assert_eq!(failing.requests().len(), 2);
    // swtpm serves one connection at a time.
    drop(attester);

    let (double, addr) = imds(td_report(), td_quote(), None);
    let url = format!("http://{addr}/acc/tdquote");
    let socket = swtpm.socket();
    let args = [
        "--attestation",
        "tpm",
        "--tpm-device",
        socket.to_str().unwrap(),
        "--azure-imds-url",
        &url,
    ];
    let devices_dir = dir.path().to_owned();
    let server = start_with(&args, |flags| DevicePaths {
        tpm: flags.tpm.clone(),
        tpm_event_log: devices_dir.join("no-log"),
        azure_imds: flags.azure_imds.clone(),
        choice: flags.choice,
        ..no_tee(&devices_dir)
    })
    .await;
    for nonce in ["11", "22"] {
        let envelope = server
            .get_json(&format!("/attestation?nonce={}", nonce.repeat(16)))
            .await;
        assert_eq!(envelope["platform"], "vtpm");
        assert_eq!(base64_field(&envelope, "azure_hcl_report"), hcl);
        assert_eq!(base64_field(&envelope, "azure_td_quote"), td_quote());
    }
    // The TDREPORT does not change while the VM runs: IMDS was asked once.
    assert_eq!(double.requests().len(), 1);
    server.stop().await;
}
