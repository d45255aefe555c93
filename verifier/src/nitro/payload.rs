//! The AttestationDoc map inside the COSE payload, decoded strictly with the bounds of AWS's
//! specification (aws-nitro-enclaves-nsm-api `docs/attestation_process.md`).

use std::collections::BTreeMap;

use ciborium::Value;

use super::cbor::{decode_strict, unique_map_entries};
use super::NitroError;

/// Only SHA-384 banks exist on Nitro hardware; with it every PCR is 48 bytes.
pub(crate) const DIGEST_SHA384: &str = "SHA384";
pub(crate) const PCR_LEN: usize = 48;
const MAX_PCRS: usize = 32;
const MAX_CERTIFICATE_BYTES: usize = 1024;
/// Real documents carry 4 (root, regional, zonal, instance); leave room, but not for abuse.
const MAX_CABUNDLE: usize = 8;
const MAX_MODULE_ID_BYTES: usize = 256;
const MAX_PUBLIC_KEY_BYTES: usize = 1024;
/// The specification's CDDL says 1024 and its prose 512; the larger avoids refusing a genuine one.
const MAX_USER_DATA_BYTES: usize = 1024;
const MAX_NONCE_BYTES: usize = 1024;

/// The payload fields, as signed.
pub(crate) struct AttestationPayload {
    pub module_id: String,
    pub timestamp_ms: u64,
    pub digest: String,
    pub pcrs: BTreeMap<u8, Vec<u8>>,
    pub certificate: Vec<u8>,
    /// Root first: `[ROOT, INTERM_1, …, INTERM_N]`.
    pub cabundle: Vec<Vec<u8>>,
    pub public_key: Option<Vec<u8>>,
    pub user_data: Option<Vec<u8>>,
    pub nonce: Option<Vec<u8>>,
}

#[derive(Default)]
struct Fields {
    module_id: Option<String>,
    digest: Option<String>,
    timestamp_ms: Option<u64>,
    pcrs: Option<BTreeMap<u8, Vec<u8>>>,
    certificate: Option<Vec<u8>>,
    cabundle: Option<Vec<Vec<u8>>>,
    public_key: Option<Option<Vec<u8>>>,
    user_data: Option<Option<Vec<u8>>>,
    nonce: Option<Option<Vec<u8>>>,
}

impl AttestationPayload {
    pub(crate) fn parse(payload: &[u8]) -> Result<Self, NitroError> {
        let value = decode_strict(payload).map_err(NitroError::MalformedPayload)?;
        let Value::Map(entries) = value else {
            return Err(malformed("the payload is not a map".into()));
        };
        let mut fields = Fields::default();
        for (key, value) in unique_map_entries(entries).map_err(NitroError::MalformedPayload)? {
            let Value::Text(key) = key else {
                return Err(malformed(format!("a payload key is {key:?}, not text")));
            };
            match key.as_str() {
                "module_id" => fields.module_id = Some(text(&key, value, MAX_MODULE_ID_BYTES)?),
                "digest" => fields.digest = Some(text(&key, value, DIGEST_SHA384.len())?),
                "timestamp" => fields.timestamp_ms = Some(timestamp(value)?),
                "pcrs" => fields.pcrs = Some(pcrs(value)?),
                "certificate" => {
                    fields.certificate = Some(bytes(&key, value, 1, MAX_CERTIFICATE_BYTES)?)
                }
                "cabundle" => fields.cabundle = Some(cabundle(value)?),
                "public_key" => {
                    fields.public_key = Some(optional_bytes(&key, value, 1, MAX_PUBLIC_KEY_BYTES)?)
                }
                "user_data" => {
                    fields.user_data = Some(optional_bytes(&key, value, 0, MAX_USER_DATA_BYTES)?)
                }
                "nonce" => fields.nonce = Some(optional_bytes(&key, value, 0, MAX_NONCE_BYTES)?),
                other => return Err(malformed(format!("unknown payload key {other:?}"))),
            }
        }
        let digest = required(fields.digest, "digest")?;
        if digest != DIGEST_SHA384 {
            return Err(malformed(format!("digest is {digest:?}, not \"SHA384\"")));
        }
        Ok(AttestationPayload {
            module_id: required(fields.module_id, "module_id")?,
            timestamp_ms: required(fields.timestamp_ms, "timestamp")?,
            digest,
            pcrs: required(fields.pcrs, "pcrs")?,
            certificate: required(fields.certificate, "certificate")?,
            cabundle: required(fields.cabundle, "cabundle")?,
            // The specification says no field may be null, but every real document encodes an
            // absent optional field as null; so these three (and only these) may be null or missing.
            public_key: fields.public_key.flatten(),
            user_data: fields.user_data.flatten(),
            nonce: fields.nonce.flatten(),
        })
    }
}

fn required<T>(field: Option<T>, name: &str) -> Result<T, NitroError> {
    field.ok_or_else(|| malformed(format!("the mandatory field {name} is missing")))
}

fn text(name: &str, value: Value, max_len: usize) -> Result<String, NitroError> {
    match value {
        Value::Text(text) if !text.is_empty() && text.len() <= max_len => Ok(text),
        Value::Text(text) => Err(malformed(format!(
            "{name} is {} bytes, outside 1..={max_len}",
            text.len()
        ))),
        _ => Err(malformed(format!("{name} is not a text string"))),
    }
}

fn timestamp(value: Value) -> Result<u64, NitroError> {
    let Value::Integer(integer) = value else {
        return Err(malformed("timestamp is not an unsigned integer".into()));
    };
    match u64::try_from(integer) {
        Ok(milliseconds) if milliseconds > 0 => Ok(milliseconds),
        _ => Err(malformed(
            "timestamp is not a positive number of milliseconds".into(),
        )),
    }
}

fn bytes(name: &str, value: Value, min_len: usize, max_len: usize) -> Result<Vec<u8>, NitroError> {
    match value {
        Value::Bytes(bytes) if (min_len..=max_len).contains(&bytes.len()) => Ok(bytes),
        Value::Bytes(bytes) => Err(malformed(format!(
            "{name} is {} bytes, outside {min_len}..={max_len}",
            bytes.len()
        ))),
        _ => Err(malformed(format!("{name} is not a byte string"))),
    }
}

fn optional_bytes(
    name: &str,
    value: Value,
    min_len: usize,
    max_len: usize,
) -> Result<Option<Vec<u8>>, NitroError> {
    match value {
        Value::Null => Ok(None),
        value => bytes(name, value, min_len, max_len).map(Some),
    }
}

fn pcrs(value: Value) -> Result<BTreeMap<u8, Vec<u8>>, NitroError> {
    let Value::Map(entries) = value else {
        return Err(malformed("pcrs is not a map".into()));
    };
    if entries.is_empty() || entries.len() > MAX_PCRS {
        return Err(malformed(format!(
            "pcrs has {} entries, outside 1..={MAX_PCRS}",
            entries.len()
        )));
    }
    let mut pcrs = BTreeMap::new();
    for (index, value) in entries {
        let index = match index {
            Value::Integer(integer) => u8::try_from(integer)
                .ok()
                .filter(|&i| usize::from(i) < MAX_PCRS),
            _ => None,
        }
        .ok_or_else(|| malformed("a PCR index is not an integer in 0..=31".into()))?;
        let value = bytes(&format!("PCR{index}"), value, PCR_LEN, PCR_LEN)?;
        if pcrs.insert(index, value).is_some() {
            return Err(malformed(format!("PCR{index} appears twice")));
        }
    }
    Ok(pcrs)
}

fn cabundle(value: Value) -> Result<Vec<Vec<u8>>, NitroError> {
    let Value::Array(entries) = value else {
        return Err(malformed("cabundle is not an array".into()));
    };
    if entries.is_empty() || entries.len() > MAX_CABUNDLE {
        return Err(malformed(format!(
            "cabundle has {} certificates, outside 1..={MAX_CABUNDLE}",
            entries.len()
        )));
    }
    entries
        .into_iter()
        .enumerate()
        .map(|(i, entry)| bytes(&format!("cabundle[{i}]"), entry, 1, MAX_CERTIFICATE_BYTES))
        .collect()
}

fn malformed(reason: String) -> NitroError {
    NitroError::MalformedPayload(reason)
}
