//! SEV-SNP/TDX attestation through configfs-tsm, against a fake device in a temporary directory
//! (`common::fake_tsm`): the interface itself (provider, inblob, outblob, auxblob, generation, entry
//! removal), then the `mpr-attestation/v1` envelope over real HTTP with the binding recomputed here.
//! The device errors are checked for both providers; TDX with a real quote: `tdx_tsm.rs`.

mod common;

use std::path::Path;
use std::time::Duration;

use common::fake_tsm::{reports_dir, FakeTsm, REPORT_PREFIX};
use common::running::{fake_tee, no_tee, start};
use prover::attestation::configfs_tsm::{request_report, MAX_AUXBLOB_LEN};
use prover::attestation::{binding, AttestationError, CreateReportEntry, Nonce, Platform};

const REPORT_DATA: [u8; 64] = [0x5a; 64];

fn entries(reports: &Path) -> usize {
    std::fs::read_dir(reports).unwrap().count()
}

#[test]
fn sev_guest_report_carries_the_report_data_and_the_certificate_table() {
    let dir = tempfile::tempdir().unwrap();
    let reports = reports_dir(dir.path());
    let mut device = FakeTsm::new("sev_guest");
    device.auxblob = Some(b"certificate table".to_vec());
    let (create, seen) = device.install();
    let report = request_report(&reports, &create, &REPORT_DATA).unwrap();
    let seen = seen.recv_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(
        seen.report_data, REPORT_DATA,
        "inblob holds the report data"
    );
    assert_eq!(report.platform, Platform::SevSnp);
    assert_eq!(report.report, [REPORT_PREFIX, &REPORT_DATA[..]].concat());
    assert_eq!(report.auxblob.as_deref(), Some(&b"certificate table"[..]));
    // The device emptied the entry, so it was removed as configfs removes it.
    assert!(!seen.entry.exists(), "{} left behind", seen.entry.display());
    assert_eq!(entries(&reports), 0);
}

#[test]
fn an_empty_auxblob_is_no_certificate_table_and_an_oversized_one_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let reports = reports_dir(dir.path());
    let mut device = FakeTsm::new("sev_guest");
    device.auxblob = Some(Vec::new());
    let (create, _seen) = device.install();
    assert_eq!(
        request_report(&reports, &create, &REPORT_DATA)
            .unwrap()
            .auxblob,
        None
    );
    let mut device = FakeTsm::new("sev_guest");
    device.auxblob = Some(vec![0; MAX_AUXBLOB_LEN as usize + 1]);
    device.removable = false;
    let (create, _seen) = device.install();
    let error = request_report(&reports, &create, &REPORT_DATA).unwrap_err();
    assert!(error.to_string().contains("auxblob"), "{error}");
    assert!(error.to_string().contains("more than"), "{error}");
}

#[test]
fn a_generation_change_during_the_report_is_an_error_asking_to_retry() {
    let dir = tempfile::tempdir().unwrap();
    let reports = reports_dir(dir.path());
    for provider in ["sev_guest", "tdx_guest"] {
        let mut device = FakeTsm::new(provider);
        device.generation_moves = true;
        let (create, seen) = device.install();
        let error = request_report(&reports, &create, &REPORT_DATA).unwrap_err();
        let message = error.to_string();
        assert!(message.contains("generation 1 -> 2"), "{message}");
        assert!(message.contains("retry"), "{message}");
        // Removed on the error path too.
        let entry = seen.recv_timeout(Duration::from_secs(10)).unwrap().entry;
        assert!(!entry.exists());
    }
}

#[test]
fn an_unknown_provider_is_refused_before_any_report_is_asked_for() {
    let dir = tempfile::tempdir().unwrap();
    let reports = reports_dir(dir.path());
    let mut device = FakeTsm::new("arm_cca_guest");
    device.outblob = false;
    let (create, _seen) = device.install();
    let error = request_report(&reports, &create, &REPORT_DATA).unwrap_err();
    let message = error.to_string();
    assert!(
        message.contains("unknown configfs-tsm provider \"arm_cca_guest\""),
        "{message}"
    );
    assert!(message.contains("provider"), "{message}");
    // No inblob was written: the report data never reached an unknown provider.
    let entry = std::fs::read_dir(&reports)
        .unwrap()
        .next()
        .unwrap()
        .unwrap();
    assert!(!entry.path().join("inblob").exists());
}

#[test]
fn a_missing_outblob_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let reports = reports_dir(dir.path());
    for provider in ["sev_guest", "tdx_guest"] {
        let mut device = FakeTsm::new(provider);
        device.outblob = false;
        let (create, _seen) = device.install();
        let error = request_report(&reports, &create, &REPORT_DATA).unwrap_err();
        let AttestationError::Device { path, problem } = &error else {
            panic!("{error}");
        };
        assert_eq!(path.file_name().unwrap(), "outblob");
        assert!(problem.contains("cannot open"), "{problem}");
    }
}

#[test]
fn an_entry_that_cannot_be_made_or_read_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let reports = reports_dir(dir.path());
    // configfs refuses mkdir without privileges.
    let refused = CreateReportEntry::custom(|_: &Path| {
        Err(std::io::Error::from(std::io::ErrorKind::PermissionDenied))
    });
    let error = request_report(&reports, &refused, &REPORT_DATA).unwrap_err();
    assert!(error.to_string().contains("cannot create"), "{error}");
    assert!(
        error.to_string().contains(&reports.display().to_string()),
        "{error}"
    );
    // The report directory is gone (configfs unmounted): the real mkdir fails.
    let gone = dir.path().join("unmounted");
    let error = request_report(&gone, &CreateReportEntry::kernel(), &REPORT_DATA).unwrap_err();
    assert!(error.to_string().contains("cannot create"), "{error}");
    // An entry whose attributes cannot be read (provider is a directory, not a file).
    let unreadable = CreateReportEntry::custom(|entry: &Path| {
        std::fs::create_dir(entry)?;
        std::fs::create_dir(entry.join("provider"))
    });
    let error = request_report(&reports, &unreadable, &REPORT_DATA).unwrap_err();
    let message = error.to_string();
    assert!(message.contains("provider: cannot read"), "{message}");
}

#[tokio::test]
async fn the_envelope_binds_nonce_tls_key_and_ohttp_key_config() {
    let dir = tempfile::tempdir().unwrap();
    let mut device = FakeTsm::new("sev_guest");
    device.auxblob = Some(b"ghcb certificate table".to_vec());
    let (create, seen) = device.install();
    let statement = dir.path().join("statement.json");
    std::fs::write(&statement, b"{\"release\":1}").unwrap();
    let signature = dir.path().join("statement.asc");
    std::fs::write(
        &signature,
        "-----BEGIN PGP SIGNATURE-----\n\nabc\n-----END PGP SIGNATURE-----\n",
    )
    .unwrap();
    let proof = dir.path().join("proof.txt");
    std::fs::write(&proof, "c2sp.org/tlog-proof@v1\nindex 7\n").unwrap();
    let crl = dir.path().join("milan.crl");
    std::fs::write(&crl, b"\x30\x82 an AMD CRL").unwrap();
    let args = [
        "--tls",
        "--snp-crl",
        crl.to_str().unwrap(),
        "--staple-statement",
        statement.to_str().unwrap(),
        "--staple-signature",
        signature.to_str().unwrap(),
        "--staple-proof",
        proof.to_str().unwrap(),
    ];
    let server = start(&args, fake_tee(dir.path(), create)).await;
    let nonce_hex = "c0".repeat(32);
    let envelope: serde_json::Value = server
        .client
        .get(server.url(&format!("/attestation?nonce={nonce_hex}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key_list = server
        .client
        .get(server.url("/ohttp-keys"))
        .send()
        .await
        .unwrap();
    let key_list = key_list.bytes().await.unwrap();

    assert_eq!(envelope["format"], "mpr-attestation/v1");
    assert_eq!(envelope["platform"], "sev-snp");
    assert_eq!(envelope["nonce"], nonce_hex);
    let spki = server.spki.clone().unwrap();
    assert_eq!(envelope["tls_public_key"], hex::encode(&spki));
    // The key config attested is the one /ohttp-keys serves (the list adds a 2-byte length).
    let key_config = hex::decode(envelope["ohttp_key_config"].as_str().unwrap()).unwrap();
    assert_eq!(&key_list[2..], &key_config[..]);
    // Recomputed here from what the client knows: its nonce, the TLS key, the key config.
    let nonce = Nonce::from_hex(&nonce_hex).unwrap();
    let expected = binding(&nonce, &spki, &key_config).unwrap();
    assert_eq!(envelope["binding"], hex::encode(expected));
    let seen = seen.recv_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(seen.report_data, expected, "REPORT_DATA is the binding");
    assert_eq!(
        envelope["evidence"],
        hex::encode([REPORT_PREFIX, &expected[..]].concat())
    );
    assert_eq!(
        envelope["snp_certificate_table"],
        hex::encode(b"ghcb certificate table")
    );
    assert_eq!(envelope["snp_crls"][0], hex::encode(b"\x30\x82 an AMD CRL"));
    assert_eq!(envelope["staple"]["statement"], "eyJyZWxlYXNlIjoxfQ==");
    assert_eq!(
        envelope["staple"]["signatures"][0],
        "-----BEGIN PGP SIGNATURE-----\n\nabc\n-----END PGP SIGNATURE-----\n"
    );
    assert_eq!(
        envelope["staple"]["proof"],
        "c2sp.org/tlog-proof@v1\nindex 7\n"
    );
    server.stop().await;
}

#[tokio::test]
async fn without_tls_the_binding_covers_an_empty_key_and_tdx_has_no_certificate_table() {
    let dir = tempfile::tempdir().unwrap();
    let mut device = FakeTsm::new("tdx_guest");
    // auxblob is an SEV-SNP certificate table; a TDX entry's is not passed on as one.
    device.auxblob = Some(b"not a table".to_vec());
    let (create, seen) = device.install();
    // An AMD CRL means nothing next to a TDX quote and is not passed on either.
    let crl = dir.path().join("milan.crl");
    std::fs::write(&crl, b"crl").unwrap();
    let server = start(
        &["--snp-crl", crl.to_str().unwrap()],
        fake_tee(dir.path(), create),
    )
    .await;
    let nonce_hex = "0d".repeat(16);
    let envelope: serde_json::Value = server
        .client
        .get(server.url(&format!("/attestation?nonce={nonce_hex}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(envelope["platform"], "tdx");
    assert!(envelope["tls_public_key"].is_null(), "{envelope}");
    let key_config = hex::decode(envelope["ohttp_key_config"].as_str().unwrap()).unwrap();
    let expected = binding(&Nonce::from_hex(&nonce_hex).unwrap(), &[], &key_config).unwrap();
    assert_eq!(envelope["binding"], hex::encode(expected));
    assert_eq!(
        seen.recv_timeout(Duration::from_secs(10))
            .unwrap()
            .report_data,
        expected
    );
    let object = envelope.as_object().unwrap();
    assert!(!object.contains_key("snp_certificate_table"), "{envelope}");
    assert!(!object.contains_key("snp_crls"), "{envelope}");
    assert!(!object.contains_key("staple"), "{envelope}");
    server.stop().await;
}

#[tokio::test]
async fn a_staple_file_that_is_missing_or_too_large_stops_the_start_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let statement = dir.path().join("statement.json");
    std::fs::write(&statement, vec![b'x'; (1 << 20) + 1]).unwrap();
    let signature = dir.path().join("sig.asc");
    std::fs::write(&signature, "sig").unwrap();
    let missing_proof = dir.path().join("missing-proof.txt");
    for (proof, needle) in [
        (&signature, "statement.json is larger than 1048576 bytes"),
        (&missing_proof, "missing-proof.txt"),
    ] {
        let config = <prover::config::Config as clap::Parser>::try_parse_from([
            "proof-server",
            "--listen",
            "tcp:127.0.0.1:0",
            "--no-fetch-params",
            "--staple-statement",
            if proof == &missing_proof {
                signature.to_str().unwrap()
            } else {
                statement.to_str().unwrap()
            },
            "--staple-signature",
            signature.to_str().unwrap(),
            "--staple-proof",
            proof.to_str().unwrap(),
        ])
        .unwrap();
        let error = prover::startup::BoundServer::bind(&config, &no_tee(dir.path()))
            .await
            .err()
            .expect("the start fails");
        assert!(error.to_string().contains(needle), "{error}");
    }
}
