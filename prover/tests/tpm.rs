//! TPM 2.0 quotes against a real swtpm (`common::swtpm`), provisioned with tpm2-tools the way GCE
//! and Azure provision their vTPMs. Each quote is checked here independently of the prover's own
//! parsers: TPMS_ATTEST's extraData and pcrDigest by hand, the signature with the `rsa` crate, and
//! the whole quote once more with `tpm2_checkquote`.

mod common;

use std::io::{Read, Write};
use std::os::unix::net::UnixListener;
use std::path::Path;

use common::swtpm::SwTpm;
use prover::attestation::tpm::{
    ak, read_event_log, AkOrigin, TpmAttester, TpmClient, TpmError, TpmEvidence, Transport,
    MAX_EVENT_LOG,
};
use prover::attestation::{
    binding, AttestationChoice, AttestationError, Attester, DevicePaths, Nonce,
};
use rsa::pkcs1v15::{Signature, VerifyingKey};
use rsa::signature::Verifier;
use rsa::{BigUint, RsaPublicKey};
use sha2::{Digest, Sha256};

const BINDING: [u8; 64] = [0x42; 64];

fn no_event_log(dir: &Path) -> std::path::PathBuf {
    dir.join("no-event-log")
}

/// A TPM2B inside `bytes` at `*at`, moving past it.
fn tpm2b<'a>(bytes: &'a [u8], at: &mut usize) -> &'a [u8] {
    let len = u16::from_be_bytes([bytes[*at], bytes[*at + 1]]) as usize;
    let value = &bytes[*at + 2..*at + 2 + len];
    *at += 2 + len;
    value
}

/// (extraData, PCR select bytes, pcrDigest) of a quote's TPMS_ATTEST, read by hand.
fn attest_fields(attest: &[u8]) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    assert_eq!(&attest[..4], b"\xffTCG", "TPM_GENERATED_VALUE");
    assert_eq!(&attest[4..6], [0x80, 0x18], "TPM_ST_ATTEST_QUOTE");
    let mut at = 6;
    tpm2b(attest, &mut at); // qualifiedSigner
    let extra = tpm2b(attest, &mut at).to_vec();
    at += 17 + 8; // clockInfo, firmwareVersion
    assert_eq!(&attest[at..at + 4], [0, 0, 0, 1], "one PCR bank");
    assert_eq!(&attest[at + 4..at + 6], [0, 0x0b], "SHA-256 bank");
    let select_len = attest[at + 6] as usize;
    let select = attest[at + 7..at + 7 + select_len].to_vec();
    at += 7 + select_len;
    let digest = tpm2b(attest, &mut at).to_vec();
    assert_eq!(at, attest.len(), "nothing after pcrDigest");
    (extra, select, digest)
}

/// The RSA key of a TPMT_PUBLIC with an empty policy and no symmetric algorithm.
fn rsa_key(public: &[u8]) -> RsaPublicKey {
    assert_eq!(&public[..2], [0, 1], "an RSA key");
    let mut at = 8;
    tpm2b(public, &mut at); // authPolicy
    assert_eq!(&public[at..at + 2], [0, 0x10], "no symmetric algorithm");
    at += 2 + 4 + 2; // symmetric, scheme + hash, keyBits
    let exponent = u32::from_be_bytes(public[at..at + 4].try_into().unwrap());
    at += 4;
    let modulus = tpm2b(public, &mut at);
    let exponent = if exponent == 0 { 65537 } else { exponent };
    RsaPublicKey::new(BigUint::from_bytes_be(modulus), BigUint::from(exponent)).unwrap()
}

/// Checks the quote the way a wallet would: binding, PCR digest, RSASSA-SHA256 signature.
fn verify_quote(evidence: &TpmEvidence, binding: &[u8; 64]) {
    let (extra, select, digest) = attest_fields(&evidence.attest);
    assert_eq!(
        extra,
        Sha256::digest(binding).to_vec(),
        "extraData = SHA-256(binding)"
    );
    assert_eq!(select, [0xff, 0xff, 0x00], "PCRs 0-15");
    assert_eq!(evidence.pcrs.len(), 16);
    let mut hasher = Sha256::new();
    for pcr in 0..16 {
        hasher.update(evidence.pcrs[&pcr]);
    }
    assert_eq!(
        digest,
        hasher.finalize().to_vec(),
        "pcrDigest covers the values returned"
    );
    let signature = &evidence.signature;
    assert_eq!(&signature[..4], [0, 0x14, 0, 0x0b], "RSASSA with SHA-256");
    let mut at = 4;
    let signature = Signature::try_from(tpm2b(signature, &mut at)).unwrap();
    VerifyingKey::<Sha256>::new(rsa_key(&evidence.ak_public))
        .verify(&evidence.attest, &signature)
        .expect("the AK's signature over TPMS_ATTEST verifies");
}

/// The PCR value after extending a reset SHA-256 PCR with each of `digests`.
fn extended(digests: &[[u8; 32]]) -> [u8; 32] {
    digests.iter().fold([0u8; 32], |pcr, digest| {
        Sha256::new()
            .chain_update(pcr)
            .chain_update(digest)
            .finalize()
            .into()
    })
}

#[test]
fn a_quote_carries_the_binding_and_the_extended_pcrs_and_verifies_with_the_ak() {
    let swtpm = SwTpm::start();
    let uki = [0x11u8; 32];
    let cmdline = [0x22u8; 32];
    for (pcr, digest) in [(4, uki), (9, cmdline), (9, uki)] {
        swtpm.tool(
            "tpm2_pcrextend",
            &[&format!("{pcr}:sha256={}", hex::encode(digest))],
        );
    }
    let log = swtpm.dir().join("binary_bios_measurements");
    std::fs::write(&log, b"\x00\x00\x00\x00 an event log").unwrap();
    let attester = TpmAttester::open(&swtpm.socket(), &log).unwrap();
    assert_eq!(attester.origin(), AkOrigin::StandardTemplate);
    let evidence = attester.quote(&BINDING).unwrap();
    verify_quote(&evidence, &BINDING);
    assert_eq!(evidence.pcrs[&4], extended(&[uki]));
    assert_eq!(evidence.pcrs[&9], extended(&[cmdline, uki]));
    assert_eq!(evidence.pcrs[&11], [0u8; 32]);
    assert_eq!(
        evidence.event_log.as_deref(),
        Some(&b"\x00\x00\x00\x00 an event log"[..])
    );
    assert!(evidence.ak_certificate.is_none() && evidence.azure_hcl_report.is_none());
    // A second quote with another binding: same key, new extraData.
    let other = [0x43; 64];
    let second = attester.quote(&other).unwrap();
    verify_quote(&second, &other);
    assert_eq!(second.ak_public, evidence.ak_public);
    drop(attester);

    // tpm2-tools agrees: signature and qualification (TPM2B_PUBLIC as the key file).
    let dir = swtpm.dir();
    let mut public = (evidence.ak_public.len() as u16).to_be_bytes().to_vec();
    public.extend_from_slice(&evidence.ak_public);
    std::fs::write(dir.join("ak.pub"), public).unwrap();
    std::fs::write(dir.join("quote.msg"), &evidence.attest).unwrap();
    std::fs::write(dir.join("quote.sig"), &evidence.signature).unwrap();
    let qualification = hex::encode(Sha256::digest(BINDING));
    let checkquote = [
        "-u",
        "ak.pub",
        "-m",
        "quote.msg",
        "-s",
        "quote.sig",
        "-g",
        "sha256",
        "-q",
    ];
    swtpm.tool(
        "tpm2_checkquote",
        &[&checkquote[..], &[&qualification]].concat(),
    );
    let output = std::process::Command::new("tpm2_checkquote")
        .current_dir(dir)
        .args(checkquote)
        .arg(hex::encode(Sha256::digest(other)))
        .output()
        .unwrap();
    assert!(
        !output.status.success(),
        "another qualification must not check"
    );
}

#[test]
fn the_gce_layout_gives_the_templated_key_and_its_certificate() {
    let swtpm = SwTpm::start();
    // A template that differs from the standard one (noDA set), to see that the NV one is used.
    let mut template = prover::attestation::tpm::public::ak_template_rsa();
    template[6] |= 0x04;
    swtpm.provision_nv(ak::GCE_AK_TEMPLATE_RSA, &template, true);
    let log = no_event_log(swtpm.dir());
    // Without its certificate the key is still made from the template.
    let key = {
        let attester = TpmAttester::open(&swtpm.socket(), &log).unwrap();
        assert_eq!(attester.origin(), AkOrigin::Gce);
        let evidence = attester.quote(&BINDING).unwrap();
        assert!(evidence.ak_certificate.is_none());
        assert_eq!(
            evidence.ak_public[4..8],
            template[4..8],
            "the template's attributes"
        );
        verify_quote(&evidence, &BINDING);
        evidence.ak_public
    };
    // A test CA certifies that key, as Google's EK/AK CA does; the certificate goes into NV.
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = named("mpr test EK/AK CA");
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let ak_key = AkPublicKey(
        rsa::pkcs1::EncodeRsaPublicKey::to_pkcs1_der(&rsa_key(&key))
            .unwrap()
            .into_vec(),
    );
    let certificate = named("test instance AK")
        .signed_by(&ak_key, &ca, &ca_key)
        .unwrap();
    swtpm.provision_nv(ak::GCE_AK_CERT_RSA, certificate.der(), true);

    let attester = TpmAttester::open(&swtpm.socket(), &log).unwrap();
    let evidence = attester.quote(&BINDING).unwrap();
    assert_eq!(
        evidence.ak_public, key,
        "the same template gives the same primary key"
    );
    assert_eq!(
        evidence.ak_certificate.as_deref(),
        Some(certificate.der().as_ref())
    );
    let parsed =
        <x509_cert::Certificate as x509_cert::der::Decode>::from_der(certificate.der()).unwrap();
    assert_eq!(
        parsed
            .tbs_certificate
            .subject_public_key_info
            .subject_public_key
            .raw_bytes(),
        &ak_key.0[..],
        "the certificate names the quoting key"
    );
    verify_quote(&evidence, &BINDING);
}

fn named(common_name: &str) -> rcgen::CertificateParams {
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, common_name);
    params
}

/// The AK's PKCS#1 public key, for rcgen to put in a certificate.
struct AkPublicKey(Vec<u8>);

impl rcgen::PublicKeyData for AkPublicKey {
    fn der_bytes(&self) -> &[u8] {
        &self.0
    }

    fn algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
        &rcgen::PKCS_RSA_SHA256
    }
}

fn hcl_report() -> Vec<u8> {
    common::shared_fixture("azure/kinvolk-hcl-report-snp.bin")
}

#[test]
fn the_azure_layout_returns_the_hcl_report_verbatim_with_the_persistent_ak() {
    let swtpm = SwTpm::start();
    let report = hcl_report();
    assert!(report.len() > 1024, "read in more than one NV chunk");
    swtpm.provision_nv(ak::AZURE_HCL_REPORT_INDEX, &report, false);
    // Before the AK is there: a clear error naming both.
    let err = TpmAttester::open(&swtpm.socket(), &no_event_log(swtpm.dir())).unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains("0x81000003") && message.contains("TPM_RC_HANDLE"),
        "{message}"
    );
    let ak_public = swtpm.persist_azure_ak();

    let attester = TpmAttester::open(&swtpm.socket(), &no_event_log(swtpm.dir())).unwrap();
    assert_eq!(attester.origin(), AkOrigin::Azure);
    let evidence = attester.quote(&BINDING).unwrap();
    assert_eq!(evidence.azure_hcl_report.as_deref(), Some(&report[..]));
    assert_eq!(
        evidence.ak_public, ak_public,
        "the persistent AK's TPMT_PUBLIC"
    );
    assert_eq!(
        evidence.azure_td_quote, None,
        "an SEV-SNP HCL report has none"
    );
    assert!(evidence.event_log.is_none() && evidence.ak_certificate.is_none());
    verify_quote(&evidence, &BINDING);
    drop(attester);
    // The persistent AK is the paravisor's: never flushed.
    swtpm.tool("tpm2_readpublic", &["-c", "0x81000003"]);
}

#[test]
fn an_absent_nv_index_is_none_and_a_tpm_error_names_command_and_code() {
    let swtpm = SwTpm::start();
    let mut client = TpmClient::new(Transport::open(&swtpm.socket()).unwrap());
    assert_eq!(
        client.nv_read_public(ak::GCE_AK_TEMPLATE_RSA).unwrap(),
        None
    );
    let err = client.read_public(0x8100_0099).unwrap_err();
    assert_eq!(err.response_code(), Some(0x18b));
    assert_eq!(
        err.to_string(),
        "TPM2_ReadPublic failed: TPM_RC_HANDLE (handle 1) (response code 0x18b)"
    );
    // A transient handle nothing was loaded at.
    let err = client
        .quote(0x8000_0000, &[0; 32], (0x10, None), 0xffff)
        .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("TPM2_Quote failed: TPM_RC_REFERENCE_H0"),
        "{err}"
    );
    assert!(client.nv_chunk_size().unwrap() >= 512);
}

#[test]
fn a_missing_device_or_a_plain_file_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("tpmrm0");
    let err = TpmAttester::open(&missing, &no_event_log(dir.path())).unwrap_err();
    assert!(matches!(err, TpmError::Missing { .. }));
    assert!(err.to_string().contains(&missing.display().to_string()));
    let file = dir.path().join("file");
    std::fs::write(&file, b"not a TPM").unwrap();
    let err = TpmAttester::open(&file, &no_event_log(dir.path())).unwrap_err();
    assert!(
        err.to_string().contains("neither a character device"),
        "{err}"
    );
}

/// A client of a fake TPM on a Unix socket answering each command with the next of `answers`
/// (hex); the directory holding the socket goes with it.
fn fake_tpm(answers: &[&str]) -> (tempfile::TempDir, TpmClient) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fake-tpm");
    let listener = UnixListener::bind(&path).unwrap();
    let answers: Vec<Vec<u8>> = answers.iter().map(|a| hex::decode(a).unwrap()).collect();
    std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        for answer in answers {
            let mut command = [0u8; 4096];
            if stream.read(&mut command).unwrap_or(0) == 0 {
                return;
            }
            stream.write_all(&answer).unwrap();
        }
    });
    let client = TpmClient::new(Transport::open(&path).unwrap());
    (dir, client)
}

#[test]
fn truncated_oversized_and_failing_responses_are_errors() {
    let failure = "80010000000a00000101";
    let truncated = "80010000001e000000000000";
    let (_dir, mut client) = fake_tpm(&[failure, truncated]);
    let err = client.read_public(0x8100_0003).unwrap_err();
    assert_eq!(
        err.to_string(),
        "TPM2_ReadPublic failed: TPM_RC_FAILURE (response code 0x101)"
    );
    let err = client.read_public(0x8100_0003).unwrap_err();
    assert!(err.to_string().contains("truncated"), "{err}");
    let err = client.read_public(0x8100_0003).unwrap_err();
    assert!(err.to_string().contains("out of step"), "{err}");

    let (_dir, mut client) = fake_tpm(&["8001000186a000000000"]);
    let err = client.pcr_read(0xffff).unwrap_err();
    assert!(err.to_string().contains("declares 100000 bytes"), "{err}");
    // A well-framed answer that does not parse as a PCR_Read answer.
    let (_dir, mut client) = fake_tpm(&["80010000000f000000000000000700"]);
    let err = client.pcr_read(0xffff).unwrap_err();
    assert!(
        matches!(
            err,
            TpmError::Malformed {
                command: "TPM2_PCR_Read",
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn an_event_log_that_is_unreadable_or_too_large_is_an_error_and_an_absent_one_is_none() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(read_event_log(&dir.path().join("absent")).unwrap(), None);
    let err = read_event_log(dir.path()).unwrap_err();
    assert!(err.to_string().contains("cannot read it"), "{err}");
    let large = dir.path().join("large");
    std::fs::write(&large, vec![0u8; MAX_EVENT_LOG as usize + 1]).unwrap();
    let err = read_event_log(&large).unwrap_err();
    assert!(
        err.to_string().contains("larger than 1048576 bytes"),
        "{err}"
    );
    // Through a quote: the error reaches the caller.
    let swtpm = SwTpm::start();
    let attester = TpmAttester::open(&swtpm.socket(), &large).unwrap();
    let err = attester.quote(&BINDING).unwrap_err();
    assert!(matches!(err, TpmError::EventLog { .. }), "{err}");
}

fn tpm_paths(dir: &Path, tpm: &Path, choice: AttestationChoice) -> DevicePaths {
    DevicePaths {
        nsm: dir.join("nsm"),
        tsm_reports: dir.join("tsm/report"),
        tpm: tpm.to_owned(),
        tpm_event_log: no_event_log(dir),
        launcher: common::running::no_launcher(dir),
        choice,
        ..DevicePaths::default()
    }
}

#[test]
fn detection_takes_the_tpm_before_configfs_tsm_and_a_forced_missing_device_is_an_error() {
    let swtpm = SwTpm::start();
    let dir = tempfile::tempdir().unwrap();
    let mut paths = tpm_paths(dir.path(), &swtpm.socket(), AttestationChoice::Auto);
    std::fs::create_dir_all(&paths.tsm_reports).unwrap();
    assert!(matches!(
        Attester::detect(&paths).unwrap(),
        Attester::Tpm(_)
    ));
    paths.choice = AttestationChoice::Tsm;
    assert!(matches!(
        Attester::detect(&paths).unwrap(),
        Attester::ConfigfsTsm { .. }
    ));
    paths.tpm = dir.path().join("tpmrm0");
    paths.choice = AttestationChoice::Tpm;
    let err = Attester::detect(&paths).unwrap_err();
    assert!(matches!(
        err,
        AttestationError::ForcedUnavailable { choice: "tpm", .. }
    ));
    assert!(err.to_string().contains("no TPM at"), "{err}");
    paths.choice = AttestationChoice::Nitro;
    assert!(Attester::detect(&paths).is_err());
}

#[tokio::test]
async fn the_envelope_carries_the_quote_for_the_binding_of_nonce_and_keys() {
    let swtpm = SwTpm::start();
    let dir = tempfile::tempdir().unwrap();
    let mut paths = tpm_paths(dir.path(), &swtpm.socket(), AttestationChoice::Tpm);
    paths.tpm_event_log = dir.path().join("log");
    std::fs::write(&paths.tpm_event_log, b"event log").unwrap();
    let server = common::running::start(&["--tls"], paths).await;
    let nonce_hex = "a1".repeat(32);
    let envelope = server
        .get_json(&format!("/attestation?nonce={nonce_hex}"))
        .await;
    let b64 = |field: &str| common::running::base64_field(&envelope, field);
    assert_eq!(envelope["platform"], "vtpm");
    let key_config = hex::decode(envelope["ohttp_key_config"].as_str().unwrap()).unwrap();
    let nonce = Nonce::from_hex(&nonce_hex).unwrap();
    let expected = binding(&nonce, server.spki.as_ref().unwrap(), &key_config).unwrap();
    assert_eq!(envelope["binding"], hex::encode(expected));
    let pcrs = envelope["tpm_pcrs"]["sha256"].as_object().unwrap();
    let evidence = TpmEvidence {
        attest: b64("evidence"),
        signature: b64("tpm_signature"),
        ak_public: b64("tpm_ak_public"),
        pcrs: (0..16)
            .map(|pcr| {
                let value = hex::decode(pcrs[&pcr.to_string()].as_str().unwrap()).unwrap();
                (pcr, value.try_into().unwrap())
            })
            .collect(),
        event_log: Some(b64("tpm_event_log")),
        ak_certificate: None,
        azure_hcl_report: None,
        azure_td_quote: None,
    };
    assert_eq!(pcrs.len(), 16);
    verify_quote(&evidence, &expected);
    assert_eq!(evidence.event_log.as_deref(), Some(&b"event log"[..]));
    assert!(envelope.get("tpm_ak_certificate").is_none());
    assert!(envelope.get("azure_hcl_report").is_none());
    assert!(envelope.get("azure_td_quote").is_none());
    assert!(envelope.get("snp_certificate_table").is_none());
    server.stop().await;
}

#[tokio::test]
async fn a_forced_tpm_that_is_missing_stops_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let paths = tpm_paths(
        dir.path(),
        &dir.path().join("tpmrm0"),
        AttestationChoice::Tpm,
    );
    let config = <prover::config::Config as clap::Parser>::try_parse_from([
        "proof-server",
        "--listen",
        "tcp:127.0.0.1:0",
        "--no-fetch-params",
    ])
    .unwrap();
    let err = match prover::startup::BoundServer::bind(&config, &paths).await {
        Ok(_) => panic!("started without its forced TPM"),
        Err(err) => err,
    };
    assert!(
        err.to_string().contains("--attestation tpm: no TPM at"),
        "{err}"
    );
}

#[test]
fn the_parsers_read_a_real_gce_quote() {
    use prover::attestation::tpm::{public, quote};
    let fixture = |ext: &str| {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../shared/fixtures/gcp")
            .join(format!("gce-cos-85-nonce9009.{ext}"));
        std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    };
    let info = quote::parse_attest(&fixture("quote-sha256.attest")).unwrap();
    assert_eq!(info.extra_data, [0x90, 0x09]);
    assert_eq!(info.pcr_mask, 0xff_ffff, "PCRs 0-23");
    assert_eq!(info.pcr_digest.len(), 32);
    assert_eq!(
        quote::parse_signature(&fixture("quote-sha256.sig")).unwrap(),
        0x0014
    );
    let key = public::parse_public(&fixture("akpub.tpmt")).unwrap();
    assert_eq!(key.key_type, public::TPM_ALG_RSA);
    assert!(key.is_signing_key() && key.attributes & public::RESTRICTED != 0);
}
