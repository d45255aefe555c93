//! Azure vTPM evidence (`azure/`): HCL reports (SEV-SNP and TDX), their runtime-data binding and
//! HCLAkPub, the SEV-SNP reports verified with their VCEKs, and quotes by those AKs.

use base64::Engine as _;
use serde_json::Value;

use super::super::ak_certificate::ak_key;
use super::super::attest::TpmSignature;
use super::super::azure::{verify_azure_ak, AzureTrust};
use super::super::hcl::{parse_hcl_report, runtime_ak_key, HardwareKind};
use super::super::public::AkKey;
use super::super::quote::verify_quote;
use super::super::TpmError;
use super::{fixture, json_fixture, pem_certificates, sha256_bank, valid_time};
use crate::signature::VerifiedLinks;
use crate::snp::{SnpCertificates, SnpTrust};

/// One Azure VM's evidence: HCL report, quote (TPMS_ATTEST, raw RSA signature, 24 SHA-256
/// PCRs) and the VCEK of its chip (absent for TDX).
pub(crate) struct AzureVm {
    pub hcl: Vec<u8>,
    pub attest: Vec<u8>,
    pub signature: Vec<u8>,
    pub pcrs: Vec<Vec<u8>>,
    pub vcek: Option<Vec<u8>>,
    pub nonce: Vec<u8>,
}

/// A byte string the trustee fixtures write as hex, base64url or an array of numbers.
fn bytes(value: &Value) -> Vec<u8> {
    match value {
        Value::String(text) => hex::decode(text).unwrap_or_else(|_| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(text.trim_end_matches('='))
                .expect("hex or base64url")
        }),
        Value::Array(items) => items.iter().map(|b| b.as_u64().unwrap() as u8).collect(),
        other => panic!("not bytes: {other}"),
    }
}

fn quote_parts(quote: &Value) -> (Vec<u8>, Vec<u8>, Vec<Vec<u8>>) {
    let pcrs = quote["pcrs"]
        .as_array()
        .unwrap()
        .iter()
        .map(bytes)
        .collect();
    (bytes(&quote["message"]), bytes(&quote["signature"]), pcrs)
}

pub(crate) fn trustee(name: &str) -> AzureVm {
    let (hcl, quote, vcek) = match name {
        "snp" | "tdx" => (
            fixture(&format!("azure/trustee-{name}-hcl-report.bin")),
            json_fixture(&format!("azure/trustee-{name}-tpm-quote-v1.json")),
            (name == "snp").then(|| pem_certificates("azure/trustee-snp-vcek.pem").remove(0)),
        ),
        "snp-v0" => {
            let json = json_fixture("azure/trustee-snp-evidence-v0.json");
            let vcek = json["vcek"].as_str().unwrap().to_owned();
            let (_, vcek) = der::pem::decode_vec(vcek.trim().as_bytes()).unwrap();
            (bytes(&json["report"]), json["quote"].clone(), Some(vcek))
        }
        _ => {
            let json = json_fixture(&format!("azure/trustee-{name}.json"));
            (
                bytes(&json["hcl_report"]),
                json["tpm_quote"].clone(),
                Some(bytes(&json["vcek"])),
            )
        }
    };
    let (attest, signature, pcrs) = quote_parts(&quote);
    let runtime = parse_hcl_report(&hcl).unwrap().runtime_data;
    let runtime: Value = serde_json::from_slice(&runtime).unwrap();
    // snp-evidence-v2 was asked for its runtime data's user-data (48 bytes, zero-padded to 64
    // there); the others for "challenge".
    let nonce = match name {
        "snp-evidence-v2" => {
            hex::decode(runtime["user-data"].as_str().unwrap()).unwrap()[..48].to_vec()
        }
        _ => b"challenge".to_vec(),
    };
    AzureVm {
        hcl,
        attest,
        signature,
        pcrs,
        vcek,
        nonce,
    }
}

pub(crate) const SNP_VMS: [&str; 4] = ["snp", "snp-v0", "snp-evidence-v1", "snp-evidence-v2"];

fn rsassa(signature: &[u8]) -> TpmSignature {
    TpmSignature::RsaSsa {
        hash: 0x000b,
        signature: signature.to_vec(),
    }
}

fn no_crl() -> SnpTrust {
    SnpTrust {
        check_crl: false,
        ..SnpTrust::default()
    }
}

fn trust<'a>(vm: &AzureVm, links: &'a VerifiedLinks) -> AzureTrust<'a> {
    AzureTrust {
        snp_certificates: vm.vcek.clone().map(SnpCertificates::leaf_only),
        snp_trust: no_crl(),
        at_unix_seconds: vm.vcek.as_deref().map_or(1_700_000_000, valid_time),
        links,
    }
}

fn codes(errors: &[TpmError]) -> Vec<&'static str> {
    errors.iter().map(TpmError::code).collect()
}

#[test]
fn every_azure_snp_vm_s_quote_verifies_with_the_ak_its_verified_hcl_report_names() {
    let links = VerifiedLinks::disabled();
    for name in SNP_VMS {
        let vm = trustee(name);
        let hcl = parse_hcl_report(&vm.hcl).unwrap();
        assert_eq!(hcl.kind, HardwareKind::SevSnp, "{name}");
        let ak = hcl.ak_key().unwrap();
        assert!(
            matches!(&ak, AkKey::Rsa { modulus, .. } if modulus.len() == 256),
            "{name}"
        );
        let azure = verify_azure_ak(&vm.hcl, &ak, &trust(&vm, &links))
            .unwrap_or_else(|e| panic!("{name}: {:?}", codes(&e)));
        assert_eq!(azure.hcl.report_data[32..], [0; 32], "{name}");
        verify_quote(
            &vm.attest,
            &rsassa(&vm.signature),
            &ak,
            &vm.nonce,
            &sha256_bank(vm.pcrs),
        )
        .unwrap_or_else(|e| panic!("{name}: {:?}", codes(&e)));
    }
    let azure = verify_azure_ak(
        &trustee("snp").hcl,
        &parse_hcl_report(&trustee("snp").hcl)
            .unwrap()
            .ak_key()
            .unwrap(),
        &trust(&trustee("snp"), &links),
    )
    .unwrap();
    assert!(hex::encode(azure.snp.report.measurement).starts_with("9ac48fca"));
}

#[test]
fn another_vm_s_hcl_report_wrong_nonce_and_tampering_are_rejected() {
    let links = VerifiedLinks::disabled();
    let vm = trustee("snp");
    let ak = runtime_ak_key(&parse_hcl_report(&vm.hcl).unwrap().runtime_data).unwrap();
    // The HCL report of another VM (evidence v1) is genuine but names another AK.
    let other = trustee("snp-evidence-v1");
    let errors = verify_azure_ak(&other.hcl, &ak, &trust(&other, &links)).unwrap_err();
    assert_eq!(codes(&errors), ["azure-hcl-ak-mismatch"]);
    // Changed runtime data (one byte of the JSON) no longer hashes to report_data.
    let mut changed = vm.hcl.clone();
    let at = 0x4d4 + changed[0x4d4..].iter().position(|b| *b == b'R').unwrap();
    changed[at] = b'r';
    let errors = verify_azure_ak(&changed, &ak, &trust(&vm, &links)).unwrap_err();
    assert_eq!(codes(&errors)[0], "azure-hcl-binding-mismatch");
    // A flipped byte of the SEV-SNP report breaks AMD's signature (and the binding's report_data).
    let mut flipped = vm.hcl.clone();
    flipped[0x20 + 0x50] ^= 1;
    let errors = verify_azure_ak(&flipped, &ak, &trust(&vm, &links)).unwrap_err();
    assert_eq!(
        codes(&errors),
        ["azure-hcl-binding-mismatch", "snp-signature"]
    );
    // No VCEK: the report cannot be checked, so the AK is not trusted.
    let errors = verify_azure_ak(
        &vm.hcl,
        &ak,
        &AzureTrust {
            snp_certificates: None,
            ..trust(&vm, &links)
        },
    )
    .unwrap_err();
    assert_eq!(codes(&errors), ["snp-certificates-missing"]);
    let pcrs = sha256_bank(vm.pcrs.clone());
    let quote = |attest: &[u8], nonce: &[u8]| {
        codes(&verify_quote(attest, &rsassa(&vm.signature), &ak, nonce, &pcrs).unwrap_err())
    };
    assert_eq!(
        quote(&vm.attest, b"challengf"),
        ["tpm-qualifying-data-mismatch"]
    );
    let mut attest = vm.attest.clone();
    let last = attest.len() - 1;
    attest[last] ^= 0x80;
    assert_eq!(
        quote(&attest, b"challenge"),
        ["tpm-signature-invalid", "tpm-pcr-digest-mismatch"]
    );
}

#[test]
fn tdx_hcl_reports_bind_their_ak_but_need_their_td_quote() {
    let links = VerifiedLinks::disabled();
    let vm = trustee("tdx");
    let hcl = parse_hcl_report(&vm.hcl).unwrap();
    assert_eq!(hcl.kind, HardwareKind::Tdx);
    assert_eq!(hcl.hardware_report.len(), 1024);
    assert!(hex::encode(hcl.report_data).starts_with("9734504f"));
    hcl.check_binding().unwrap();
    let ak = hcl.ak_key().unwrap();
    verify_quote(
        &vm.attest,
        &rsassa(&vm.signature),
        &ak,
        &vm.nonce,
        &sha256_bank(vm.pcrs.clone()),
    )
    .unwrap_or_else(|e| panic!("{:?}", codes(&e)));
    // The SEV-SNP path refuses it; the TDX path (tests/azure_tdx.rs) wants the TD quote.
    let errors = verify_azure_ak(&vm.hcl, &ak, &trust(&vm, &links)).unwrap_err();
    assert_eq!(codes(&errors), ["azure-hcl-malformed"]);
    let kinvolk = parse_hcl_report(&fixture("azure/kinvolk-hcl-report-tdx.bin")).unwrap();
    assert_eq!(kinvolk.kind, HardwareKind::Tdx);
    kinvolk.check_binding().unwrap();
}

#[test]
fn kinvolk_fixtures_parse_bind_and_verify() {
    let hcl = parse_hcl_report(&fixture("azure/kinvolk-hcl-report-snp.bin")).unwrap();
    assert_eq!(hcl.kind, HardwareKind::SevSnp);
    hcl.check_binding().unwrap();
    assert!(hex::encode(&hcl.report_data[..32]).starts_with("1d0a466a"));
    let var_data_ak = runtime_ak_key(&fixture("azure/kinvolk-var-data.bin")).unwrap();
    assert_ne!(
        var_data_ak,
        hcl.ak_key().unwrap(),
        "the var data comes from a third VM"
    );

    // quote.bin: u64-LE length + signature, u64-LE length + message, u64-LE count + 32-byte PCRs.
    let file = fixture("azure/kinvolk-quote.bin");
    let mut at = 0;
    let mut field = |size: Option<usize>| {
        let length = u64::from_le_bytes(file[at..at + 8].try_into().unwrap()) as usize;
        at += 8;
        let length = size.map_or(length, |each| each * length);
        at += length;
        file[at - length..at].to_vec()
    };
    let signature = field(None);
    let attest = field(None);
    let pcrs = field(Some(32)).chunks(32).map(<[u8]>::to_vec).collect();
    let spki_pem = String::from_utf8(fixture("azure/kinvolk-akpub.pem")).unwrap();
    let (_, spki) = der::pem::decode_vec(spki_pem.trim().as_bytes()).unwrap();
    let spki =
        <x509_cert::spki::SubjectPublicKeyInfoOwned as der::Decode>::from_der(&spki).unwrap();
    let ak = ak_key(&spki).unwrap();
    assert_ne!(
        ak,
        hcl.ak_key().unwrap(),
        "the kinvolk AK is in neither HCL report"
    );
    verify_quote(
        &attest,
        &rsassa(&signature),
        &ak,
        b"challenge",
        &sha256_bank(pcrs),
    )
    .unwrap_or_else(|e| panic!("{:?}", codes(&e)));
}
