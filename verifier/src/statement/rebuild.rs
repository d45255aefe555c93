//! `https://mpr.dev/attestation/rebuild/v1`: an independent rebuilder's signed report on one
//! release, modelled on SLSA's verification summary (VSA). The subject is what the rebuilder
//! built: the release's artifacts by name with the digests of its own build, so a GOOD report's
//! subject equals the release statement's. A rebuild that did not complete has one subject, the
//! release statement (`release/<version>`), like the other later statements. The predicate says
//! which signed release statement was rebuilt (VSA's input attestation), the verdict (VSA's
//! verification result), and the environment it ran in (VSA's verifier).
//!
//! The signer's key is the rebuilder's identity; `rebuilder` is only a name for readers. Nobody
//! has to take the verdict on trust: a wallet compares the subject with the release statement's
//! own, and a registry compares it with the official artifacts.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{
    check_hex, check_text, check_version, invalid, parse, release_statement_subject, Canonical,
    Digest, Statement, StatementError, StatementKind,
};

pub const REBUILD_PREDICATE: &str = "https://mpr.dev/attestation/rebuild/v1";

/// Most findings a report carries, and the longest one.
pub const MAX_FINDINGS: usize = 64;
pub const MAX_FINDING_BYTES: usize = 1024;
/// Most environment entries, and the longest value.
pub const MAX_ENVIRONMENT_ENTRIES: usize = 32;
const MAX_ENVIRONMENT_VALUE_BYTES: usize = 512;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RebuildPredicate {
    pub version: String,
    /// The SHA-256 of the signed release statement that was rebuilt.
    pub release_statement: Digest,
    pub verdict: RebuildVerdict,
    /// A name for readers (the key's user ID or fingerprint); the signing key is the identity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rebuilder: Option<String>,
    /// The statement the rebuild renders of itself: byte for byte the release statement when GOOD.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rebuilt_statement: Option<Digest>,
    /// The rebuild's `build-record.json`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build_record: Option<Digest>,
    /// Each subject artifact's size in bytes (every artifact subject has one).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub sizes: BTreeMap<String, u64>,
    /// What the rebuild ran on: `mpr_version`, `builder_image`, `os`, `arch`, `kernel`,
    /// `docker_version`, ...
    #[serde(default)]
    pub environment: BTreeMap<String, String>,
    /// The facts that differ (BAD) or why the rebuild failed (FAIL), in the rebuilder's order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub findings: Vec<String>,
}

/// rebuilderd's vocabulary: GOOD (identical), BAD (differs), FAIL (could not be rebuilt).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum RebuildVerdict {
    Good,
    Bad,
    Fail,
}

impl RebuildVerdict {
    pub fn as_str(self) -> &'static str {
        match self {
            RebuildVerdict::Good => "GOOD",
            RebuildVerdict::Bad => "BAD",
            RebuildVerdict::Fail => "FAIL",
        }
    }
}

pub type RebuildStatement = Statement<RebuildPredicate>;

impl Canonical for RebuildPredicate {
    // Findings keep the rebuilder's order (most telling first); maps are already sorted.
    fn sort(&mut self) {}
}

impl RebuildStatement {
    /// The report of a rebuild that did not complete: its subject is the release statement.
    pub fn failed(predicate: RebuildPredicate) -> RebuildStatement {
        let subject =
            release_statement_subject(&predicate.version, &predicate.release_statement.sha256);
        RebuildStatement {
            statement_type: super::STATEMENT_TYPE.to_owned(),
            subject: vec![subject],
            predicate_type: REBUILD_PREDICATE.to_owned(),
            predicate,
        }
    }

    /// Whether the rebuilt artifacts are exactly `release`'s (names and every digest both give).
    pub fn reproduces(&self, release: &[super::Subject]) -> bool {
        if self.predicate.verdict == RebuildVerdict::Fail || self.subject.len() != release.len() {
            return false;
        }
        release.iter().all(|official| {
            self.subject.iter().any(|rebuilt| {
                rebuilt.name == official.name
                    && official.digest.get("sha256") == rebuilt.digest.get("sha256")
                    && official.digest.iter().all(|(algorithm, value)| {
                        rebuilt.digest.get(algorithm).is_none_or(|v| v == value)
                    })
            })
        })
    }
}

/// Parses a rebuild report and checks its shape: a failed rebuild's subject is the release
/// statement, a completed one's are artifacts with their sizes.
pub fn parse_rebuild_statement(bytes: &[u8]) -> Result<RebuildStatement, StatementError> {
    let statement: RebuildStatement = parse(bytes, StatementKind::Rebuild)?;
    let predicate = &statement.predicate;
    check_version(&predicate.version)?;
    check_hex(
        "release_statement.sha256",
        &predicate.release_statement.sha256,
        32,
    )?;
    if let Some(name) = &predicate.rebuilder {
        check_text("rebuilder", name, 256)?;
    }
    if let Some(digest) = &predicate.rebuilt_statement {
        check_hex("rebuilt_statement.sha256", &digest.sha256, 32)?;
    }
    if let Some(digest) = &predicate.build_record {
        check_hex("build_record.sha256", &digest.sha256, 32)?;
    }
    check_environment(&predicate.environment)?;
    if predicate.findings.len() > MAX_FINDINGS {
        return Err(invalid(format!(
            "a report carries at most {MAX_FINDINGS} findings, this one {}",
            predicate.findings.len()
        )));
    }
    for finding in &predicate.findings {
        check_text("a finding", finding, MAX_FINDING_BYTES)?;
    }
    if predicate.verdict == RebuildVerdict::Fail {
        let expected =
            release_statement_subject(&predicate.version, &predicate.release_statement.sha256);
        if statement.subject != [expected] || !predicate.sizes.is_empty() {
            return Err(invalid(format!(
                "a FAIL report's only subject is the release statement (release/{} with the release_statement digest), and it lists no sizes",
                predicate.version
            )));
        }
        return Ok(statement);
    }
    for subject in &statement.subject {
        if subject.name.starts_with("release/") {
            return Err(invalid(format!(
                "subject {:?}: a {} report's subjects are the rebuilt artifacts, not the release statement",
                subject.name,
                predicate.verdict.as_str()
            )));
        }
        if !predicate.sizes.contains_key(&subject.name) {
            return Err(invalid(format!(
                "artifact {:?} has no entry in sizes",
                subject.name
            )));
        }
    }
    if let Some(stray) = predicate.sizes.keys().find(|name| {
        !statement
            .subject
            .iter()
            .any(|subject| &subject.name == *name)
    }) {
        return Err(invalid(format!(
            "sizes names {stray:?}, which is not a subject"
        )));
    }
    Ok(statement)
}

fn check_environment(environment: &BTreeMap<String, String>) -> Result<(), StatementError> {
    if environment.len() > MAX_ENVIRONMENT_ENTRIES {
        return Err(invalid(format!(
            "environment has {} entries, at most {MAX_ENVIRONMENT_ENTRIES} are allowed",
            environment.len()
        )));
    }
    for (name, value) in environment {
        if name.is_empty()
            || name.len() > 64
            || !name
                .bytes()
                .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_'))
        {
            return Err(invalid(format!(
                "environment key {name:?} must be 1 to 64 of a-z, 0-9 and _"
            )));
        }
        check_text(
            &format!("environment.{name}"),
            value,
            MAX_ENVIRONMENT_VALUE_BYTES,
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::statement::Subject;

    fn artifact(name: &str, sha256: &str) -> Subject {
        Subject {
            name: name.to_owned(),
            digest: BTreeMap::from([("sha256".to_owned(), sha256.to_owned())]),
        }
    }

    fn report(verdict: RebuildVerdict, subject: Vec<Subject>) -> RebuildStatement {
        let sizes = subject
            .iter()
            .filter(|s| !s.name.starts_with("release/"))
            .map(|s| (s.name.clone(), 7))
            .collect();
        Statement {
            statement_type: super::super::STATEMENT_TYPE.to_owned(),
            subject,
            predicate_type: REBUILD_PREDICATE.to_owned(),
            predicate: RebuildPredicate {
                version: "1.2.3".to_owned(),
                release_statement: Digest {
                    sha256: "ab".repeat(32),
                },
                verdict,
                rebuilder: Some("Alice <alice@example.org>".to_owned()),
                rebuilt_statement: None,
                build_record: None,
                sizes,
                environment: BTreeMap::from([("os".to_owned(), "linux".to_owned())]),
                findings: vec!["PCR2 differs".to_owned(), "a file differs".to_owned()],
            },
        }
    }

    #[test]
    fn reports_round_trip_and_compare_with_the_release() {
        let official = vec![
            artifact("prover.eif", &"11".repeat(32)),
            artifact("image.tar", &"22".repeat(32)),
        ];
        let good = report(RebuildVerdict::Good, official.clone());
        let parsed = parse_rebuild_statement(&good.to_bytes()).expect("a GOOD report parses");
        assert_eq!(
            parsed.predicate.findings, good.predicate.findings,
            "findings keep their order"
        );
        assert!(parsed.reproduces(&official));
        let bad = report(
            RebuildVerdict::Bad,
            vec![
                artifact("prover.eif", &"33".repeat(32)),
                artifact("image.tar", &"22".repeat(32)),
            ],
        );
        assert!(!parse_rebuild_statement(&bad.to_bytes())
            .unwrap()
            .reproduces(&official));
        let fewer = report(
            RebuildVerdict::Good,
            vec![artifact("prover.eif", &"11".repeat(32))],
        );
        assert!(
            !fewer.reproduces(&official),
            "a missing artifact is not a reproduction"
        );
    }

    #[test]
    fn shapes_that_would_mislead_are_refused() {
        let mut failed =
            RebuildStatement::failed(report(RebuildVerdict::Fail, Vec::new()).predicate);
        failed.predicate.sizes.clear();
        assert!(parse_rebuild_statement(&failed.to_bytes()).is_ok());
        assert!(
            !failed.reproduces(&failed.subject.clone()),
            "a FAIL never reproduces"
        );

        let mut fail_with_artifacts =
            report(RebuildVerdict::Fail, vec![artifact("a", &"11".repeat(32))]);
        fail_with_artifacts.predicate.sizes.clear();
        assert!(parse_rebuild_statement(&fail_with_artifacts.to_bytes())
            .unwrap_err()
            .to_string()
            .contains("FAIL report's only subject"));

        let mut no_size = report(RebuildVerdict::Good, vec![artifact("a", &"11".repeat(32))]);
        no_size.predicate.sizes.clear();
        assert!(parse_rebuild_statement(&no_size.to_bytes())
            .unwrap_err()
            .to_string()
            .contains("no entry in sizes"));

        let mut odd_key = report(RebuildVerdict::Good, vec![artifact("a", &"11".repeat(32))]);
        odd_key
            .predicate
            .environment
            .insert("Docker Version".to_owned(), "27".to_owned());
        assert!(parse_rebuild_statement(&odd_key.to_bytes()).is_err());

        let mut many = report(RebuildVerdict::Bad, vec![artifact("a", &"11".repeat(32))]);
        many.predicate.findings = vec!["x".to_owned(); MAX_FINDINGS + 1];
        assert!(parse_rebuild_statement(&many.to_bytes()).is_err());

        let good = report(RebuildVerdict::Good, vec![artifact("a", &"11".repeat(32))]);
        let mut text = String::from_utf8(good.to_bytes()).unwrap();
        text = text.replace("\"GOOD\"", "\"good\"");
        assert!(
            parse_rebuild_statement(text.as_bytes()).is_err(),
            "verdicts are upper case"
        );
    }
}
