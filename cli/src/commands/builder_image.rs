//! `mpr builder-image create`: the image builds run in, from Debian packages and a Rust toolchain.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use builder::builder_image::{self, default_tag, BuilderImage, BuilderImageOptions, RustcInfo};
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};

use super::print_json;

#[derive(Debug, Subcommand)]
pub enum BuilderImageCommand {
    /// Make the builder image with mmdebstrap (Debian packages, no registry) and a Rust toolchain,
    /// write it deterministically and load it into Docker. Same packages and toolchain, same image ID.
    Create(CreateArgs),
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Debian suite.
    #[arg(long, default_value = "bookworm")]
    suite: String,
    /// Debian mirror; a snapshot.debian.org URL pins the package versions.
    #[arg(long, default_value = "http://deb.debian.org/debian")]
    mirror: String,
    /// Extra Debian package to install besides the compilers and build tools; repeat for each.
    #[arg(long = "package")]
    packages: Vec<String>,
    /// Image reference (default: mpr/builder:<rustc release>-<suite>).
    #[arg(long)]
    tag: Option<String>,
    /// Time for every file and the image config (default: the toolchain's commit date). Not read from
    /// the environment: a stray SOURCE_DATE_EPOCH would silently change the image ID.
    #[arg(long)]
    source_date_epoch: Option<u64>,
    /// Rust toolchain directory, as `rustc --print sysroot` prints it (default: the rustc on PATH).
    #[arg(long)]
    toolchain: Option<PathBuf>,
    /// Scratch space and output directory (default: ~/.cache/mpr/builder-image).
    #[arg(long)]
    work_dir: Option<PathBuf>,
    /// When Docker already has an image with this tag made from the same toolchain commit, print
    /// its ID instead of making it again (CI and the demo use this).
    #[arg(long)]
    reuse: bool,
}

pub fn run(command: BuilderImageCommand, json: bool) -> Result<()> {
    match command {
        BuilderImageCommand::Create(args) => create(args, json),
    }
}

fn create(args: CreateArgs, json: bool) -> Result<()> {
    let mut options = match &args.toolchain {
        Some(dir) => BuilderImageOptions::for_toolchain(dir.clone())?,
        None => BuilderImageOptions::host_defaults()?,
    };
    let rustc = RustcInfo::read(&options.toolchain)?;
    let release = rustc.release.clone();
    options.tag = args
        .tag
        .unwrap_or_else(|| default_tag(&release, &args.suite));
    options.suite = args.suite;
    options.mirror = args.mirror;
    options.packages.extend(args.packages);
    if let Some(sde) = args.source_date_epoch {
        options.source_date_epoch = sde;
    }
    if let Some(dir) = args.work_dir {
        options.work_dir = dir;
    }

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    if args.reuse {
        if let Some(id) = runtime.block_on(existing(&options.tag, &rustc.commit_hash))? {
            if json {
                return print_json(
                    &serde_json::json!({ "id": id, "reference": options.tag, "reused": true }),
                );
            }
            outln!("{id}")?;
            outln!("  reference  {} (reused)", options.tag)?;
            return Ok(());
        }
    }
    let spinner = ProgressBar::new_spinner().with_style(
        ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    spinner.set_message(format!(
        "creating {} from Debian {} (a few minutes; -v shows mmdebstrap's progress)",
        options.tag, options.suite
    ));
    spinner.enable_steady_tick(Duration::from_millis(200));
    let started = Instant::now();
    let result = runtime.block_on(builder_image::create(&options));
    spinner.finish_and_clear();
    let image = result.context("creating the builder image")?;
    if json {
        print_json(&image)
    } else {
        Ok(print_image(&image, started.elapsed())?)
    }
}

/// The ID of the image tagged `tag`, if it was made from the toolchain commit `commit_hash`.
async fn existing(tag: &str, commit_hash: &str) -> Result<Option<String>> {
    let engine = builder::docker::Engine::connect().await?;
    let Some(image) = engine.find_image(tag).await? else {
        return Ok(None);
    };
    let made_from = image
        .config
        .as_ref()
        .and_then(|config| config.labels.as_ref())
        .and_then(|labels| labels.get(builder_image::RUSTC_COMMIT_LABEL).cloned());
    Ok(image
        .id
        .filter(|_| made_from.as_deref() == Some(commit_hash)))
}

fn print_image(image: &BuilderImage, elapsed: Duration) -> std::io::Result<()> {
    outln!("{}", image.id)?;
    outln!("  reference  {}", image.reference)?;
    outln!("  rustc      {}", image.rustc_version)?;
    outln!(
        "  packages   {} Debian packages, {}",
        image.package_count,
        image.packages_digest
    )?;
    outln!(
        "  archive    {} ({} MiB)",
        image.archive.display(),
        image.archive_size >> 20
    )?;
    outln!("  created in {:.0} s", elapsed.as_secs_f64())
}
