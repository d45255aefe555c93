//! `mpr build`: the hermetic build of a recipe into an OCI image, a Nitro EIF and a CVM bundle.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use builder::pipeline::{build, prefetch, BuildOptions, Event};
use builder::record::BuildRecord;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

/// Where and how a build runs; none of it changes what it makes.
#[derive(Debug, Args)]
pub struct BuildEnvArgs {
    /// Compile jobs and CPUs for the build container (the output never depends on it).
    #[arg(long)]
    jobs: Option<u32>,
    /// Vendored crates, by Cargo.lock digest and builder image [default: ~/.cache/mpr/vendor].
    #[arg(long, env = "MPR_VENDOR_CACHE")]
    vendor_cache: Option<PathBuf>,
    /// The recipe's [[files]] fetched from URLs, by SHA-256 [default: ~/.cache/mpr/files].
    #[arg(long, env = "MPR_FILE_CACHE")]
    file_cache: Option<PathBuf>,
    /// Do not load the image into Docker afterwards.
    #[arg(long)]
    no_load: bool,
}

impl BuildEnvArgs {
    /// The build's options for `recipe` into `out_dir`, with the caches defaulted under ~/.cache/mpr.
    pub fn options(&self, recipe: PathBuf, out_dir: PathBuf) -> anyhow::Result<BuildOptions> {
        Ok(BuildOptions {
            recipe,
            out_dir,
            jobs: self.jobs,
            vendor_cache: cache_dir(self.vendor_cache.clone(), "vendor")?,
            file_cache: cache_dir(self.file_cache.clone(), "files")?,
            load: !self.no_load,
        })
    }
}

fn cache_dir(given: Option<PathBuf>, name: &str) -> anyhow::Result<PathBuf> {
    match given {
        Some(dir) => Ok(dir),
        None => std::env::var_os("HOME")
            .map(|home| PathBuf::from(home).join(".cache/mpr").join(name))
            .with_context(|| format!("HOME is not set; pass --{name}-cache")),
    }
}

#[derive(Debug, Args)]
pub struct BuildArgs {
    /// The build recipe (TOML).
    #[arg(long, default_value = "mpr-recipe.toml")]
    recipe: PathBuf,
    /// Where the results go; replaced only once the build is complete.
    #[arg(long, default_value = "mpr-out")]
    out: PathBuf,
    #[command(flatten)]
    env: BuildEnvArgs,
    /// Only run the fetch stage (the one that needs the network): resolve the commit and vendor
    /// its crates into the cache.
    #[arg(long)]
    fetch_only: bool,
}

pub fn run(args: BuildArgs, json: bool) -> anyhow::Result<()> {
    if !args.recipe.exists() {
        anyhow::bail!(
            "recipe {} not found; pass --recipe FILE (see README: \"Building a release\" for a complete recipe)",
            args.recipe.display()
        );
    }
    let options = args.env.options(args.recipe, args.out.clone())?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    if args.fetch_only {
        let source = runtime.block_on(prefetch(
            &options.recipe,
            &options.vendor_cache,
            &options.file_cache,
            &mut |line| eprintln!("  | {line}"),
        ))?;
        if json {
            super::print_json(&source)?;
        } else {
            outln!(
                "fetched {} at {} (Cargo.lock sha256:{})",
                source.repository,
                source.commit,
                source.cargo_lock_sha256
            )?;
        }
        return Ok(());
    }
    let record = match runtime.block_on(run_until_interrupted(&options)) {
        Some(result) => result?,
        None => {
            // What a shell reports for a command ended by SIGINT (128 + 2), so scripts see it.
            std::process::exit(130);
        }
    };
    if json {
        super::print_json(&record)?;
    } else {
        print_summary(&record, &args.out)?;
    }
    Ok(())
}

/// Runs the build until it ends or Ctrl-C (SIGINT) comes. On the signal the build's future is
/// dropped, which removes its staging directory (`.mpr-build-*`, a temporary directory the future
/// owns), and every container this process created is force-removed; `None` tells the caller to exit
/// as interrupted.
pub async fn run_until_interrupted(options: &BuildOptions) -> Option<anyhow::Result<BuildRecord>> {
    tokio::select! {
        biased;
        signal = tokio::signal::ctrl_c() => {
            if let Err(e) = signal {
                return Some(Err(anyhow::Error::new(e).context("listening for Ctrl-C")));
            }
        }
        result = run_with_progress(options) => return Some(result),
    }
    eprintln!("mpr: interrupted; removing the build's containers and staging directory");
    let leftover = format!(
        "docker rm -f $(docker ps -aq --filter label={}={})",
        builder::docker::PID_LABEL,
        std::process::id()
    );
    let cleanup = async {
        let engine = builder::docker::Engine::connect().await?;
        engine.remove_session_containers().await
    };
    tokio::select! {
        removed = cleanup => match removed {
            Ok(removed) => {
                for id in removed {
                    eprintln!("mpr: removed container {}", &id[..id.len().min(12)]);
                }
            }
            Err(e) => eprintln!("mpr: could not remove the build's containers ({e}); remove them with `{leftover}`"),
        },
        // A second Ctrl-C while the engine is slow to answer: leave, saying what is left.
        _ = tokio::signal::ctrl_c() => eprintln!("mpr: interrupted again; remove the build's containers with `{leftover}`"),
    }
    None
}

/// A spinner per stage on stderr; the container's log lines scroll above it.
async fn run_with_progress(options: &BuildOptions) -> anyhow::Result<BuildRecord> {
    let spinner = ProgressBar::new_spinner().with_style(
        ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    spinner.enable_steady_tick(Duration::from_millis(200));
    let mut stage_started = Instant::now();
    let mut current = String::new();
    // Without a terminal the spinner is hidden and drops what it is given: print plainly then.
    let say = |spinner: &ProgressBar, line: String| {
        if spinner.is_hidden() {
            eprintln!("{line}");
        } else {
            spinner.println(line);
        }
    };
    let result = build(options, &mut |event| match event {
        Event::Stage(stage) => {
            if !current.is_empty() {
                say(
                    &spinner,
                    format!(
                        "mpr: {current} done in {:.1} s",
                        stage_started.elapsed().as_secs_f64()
                    ),
                );
            }
            current = stage.to_owned();
            stage_started = Instant::now();
            spinner.set_message(format!("stage {stage}"));
        }
        Event::Log(line) => say(&spinner, format!("  | {line}")),
    })
    .await;
    if result.is_ok() {
        say(
            &spinner,
            format!(
                "mpr: {current} done in {:.1} s",
                stage_started.elapsed().as_secs_f64()
            ),
        );
    }
    spinner.finish_and_clear();
    Ok(result?)
}

fn print_summary(record: &BuildRecord, out: &std::path::Path) -> anyhow::Result<()> {
    let outputs = &record.outputs;
    outln!(
        "built {} {} from {} ({})",
        record.release.name,
        record.release.version,
        record.inputs.commit,
        record.inputs.repository
    )?;
    outln!(
        "  binary   {}  sha256:{}",
        outputs.binary.path,
        outputs.binary.digests.sha256
    )?;
    outln!(
        "  image    {}  {}",
        outputs.image.reference,
        outputs.image.config_digest
    )?;
    if let Some(eif) = &outputs.eif {
        outln!("  eif      {}  PCR0 {}", eif.file, eif.pcrs.pcr0)?;
        outln!("                     PCR1 {}", eif.pcrs.pcr1)?;
        outln!("                     PCR2 {}", eif.pcrs.pcr2)?;
    }
    if let Some(cvm) = &outputs.cvm {
        for snp in &cvm.snp {
            let vcpu = snp.vcpu_type.map(|t| t.to_string()).unwrap_or_default();
            outln!(
                "  sev-snp  {} x {vcpu} ({})  {}",
                snp.vcpus,
                snp.vmm,
                snp.digest
            )?;
        }
    }
    if let Some(uki) = &outputs.uki {
        outln!("  uki      {}  {}", builder::uki::UKI_FILE, uki.uki.sha256)?;
        outln!("           vTPM PCR4 {}", uki.vtpm.pcr4)?;
        outln!("                PCR9 {}", uki.vtpm.pcr9)?;
        outln!("                PCR11 {}", uki.vtpm.pcr11)?;
        outln!("                PCR12 {}", uki.vtpm.pcr12)?;
    }
    outln!(
        "record: {}",
        out.join(builder::record::RECORD_FILE).display()
    )?;
    Ok(())
}
