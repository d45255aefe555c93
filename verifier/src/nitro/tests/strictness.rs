//! The envelope and payload have one encoding only: anything else is refused before any
//! signature is trusted, with the malformed-* codes.

use ciborium::Value;

use super::{decode, encode, envelope, field, fixture, rewrite_payload};
use crate::nitro::testing::{TestChain, TestDocument};
use crate::nitro::{verify_document, NitroError, NitroTrust, MAX_DOCUMENT_BYTES};

const TIMESTAMP_MS: u64 = 1_800_000_060_000;

fn chain() -> TestChain {
    TestChain::new("strict", 1_800_000_000, 1_800_010_000)
}

/// A test-key payload changed by `change` and then properly signed, so only the payload rules can
/// refuse it.
fn signed_with(change: impl FnOnce(&mut Vec<(Value, Value)>)) -> Result<(), NitroError> {
    let chain = chain();
    let payload = TestDocument::new(TIMESTAMP_MS).encode_payload(&chain.leaf, &chain.cabundle);
    let Value::Map(mut map) = decode(&payload) else {
        panic!("map")
    };
    change(&mut map);
    let bytes = chain.sign_payload(&encode(&Value::Map(map)));
    verify_document(&bytes, &chain.trust(), TIMESTAMP_MS / 1000).map(|_| ())
}

fn code(result: Result<(), NitroError>) -> &'static str {
    result.expect_err("must be refused").code()
}

#[test]
fn the_cose_tag_18_is_accepted_and_any_other_tag_is_not() {
    let fixture = fixture("yawn-attestation.cose");
    let mut tagged = vec![0xd2];
    tagged.extend_from_slice(&fixture.bytes);
    verify_document(&tagged, &NitroTrust::default(), fixture.verify_at()).unwrap();
    tagged[0] = 0xd1; // tag 17, COSE_Mac0
    let error = verify_document(&tagged, &NitroTrust::default(), fixture.verify_at()).unwrap_err();
    assert_eq!(error.code(), "nitro-malformed-cose");
}

#[test]
fn trailing_bytes_indefinite_lengths_and_oversized_input_are_refused() {
    let fixture = fixture("yawn-attestation.cose");
    let at = fixture.verify_at();
    let mut trailing = fixture.bytes.clone();
    trailing.push(0x00);
    let error = verify_document(&trailing, &NitroTrust::default(), at).unwrap_err();
    assert_eq!(error.code(), "nitro-malformed-cose");

    // 0x84 (array of 4) → 0x9f … 0xff (indefinite array): same value, another encoding.
    let mut indefinite = fixture.bytes.clone();
    indefinite[0] = 0x9f;
    indefinite.push(0xff);
    let error = verify_document(&indefinite, &NitroTrust::default(), at).unwrap_err();
    assert_eq!(error.code(), "nitro-malformed-cose");

    let huge = vec![0u8; MAX_DOCUMENT_BYTES + 1];
    let error = verify_document(&huge, &NitroTrust::default(), at).unwrap_err();
    assert_eq!(
        error,
        NitroError::TooLarge {
            size: MAX_DOCUMENT_BYTES + 1,
            max: MAX_DOCUMENT_BYTES
        }
    );
    assert_eq!(error.code(), "nitro-too-large");
    for garbage in [
        &[][..],
        &[0xff],
        &[0x84],
        &[0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
    ] {
        let error = verify_document(garbage, &NitroTrust::default(), at).unwrap_err();
        assert_eq!(error.code(), "nitro-malformed-cose");
    }
}

#[test]
fn a_protected_header_other_than_es384_is_the_wrong_algorithm() {
    let fixture = fixture("yawn-attestation.cose");
    let mut elements = envelope(&fixture.bytes);
    elements[0] = Value::Bytes(vec![0xa1, 0x01, 0x26]); // {1: -7}, ES256
    let document = encode(&Value::Array(elements));
    let error =
        verify_document(&document, &NitroTrust::default(), fixture.verify_at()).unwrap_err();
    assert_eq!(error, NitroError::WrongAlgorithm);
    assert_eq!(error.code(), "nitro-wrong-algorithm");
}

#[test]
fn envelope_shapes_other_than_cose_sign1_are_malformed() {
    let fixture = fixture("yawn-attestation.cose");
    let at = fixture.verify_at();
    let variants: [fn(&mut Vec<Value>); 4] = [
        |elements| elements[2] = Value::Null, // detached payload
        |elements| elements[3] = Value::Bytes(vec![1; 64]), // not 96 bytes
        |elements| elements[1] = Value::Array(Vec::new()), // unprotected not a map
        |elements| elements.push(Value::Null), // 5 elements
    ];
    for change in variants {
        let mut elements = envelope(&fixture.bytes);
        change(&mut elements);
        let document = encode(&Value::Array(elements));
        let error = verify_document(&document, &NitroTrust::default(), at).unwrap_err();
        assert_eq!(error.code(), "nitro-malformed-cose", "{error}");
    }
}

#[test]
fn payload_fields_must_have_their_specified_types_and_sizes() {
    assert_eq!(
        code(signed_with(
            |map| map.push((Value::Text("extra".into()), Value::Null))
        )),
        "nitro-malformed-payload"
    );
    assert_eq!(
        code(signed_with(|map| {
            let duplicate = map[0].clone();
            map.push(duplicate);
        })),
        "nitro-malformed-payload"
    );
    assert_eq!(
        code(signed_with(
            |map| *field(map, "digest") = Value::Text("SHA256".into())
        )),
        "nitro-malformed-payload"
    );
    assert_eq!(
        code(signed_with(|map| *field(map, "module_id") = Value::Null)),
        "nitro-malformed-payload"
    );
    assert_eq!(
        code(signed_with(
            |map| *field(map, "module_id") = Value::Text(String::new())
        )),
        "nitro-malformed-payload"
    );
    assert_eq!(
        code(signed_with(
            |map| *field(map, "timestamp") = Value::Integer(0.into())
        )),
        "nitro-malformed-payload"
    );
    assert_eq!(
        code(signed_with(
            |map| map.retain(|(key, _)| key.as_text() != Some("cabundle"))
        )),
        "nitro-malformed-payload"
    );
    assert_eq!(
        code(signed_with(
            |map| *field(map, "cabundle") = Value::Array(Vec::new())
        )),
        "nitro-malformed-payload"
    );
    assert_eq!(
        code(signed_with(
            |map| *field(map, "nonce") = Value::Bytes(vec![0; 1025])
        )),
        "nitro-malformed-payload"
    );
    assert_eq!(
        code(signed_with(
            |map| *field(map, "public_key") = Value::Bytes(Vec::new())
        )),
        "nitro-malformed-payload"
    );
    for pcrs in [
        Value::Map(Vec::new()),
        Value::Map(vec![(Value::Integer(0.into()), Value::Bytes(vec![0; 32]))]),
        Value::Map(vec![(Value::Integer(32.into()), Value::Bytes(vec![0; 48]))]),
        Value::Map(vec![(Value::Text("0".into()), Value::Bytes(vec![0; 48]))]),
        Value::Map(vec![
            (Value::Integer(1.into()), Value::Bytes(vec![0; 48])),
            (Value::Integer(1.into()), Value::Bytes(vec![1; 48])),
        ]),
    ] {
        assert_eq!(
            code(signed_with(|map| *field(map, "pcrs") = pcrs)),
            "nitro-malformed-payload"
        );
    }
}

#[test]
fn absent_optional_fields_may_be_null_or_missing() {
    signed_with(|map| {
        map.retain(|(key, _)| !matches!(key.as_text(), Some("nonce" | "user_data" | "public_key")))
    })
    .unwrap();
    signed_with(|map| *field(map, "user_data") = Value::Bytes(Vec::new())).unwrap();
}

#[test]
fn a_payload_that_is_not_shortest_form_cbor_is_refused() {
    let fixture = fixture("yawn-attestation.cose");
    let document = rewrite_payload(&fixture.bytes, |_| {});
    assert_eq!(
        document, fixture.bytes,
        "re-encoding a real document is byte-identical"
    );
    // PCR index 0 written as 0x18 0x00 (one-byte argument) where the bare 0x00 suffices: the same
    // value, another byte string. The signature no longer matches either, but the encoding rule
    // refuses it first.
    let mut elements = envelope(&fixture.bytes);
    let Value::Bytes(payload) = &elements[2] else {
        panic!("bytes")
    };
    // A map of 16 PCRs whose first key is 0 and first value a 48-byte string.
    let pcr0_entry = [0xb0, 0x00, 0x58, 0x30];
    let at = super::position_of(payload, &pcr0_entry);
    let mut widened = payload[..at].to_vec();
    widened.extend_from_slice(&[0xb0, 0x18, 0x00, 0x58, 0x30]);
    widened.extend_from_slice(&payload[at + pcr0_entry.len()..]);
    elements[2] = Value::Bytes(widened);
    let document = encode(&Value::Array(elements));
    let error =
        verify_document(&document, &NitroTrust::default(), fixture.verify_at()).unwrap_err();
    assert_eq!(error.code(), "nitro-malformed-payload", "{error}");
}
