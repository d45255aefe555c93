//! Tests against real vTPM evidence (`shared/fixtures/{gcp,azure,tpm}`): GCE and Azure quotes,
//! AK certificates and HCL reports, and every firmware event log there, plus tampered copies
//! (each rejected under its stable code) and parser limits.

mod azure;
mod azure_tdx;
mod eventlog;
mod flow;
mod flow_fixtures;
mod gcp;
mod structures;

use std::collections::BTreeMap;

use serde_json::Value;
use x509_cert::der::Decode;
use x509_cert::Certificate;

use super::{HashAlg, PcrBanks};

pub(super) const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/fixtures");

pub(super) fn fixture(path: &str) -> Vec<u8> {
    std::fs::read(format!("{FIXTURES}/{path}")).unwrap_or_else(|e| panic!("{path}: {e}"))
}

pub(super) fn json_fixture(path: &str) -> Value {
    serde_json::from_slice(&fixture(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Every certificate of a PEM file, DER.
pub(super) fn pem_certificates(path: &str) -> Vec<Vec<u8>> {
    let text = String::from_utf8(fixture(path)).expect("PEM is text");
    text.split_inclusive("-----END CERTIFICATE-----")
        .filter(|block| block.contains("BEGIN CERTIFICATE"))
        .map(|block| {
            let (label, der) = der::pem::decode_vec(block.trim().as_bytes()).expect("PEM decodes");
            assert_eq!(label, "CERTIFICATE");
            der
        })
        .collect()
}

/// One day after the certificate's notBefore.
pub(super) fn valid_time(der: &[u8]) -> u64 {
    Certificate::from_der(der)
        .expect("fixture certificate parses")
        .tbs_certificate
        .validity
        .not_before
        .to_unix_duration()
        .as_secs()
        + 86_400
}

/// `{"sha1": {"0": "<hex>", ...}, ...}` as PCR banks (the shape of the fixtures and of `tpm_pcrs`).
pub(super) fn pcr_banks(json: &Value) -> PcrBanks {
    json.as_object()
        .expect("banks object")
        .iter()
        .map(|(bank, pcrs)| {
            let bank = HashAlg::from_name(bank).expect("known bank");
            let pcrs: BTreeMap<u8, Vec<u8>> = pcrs
                .as_object()
                .expect("PCR object")
                .iter()
                .map(|(index, value)| {
                    (
                        index.parse().expect("PCR index"),
                        hex::decode(value.as_str().expect("hex")).expect("hex"),
                    )
                })
                .collect();
            (bank, pcrs)
        })
        .collect()
}

/// A SHA-256 bank from a list of 24 values (Azure's quote files).
pub(super) fn sha256_bank(values: Vec<Vec<u8>>) -> PcrBanks {
    assert_eq!(values.len(), 24, "24 PCRs");
    let pcrs = values
        .into_iter()
        .enumerate()
        .map(|(index, value)| (index as u8, value))
        .collect();
    BTreeMap::from([(HashAlg::Sha256, pcrs)])
}
