//! `mpr rebuild verify`: anyone rebuilds a signed release and proves it matches, or sees where it
//! does not. The release's statement is verified first (signatures k of n, log inclusion and
//! witnesses, per the trust policy); then the recorded recipe is rebuilt in the recorded builder
//! image and the rebuild's own statement is compared with the signed one, fact by fact. With
//! `--submit` the verdict goes to the registry as a signed rebuild report (`submit`).
//! Exit status: 0 the rebuild matches (GOOD), 1 it does not (BAD), 2 it could not be done (FAIL,
//! or the release could not be verified).

mod compare;
mod evidence;
mod print;
mod submit;
mod watch;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};
use serde::Serialize;

use super::build::BuildEnvArgs;
use super::key::SignerArgs;
use super::registry::publish::submission_from_record;
use super::release::{build_stage, ensure_own_dir};
use compare::Row;
use evidence::{Official, Origin};
use submit::{ReportInputs, Submitted, Submitter};
use verifier::statement::RebuildVerdict;

#[derive(Debug, Subcommand)]
pub enum RebuildCommand {
    /// Rebuild a signed release and compare every artifact and measurement with its statement.
    Verify(VerifyArgs),
    /// A rebuilder service: follow a registry's releases, rebuild each once, submit the signed
    /// reports; progress on /metrics.
    Watch(watch::WatchArgs),
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
    /// With --registry: the release's build-record.json (one of its GitHub release assets), checked
    /// against the digest the signed statement gives it. With it a missing builder image is made
    /// from the record's inputs and a mismatch is shown file by file.
    #[arg(long, requires = "registry")]
    record: Option<PathBuf>,
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
    /// Sign the verdict as a rebuild report (an in-toto statement) with your rebuilder key
    /// (--key or --gpg, registered with the registry's POST /v1/keys?role=rebuilder) and submit
    /// it to --registry. A rebuild that fails is reported too (FAIL).
    #[arg(long, requires = "registry", requires = "token_file")]
    submit: bool,
    /// With --submit: a file holding a rebuilder token (`mpr registry token create --role rebuilder`).
    #[arg(long, requires = "submit")]
    token_file: Option<PathBuf>,
    #[command(flatten)]
    signer: SignerArgs,
}

/// The verdict, and the file that marks a directory as a rebuild's (written first).
const VERDICT_FILE: &str = "rebuild.json";
const MARKER_FILE: &str = ".mpr-rebuild";

#[derive(Debug, Serialize)]
pub struct Verdict {
    /// GOOD: the rebuild's statement is byte for byte the signed one; BAD: it differs; FAIL: the
    /// rebuild did not complete (`failure` says why).
    pub status: &'static str,
    pub version: String,
    pub statement_sha256: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rebuilt_statement_sha256: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
    pub signed_by: Vec<String>,
    pub checks: Vec<String>,
    pub rows: Vec<Row>,
    /// File-level differences between the official build and the rebuild (when the official
    /// files were at hand).
    pub differences: Vec<String>,
    /// The signed report and the registry's verdict on it (with --submit).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub submitted: Option<Submitted>,
}

pub fn main(command: RebuildCommand, json: bool) -> ExitCode {
    let args = match command {
        RebuildCommand::Verify(args) => args,
        RebuildCommand::Watch(args) => {
            return match watch::main(&args) {
                Ok(()) => ExitCode::SUCCESS,
                Err(error) => {
                    eprintln!("Error: {error:#}");
                    ExitCode::from(2)
                }
            }
        }
    };
    match verify_command(&args) {
        Ok(verdict) => {
            let status = match verdict.status {
                "GOOD" => ExitCode::SUCCESS,
                "BAD" => ExitCode::from(1),
                _ => ExitCode::from(2),
            };
            match print::print(&verdict, json) {
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

fn verify_command(args: &VerifyArgs) -> anyhow::Result<Verdict> {
    let origin = match (&args.release, &args.registry, &args.version) {
        (Some(dir), _, _) => Origin::Directory(dir.clone()),
        (None, Some(url), Some(version)) => Origin::Registry {
            url: url.clone(),
            version: version.clone(),
            record: args.record.clone(),
        },
        _ => anyhow::bail!("give --release DIR, or --registry URL with --version"),
    };
    let submitter = match (args.submit, &args.registry, &args.token_file) {
        (true, Some(registry), Some(token_file)) => Some(Submitter {
            registry: registry.clone(),
            token: read_token(token_file)?,
            signer: args.signer.signer("the rebuild report")?,
        }),
        _ => None,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(verify(&Rebuild {
        origin,
        recipe: args.recipe.clone(),
        policy: args.policy.clone(),
        keyring: args.keyring.clone(),
        out: args.out.clone(),
        build: &args.build,
        submitter: submitter.as_ref(),
    }))
}

/// A token file's first line.
fn read_token(path: &Path) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the rebuilder token from {}", path.display()))?;
    let token = text.lines().next().unwrap_or("").trim().to_owned();
    if token.is_empty() {
        anyhow::bail!(
            "{} holds no token; write the rebuilder token (`mpr registry token create --role rebuilder`) into it",
            path.display()
        );
    }
    Ok(token)
}

/// One rebuild: what to rebuild, against which policy, where, and whether to report it.
struct Rebuild<'a> {
    origin: Origin,
    recipe: PathBuf,
    policy: PathBuf,
    keyring: Vec<PathBuf>,
    out: PathBuf,
    build: &'a BuildEnvArgs,
    submitter: Option<&'a Submitter>,
}

async fn verify(args: &Rebuild<'_>) -> anyhow::Result<Verdict> {
    ensure_own_dir(&args.out, MARKER_FILE)?;
    registry_api::signing::write_replacing(&args.out.join(MARKER_FILE), b"", 0o644)?;
    let official = evidence::load(
        &args.origin,
        &args.out.join("official"),
        &args.policy,
        &args.keyring,
    )
    .await?;
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
    let build_dir = args.out.join("build");
    let built = match rebuild_release(args, &official, &recipe, &build_dir).await {
        Ok(built) => built,
        Err(error) if args.submitter.is_some() => {
            let failure = format!("{error:#}");
            eprintln!("mpr rebuild: the rebuild failed: {failure}");
            let verdict = Verdict {
                status: "FAIL",
                version: predicate.version.clone(),
                statement_sha256: verifier::statement::sha256_hex(&official.bytes),
                rebuilt_statement_sha256: None,
                failure: Some(failure.clone()),
                signed_by: official.signers.clone(),
                checks: official.checks.clone(),
                rows: Vec::new(),
                differences: Vec::new(),
                submitted: None,
            };
            return finish(args, &official, verdict, None, vec![failure]).await;
        }
        Err(error) => return Err(error),
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
        let release_dir = match &args.origin {
            Origin::Directory(dir) => Some(dir.as_path()),
            Origin::Registry { .. } => None,
        };
        file_differences(&official, release_dir, &build_dir)
    };
    let verdict = Verdict {
        status: if good { "GOOD" } else { "BAD" },
        version: predicate.version.clone(),
        statement_sha256: verifier::statement::sha256_hex(&official.bytes),
        rebuilt_statement_sha256: Some(verifier::statement::sha256_hex(&rebuilt_bytes)),
        failure: None,
        signed_by: official.signers.clone(),
        checks: official.checks.clone(),
        rows,
        differences,
        submitted: None,
    };
    let findings = verdict
        .rows
        .iter()
        .filter(|row| !row.matches)
        .map(|row| {
            format!(
                "{}: official {}, rebuilt {}",
                row.what,
                row.official.as_deref().unwrap_or("(none)"),
                row.rebuilt.as_deref().unwrap_or("(none)")
            )
        })
        .chain(verdict.differences.iter().cloned())
        .collect();
    let sizes = submission
        .build
        .artifacts
        .iter()
        .map(|artifact| (artifact.name.clone(), artifact.size.max(0) as u64))
        .collect();
    let rebuilt_record = (
        &rebuilt,
        verdict.rebuilt_statement_sha256.clone().unwrap_or_default(),
        record_sha256,
    );
    finish(
        args,
        &official,
        verdict,
        Some((rebuilt_record, sizes)),
        findings,
    )
    .await
}

/// The builder image and the build itself: what can fail once the release is verified.
async fn rebuild_release(
    args: &Rebuild<'_>,
    official: &Official,
    recipe: &builder::recipe::Recipe,
    build_dir: &Path,
) -> anyhow::Result<build_stage::Built> {
    if let Some(image) = &official.statement.predicate.builder_image {
        ensure_builder_image(image, official.record.as_deref()).await?;
    }
    if let Ok(built) = build_stage::reusable(build_dir, recipe)? {
        eprintln!(
            "mpr rebuild: reusing the finished rebuild in {}",
            build_dir.display()
        );
        return Ok(built);
    }
    let options = args
        .build
        .options(args.recipe.clone(), build_dir.to_path_buf())?;
    match super::build::run_until_interrupted(&options).await {
        Some(result) => result?,
        None => std::process::exit(130),
    };
    build_stage::reusable(build_dir, recipe)?
        .map_err(|why| anyhow::anyhow!("the rebuild finished but cannot be read: {why}"))
}

type RebuiltParts<'a> = (
    (&'a verifier::statement::ReleaseStatement, String, String),
    std::collections::BTreeMap<String, u64>,
);

/// Submits the report when asked, then writes the verdict (the last file, so a verdict on disk
/// always says whether its report was accepted).
async fn finish(
    args: &Rebuild<'_>,
    official: &Official,
    mut verdict: Verdict,
    rebuilt: Option<RebuiltParts<'_>>,
    findings: Vec<String>,
) -> anyhow::Result<Verdict> {
    if let Some(submitter) = args.submitter {
        let status = match verdict.status {
            "GOOD" => RebuildVerdict::Good,
            "BAD" => RebuildVerdict::Bad,
            _ => RebuildVerdict::Fail,
        };
        let (rebuilt, sizes) = match rebuilt {
            Some((rebuilt, sizes)) => (Some(rebuilt), sizes),
            None => (None, Default::default()),
        };
        let report = submit::report(&ReportInputs {
            official: &official.statement,
            official_sha256: &verdict.statement_sha256,
            verdict: status,
            rebuilt,
            sizes,
            findings,
        });
        let submitted = submit::submit(submitter, &report, &args.out).await?;
        eprintln!(
            "mpr rebuild: report {} signed by {} submitted; the registry judged it {}",
            submitted.report_sha256, submitted.signed_by, submitted.registry_status
        );
        verdict.submitted = Some(submitted);
    }
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
