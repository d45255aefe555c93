//! mpr's signed statements, as wallets parse them: in-toto Statement v1 documents whose predicate
//! is one of ours. A release statement binds a release's artifacts (the subject) to its source,
//! recipe, builder image and measurements; later changes to a release are statements of their own
//! whose subject is the release statement's SHA-256: a measurement set's status change and a
//! measurement-set addendum. The registry renders and checks them with these same types, so the
//! shape is defined once.
//!
//! Limits: a statement is at most [`MAX_STATEMENT_BYTES`]; at most [`MAX_SUBJECTS`] subjects,
//! [`MAX_MEASUREMENT_SETS`] sets, [`MAX_MEASUREMENTS_PER_SET`] measurements per set, and short
//! strings (see [`StatementError`]). Unknown fields are refused everywhere except inside a
//! measurement's `parameters` (an open map by design: platforms gain launch parameters).
//!
//! Canonical form: [`Statement::to_bytes`] sorts every list and map and writes pretty JSON with a
//! final newline. [`parse_release_statement`] and the others accept only bytes in that form, so
//! one statement has exactly one SHA-256.

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";
pub const RELEASE_PREDICATE: &str = "https://mpr.dev/attestation/release/v1";
pub const SET_STATUS_PREDICATE: &str = "https://mpr.dev/attestation/set-status/v1";
pub const SET_ADDENDUM_PREDICATE: &str = "https://mpr.dev/attestation/set-addendum/v1";
pub use rebuild::{
    parse_rebuild_statement, RebuildPredicate, RebuildStatement, RebuildVerdict, MAX_FINDINGS,
    MAX_FINDING_BYTES, REBUILD_PREDICATE,
};

pub const MAX_STATEMENT_BYTES: usize = 1024 * 1024;
pub const MAX_SUBJECTS: usize = 256;
pub const MAX_MEASUREMENT_SETS: usize = 64;
pub const MAX_MEASUREMENTS_PER_SET: usize = 256;
pub const MAX_REASON_BYTES: usize = 1024;
const MAX_TEXT_BYTES: usize = 512;

/// An in-toto Statement v1 with the predicate `P`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Statement<P> {
    #[serde(rename = "_type")]
    pub statement_type: String,
    pub subject: Vec<Subject>,
    #[serde(rename = "predicateType")]
    pub predicate_type: String,
    pub predicate: P,
}

/// What a statement is about: an artifact of the release, or (for later statements) the release
/// statement itself. `digest` maps an algorithm (`sha256`, `sha384`) to lower-case hex.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Subject {
    pub name: String,
    pub digest: BTreeMap<String, String>,
}

/// `https://mpr.dev/attestation/release/v1`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReleasePredicate {
    pub package: String,
    pub version: String,
    pub source: Source,
    pub source_date_epoch: u64,
    pub recipe: Digest,
    /// The image the build ran in: `sha256:<config digest>` or `name@sha256:<manifest digest>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub builder_image: Option<String>,
    /// The official build's `build-record.json`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build_record: Option<Digest>,
    pub measurement_sets: Vec<MeasurementSet>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Source {
    /// The repository's canonical URL.
    pub repository: String,
    /// The full commit hash.
    pub commit: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Digest {
    pub sha256: String,
}

/// Values a wallet may accept together: one per platform and launch-parameter combination.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MeasurementSet {
    pub name: String,
    pub measurements: Vec<Measurement>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Measurement {
    /// `aws-nitro`, `sev-snp`, `tdx`, `gcp-confidential-space`, `gcp-cvm` or `azure-cvm`.
    pub platform: String,
    /// Every launch parameter the registers depend on (vcpus, vcpu_type, vmm, firmware_sha256,
    /// guest_features, ...); scalar values.
    #[serde(default)]
    pub parameters: BTreeMap<String, Value>,
    /// Register name to lower-case hex; a wallet compares every one of them.
    pub registers: BTreeMap<String, String>,
}

/// `https://mpr.dev/attestation/set-status/v1`: the status a measurement set has from now on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetStatusPredicate {
    pub version: String,
    pub measurement_set: String,
    /// 1 for a set's first status change, then one more each time: the highest wins, and an old
    /// statement replayed cannot undo a later one.
    pub sequence: u32,
    pub status: SetStatus,
    pub reason: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SetStatus {
    Active,
    Deprecated,
}

impl SetStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SetStatus::Active => "active",
            SetStatus::Deprecated => "deprecated",
        }
    }
}

/// `https://mpr.dev/attestation/set-addendum/v1`: a measurement set added to a recorded release
/// (a new vCPU count or CPU generation), in the release predicate's shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetAddendumPredicate {
    pub version: String,
    pub measurement_set: MeasurementSet,
}

pub type ReleaseStatement = Statement<ReleasePredicate>;
pub type SetStatusStatement = Statement<SetStatusPredicate>;
pub type SetAddendumStatement = Statement<SetAddendumPredicate>;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum StatementError {
    #[error("the statement is {size} bytes, more than the {MAX_STATEMENT_BYTES} allowed")]
    TooLarge { size: usize },
    #[error("the statement is not valid JSON of its kind: {0}")]
    Malformed(String),
    #[error("_type is {found:?}, expected {STATEMENT_TYPE:?} (an in-toto Statement v1)")]
    WrongType { found: String },
    #[error("predicateType is {found:?}, expected {expected:?}")]
    WrongPredicate {
        found: String,
        expected: &'static str,
    },
    #[error("{0}")]
    Invalid(String),
    #[error("the statement is not in canonical form (sorted, pretty-printed, final newline); render it with mpr so that its SHA-256 is the one everybody computes")]
    NotCanonical,
}

/// The kinds of statement, by predicate type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StatementKind {
    Release,
    SetStatus,
    SetAddendum,
    Rebuild,
}

impl StatementKind {
    pub const ALL: [StatementKind; 4] = [
        StatementKind::Release,
        StatementKind::SetStatus,
        StatementKind::SetAddendum,
        StatementKind::Rebuild,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            StatementKind::Release => "release",
            StatementKind::SetStatus => "set-status",
            StatementKind::SetAddendum => "set-addendum",
            StatementKind::Rebuild => "rebuild",
        }
    }

    /// How the transparency log records a statement of this kind.
    pub fn log_entry_kind(self) -> crate::tlog::EntryKind {
        use crate::tlog::EntryKind;
        match self {
            StatementKind::Release => EntryKind::Release,
            StatementKind::SetStatus => EntryKind::Status,
            StatementKind::SetAddendum => EntryKind::Addendum,
            StatementKind::Rebuild => EntryKind::Rebuild,
        }
    }

    pub fn predicate_type(self) -> &'static str {
        match self {
            StatementKind::Release => RELEASE_PREDICATE,
            StatementKind::SetStatus => SET_STATUS_PREDICATE,
            StatementKind::SetAddendum => SET_ADDENDUM_PREDICATE,
            StatementKind::Rebuild => REBUILD_PREDICATE,
        }
    }
}

/// Which kind of statement `bytes` claim to be, read from `predicateType` alone.
pub fn kind_of(bytes: &[u8]) -> Result<StatementKind, StatementError> {
    check_size(bytes)?;
    #[derive(Deserialize)]
    struct Header {
        #[serde(rename = "_type")]
        statement_type: String,
        #[serde(rename = "predicateType")]
        predicate_type: String,
    }
    let header: Header = serde_json::from_slice(bytes)
        .map_err(|error| StatementError::Malformed(error.to_string()))?;
    if header.statement_type != STATEMENT_TYPE {
        return Err(StatementError::WrongType {
            found: header.statement_type,
        });
    }
    StatementKind::ALL
        .into_iter()
        .find(|kind| kind.predicate_type() == header.predicate_type)
        .ok_or_else(|| {
            StatementError::Invalid(format!(
                "predicateType {:?} is none of mpr's ({RELEASE_PREDICATE}, {SET_STATUS_PREDICATE}, {SET_ADDENDUM_PREDICATE}, {REBUILD_PREDICATE})",
                header.predicate_type
            ))
        })
}

fn check_size(bytes: &[u8]) -> Result<(), StatementError> {
    if bytes.len() > MAX_STATEMENT_BYTES {
        return Err(StatementError::TooLarge { size: bytes.len() });
    }
    Ok(())
}

fn invalid(message: impl Into<String>) -> StatementError {
    StatementError::Invalid(message.into())
}

fn check_hex(what: &str, value: &str, bytes: usize) -> Result<(), StatementError> {
    if value.len() == bytes * 2
        && value
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    {
        Ok(())
    } else {
        Err(invalid(format!(
            "{what} must be {} lower-case hex digits, got {value:?}",
            bytes * 2
        )))
    }
}

fn check_text(what: &str, value: &str, max: usize) -> Result<(), StatementError> {
    if value.is_empty() || value.len() > max || value.chars().any(char::is_control) {
        return Err(invalid(format!(
            "{what} must be 1 to {max} bytes of printable text"
        )));
    }
    Ok(())
}

fn check_subjects(subjects: &[Subject]) -> Result<(), StatementError> {
    if subjects.is_empty() || subjects.len() > MAX_SUBJECTS {
        return Err(invalid(format!(
            "subject needs 1 to {MAX_SUBJECTS} entries"
        )));
    }
    for subject in subjects {
        check_text("a subject's name", &subject.name, 256)?;
        let sha256 = subject
            .digest
            .get("sha256")
            .ok_or_else(|| invalid(format!("subject {:?} has no sha256 digest", subject.name)))?;
        check_hex(&format!("subject {:?} sha256", subject.name), sha256, 32)?;
        for (algorithm, value) in &subject.digest {
            match algorithm.as_str() {
                "sha256" => {}
                "sha384" => check_hex(&format!("subject {:?} sha384", subject.name), value, 48)?,
                other => {
                    return Err(invalid(format!(
                        "subject {:?}: digest algorithm {other:?} is not sha256 or sha384",
                        subject.name
                    )))
                }
            }
        }
    }
    Ok(())
}

fn check_set(set: &MeasurementSet) -> Result<(), StatementError> {
    check_text("a measurement set's name", &set.name, 64)?;
    if set.measurements.is_empty() || set.measurements.len() > MAX_MEASUREMENTS_PER_SET {
        return Err(invalid(format!(
            "measurement set {:?} needs 1 to {MAX_MEASUREMENTS_PER_SET} measurements",
            set.name
        )));
    }
    for measurement in &set.measurements {
        if measurement.registers.is_empty() {
            return Err(invalid(format!(
                "measurement set {:?}: a {} measurement has no registers",
                set.name, measurement.platform
            )));
        }
        for (name, value) in &measurement.parameters {
            if value.is_object() || value.is_array() || value.is_null() {
                return Err(invalid(format!(
                    "measurement set {:?}: parameter {name:?} must be a string, number or boolean",
                    set.name
                )));
            }
        }
    }
    Ok(())
}

/// The one way a statement becomes bytes: every list sorted, pretty JSON, final newline.
impl<P: Serialize + Canonical> Statement<P> {
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut canonical = self.clone();
        canonical.subject.sort_by(|a, b| a.name.cmp(&b.name));
        canonical.predicate.sort();
        // Maps are BTreeMaps and every other value is a string, number or bool: cannot fail.
        let mut bytes = serde_json::to_vec_pretty(&canonical).expect("statements serialise");
        bytes.push(b'\n');
        bytes
    }

    pub fn sha256(&self) -> String {
        sha256_hex(&self.to_bytes())
    }
}

/// Lower-case hex SHA-256, as statements are identified.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(<sha2::Sha256 as sha2::Digest>::digest(bytes))
}

/// Predicates whose lists have a canonical order.
pub trait Canonical: Clone {
    fn sort(&mut self);
}

fn sort_set(set: &mut MeasurementSet) {
    // Ordered by platform, then by the parameters' sorted JSON: unique within a set.
    set.measurements.sort_by_cached_key(|measurement| {
        (
            measurement.platform.clone(),
            serde_json::to_string(&measurement.parameters).unwrap_or_default(),
        )
    });
}

impl Canonical for ReleasePredicate {
    fn sort(&mut self) {
        self.measurement_sets.sort_by(|a, b| a.name.cmp(&b.name));
        self.measurement_sets.iter_mut().for_each(sort_set);
    }
}

impl Canonical for SetStatusPredicate {
    fn sort(&mut self) {}
}

impl Canonical for SetAddendumPredicate {
    fn sort(&mut self) {
        sort_set(&mut self.measurement_set);
    }
}

fn parse<P: DeserializeOwned + Serialize + Canonical>(
    bytes: &[u8],
    kind: StatementKind,
) -> Result<Statement<P>, StatementError> {
    check_size(bytes)?;
    let statement: Statement<Value> = serde_json::from_slice(bytes)
        .map_err(|error| StatementError::Malformed(error.to_string()))?;
    if statement.statement_type != STATEMENT_TYPE {
        return Err(StatementError::WrongType {
            found: statement.statement_type,
        });
    }
    if statement.predicate_type != kind.predicate_type() {
        return Err(StatementError::WrongPredicate {
            found: statement.predicate_type,
            expected: kind.predicate_type(),
        });
    }
    let predicate: P = serde_json::from_value(statement.predicate)
        .map_err(|error| StatementError::Malformed(format!("predicate: {error}")))?;
    let typed = Statement {
        statement_type: statement.statement_type,
        subject: statement.subject,
        predicate_type: statement.predicate_type,
        predicate,
    };
    check_subjects(&typed.subject)?;
    if typed.to_bytes() != bytes {
        return Err(StatementError::NotCanonical);
    }
    Ok(typed)
}

fn check_version(version: &str) -> Result<(), StatementError> {
    check_text("version", version, 64)
}

/// Parses a release statement and checks its shape (not its platform rules, which the registry
/// checks when it records the release).
pub fn parse_release_statement(bytes: &[u8]) -> Result<ReleaseStatement, StatementError> {
    let statement: ReleaseStatement = parse(bytes, StatementKind::Release)?;
    let predicate = &statement.predicate;
    check_version(&predicate.version)?;
    check_text("package", &predicate.package, 128)?;
    check_text(
        "source.repository",
        &predicate.source.repository,
        MAX_TEXT_BYTES,
    )?;
    check_hex("source.commit", &predicate.source.commit, 20)?;
    check_hex("recipe.sha256", &predicate.recipe.sha256, 32)?;
    if let Some(record) = &predicate.build_record {
        check_hex("build_record.sha256", &record.sha256, 32)?;
    }
    if let Some(image) = &predicate.builder_image {
        check_builder_image(image).map_err(StatementError::Invalid)?;
    }
    if predicate.measurement_sets.is_empty()
        || predicate.measurement_sets.len() > MAX_MEASUREMENT_SETS
    {
        return Err(invalid(format!(
            "a release needs 1 to {MAX_MEASUREMENT_SETS} measurement sets"
        )));
    }
    predicate.measurement_sets.iter().try_for_each(check_set)?;
    Ok(statement)
}

/// A builder image reference that pins content: `sha256:<64 hex>` or `name@sha256:<64 hex>`.
pub fn check_builder_image(image: &str) -> Result<(), String> {
    let digest = image.rsplit_once('@').map_or(
        image,
        |(name, digest)| {
            if name.is_empty() {
                ""
            } else {
                digest
            }
        },
    );
    let hex = digest.strip_prefix("sha256:").unwrap_or("");
    if image.len() <= MAX_TEXT_BYTES
        && hex.len() == 64
        && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        && !image.chars().any(char::is_whitespace)
    {
        Ok(())
    } else {
        Err(format!(
            "builder_image {image:?} must be sha256:<64 hex> or name@sha256:<64 hex> (a digest, never a tag)"
        ))
    }
}

/// The one subject of a later statement: the release statement it changes.
fn release_subject(statement_subject: &[Subject]) -> Result<&str, StatementError> {
    match statement_subject {
        [subject] => Ok(subject.digest["sha256"].as_str()),
        _ => Err(invalid(
            "a status change or addendum has exactly one subject: the release statement",
        )),
    }
}

impl SetStatusStatement {
    /// The SHA-256 of the release statement this one changes.
    pub fn release_statement_sha256(&self) -> &str {
        // Parsing checked there is exactly one subject with a sha256.
        self.subject[0].digest["sha256"].as_str()
    }
}

impl SetAddendumStatement {
    pub fn release_statement_sha256(&self) -> &str {
        self.subject[0].digest["sha256"].as_str()
    }
}

/// Parses a measurement-set status change.
pub fn parse_set_status_statement(bytes: &[u8]) -> Result<SetStatusStatement, StatementError> {
    let statement: SetStatusStatement = parse(bytes, StatementKind::SetStatus)?;
    release_subject(&statement.subject)?;
    let predicate = &statement.predicate;
    check_version(&predicate.version)?;
    check_text("measurement_set", &predicate.measurement_set, 64)?;
    check_text("reason", &predicate.reason, MAX_REASON_BYTES)?;
    if predicate.sequence == 0 {
        return Err(invalid(
            "sequence starts at 1 (the set's first status change)",
        ));
    }
    Ok(statement)
}

/// Parses a measurement-set addendum.
pub fn parse_set_addendum_statement(bytes: &[u8]) -> Result<SetAddendumStatement, StatementError> {
    let statement: SetAddendumStatement = parse(bytes, StatementKind::SetAddendum)?;
    release_subject(&statement.subject)?;
    check_version(&statement.predicate.version)?;
    check_set(&statement.predicate.measurement_set)?;
    Ok(statement)
}

/// The subject of a later statement about the release whose statement has `sha256`.
pub fn release_statement_subject(version: &str, sha256: &str) -> Subject {
    Subject {
        name: format!("release/{version}"),
        digest: BTreeMap::from([("sha256".to_owned(), sha256.to_owned())]),
    }
}

mod rebuild;
#[cfg(test)]
mod tests;
