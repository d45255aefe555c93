//! Strict decoding of one CBOR item from outside data.
//!
//! ciborium alone is lenient: it reads one item and ignores what follows, accepts indefinite
//! lengths and non-shortest headers, and folds bignum tags into integers. A signed document must
//! have one meaning only, so after decoding we re-encode the value and require the received bytes
//! to be exactly that encoding (definite lengths, shortest form, nothing trailing). Real Nitro
//! documents are encoded that way by the NSM (serde_cbor), so nothing genuine is lost.

use ciborium::Value;

/// Nitro documents nest three levels deep (map → map/array → bstr); anything deeper is not one.
const RECURSION_LIMIT: usize = 8;

/// Why a byte string is not one strictly encoded CBOR item; the caller wraps it in its own error.
pub(crate) fn decode_strict(bytes: &[u8]) -> Result<Value, String> {
    let mut reader = bytes;
    let value: Value = ciborium::de::from_reader_with_recursion_limit(&mut reader, RECURSION_LIMIT)
        .map_err(|error| format!("not valid CBOR ({error})"))?;
    if !reader.is_empty() {
        return Err(format!("{} bytes follow the CBOR item", reader.len()));
    }
    let mut canonical = Vec::with_capacity(bytes.len());
    ciborium::ser::into_writer(&value, &mut canonical)
        .map_err(|error| format!("the decoded CBOR does not encode again ({error})"))?;
    if canonical != bytes {
        return Err("the CBOR is not in definite-length, shortest-form encoding".to_string());
    }
    Ok(value)
}

/// The entries of a CBOR map, refusing a key that appears twice (ciborium keeps both, and which
/// one a reader believes would otherwise depend on the reader).
pub(crate) fn unique_map_entries(map: Vec<(Value, Value)>) -> Result<Vec<(Value, Value)>, String> {
    for (i, (key, _)) in map.iter().enumerate() {
        if map.iter().skip(i + 1).any(|(other, _)| other == key) {
            return Err(format!("a map has the key {key:?} twice"));
        }
    }
    Ok(map)
}
