//! The releases a wallet trusts, derived from signed statements: every release statement signed by
//! enough of the policy's release keys and proven to be in the policy's log, with the addenda and
//! status changes that apply to it. Only active measurement sets are candidates; a deprecated set
//! is kept aside so that evidence matching it is rejected with that reason, not a vague mismatch.
//! When the policy requires rebuilders, a release counts only once enough of the policy's
//! rebuilder keys signed (and logged) a GOOD rebuild report whose artifacts are the release's.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::verdict::{Matched, Reason, Verdict};
use crate::policy::TrustPolicy;
use crate::statement::{
    kind_of, parse_rebuild_statement, parse_release_statement, parse_set_addendum_statement,
    parse_set_status_statement, MeasurementSet, RebuildStatement, RebuildVerdict, SetStatus,
    StatementKind, Subject,
};
use crate::tlog::LogEntry;

/// A statement as fetched: its exact bytes, the OpenPGP fingerprints whose signatures over those
/// bytes the caller verified (OpenPGP stays outside this crate), and its log proof.
#[derive(Debug, Clone)]
pub struct SignedStatement {
    pub bytes: Vec<u8>,
    pub signers: Vec<String>,
    /// A tlog-proof@v1 text; required, since the policy names a log every statement must be in.
    pub proof: Option<String>,
}

/// One measurement set of one release, for one platform: what evidence must equal.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Candidate {
    pub package: String,
    pub version: String,
    pub release_statement_sha256: String,
    pub measurement_set: String,
    pub platform: String,
    pub parameters: BTreeMap<String, Value>,
    /// Register name (`PCR0`, `MEASUREMENT`, ...) to its value.
    #[serde(serialize_with = "hex_map")]
    pub registers: BTreeMap<String, Vec<u8>>,
}

fn hex_map<S: serde::Serializer>(
    map: &BTreeMap<String, Vec<u8>>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_map(map.iter().map(|(k, v)| (k, hex::encode(v))))
}

impl Candidate {
    /// How verdicts name it: `prover 8.1.0 set "default"`, or the ad-hoc expectation's name.
    pub fn describe(&self) -> String {
        if self.version.is_empty() {
            return self.package.clone();
        }
        format!(
            "{} {} set {:?}",
            self.package, self.version, self.measurement_set
        )
    }

    /// What an accepting verdict reports.
    pub fn matched(&self) -> Matched {
        Matched {
            package: self.package.clone(),
            version: self.version.clone(),
            release_statement_sha256: self.release_statement_sha256.clone(),
            measurement_set: self.measurement_set.clone(),
            platform: self.platform.clone(),
            parameters: self.parameters.clone(),
        }
    }
}

/// Measurement sets evidence may match, and the deprecated ones it must not.
#[derive(Debug, Clone, Default)]
pub struct TrustedReleases {
    pub active: Vec<Candidate>,
    pub deprecated: Vec<Candidate>,
}

struct Release {
    package: String,
    version: String,
    subject: Vec<Subject>,
    sets: Vec<MeasurementSet>,
}

/// A logged rebuild report and the policy rebuilder keys that signed it.
struct Rebuild {
    statement: RebuildStatement,
    keys: Vec<String>,
}

impl TrustedReleases {
    /// Expectations given by hand (`--expect-pcr`), for ad-hoc checks without a release.
    pub fn ad_hoc(platform: &str, registers: BTreeMap<String, Vec<u8>>) -> TrustedReleases {
        TrustedReleases {
            active: vec![Candidate {
                package: "the registers given by hand".into(),
                version: String::new(),
                release_statement_sha256: String::new(),
                measurement_set: "ad hoc".into(),
                platform: platform.into(),
                parameters: BTreeMap::new(),
                registers,
            }],
            deprecated: Vec::new(),
        }
    }

    /// Checks every statement against `policy` (release-key threshold, log inclusion) and builds
    /// the candidates. A statement that fails is left out and reported; it never weakens a check.
    pub fn from_statements(
        policy: &TrustPolicy,
        statements: &[SignedStatement],
    ) -> (TrustedReleases, Vec<Reason>) {
        let mut reasons = Vec::new();
        let mut releases: BTreeMap<String, Release> = BTreeMap::new();
        let mut addenda = Vec::new();
        let mut statuses = Vec::new();
        let mut rebuilds = Vec::new();
        for statement in statements {
            let digest: [u8; 32] = Sha256::digest(&statement.bytes).into();
            let sha256 = hex::encode(digest);
            let kind = match kind_of(&statement.bytes) {
                Ok(kind) => kind,
                Err(e) => {
                    reasons.push(Reason::new(
                        "statement-invalid",
                        format!("statement {sha256}: {e}"),
                    ));
                    continue;
                }
            };
            if let Err(reason) = check_trusted(policy, statement, kind, digest) {
                reasons.push(reason);
                continue;
            }
            match kind {
                StatementKind::Release => match parse_release_statement(&statement.bytes) {
                    Ok(parsed) => {
                        releases.insert(
                            sha256,
                            Release {
                                package: parsed.predicate.package,
                                version: parsed.predicate.version,
                                subject: parsed.subject,
                                sets: parsed.predicate.measurement_sets,
                            },
                        );
                    }
                    Err(e) => reasons.push(Reason::new(
                        "statement-invalid",
                        format!("release statement {sha256}: {e}"),
                    )),
                },
                StatementKind::SetAddendum => {
                    match parse_set_addendum_statement(&statement.bytes) {
                        Ok(parsed) => addenda.push(parsed),
                        Err(e) => reasons.push(Reason::new(
                            "statement-invalid",
                            format!("addendum {sha256}: {e}"),
                        )),
                    }
                }
                StatementKind::SetStatus => match parse_set_status_statement(&statement.bytes) {
                    Ok(parsed) => statuses.push(parsed),
                    Err(e) => reasons.push(Reason::new(
                        "statement-invalid",
                        format!("status change {sha256}: {e}"),
                    )),
                },
                StatementKind::Rebuild => match parse_rebuild_statement(&statement.bytes) {
                    Ok(parsed) => rebuilds.push(Rebuild {
                        statement: parsed,
                        keys: policy.rebuilders.among(&statement.signers),
                    }),
                    Err(e) => reasons.push(Reason::new(
                        "statement-invalid",
                        format!("rebuild report {sha256}: {e}"),
                    )),
                },
            }
        }
        if policy.rebuilders.threshold > 0 {
            releases.retain(|sha256, release| {
                let agreeing = agreeing_rebuilders(&rebuilds, sha256, &release.subject);
                if agreeing.len() >= policy.rebuilders.threshold {
                    return true;
                }
                reasons.push(Reason::new(
                    "release-unreproduced",
                    format!(
                        "{} {} (statement {sha256}): {} of the {} rebuilders the trust policy requires reproduced it{}",
                        release.package,
                        release.version,
                        agreeing.len(),
                        policy.rebuilders.threshold,
                        if agreeing.is_empty() {
                            String::new()
                        } else {
                            format!(" ({})", agreeing.join(", "))
                        }
                    ),
                ));
                false
            });
        }
        for addendum in addenda {
            match releases.get_mut(addendum.release_statement_sha256()) {
                Some(release) => release.sets.push(addendum.predicate.measurement_set),
                None => reasons.push(Reason::new(
                    "statement-orphan",
                    format!(
                        "an addendum names release statement {}, which is not among the trusted statements given",
                        addendum.release_statement_sha256()
                    ),
                )),
            }
        }
        // The highest sequence per set wins, so a replayed older status cannot undo a later one.
        let mut latest: BTreeMap<(String, String), (u32, SetStatus)> = BTreeMap::new();
        for status in statuses {
            let key = (
                status.release_statement_sha256().to_owned(),
                status.predicate.measurement_set.clone(),
            );
            let entry = latest.entry(key).or_insert((0, SetStatus::Active));
            if status.predicate.sequence > entry.0 {
                *entry = (status.predicate.sequence, status.predicate.status);
            }
        }
        let mut trusted = TrustedReleases::default();
        for (sha256, release) in releases {
            for set in release.sets {
                let status = latest
                    .get(&(sha256.clone(), set.name.clone()))
                    .map_or(SetStatus::Active, |(_, status)| *status);
                for measurement in set.measurements {
                    let registers = measurement
                        .registers
                        .iter()
                        .filter_map(|(name, value)| {
                            hex::decode(value).ok().map(|bytes| (name.clone(), bytes))
                        })
                        .collect();
                    let candidate = Candidate {
                        package: release.package.clone(),
                        version: release.version.clone(),
                        release_statement_sha256: sha256.clone(),
                        measurement_set: set.name.clone(),
                        platform: measurement.platform,
                        parameters: measurement.parameters,
                        registers,
                    };
                    match status {
                        SetStatus::Active => trusted.active.push(candidate),
                        SetStatus::Deprecated => trusted.deprecated.push(candidate),
                    }
                }
            }
        }
        (trusted, reasons)
    }

    pub fn for_platform<'a>(&'a self, platform: &'a str) -> impl Iterator<Item = &'a Candidate> {
        self.active.iter().filter(move |c| c.platform == platform)
    }

    pub fn deprecated_for<'a>(&'a self, platform: &'a str) -> impl Iterator<Item = &'a Candidate> {
        self.deprecated
            .iter()
            .filter(move |c| c.platform == platform)
    }
}

/// Records the `measurements` check: the first active set of `platforms` whose registers
/// `check` finds equal (it returns their names, or a code and what differed) matches; else a
/// deprecated set that would have matched is the reason; else every set's miss. `runner` names
/// what runs the release ("the VM"), `unmatched` says what matched nothing.
pub(super) fn record_set_match(
    releases: &TrustedReleases,
    platforms: &[&str],
    check: impl Fn(&Candidate) -> Result<String, (&'static str, String)>,
    (runner, unmatched): (&str, &str),
    verdict: &mut Verdict,
) {
    let mut misses = Vec::new();
    for platform in platforms {
        for candidate in releases.for_platform(platform) {
            match check(candidate) {
                Ok(names) => {
                    verdict.pass(
                        "measurements",
                        format!("{names} equal to {} ({platform})", candidate.describe()),
                    );
                    verdict.matched = Some(candidate.matched());
                    return;
                }
                Err((code, miss)) => {
                    misses.push((code, format!("{}: {miss}", candidate.describe())))
                }
            }
        }
    }
    let deprecated = platforms
        .iter()
        .find_map(|platform| releases.deprecated_for(platform).find(|c| check(c).is_ok()));
    if let Some(candidate) = deprecated {
        verdict.fail(
            "measurements",
            "set-deprecated",
            format!(
                "{runner} runs {}, which its publisher has deprecated: upgrade the prover",
                candidate.describe()
            ),
        );
        return;
    }
    let (code, details) = summarize_misses(misses);
    verdict.fail(
        "measurements",
        code,
        if details.is_empty() {
            unmatched.to_owned()
        } else {
            format!("{unmatched}: {}", details.join("; "))
        },
    );
}

/// The code and the messages of a rejection for candidates that each missed (code, message):
/// with one candidate its own failure is the reason (a missing register, a different value);
/// with several, each is listed under `no-release-matched`.
pub(super) fn summarize_misses(misses: Vec<(&'static str, String)>) -> (&'static str, Vec<String>) {
    let code = match misses.as_slice() {
        [(code, _)] => code,
        _ => "no-release-matched",
    };
    (
        code,
        misses.into_iter().map(|(_, message)| message).collect(),
    )
}

/// The policy rebuilder keys whose GOOD reports name the release statement `sha256` and rebuilt
/// exactly its artifacts. A key that also reported otherwise for it is not counted: which report
/// is its last word cannot be told from the statements alone.
fn agreeing_rebuilders(rebuilds: &[Rebuild], sha256: &str, subject: &[Subject]) -> Vec<String> {
    let about: Vec<&Rebuild> = rebuilds
        .iter()
        .filter(|rebuild| rebuild.statement.predicate.release_statement.sha256 == sha256)
        .collect();
    let agrees = |rebuild: &Rebuild| {
        rebuild.statement.predicate.verdict == RebuildVerdict::Good
            && rebuild.statement.reproduces(subject)
    };
    let mut agreeing: Vec<String> = Vec::new();
    for rebuild in about.iter().filter(|rebuild| agrees(rebuild)) {
        for key in &rebuild.keys {
            let contradicted = about
                .iter()
                .any(|other| !agrees(other) && other.keys.contains(key));
            if !contradicted && !agreeing.contains(key) {
                agreeing.push(key.clone());
            }
        }
    }
    agreeing
}

fn check_trusted(
    policy: &TrustPolicy,
    statement: &SignedStatement,
    kind: StatementKind,
    digest: [u8; 32],
) -> Result<(), Reason> {
    let sha256 = hex::encode(digest);
    if kind == StatementKind::Rebuild {
        // One rebuilder signs each report; the policy's threshold counts reports, not signatures.
        if policy.rebuilders.among(&statement.signers).is_empty() {
            return Err(Reason::new(
                "statement-signers",
                format!(
                    "rebuild report {sha256} is signed by none of the trust policy's rebuilder keys ({})",
                    if policy.rebuilders.keys.is_empty() {
                        "none".to_owned()
                    } else {
                        policy.rebuilders.keys.join(", ")
                    }
                ),
            ));
        }
    } else {
        policy
            .check_release_signers(&statement.signers)
            .map_err(|e| Reason::new("statement-signers", format!("statement {sha256}: {e}")))?;
    }
    let proof = statement.proof.as_deref().ok_or_else(|| {
        Reason::new(
            "statement-unlogged",
            format!(
                "statement {sha256} comes without a log proof; the trust policy requires every statement to be in {}",
                policy.log.origin
            ),
        )
    })?;
    policy
        .verify_proof_bundle(
            proof,
            &LogEntry::new(kind.log_entry_kind(), digest).encode(),
        )
        .map_err(|e| Reason::new("statement-unlogged", format!("statement {sha256}: {e}")))?;
    Ok(())
}
