//! Signed EIFs: ES384 COSE_Sign1 over {0: PCR0}, PCR8 from the certificate, deterministic signatures,
//! and verification outcomes for tampered or foreign signatures. Uses the committed test-only keys in
//! tests/data/eif (see its README).

mod eif_support;

use std::io::Cursor;

use eif_support::*;
use measurer::eif::{
    describe, describe_reader, write_eif, EifError, SignatureStatus, SigningMaterial,
};
use measurer::pcr::{extend, measure_components, pcr8_of_certificate};
use measurer::Digest384;

/// `openssl x509 -in signer-p384.cert.pem -outform DER | openssl dgst -sha384`
const TEST_CERT_DER_SHA384: &str =
    "bd78a1316f97ba7d9df5720005c3de6c1da46cf421ff05eaf0e582c45eb67079bcda686391aeeb05f8ea5e86cd6396c4";

fn expected_pcr8() -> Digest384 {
    let der_hash: Digest384 = TEST_CERT_DER_SHA384.parse().unwrap();
    extend(der_hash.as_bytes())
}

fn signed_toy(dir: &std::path::Path) -> (std::path::PathBuf, Vec<u8>) {
    let mut spec = toy_spec(dir);
    spec.signing = Some(test_signer());
    let output = dir.join("signed.eif");
    write_eif(&spec, &output).unwrap();
    let bytes = std::fs::read(&output).unwrap();
    (output, bytes)
}

fn status_of(bytes: &[u8]) -> SignatureStatus {
    describe_reader(Cursor::new(bytes))
        .unwrap()
        .signature
        .unwrap()
        .status
}

#[test]
fn signed_round_trip_verifies_and_measures_pcr8() {
    let dir = tempfile::tempdir().unwrap();
    let mut spec = toy_spec(dir.path());
    spec.signing = Some(test_signer());
    let output = dir.path().join("signed.eif");
    let written = write_eif(&spec, &output).unwrap();

    assert_eq!(
        written.pcrs.pcr0,
        TOY_PCR0.parse().unwrap(),
        "signing does not change PCR0"
    );
    assert_eq!(written.pcrs.pcr8, Some(expected_pcr8()));
    let description = describe(&output).unwrap();
    assert_eq!(description.pcrs, written.pcrs);
    assert_eq!(description.crc32, written.crc32);
    let signature = description.signature.unwrap();
    assert_eq!(signature.status, SignatureStatus::Valid);
    assert_eq!(signature.algorithm, "ES384");
    assert!(
        signature.subject.contains("CN=mpr test EIF signer"),
        "{}",
        signature.subject
    );
    assert_eq!(signature.subject, signature.issuer, "self-signed");
    assert!(
        signature.not_before.ends_with('Z') && signature.not_after.starts_with("21"),
        "{signature:?}"
    );
    assert_eq!(
        signature.certificate_pem.as_bytes(),
        read_data("signer-p384.cert.pem")
    );
    // The signature section comes last, after the unsigned layout.
    assert_eq!(description.sections.len(), 7);
    assert_eq!(description.sections[6].offset, TOY_SIZE);

    let components = measure_components(
        &spec.kernel,
        &spec.cmdline,
        &spec.ramdisks,
        Some(&read_data("signer-p384.cert.pem")),
    );
    assert_eq!(components.unwrap(), written.pcrs);
}

#[test]
fn pcr8_accepts_pem_and_der_and_rejects_garbage() {
    let pem = read_data("signer-p384.cert.pem");
    assert_eq!(pcr8_of_certificate(&pem).unwrap(), expected_pcr8());
    let body: String = String::from_utf8(pem)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    let der = base64_decode(&body);
    assert_eq!(pcr8_of_certificate(&der).unwrap(), expected_pcr8());
    assert!(matches!(
        pcr8_of_certificate(b"not a certificate"),
        Err(EifError::Certificate(_))
    ));
}

/// Minimal standard base64 decoder, so the test gets DER without relying on the code under test.
fn base64_decode(text: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::new();
    let (mut buffer, mut bits) = (0u32, 0);
    for byte in text.bytes().filter(|&b| b != b'=') {
        buffer = (buffer << 6) | ALPHABET.iter().position(|&a| a == byte).unwrap() as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
        }
    }
    out
}

#[test]
fn signed_output_is_deterministic_and_key_format_does_not_matter() {
    let dir = tempfile::tempdir().unwrap();
    let (_, first) = signed_toy(dir.path());
    let (_, second) = signed_toy(dir.path());
    assert_eq!(
        first, second,
        "RFC 6979 signatures make signed EIFs reproducible"
    );

    let mut spec = toy_spec(dir.path());
    let pkcs8 = SigningMaterial::from_pem(
        &read_data("signer-p384.pkcs8.pem"),
        &read_data("signer-p384.cert.pem"),
    );
    spec.signing = Some(pkcs8.unwrap());
    let output = dir.path().join("pkcs8.eif");
    write_eif(&spec, &output).unwrap();
    assert_eq!(std::fs::read(&output).unwrap(), first);
}

#[test]
fn mismatched_or_unsupported_keys_are_refused() {
    let cert = read_data("signer-p384.cert.pem");
    let error = SigningMaterial::from_pem(&read_data("other-p384.key.pem"), &cert).unwrap_err();
    assert!(
        matches!(error, EifError::KeyCertificateMismatch),
        "{error:?}"
    );

    let error = SigningMaterial::from_pem(
        &read_data("signer-p256.key.pem"),
        &read_data("signer-p256.cert.pem"),
    );
    assert!(
        matches!(error, Err(EifError::SigningKey(ref m)) if m.contains("P-384")),
        "{error:?}"
    );

    let error = SigningMaterial::from_pem(b"-----BEGIN CERTIFICATE-----\n", &cert).unwrap_err();
    assert!(matches!(error, EifError::SigningKey(_)), "{error:?}");
}

#[test]
fn corrupted_signature_bytes_are_reported_invalid() {
    let dir = tempfile::tempdir().unwrap();
    let (_, mut bytes) = signed_toy(dir.path());
    // The file ends with the last byte of s, as a CBOR uint; flipping its low bit keeps the CBOR valid.
    *bytes.last_mut().unwrap() ^= 0x01;
    fix_crc(&mut bytes);
    let SignatureStatus::Invalid(reason) = status_of(&bytes) else {
        panic!("tampered signature accepted")
    };
    assert!(reason.contains("does not verify"), "{reason}");
    // PCR8 still comes from the certificate.
    let description = describe_reader(Cursor::new(bytes.as_slice())).unwrap();
    assert_eq!(description.pcrs.pcr8, Some(expected_pcr8()));
}

#[test]
fn a_signature_moved_to_another_image_is_invalid() {
    let dir = tempfile::tempdir().unwrap();
    let (_, mut bytes) = signed_toy(dir.path());
    bytes[560] ^= 0x20; // a kernel byte: PCR0 changes, the signature still signs the old PCR0
    fix_crc(&mut bytes);
    let SignatureStatus::Invalid(reason) = status_of(&bytes) else {
        panic!("foreign signature accepted")
    };
    assert!(reason.contains("different PCR0"), "{reason}");
}

#[test]
fn corrupted_signature_structure_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let (_, mut bytes) = signed_toy(dir.path());
    let signature_data_start = TOY_SIZE as usize + 12;
    bytes[signature_data_start] = 0x82; // the outer array now claims two entries
    fix_crc(&mut bytes);
    let error = describe_reader(Cursor::new(bytes.as_slice())).unwrap_err();
    assert!(
        matches!(&error, EifError::MalformedSignature(m) if m.contains("exactly one")),
        "{error:?}"
    );

    // Without fixing the CRC, the CRC check catches the corruption first.
    let (_, mut bytes) = signed_toy(dir.path());
    bytes[signature_data_start + 5] ^= 0xff;
    assert!(matches!(
        describe_reader(Cursor::new(bytes.as_slice())),
        Err(EifError::CrcMismatch { .. })
    ));
}

/// CBOR helpers for building a foreign signature section by hand.
fn cbor_head(out: &mut Vec<u8>, major: u8, value: usize) {
    match value {
        0..=23 => out.push(major << 5 | value as u8),
        24..=255 => out.extend_from_slice(&[major << 5 | 24, value as u8]),
        _ => {
            out.push(major << 5 | 25);
            out.extend_from_slice(&(value as u16).to_be_bytes());
        }
    }
}

fn cbor_uint_array(out: &mut Vec<u8>, bytes: &[u8]) {
    cbor_head(out, 4, bytes.len());
    for &byte in bytes {
        cbor_head(out, 0, byte as usize);
    }
}

fn cbor_bstr(out: &mut Vec<u8>, bytes: &[u8]) {
    cbor_head(out, 2, bytes.len());
    out.extend_from_slice(bytes);
}

#[test]
fn p256_signatures_are_unsupported_but_still_give_pcr8() {
    let cert = read_data("signer-p256.cert.pem");
    let mut cose = vec![0x84];
    cbor_bstr(&mut cose, &[0xa1, 0x01, 0x26]); // {1: -7} = ES256
    cose.push(0xa0);
    cbor_bstr(&mut cose, b"payload");
    cbor_bstr(&mut cose, &[7; 64]);
    let mut section = vec![0x81, 0xa2];
    cbor_head(&mut section, 3, "signing_certificate".len());
    section.extend_from_slice(b"signing_certificate");
    cbor_uint_array(&mut section, &cert);
    cbor_head(&mut section, 3, "signature".len());
    section.extend_from_slice(b"signature");
    cbor_uint_array(&mut section, &cose);

    let mut sections = toy_sections();
    sections.push((TYPE_SIGNATURE, section));
    let description = describe_reader(Cursor::new(assemble(4, 0, &sections))).unwrap();
    let signature = description.signature.unwrap();
    assert_eq!(signature.algorithm, "ES256");
    assert!(
        matches!(&signature.status, SignatureStatus::Invalid(m) if m.contains("unsupported")),
        "{signature:?}"
    );
    assert_eq!(
        description.pcrs.pcr8,
        Some(pcr8_of_certificate(&cert).unwrap())
    );
}
