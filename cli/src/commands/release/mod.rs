//! `mpr release`: one command from recipe to published release. Stages, in order: the hermetic
//! build, signing the release statement it renders, recording the signed release in the
//! registry, its transparency-log proof, and the GitHub release. Every stage first looks at what is already done (the build
//! directory, the registry, the journal) and skips it then, so a run that failed or was killed is
//! finished by running the same command again, without duplicates.

pub mod build_stage;
mod github_stage;
mod journal;
mod registry_stages;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;

use super::build::BuildEnvArgs;
use super::key::{Signer, SignerArgs};
use super::registry::publish::{submission_from_record, SIGNATURE_FILE, STATEMENT_FILE};
use github_stage::GitHubTarget;
use journal::{Journal, Measurements, Outcome, SnpDigest, VtpmPcrs, JOURNAL_FILE, STAGES};
use registry_stages::Registry;

#[derive(Debug, Args)]
pub struct ReleaseArgs {
    /// The version to release; the recipe must be for it.
    #[arg(long)]
    version: String,
    /// The build recipe (TOML).
    #[arg(long, default_value = "mpr-recipe.toml")]
    recipe: PathBuf,
    /// The release directory: the build (OUT/build), the statement, its signature and proof,
    /// and the journal (release.json) that lets a re-run resume.
    #[arg(long, default_value = "mpr-release")]
    out: PathBuf,
    #[command(flatten)]
    build: BuildEnvArgs,
    /// The registry.
    #[arg(
        long,
        env = "MPR_REGISTRY_URL",
        default_value = "http://127.0.0.1:8080"
    )]
    registry: String,
    /// A file holding the publisher token.
    #[arg(long, env = "MPR_PUBLISHER_TOKEN_FILE")]
    token_file: PathBuf,
    /// The release key (registered in the registry as a release key).
    #[command(flatten)]
    signer: SignerArgs,
    /// The measurement set's name.
    #[arg(long, default_value = "default")]
    set: String,
    /// Check the signed, logged statement against this trust policy before publishing it.
    #[arg(long)]
    policy: Option<PathBuf>,
    /// How long to wait for the statement's log proof (cosigned when the registry has witnesses).
    #[arg(long, value_name = "SECONDS", default_value_t = 300)]
    log_wait: u64,
    /// The GitHub repository to publish on (OWNER/NAME) [default: $GITHUB_REPOSITORY]. Publishing
    /// needs GITHUB_TOKEN or MPR_GITHUB_TOKEN; without a token the stage is skipped, saying so.
    #[arg(long, env = "MPR_GITHUB_REPOSITORY", value_name = "OWNER/NAME")]
    github_repo: Option<String>,
    /// The GitHub release's tag [default: v<version>].
    #[arg(long)]
    tag: Option<String>,
    /// GitHub's REST API root (GitHub Enterprise Server: https://HOST/api/v3; in GitHub Actions
    /// the runner's GITHUB_API_URL).
    #[arg(long, env = "GITHUB_API_URL", value_name = "URL", default_value = registry_api::github::DEFAULT_API_URL)]
    github_api_url: String,
}

pub fn run(args: ReleaseArgs, json: bool) -> anyhow::Result<()> {
    // Everything that can be checked before an hour of building is checked first.
    let recipe = build_stage::load_recipe(&args.recipe, &args.version)?;
    let signer = args.signer.signer("the release")?;
    let token = std::fs::read_to_string(&args.token_file).with_context(|| {
        format!(
            "reading the publisher token from {}",
            args.token_file.display()
        )
    })?;
    let registry = Registry {
        client: super::http::client()?,
        base: args.registry.trim_end_matches('/').to_owned(),
        token: token.trim().to_owned(),
    };
    let mut journal = open_release_dir(&args.out, &args.version, &registry.base)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let end = runtime.block_on(stages(&args, &recipe, &registry, &signer, &mut journal));
    journal.save(&args.out)?;
    match end {
        End::Finished => print(&journal, &args.out, json),
        End::Failed(error) => {
            // Scripts (the GitHub Action) read the journal on failure too.
            if json {
                print(&journal, &args.out, json)?;
            }
            eprintln!("journal: {}", args.out.join(JOURNAL_FILE).display());
            Err(error)
        }
        // What a shell reports for a command ended by SIGINT (128 + 2).
        End::Interrupted => std::process::exit(130),
    }
}

/// How the stages ended.
enum End {
    Finished,
    /// A stage failed; the later ones did not run.
    Failed(anyhow::Error),
    /// Ctrl-C ended the build (its containers and staging directory are removed).
    Interrupted,
}

/// Creates the release directory, or opens one an earlier run of this release left; refuses a
/// directory that holds anything else, since a release writes into it.
fn open_release_dir(out: &Path, version: &str, registry: &str) -> anyhow::Result<Journal> {
    if let Some(mut journal) = Journal::load(out)? {
        if journal.version != version {
            anyhow::bail!(
                "{} holds release {}, not {version}: choose another --out",
                out.display(),
                journal.version
            );
        }
        if journal.registry != registry {
            // Another registry: what the earlier run logged there says nothing about this one.
            journal.registry = registry.to_owned();
            journal.log_index = None;
        }
        return Ok(journal);
    }
    ensure_own_dir(out, JOURNAL_FILE)?;
    let journal = Journal::new(version, registry);
    journal.save(out)?;
    Ok(journal)
}

/// Makes sure `out` is ours to write in: new (created now), empty, or holding `marker` (the file
/// every mpr command that writes there leaves). Anything else is refused, never written into.
pub fn ensure_own_dir(out: &Path, marker: &str) -> anyhow::Result<()> {
    if out.join(marker).exists() {
        return Ok(());
    }
    match std::fs::read_dir(out).map(|mut entries| entries.next().is_none()) {
        Ok(true) => Ok(()),
        Ok(false) => anyhow::bail!(
            "{} exists and is not mpr's (it has no {marker}): choose another --out, or an empty or new directory",
            out.display()
        ),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))
        }
        Err(error) => Err(error).with_context(|| format!("reading {}", out.display())),
    }
}

/// Runs the stages in order; after the first failure the rest are marked not run.
async fn stages(
    args: &ReleaseArgs,
    recipe: &builder::recipe::Recipe,
    registry: &Registry,
    signer: &Signer,
    journal: &mut Journal,
) -> End {
    let out = &args.out;
    let build_dir = out.join("build");
    let statement = out.join(STATEMENT_FILE);
    let signature_path = out.join(SIGNATURE_FILE);
    let public_key = out.join(PUBLIC_KEY_FILE);
    let proof = out.join("statement.proof");
    let mut submission = None;
    let mut signature = None;
    let mut failed: Option<anyhow::Error> = None;
    for stage in STAGES {
        if failed.is_some() {
            journal.report(
                stage,
                Outcome::NotRun,
                "an earlier stage failed".to_owned(),
                0.0,
            );
            continue;
        }
        eprintln!("mpr release: stage {stage}");
        let started = Instant::now();
        let result: anyhow::Result<(Outcome, String)> = match stage {
            "build" => match build(args, recipe, &build_dir, journal).await {
                Some(result) => result.map(|(outcome, detail, built)| {
                    submission = Some(built);
                    (outcome, detail)
                }),
                None => return End::Interrupted,
            },
            "sign" => {
                let submission = submission.as_ref().expect("the build stage ran");
                let files = registry_stages::SignedFiles {
                    statement: &statement,
                    signature: &signature_path,
                    public_key: &public_key,
                };
                registry_stages::sign(signer, submission, &files).map(|(outcome, made, detail)| {
                    journal.signed_by = Some(made.verified.key_fingerprint.clone());
                    signature = Some(made);
                    (outcome, detail)
                })
            }
            "record" => {
                let submission = submission.as_ref().expect("the build stage ran");
                let made = signature.as_ref().expect("the sign stage ran");
                registry_stages::record(registry, submission, made, &statement)
                    .await
                    .map(|(outcome, sha256, detail)| {
                        journal.statement_sha256 = Some(sha256);
                        journal.release_url =
                            Some(format!("{}/releases/{}", registry.base, args.version));
                        (outcome, detail)
                    })
            }
            "log" => log(args, registry, journal, &proof).await,
            "github" => {
                let target = GitHubTarget {
                    repository: args.github_repo.clone(),
                    api_url: args.github_api_url.clone(),
                    tag: args
                        .tag
                        .clone()
                        .unwrap_or_else(|| format!("v{}", args.version)),
                };
                let assets = github_assets(out, &build_dir);
                github_stage::publish(&target, journal, &assets).await.map(
                    |(outcome, publication, detail)| {
                        if publication.is_some() {
                            journal.github = publication;
                        }
                        (outcome, detail)
                    },
                )
            }
            _ => unreachable!("STAGES lists the stages run here"),
        };
        let seconds = started.elapsed().as_secs_f64();
        match result {
            Ok((outcome, detail)) => {
                eprintln!(
                    "mpr release: {stage} {}: {detail} ({seconds:.1} s)",
                    word(outcome)
                );
                journal.report(stage, outcome, detail, seconds);
            }
            Err(error) => {
                journal.report(stage, Outcome::Failed, format!("{error:#}"), seconds);
                failed = Some(error.context(format!(
                    "stage {stage} failed; fix the cause and run the same command again to resume"
                )));
            }
        }
        if let Err(error) = journal.save(out) {
            failed.get_or_insert(error);
        }
    }
    match failed {
        Some(error) => End::Failed(error),
        None => End::Finished,
    }
}

fn word(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Done => "done",
        Outcome::Skipped => "skipped",
        Outcome::NotConfigured => "not configured",
        Outcome::Failed => "failed",
        Outcome::NotRun => "not run",
    }
}

/// The build stage: reuse the previous run's build when it stands for this release, else build.
/// `None` when Ctrl-C ended the build.
async fn build(
    args: &ReleaseArgs,
    recipe: &builder::recipe::Recipe,
    build_dir: &Path,
    journal: &mut Journal,
) -> Option<anyhow::Result<(Outcome, String, registry_api::submission::ReleaseSubmission)>> {
    let reuse = match build_stage::reusable(build_dir, recipe) {
        Ok(reuse) => reuse,
        Err(error) => return Some(Err(error)),
    };
    let (outcome, detail, built) = match reuse {
        Ok(built) => (
            Outcome::Skipped,
            format!("reusing the finished build in {}", build_dir.display()),
            built,
        ),
        Err(why) => {
            eprintln!("mpr release: building ({why})");
            let options = match args
                .build
                .options(args.recipe.clone(), build_dir.to_path_buf())
            {
                Ok(options) => options,
                Err(error) => return Some(Err(error)),
            };
            if let Err(error) = super::build::run_until_interrupted(&options).await? {
                return Some(Err(error));
            }
            let built = match build_stage::reusable(build_dir, recipe) {
                Ok(Ok(built)) => built,
                Ok(Err(why)) => {
                    return Some(Err(anyhow::anyhow!(
                        "the build finished but its output cannot be used: {why}"
                    )))
                }
                Err(error) => return Some(Err(error)),
            };
            (
                Outcome::Done,
                format!("built into {}", build_dir.display()),
                built,
            )
        }
    };
    let record_sha256 = builder::hashing::digest_bytes(&built.record_bytes).sha256;
    journal.record_sha256 = Some(record_sha256.clone());
    journal.measurements = measurements(&built.record);
    let recipe_text = recipe.canonical_text(&built.record.inputs.repository);
    Some(
        submission_from_record(&built.record, &record_sha256, Some(recipe_text), &args.set)
            .map(|submission| (outcome, detail, submission)),
    )
}

fn measurements(record: &builder::record::BuildRecord) -> Measurements {
    let mut measurements = Measurements::default();
    if let Some(eif) = &record.outputs.eif {
        measurements.pcr0 = Some(eif.pcrs.pcr0.to_hex());
        measurements.pcr1 = Some(eif.pcrs.pcr1.to_hex());
        measurements.pcr2 = Some(eif.pcrs.pcr2.to_hex());
        measurements.pcr8 = eif.pcrs.pcr8.as_ref().map(|pcr| pcr.to_hex());
    }
    if let Some(cvm) = &record.outputs.cvm {
        measurements.snp = cvm
            .snp
            .iter()
            .map(|snp| SnpDigest {
                vcpus: snp.vcpus,
                vcpu_type: snp.vcpu_type.map(|t| t.to_string()),
                vmm: snp.vmm.to_string(),
                digest: snp.digest.to_hex(),
            })
            .collect();
    }
    measurements.vtpm = record.outputs.uki.as_ref().map(|uki| VtpmPcrs {
        pcr4: uki.vtpm.pcr4.clone(),
        pcr9: uki.vtpm.pcr9.clone(),
        pcr11: uki.vtpm.pcr11.clone(),
        pcr12: uki.vtpm.pcr12.clone(),
    });
    measurements
}

/// The log stage, and the trust-policy check of everything signed and logged so far.
async fn log(
    args: &ReleaseArgs,
    registry: &Registry,
    journal: &mut Journal,
    proof: &Path,
) -> anyhow::Result<(Outcome, String)> {
    let sha256 = journal
        .statement_sha256
        .clone()
        .context("the record stage gave no statement digest")?;
    let (outcome, mut detail) = match journal.log_index {
        Some(index) if proof.exists() => (
            Outcome::Skipped,
            format!("log entry {index}; proof saved by an earlier run"),
        ),
        _ => {
            let (index, detail) =
                registry_stages::log(registry, &sha256, proof, Duration::from_secs(args.log_wait))
                    .await?;
            journal.log_index = Some(index);
            (Outcome::Done, detail)
        }
    };
    if let Some(policy) = &args.policy {
        let signer = journal
            .signed_by
            .clone()
            .context("the sign stage gave no signer")?;
        let digest: [u8; 32] = hex::decode(&sha256)
            .ok()
            .and_then(|bytes| bytes.try_into().ok())
            .context("the statement digest is not 32 bytes of hex")?;
        let report =
            super::manifest::check_policy(policy, Some(proof), "release", &[signer], digest)?;
        if !report.problems.is_empty() {
            anyhow::bail!(
                "the release does not pass the trust policy {}:\n  {}",
                policy.display(),
                report.problems.join("\n  ")
            );
        }
        detail.push_str(&format!("; passes the trust policy {}", policy.display()));
    }
    Ok((outcome, detail))
}

/// The release key's public certificate in the release directory and on the GitHub release.
pub const PUBLIC_KEY_FILE: &str = "RELEASE-KEY.asc";

/// What goes on the GitHub release: the signed statement, the key that signed it and its proof,
/// the build record, and the boot images users run.
fn github_assets(out: &Path, build_dir: &Path) -> Vec<PathBuf> {
    let mut assets = vec![
        out.join(STATEMENT_FILE),
        out.join(SIGNATURE_FILE),
        out.join(PUBLIC_KEY_FILE),
        out.join("statement.proof"),
        build_dir.join(builder::record::RECORD_FILE),
    ];
    if let Ok(entries) = std::fs::read_dir(build_dir.join("eif")) {
        let mut eifs: Vec<PathBuf> = entries
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|path| path.extension().is_some_and(|ext| ext == "eif"))
            .collect();
        eifs.sort();
        assets.extend(eifs);
    }
    for cvm_file in ["vmlinuz", "initrd.img"] {
        let path = build_dir.join("cvm").join(cvm_file);
        if path.exists() {
            assets.push(path);
        }
    }
    // The UKI and GCP's import archive (which holds disk.raw); the 1 GiB Azure VHD is the same disk
    // with a 512-byte footer, so it is left to `mpr build` (reproducible) rather than uploaded.
    for uki_file in [builder::uki::UKI_FILE, builder::uki::GCP_IMAGE_FILE] {
        let path = build_dir.join("uki").join(uki_file);
        if path.exists() {
            assets.push(path);
        }
    }
    assets
}

fn print(journal: &Journal, out: &Path, json: bool) -> anyhow::Result<()> {
    if json {
        return super::print_json(journal);
    }
    outln!("release {}", journal.version)?;
    for report in &journal.stages {
        outln!(
            "  {:<7} {:<15} {:>7.1} s  {}",
            report.stage,
            word(report.outcome),
            report.seconds,
            report.detail
        )?;
    }
    if let Some(sha256) = &journal.statement_sha256 {
        outln!("statement sha256:{sha256}")?;
    }
    let m = &journal.measurements;
    for (name, value) in [("PCR0", &m.pcr0), ("PCR1", &m.pcr1), ("PCR2", &m.pcr2)] {
        if let Some(value) = value {
            outln!("{name} {value}")?;
        }
    }
    for snp in &m.snp {
        outln!(
            "SEV-SNP {} x {} ({}) {}",
            snp.vcpus,
            snp.vcpu_type.as_deref().unwrap_or("any"),
            snp.vmm,
            snp.digest
        )?;
    }
    if let Some(vtpm) = &m.vtpm {
        outln!(
            "vTPM (gcp-cvm, azure-cvm) PCR4 {} PCR9 {} PCR11 {} PCR12 {}",
            vtpm.pcr4,
            vtpm.pcr9,
            vtpm.pcr11,
            vtpm.pcr12
        )?;
    }
    if let Some(url) = &journal.release_url {
        outln!("registry: {url}")?;
    }
    if let Some(github) = &journal.github {
        outln!("GitHub: {}", github.url)?;
    }
    outln!("files: {}", out.display())?;
    Ok(())
}
