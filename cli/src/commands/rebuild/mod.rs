//! `mpr rebuild verify`: anyone rebuilds a signed release and proves it matches, or sees where it
//! does not. The release's statement is verified first (signatures k of n, log inclusion and
//! witnesses, per the trust policy); then the recorded recipe is rebuilt in the recorded builder
//! image and the rebuild's own statement is compared with the signed one, fact by fact.
//! Exit status: 0 the rebuild matches (GOOD), 1 it does not (BAD), 2 it could not be done.

mod compare;
mod evidence;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};
use serde::Serialize;

use super::build::BuildEnvArgs;
use super::registry::publish::submission_from_record;
use super::release::{build_stage, ensure_own_dir};
use compare::Row;
use evidence::{Official, Origin};

#[derive(Debug, Subcommand)]
pub enum RebuildCommand {
    /// Rebuild a signed release and compare every artifact and measurement with its statement.
    Verify(VerifyArgs),
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The release's files: statement.json, statement.json.asc, statement.proof and (optional)
    /// build-record.json, as on its GitHub release or in `mpr release`'s --out.
    #[arg(
        long,
        required_unless_present = "registry",
        conflicts_with = "registry"
    )]
    release: Option<PathBuf>,
    /// Fetch the release's statement, signatures and log proof from this registry instead.
    #[arg(long, requires = "version")]
    registry: Option<String>,
    /// The release's version (with --registry).
    #[arg(long)]
    version: Option<String>,
    /// The recipe to rebuild: its canonical digest must be the statement's recipe digest.
    #[arg(long)]
    recipe: PathBuf,
    /// The trust policy the release must pass before it is rebuilt.
    #[arg(long)]
    policy: PathBuf,
    /// Certificates of the release keys (default with --registry: the policy's keys as the
    /// registry serves them, each checked against its fingerprint).
    #[arg(long)]
    keyring: Vec<PathBuf>,
    /// Where the evidence (official/), the rebuild (build/) and the verdict (rebuild.json) go.
    #[arg(long, default_value = "mpr-rebuild")]
    out: PathBuf,
    #[command(flatten)]
    build: BuildEnvArgs,
}

/// The verdict, and the file that marks a directory as a rebuild's (written first).
const VERDICT_FILE: &str = "rebuild.json";
const MARKER_FILE: &str = ".mpr-rebuild";

#[derive(Debug, Serialize)]
pub struct Verdict {
    /// GOOD: the rebuild's statement is byte for byte the signed one; BAD otherwise.
    pub status: &'static str,
    pub version: String,
    pub statement_sha256: String,
    pub rebuilt_statement_sha256: String,
    pub signed_by: Vec<String>,
    pub checks: Vec<String>,
    pub rows: Vec<Row>,
    /// File-level differences between the official build and the rebuild (when the official
    /// files were at hand).
    pub differences: Vec<String>,
}

pub fn main(command: RebuildCommand, json: bool) -> ExitCode {
    let RebuildCommand::Verify(args) = command;
    match verify(&args) {
        Ok(verdict) => {
            let status = if verdict.status == "GOOD" {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            };
            match print(&verdict, json) {
                Ok(()) => status,
                Err(error) if crate::is_broken_pipe(&error) => status,
                Err(error) => {
                    eprintln!("Error: {error:#}");
                    ExitCode::from(2)
                }
            }
        }
        Err(error) => {
            eprintln!("Error: {error:#}");
            ExitCode::from(2)
        }
    }
}

fn verify(args: &VerifyArgs) -> anyhow::Result<Verdict> {
    ensure_own_dir(&args.out, MARKER_FILE)?;
    registry_api::signing::write_replacing(&args.out.join(MARKER_FILE), b"", 0o644)?;
    let origin = match (&args.release, &args.registry, &args.version) {
        (Some(dir), _, _) => Origin::Directory(dir.clone()),
        (None, Some(url), Some(version)) => Origin::Registry {
            url: url.clone(),
            version: version.clone(),
        },
        _ => anyhow::bail!("give --release DIR, or --registry URL with --version"),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let official = runtime.block_on(evidence::load(
        &origin,
        &args.out.join("official"),
        &args.policy,
        &args.keyring,
    ))?;
    for line in &official.checks {
        eprintln!("mpr rebuild: {line}");
    }
    let predicate = &official.statement.predicate;
    let recipe = build_stage::load_recipe(&args.recipe, &predicate.version)?;
    let recipe_sha256 = recipe.canonical_sha256(&predicate.source.repository);
    if recipe_sha256 != predicate.recipe.sha256 {
        anyhow::bail!(
            "the recipe {} is not the release's: its canonical sha256 is {recipe_sha256}, the signed statement's is {}; rebuild with the recipe the registry stores for the release (GET /v1/releases/{}) and its pinned files",
            args.recipe.display(),
            predicate.recipe.sha256,
            predicate.version
        );
    }
    if let Some(image) = &predicate.builder_image {
        runtime.block_on(ensure_builder_image(image, official.record.as_deref()))?;
    }
    let build_dir = args.out.join("build");
    let built = match build_stage::reusable(&build_dir, &recipe)? {
        Ok(built) => {
            eprintln!(
                "mpr rebuild: reusing the finished rebuild in {}",
                build_dir.display()
            );
            built
        }
        Err(_) => {
            let options = args.build.options(args.recipe.clone(), build_dir.clone())?;
            match runtime.block_on(super::build::run_until_interrupted(&options)) {
                Some(result) => result?,
                None => std::process::exit(130),
            };
            build_stage::reusable(&build_dir, &recipe)?
                .map_err(|why| anyhow::anyhow!("the rebuild finished but cannot be read: {why}"))?
        }
    };
    let record_sha256 = builder::hashing::digest_bytes(&built.record_bytes).sha256;
    let set = predicate
        .measurement_sets
        .first()
        .map_or("default", |set| set.name.as_str());
    let submission = submission_from_record(
        &built.record,
        &record_sha256,
        Some(recipe.canonical_text(&built.record.inputs.repository)),
        set,
    )?;
    let rebuilt_bytes = registry_api::statement::render(&submission);
    registry_api::signing::write_replacing(
        &args.out.join("rebuilt-statement.json"),
        &rebuilt_bytes,
        0o644,
    )?;
    let rebuilt = verifier::statement::parse_release_statement(&rebuilt_bytes)
        .context("the rebuild's own statement does not parse")?;
    let rows = compare::compare(&official.statement, &rebuilt);
    let good = rebuilt_bytes == official.bytes;
    let differences = if good {
        Vec::new()
    } else {
        file_differences(&official, args.release.as_deref(), &build_dir)
    };
    let verdict = Verdict {
        status: if good { "GOOD" } else { "BAD" },
        version: predicate.version.clone(),
        statement_sha256: verifier::statement::sha256_hex(&official.bytes),
        rebuilt_statement_sha256: verifier::statement::sha256_hex(&rebuilt_bytes),
        signed_by: official.signers.clone(),
        checks: official.checks.clone(),
        rows,
        differences,
    };
    let mut text = serde_json::to_string_pretty(&verdict)?;
    text.push('\n');
    registry_api::signing::write_replacing(&args.out.join(VERDICT_FILE), text.as_bytes(), 0o644)?;
    Ok(verdict)
}

/// The builder image the release names, made from the official record's inputs if Docker lacks it.
async fn ensure_builder_image(image: &str, record: Option<&Path>) -> anyhow::Result<()> {
    use builder::builder_image::{self, BuilderImageOptions, RecordedBuilderImage};
    let engine = builder::docker::Engine::connect().await?;
    if engine.resolve_image(image).await?.is_some() {
        return Ok(());
    }
    let Some(record) = record else {
        anyhow::bail!(
            "the release was built in builder image {image}, which Docker does not have, and no official build-record.json is at hand to make it from: put the release's build-record.json in --release DIR, or run `mpr builder-image create --like build-record.json`"
        );
    };
    eprintln!(
        "mpr rebuild: making builder image {image} from {}",
        record.display()
    );
    let recorded = RecordedBuilderImage::read(record)?;
    let options = recorded.options(&BuilderImageOptions::host_defaults()?);
    let made = builder_image::create_like(&recorded, &options).await?;
    if made.id != image && made.manifest_digest != image {
        anyhow::bail!(
            "the builder image made from {} is {}, not the release's {image}",
            record.display(),
            made.id
        );
    }
    Ok(())
}

/// What differs file by file, from the official files at hand: the official build directory
/// (`mpr release`'s --out), else its build record and EIF (a GitHub release's assets).
fn file_differences(official: &Official, release: Option<&Path>, rebuilt: &Path) -> Vec<String> {
    let options = builder::diff::DiffOptions::default();
    let mut pairs: Vec<(PathBuf, PathBuf)> = Vec::new();
    match release
        .map(|dir| dir.join("build"))
        .filter(|dir| dir.is_dir())
    {
        Some(official_build) => pairs.push((official_build, rebuilt.to_path_buf())),
        None => {
            if let Some(record) = &official.record {
                pairs.push((record.clone(), rebuilt.join(builder::record::RECORD_FILE)));
            }
            if let Some(dir) = release {
                for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                    let path = entry.path();
                    if path.extension().is_some_and(|ext| ext == "eif") {
                        pairs.push((path.clone(), rebuilt.join("eif").join(entry.file_name())));
                    }
                }
            }
        }
    }
    let mut differences = Vec::new();
    for (a, b) in pairs {
        match builder::diff::diff_paths(&a, &b, &options) {
            Ok(report) => differences.extend(report.differences.iter().map(ToString::to_string)),
            Err(error) => differences.push(format!(
                "{} and {} could not be compared: {error}",
                a.display(),
                b.display()
            )),
        }
    }
    differences
}

fn print(verdict: &Verdict, json: bool) -> anyhow::Result<()> {
    if json {
        return super::print_json(verdict);
    }
    let width = verdict
        .rows
        .iter()
        .map(|row| row.what.len())
        .max()
        .unwrap_or(0);
    let short = |value: &Option<String>| match value {
        Some(value) if value.len() > 24 => format!("{}…", &value[..24]),
        Some(value) => value.clone(),
        None => "(none)".to_owned(),
    };
    for row in &verdict.rows {
        let mark = if row.matches { "match" } else { "DIFFERS" };
        outln!(
            "{mark:<7}  {:<width$}  {:<25}  {}",
            row.what,
            short(&row.official),
            short(&row.rebuilt)
        )?;
    }
    for difference in &verdict.differences {
        outln!("  {difference}")?;
    }
    let differing = verdict.rows.iter().filter(|row| !row.matches).count();
    outln!(
        "{}: release {} rebuilt; statement sha256:{} {}",
        verdict.status,
        verdict.version,
        verdict.rebuilt_statement_sha256,
        if verdict.status == "GOOD" {
            "is the signed statement, byte for byte".to_owned()
        } else {
            format!(
                "differs from the signed sha256:{} ({differing} of {} facts differ)",
                verdict.statement_sha256,
                verdict.rows.len()
            )
        }
    )?;
    Ok(())
}
