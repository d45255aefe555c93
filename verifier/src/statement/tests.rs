use super::*;

fn release() -> ReleaseStatement {
    Statement {
        statement_type: STATEMENT_TYPE.to_owned(),
        subject: vec![
            Subject {
                name: "proof-server".to_owned(),
                digest: BTreeMap::from([("sha256".to_owned(), "a".repeat(64))]),
            },
            Subject {
                name: "image.tar".to_owned(),
                digest: BTreeMap::from([("sha256".to_owned(), "b".repeat(64))]),
            },
        ],
        predicate_type: RELEASE_PREDICATE.to_owned(),
        predicate: ReleasePredicate {
            package: "prover".to_owned(),
            version: "8.1.0".to_owned(),
            source: Source {
                repository: "https://github.com/mpr-dev/mpr".to_owned(),
                commit: "c".repeat(40),
            },
            source_date_epoch: 1_700_000_000,
            recipe: Digest {
                sha256: "d".repeat(64),
            },
            builder_image: Some(format!("sha256:{}", "e".repeat(64))),
            build_record: None,
            measurement_sets: vec![MeasurementSet {
                name: "default".to_owned(),
                measurements: vec![
                    Measurement {
                        platform: "sev-snp".to_owned(),
                        parameters: BTreeMap::from([("vcpus".to_owned(), Value::from(4))]),
                        registers: BTreeMap::from([("MEASUREMENT".to_owned(), "1".repeat(96))]),
                    },
                    Measurement {
                        platform: "aws-nitro".to_owned(),
                        parameters: BTreeMap::new(),
                        registers: BTreeMap::from([("PCR0".to_owned(), "2".repeat(96))]),
                    },
                ],
            }],
        },
    }
}

#[test]
fn rendering_sorts_and_parsing_round_trips() {
    let statement = release();
    let bytes = statement.to_bytes();
    let text = std::str::from_utf8(&bytes).unwrap();
    assert!(text.ends_with("}\n"));
    assert!(text.find("image.tar").unwrap() < text.find("proof-server").unwrap());
    assert!(text.find("aws-nitro").unwrap() < text.find("sev-snp").unwrap());
    let parsed = parse_release_statement(&bytes).unwrap();
    assert_eq!(parsed.to_bytes(), bytes);
    assert_eq!(kind_of(&bytes), Ok(StatementKind::Release));
    assert_eq!(parsed.sha256(), sha256_hex(&bytes));
}

#[test]
fn non_canonical_bytes_and_wrong_types_are_refused_by_name() {
    let bytes = release().to_bytes();
    let compact = serde_json::to_vec(&serde_json::from_slice::<Value>(&bytes).unwrap()).unwrap();
    assert_eq!(
        parse_release_statement(&compact),
        Err(StatementError::NotCanonical)
    );
    assert!(matches!(
        parse_set_status_statement(&bytes),
        Err(StatementError::WrongPredicate { .. })
    ));
    let other = String::from_utf8(bytes.clone())
        .unwrap()
        .replace(STATEMENT_TYPE, "https://in-toto.io/Statement/v0.1");
    assert!(matches!(
        parse_release_statement(other.as_bytes()),
        Err(StatementError::WrongType { .. })
    ));
    let extra = String::from_utf8(bytes)
        .unwrap()
        .replace("\"package\"", "\"extra\": 1,\n    \"package\"");
    let error = parse_release_statement(extra.as_bytes()).unwrap_err();
    assert!(
        error.to_string().contains("unknown field `extra`"),
        "{error}"
    );
    let huge = vec![b' '; MAX_STATEMENT_BYTES + 1];
    assert!(matches!(
        parse_release_statement(&huge),
        Err(StatementError::TooLarge { .. })
    ));
    assert!(matches!(
        parse_release_statement(b"{"),
        Err(StatementError::Malformed(_))
    ));
}

#[test]
fn a_status_change_names_one_release_statement_and_starts_at_sequence_one() {
    let release_sha256 = release().sha256();
    let mut change = Statement {
        statement_type: STATEMENT_TYPE.to_owned(),
        subject: vec![release_statement_subject("8.1.0", &release_sha256)],
        predicate_type: SET_STATUS_PREDICATE.to_owned(),
        predicate: SetStatusPredicate {
            version: "8.1.0".to_owned(),
            measurement_set: "default".to_owned(),
            sequence: 1,
            status: SetStatus::Deprecated,
            reason: "firmware update".to_owned(),
        },
    };
    let parsed = parse_set_status_statement(&change.to_bytes()).unwrap();
    assert_eq!(parsed.release_statement_sha256(), release_sha256);
    change.predicate.sequence = 0;
    let error = parse_set_status_statement(&change.to_bytes()).unwrap_err();
    assert!(error.to_string().contains("sequence"), "{error}");
    change.predicate.sequence = 2;
    change
        .subject
        .push(release_statement_subject("8.0.0", &"f".repeat(64)));
    let error = parse_set_status_statement(&change.to_bytes()).unwrap_err();
    assert!(error.to_string().contains("exactly one subject"), "{error}");
    change.subject.truncate(1);
    change.subject[0]
        .digest
        .insert("md5".to_owned(), "00".to_owned());
    let error = parse_set_status_statement(&change.to_bytes()).unwrap_err();
    assert!(error.to_string().contains("md5"), "{error}");
}

#[test]
fn builder_images_must_be_digests() {
    let digest = "0".repeat(64);
    assert!(check_builder_image(&format!("sha256:{digest}")).is_ok());
    assert!(check_builder_image(&format!("mpr-builder@sha256:{digest}")).is_ok());
    assert!(check_builder_image("mpr-builder:latest").is_err());
    assert!(check_builder_image(&format!("@sha256:{digest}")).is_err());
    assert!(check_builder_image(&format!("sha256:{}", &digest[1..])).is_err());
}
