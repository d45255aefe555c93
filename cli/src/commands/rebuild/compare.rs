//! The match table of a rebuild: every fact of the signed release statement beside what the
//! rebuild's own statement says. A rebuild matches when the two statements are the same bytes;
//! the rows say where they are not.

use std::collections::BTreeMap;

use serde::Serialize;
use verifier::statement::ReleaseStatement;

#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// What is compared: `source.commit`, `artifact hello.eif`, `aws-nitro PCR0`, ...
    pub what: String,
    pub official: Option<String>,
    pub rebuilt: Option<String>,
    pub matches: bool,
}

/// Every fact of both statements, the source and recipe first, then artifacts, then measurements.
pub fn compare(official: &ReleaseStatement, rebuilt: &ReleaseStatement) -> Vec<Row> {
    let mut rows = Vec::new();
    let (a, b) = (&official.predicate, &rebuilt.predicate);
    let mut fact = |what: &str, official: Option<String>, rebuilt: Option<String>| {
        rows.push(Row {
            what: what.to_owned(),
            matches: official == rebuilt,
            official,
            rebuilt,
        })
    };
    fact("package", Some(a.package.clone()), Some(b.package.clone()));
    fact("version", Some(a.version.clone()), Some(b.version.clone()));
    fact(
        "source.repository",
        Some(a.source.repository.clone()),
        Some(b.source.repository.clone()),
    );
    fact(
        "source.commit",
        Some(a.source.commit.clone()),
        Some(b.source.commit.clone()),
    );
    fact(
        "SOURCE_DATE_EPOCH",
        Some(a.source_date_epoch.to_string()),
        Some(b.source_date_epoch.to_string()),
    );
    fact(
        "recipe sha256",
        Some(a.recipe.sha256.clone()),
        Some(b.recipe.sha256.clone()),
    );
    fact(
        "builder image",
        a.builder_image.clone(),
        b.builder_image.clone(),
    );
    fact(
        "build-record.json sha256",
        a.build_record.as_ref().map(|d| d.sha256.clone()),
        b.build_record.as_ref().map(|d| d.sha256.clone()),
    );
    let subjects = |statement: &ReleaseStatement| -> BTreeMap<String, String> {
        statement
            .subject
            .iter()
            .map(|s| {
                (
                    s.name.clone(),
                    s.digest.get("sha256").cloned().unwrap_or_default(),
                )
            })
            .collect()
    };
    for (name, (official, rebuilt)) in union(subjects(official), subjects(rebuilt)) {
        fact(&format!("artifact {name}"), official, rebuilt);
    }
    for (name, (official, rebuilt)) in union(registers(official), registers(rebuilt)) {
        fact(&name, official, rebuilt);
    }
    rows
}

/// Every register of every measurement, keyed by set, platform, launch parameters and register.
fn registers(statement: &ReleaseStatement) -> BTreeMap<String, String> {
    let mut all = BTreeMap::new();
    for set in &statement.predicate.measurement_sets {
        for measurement in &set.measurements {
            let parameters: Vec<String> = measurement
                .parameters
                .iter()
                .filter(|(name, _)| name.as_str() != "firmware_sha256")
                .map(|(name, value)| match value {
                    serde_json::Value::String(text) => format!("{name}={text}"),
                    other => format!("{name}={other}"),
                })
                .collect();
            let launch = if parameters.is_empty() {
                String::new()
            } else {
                format!(" ({})", parameters.join(", "))
            };
            for (register, value) in &measurement.registers {
                all.insert(
                    format!("{}/{}{launch} {register}", set.name, measurement.platform),
                    value.clone(),
                );
            }
        }
    }
    all
}

fn union(
    a: BTreeMap<String, String>,
    mut b: BTreeMap<String, String>,
) -> BTreeMap<String, (Option<String>, Option<String>)> {
    let mut all: BTreeMap<_, _> = a
        .into_iter()
        .map(|(key, value)| {
            let other = b.remove(&key);
            (key, (Some(value), other))
        })
        .collect();
    all.extend(b.into_iter().map(|(key, value)| (key, (None, Some(value)))));
    all
}

#[cfg(test)]
mod tests {
    use super::*;
    use verifier::statement::{
        Digest, Measurement, MeasurementSet, ReleasePredicate, Source, Statement, Subject,
        RELEASE_PREDICATE, STATEMENT_TYPE,
    };

    fn statement(pcr0: &str, eif: &str) -> ReleaseStatement {
        Statement {
            statement_type: STATEMENT_TYPE.to_owned(),
            subject: vec![Subject {
                name: "hello.eif".to_owned(),
                digest: [("sha256".to_owned(), eif.to_owned())].into(),
            }],
            predicate_type: RELEASE_PREDICATE.to_owned(),
            predicate: ReleasePredicate {
                package: "hello".to_owned(),
                version: "0.1.0".to_owned(),
                source: Source {
                    repository: "https://example.invalid/hello.git".to_owned(),
                    commit: "ab".repeat(20),
                },
                source_date_epoch: 1_700_000_000,
                recipe: Digest {
                    sha256: "cd".repeat(32),
                },
                builder_image: None,
                build_record: None,
                measurement_sets: vec![MeasurementSet {
                    name: "default".to_owned(),
                    measurements: vec![Measurement {
                        platform: "aws-nitro".to_owned(),
                        parameters: Default::default(),
                        registers: [("PCR0".to_owned(), pcr0.to_owned())].into(),
                    }],
                }],
            },
        }
    }

    #[test]
    fn equal_statements_match_row_by_row() {
        let a = statement(&"11".repeat(48), &"22".repeat(32));
        let rows = compare(&a, &a.clone());
        assert!(rows.iter().all(|row| row.matches));
        assert!(rows.iter().any(|row| row.what == "default/aws-nitro PCR0"));
        assert!(rows.iter().any(|row| row.what == "artifact hello.eif"));
    }

    #[test]
    fn a_different_artifact_and_register_are_named() {
        let a = statement(&"11".repeat(48), &"22".repeat(32));
        let b = statement(&"33".repeat(48), &"44".repeat(32));
        let differing: Vec<String> = compare(&a, &b)
            .into_iter()
            .filter(|row| !row.matches)
            .map(|row| row.what)
            .collect();
        assert_eq!(differing, ["artifact hello.eif", "default/aws-nitro PCR0"]);
    }
}
