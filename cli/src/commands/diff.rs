//! `mpr diff A B`: what differs between two build records, images, EIFs, ramdisks, build output
//! directories, `mpr release` directories, release statements or files, and for releases why
//! each measurement that differs moved. Exit status as diff(1): 0 identical, 1 different,
//! 2 trouble.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use builder::diff::explain::{
    explain, Explanation, FileLevel, MeasuredFacts, ReleaseFacts, StatementInputs,
};
use builder::diff::{detect, diff_paths, DiffError, DiffOptions, DiffReport, InputKind};
use builder::record::{BuildRecord, RECORD_FILE, RECORD_SCHEMA};
use serde::Serialize;
use verifier::statement::{
    kind_of, parse_release_statement, ReleaseStatement, StatementKind, MAX_STATEMENT_BYTES,
};

#[derive(Debug, clap::Args)]
pub struct DiffArgs {
    /// The reference: a build record, release statement, EIF, ramdisk, image (directory or tar),
    /// build output directory, `mpr release` directory or file.
    pub a: PathBuf,
    /// What to compare with it (of the same kind).
    pub b: PathBuf,
}

/// What `mpr release --out` holds: the build's output directory and the release statement.
const RELEASE_BUILD_DIR: &str = "build";
const RELEASE_STATEMENT: &str = "statement.json";

#[derive(Serialize)]
struct Outcome {
    #[serde(flatten)]
    report: DiffReport,
    #[serde(skip_serializing_if = "Option::is_none")]
    explanation: Option<Explanation>,
    /// Why two releases' measurements could not be explained (the file-level report stands).
    #[serde(skip_serializing_if = "Option::is_none")]
    explanation_unavailable: Option<String>,
}

/// Runs the comparison and prints the report; returns the exit status (errors are printed here too).
pub fn main(args: DiffArgs, json: bool) -> ExitCode {
    let outcome = match compare(&args.a, &args.b) {
        Ok(outcome) => outcome,
        Err(error) => {
            eprintln!("Error: {error:#}");
            return ExitCode::from(2);
        }
    };
    let status = if outcome.report.identical {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    };
    match print(&args, &outcome, json) {
        Ok(()) => status,
        // The reader went away (`| head`): the answer stands.
        Err(error) if crate::is_broken_pipe(&error) => status,
        Err(error) => {
            eprintln!("Error: {error:#}");
            ExitCode::from(2)
        }
    }
}

fn compare(a: &Path, b: &Path) -> anyhow::Result<Outcome> {
    let options = DiffOptions::default();
    if is_release_dir(a) && is_release_dir(b) {
        return compare_releases(a, b, &options);
    }
    let report = diff_paths(a, b, &options).map_err(|error| explain_mismatch(error, &options))?;
    let mut outcome = Outcome {
        report,
        explanation: None,
        explanation_unavailable: None,
    };
    match detect(a, &options)? {
        InputKind::Record => explain_records(&mut outcome, a, b, None)?,
        InputKind::OutputDir => explain_records(
            &mut outcome,
            &a.join(RECORD_FILE),
            &b.join(RECORD_FILE),
            Some(""),
        )?,
        InputKind::File => {
            if let (Some(sa), Some(sb)) = (statement(a)?, statement(b)?) {
                let facts = (statement_facts(&sa), statement_facts(&sb));
                outcome.explanation = Some(explain(&facts.0, &facts.1, None));
            }
        }
        _ => {}
    }
    Ok(outcome)
}

/// A record compared with a file that looks like JSON but does not parse: say what is wrong with
/// the file rather than that the kinds differ.
fn explain_mismatch(error: DiffError, options: &DiffOptions) -> anyhow::Error {
    if let DiffError::KindMismatch {
        a,
        a_kind,
        b,
        b_kind,
        ..
    } = &error
    {
        let other = match (a_kind, b_kind) {
            (InputKind::Record, InputKind::File) => Some(b),
            (InputKind::File, InputKind::Record) => Some(a),
            _ => None,
        };
        let broken = other.and_then(|path| {
            let bytes = std::fs::read(path).ok()?;
            let looks_like_json = bytes.trim_ascii_start().starts_with(b"{")
                && bytes.len() as u64 <= options.max_json_size;
            let parse_error = serde_json::from_slice::<serde_json::Value>(&bytes).err()?;
            looks_like_json
                .then(|| anyhow::anyhow!("{} is not valid JSON: {parse_error}", path.display()))
        });
        if let Some(broken) = broken {
            return broken;
        }
    }
    error.into()
}

fn is_release_dir(path: &Path) -> bool {
    path.join(RELEASE_BUILD_DIR).join(RECORD_FILE).is_file()
}

/// Two `mpr release` directories: their build directories file by file (paths under `build/`),
/// their statements, and the measurements explained from the records (which hold everything the
/// statements do, and more).
fn compare_releases(a: &Path, b: &Path, options: &DiffOptions) -> anyhow::Result<Outcome> {
    let (build_a, build_b) = (a.join(RELEASE_BUILD_DIR), b.join(RELEASE_BUILD_DIR));
    let mut report = diff_paths(&build_a, &build_b, options)?;
    for difference in &mut report.differences {
        difference.path = format!("{RELEASE_BUILD_DIR}/{}", difference.path);
    }
    let (sa, sb) = (a.join(RELEASE_STATEMENT), b.join(RELEASE_STATEMENT));
    if sa.is_file() && sb.is_file() {
        for mut difference in diff_paths(&sa, &sb, options)?.differences {
            let rest = difference.path.strip_prefix("file").unwrap_or_default();
            difference.path = format!("{RELEASE_STATEMENT}{rest}");
            report.differences.push(difference);
        }
    }
    report.identical = report.differences.is_empty();
    let mut outcome = Outcome {
        report,
        explanation: None,
        explanation_unavailable: None,
    };
    let root = format!("{RELEASE_BUILD_DIR}/");
    explain_records(
        &mut outcome,
        &build_a.join(RECORD_FILE),
        &build_b.join(RECORD_FILE),
        Some(&root),
    )?;
    Ok(outcome)
}

/// Explains two build records; `root` is where their output directories' files are in the
/// report, when they were compared file by file.
fn explain_records(
    outcome: &mut Outcome,
    a: &Path,
    b: &Path,
    root: Option<&str>,
) -> anyhow::Result<()> {
    let (ra, rb) = match (record(a)?, record(b)?) {
        (Ok(ra), Ok(rb)) => (ra, rb),
        (Err(why), _) | (_, Err(why)) => {
            eprintln!("mpr diff: measurements not explained: {why}");
            outcome.explanation_unavailable = Some(why);
            return Ok(());
        }
    };
    let files = root.map(|root| FileLevel {
        report: &outcome.report,
        root,
    });
    let facts = (
        ReleaseFacts::from_record(&ra),
        ReleaseFacts::from_record(&rb),
    );
    outcome.explanation = Some(explain(&facts.0, &facts.1, files));
    Ok(())
}

/// A build record; `Ok(Err(why))` for a JSON document that the file-level comparison can still
/// read but that is not a complete record of this schema (a hand-made or partial record).
fn record(path: &Path) -> anyhow::Result<Result<BuildRecord, String>> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let record: BuildRecord = match serde_json::from_slice(&bytes) {
        Ok(record) => record,
        Err(error) => {
            return Ok(Err(format!(
                "{} is not a complete build record: {error}",
                path.display()
            )))
        }
    };
    if record.schema != RECORD_SCHEMA {
        return Ok(Err(format!(
            "{} is a build record of schema {}; this mpr reads schema {RECORD_SCHEMA}",
            path.display(),
            record.schema
        )));
    }
    Ok(Ok(record))
}

/// The release statement at `path`, if it is an in-toto statement; an in-toto statement that is
/// not a valid mpr release statement is an error naming the file.
fn statement(path: &Path) -> anyhow::Result<Option<ReleaseStatement>> {
    let size = std::fs::metadata(path)
        .with_context(|| format!("inspecting {}", path.display()))?
        .len();
    if size > MAX_STATEMENT_BYTES as u64 {
        return Ok(None);
    }
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let claims_in_toto = serde_json::from_slice::<serde_json::Value>(&bytes)
        .ok()
        .is_some_and(|v| v.get("_type").is_some());
    if !claims_in_toto {
        return Ok(None);
    }
    match kind_of(&bytes) {
        Ok(StatementKind::Release) => {}
        Ok(other) => anyhow::bail!(
            "{} is a {} statement: mpr diff explains release statements",
            path.display(),
            other.as_str()
        ),
        Err(error) => anyhow::bail!("{} is not an mpr statement: {error}", path.display()),
    }
    parse_release_statement(&bytes)
        .map(Some)
        .with_context(|| format!("{} is not a valid release statement", path.display()))
}

fn scalar(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

fn statement_facts(statement: &ReleaseStatement) -> ReleaseFacts {
    let predicate = &statement.predicate;
    let inputs = StatementInputs {
        package: &predicate.package,
        repository: &predicate.source.repository,
        commit: &predicate.source.commit,
        source_date_epoch: predicate.source_date_epoch,
        recipe_sha256: &predicate.recipe.sha256,
        builder_image: predicate.builder_image.as_deref(),
        build_record_sha256: predicate.build_record.as_ref().map(|d| d.sha256.as_str()),
    };
    let subjects = statement.subject.iter().filter_map(|subject| {
        let sha256 = subject.digest.get("sha256")?;
        Some((subject.name.as_str(), sha256.as_str()))
    });
    let measurements = predicate
        .measurement_sets
        .iter()
        .flat_map(|set| &set.measurements)
        .map(|m| MeasuredFacts {
            platform: m.platform.clone(),
            parameters: m
                .parameters
                .iter()
                .map(|(k, v)| (k.clone(), scalar(v)))
                .collect(),
            registers: m.registers.clone(),
        });
    ReleaseFacts::from_statement_parts(inputs, subjects, measurements)
}

fn print(args: &DiffArgs, outcome: &Outcome, json: bool) -> anyhow::Result<()> {
    if json {
        return super::print_json(outcome);
    }
    let report = &outcome.report;
    for difference in &report.differences {
        outln!("{difference}")?;
    }
    let (a, b) = (args.a.display(), args.b.display());
    match report.differences.len() {
        0 => outln!("{a} and {b} are identical")?,
        1 => outln!("1 difference between {a} and {b}")?,
        n => outln!("{n} differences between {a} and {b}")?,
    }
    if let Some(explanation) = &outcome.explanation {
        outln!("\nWhy the measurements changed:\n{explanation}")?;
    }
    Ok(())
}
