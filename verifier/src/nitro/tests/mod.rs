//! Tests of the Nitro verifier: real AWS documents (shared/fixtures/nitro), tampered copies of
//! them, and documents signed with test keys for what real documents cannot show.

mod fixtures;
mod strictness;
mod tampering;
mod test_keys;

use std::path::PathBuf;

use base64::Engine;
use ciborium::Value;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/fixtures/nitro");

/// One real document with its facts from fixtures.json.
struct Fixture {
    file: String,
    bytes: Vec<u8>,
    facts: serde_json::Value,
}

impl Fixture {
    fn verify_at(&self) -> u64 {
        self.facts["verify_at_unix_seconds"]
            .as_u64()
            .expect("verify_at_unix_seconds")
    }

    fn timestamp_ms(&self) -> u64 {
        self.facts["timestamp_ms"].as_u64().expect("timestamp_ms")
    }

    fn pcr(&self, index: u8) -> Vec<u8> {
        let hex = self.facts[format!("pcr{index}")].as_str().expect("pcr hex");
        hex::decode(hex).expect("pcr hex decodes")
    }
}

fn fixtures() -> Vec<Fixture> {
    let json = std::fs::read_to_string(PathBuf::from(FIXTURES).join("fixtures.json"))
        .expect("shared/fixtures/nitro/fixtures.json is readable");
    let json: serde_json::Value = serde_json::from_str(&json).expect("fixtures.json parses");
    let documents = json["documents"].as_array().expect("documents array");
    assert_eq!(
        documents.len(),
        5,
        "fixtures.json lists the five real documents"
    );
    documents
        .iter()
        .map(|facts| {
            let file = facts["file"].as_str().expect("file").to_string();
            let raw = std::fs::read(PathBuf::from(FIXTURES).join(&file)).expect("fixture reads");
            let bytes = if facts["format"]
                .as_str()
                .expect("format")
                .starts_with("base64")
            {
                base64::engine::general_purpose::STANDARD
                    .decode(raw.trim_ascii())
                    .expect("base64 fixture decodes")
            } else {
                raw
            };
            Fixture {
                file,
                bytes,
                facts: facts.clone(),
            }
        })
        .collect()
}

fn fixture(file: &str) -> Fixture {
    fixtures()
        .into_iter()
        .find(|fixture| fixture.file == file)
        .expect("the named fixture exists")
}

fn position_of(haystack: &[u8], needle: &[u8]) -> usize {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
        .expect("the bytes occur in the document")
}

fn flip_byte(document: &[u8], at: usize) -> Vec<u8> {
    let mut tampered = document.to_vec();
    tampered[at] ^= 0x01;
    tampered
}

fn encode(value: &Value) -> Vec<u8> {
    let mut bytes = Vec::new();
    ciborium::ser::into_writer(value, &mut bytes).expect("encodes");
    bytes
}

fn decode(bytes: &[u8]) -> Value {
    ciborium::de::from_reader(bytes).expect("decodes")
}

/// The COSE elements of a document as Values.
fn envelope(document: &[u8]) -> Vec<Value> {
    match decode(document) {
        Value::Array(elements) => elements,
        other => panic!("not a COSE array: {other:?}"),
    }
}

/// Rewrites the payload map with `change`, keeping the original signature (so only checks that
/// come before the signature can tell).
fn rewrite_payload(document: &[u8], change: impl FnOnce(&mut Vec<(Value, Value)>)) -> Vec<u8> {
    let mut elements = envelope(document);
    let Value::Bytes(payload) = &elements[2] else {
        panic!("payload is not bytes")
    };
    let Value::Map(mut map) = decode(payload) else {
        panic!("payload is not a map")
    };
    change(&mut map);
    elements[2] = Value::Bytes(encode(&Value::Map(map)));
    encode(&Value::Array(elements))
}

fn field<'a>(map: &'a mut [(Value, Value)], name: &str) -> &'a mut Value {
    &mut map
        .iter_mut()
        .find(|(key, _)| key.as_text() == Some(name))
        .expect("the payload has the field")
        .1
}
