use super::super::*;
use super::{fixture, leaf};

fn pem_der(name: &str) -> Vec<u8> {
    use x509_cert::der::{DecodePem, Encode};
    let text = String::from_utf8(fixture(name)).unwrap();
    x509_cert::Certificate::from_pem(text)
        .unwrap()
        .to_der()
        .unwrap()
}

fn real_table() -> (Vec<u8>, Vec<u8>, Vec<u8>, Vec<u8>) {
    let (vcek, ask, ark) = (
        leaf("milan-v5-teekit-gcp"),
        pem_der("ask-milan.pem"),
        pem_der("ark-milan.pem"),
    );
    let table = build_certificate_table(&[(VCEK_GUID, &vcek), (ASK_GUID, &ask), (ARK_GUID, &ark)]);
    (table, vcek, ask, ark)
}

#[test]
fn guids_are_in_textual_byte_order() {
    assert_eq!(hex::encode(VCEK_GUID), "63da758de6644564adc5f4b93be8accd");
    assert_eq!(hex::encode(VLEK_GUID), "a8074bc2a25a483eaae639c045a0b8a1");
    assert_eq!(hex::encode(ASK_GUID), "4ab7b379bbac4fe4a02f05aef327c782");
    assert_eq!(hex::encode(ARK_GUID), "c0b406a4a803495297433fb6014cd0ae");
}

#[test]
fn real_certificates_round_trip_and_verify() {
    let (table, vcek, ask, ark) = real_table();
    let certs = parse_certificate_table(&table).expect("parses");
    assert_eq!(
        certs,
        SnpCertificates {
            leaf: vcek.clone(),
            intermediate: Some(ask),
            ark: Some(ark)
        }
    );
    let trust = SnpTrust {
        check_crl: false,
        ..SnpTrust::default()
    };
    verify_report(
        &super::report("milan-v5-teekit-gcp"),
        &certs,
        &trust,
        super::valid_time(&vcek),
    )
    .expect("verifies");
    // A VLEK table with only the leaf.
    let vlek = leaf("milan-v3-trustee-vlek-aws");
    let certs =
        parse_certificate_table(&build_certificate_table(&[(VLEK_GUID, &vlek)])).expect("parses");
    assert_eq!(certs, SnpCertificates::leaf_only(vlek));
}

fn rejected(table: &[u8], needle: &str) {
    let err = parse_certificate_table(table).unwrap_err();
    assert_eq!(err.code(), "snp-malformed-certificate-table", "{err}");
    assert!(
        err.to_string().contains(needle),
        "{err} should mention {needle:?}"
    );
}

#[test]
fn malformed_tables_rejected() {
    let (table, ..) = real_table();
    rejected(&table[..30], "terminator");
    rejected(&table[..table.len() - 1], "outside");
    rejected(&[], "terminator");

    let mut out_of_range = table.clone();
    out_of_range[16..20].copy_from_slice(&u32::MAX.to_le_bytes());
    rejected(&out_of_range, "outside");

    // No terminator: the entry list runs into the certificates, which are not zero.
    let vcek = leaf("milan-v5-teekit-gcp");
    let mut unterminated = Vec::new();
    unterminated.extend_from_slice(&VCEK_GUID);
    unterminated.extend_from_slice(&24u32.to_le_bytes());
    unterminated.extend_from_slice(&(vcek.len() as u32).to_le_bytes());
    unterminated.extend_from_slice(&vcek);
    assert!(parse_certificate_table(&unterminated).is_err());

    let duplicate = build_certificate_table(&[(VCEK_GUID, &vcek), (VCEK_GUID, &vcek)]);
    rejected(&duplicate, "twice");

    let both = build_certificate_table(&[(VCEK_GUID, &vcek), (VLEK_GUID, &vcek)]);
    rejected(&both, "both");

    let no_leaf = build_certificate_table(&[(ASK_GUID, &vcek)]);
    rejected(&no_leaf, "no VCEK");

    let mut huge = table;
    huge.resize(MAX_CERTIFICATE_TABLE_BYTES + 1, 0);
    rejected(&huge, "more than");
}
