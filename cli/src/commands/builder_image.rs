//! `mpr builder-image create`: the image builds run in, from Debian packages and a Rust toolchain.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use builder::builder_image::{
    self, default_tag, BuilderImage, BuilderImageError, BuilderImageOptions, RecordedBuilderImage,
    RustcInfo,
};
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
    /// Debian suite [default: bookworm, or the record's with --like].
    #[arg(long)]
    suite: Option<String>,
    /// Debian mirror; a snapshot.debian.org URL (…/archive/debian/YYYYMMDDTHHMMSSZ) pins the package
    /// versions [default: http://deb.debian.org/debian, or the record's with --like].
    #[arg(long)]
    mirror: Option<String>,
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
    /// When Docker already has an image with this tag made from the same suite, mirror, packages,
    /// time and toolchain (version and digest), print its ID instead of making it again (CI and the
    /// demo use this).
    #[arg(long)]
    reuse: bool,
    /// Make the builder image a build record (build-record.json) was built with, from the inputs it
    /// records, and check it has the recorded ID; if an input differs (toolchain, package versions the
    /// mirror serves now, suite, mirror) list every difference and exit non-zero.
    #[arg(long, value_name = "RECORD", conflicts_with_all = ["reuse", "packages", "source_date_epoch"])]
    like: Option<PathBuf>,
}

pub fn run(command: BuilderImageCommand, json: bool) -> Result<()> {
    match command {
        BuilderImageCommand::Create(args) => create(args, json),
    }
}

fn create(args: CreateArgs, json: bool) -> Result<()> {
    let base = match &args.toolchain {
        Some(dir) => BuilderImageOptions::for_toolchain(dir.clone())?,
        None => BuilderImageOptions::host_defaults()?,
    };
    let rustc = RustcInfo::read(&base.toolchain)?;
    let recorded = match &args.like {
        Some(path) => Some(RecordedBuilderImage::read(path)?),
        None => None,
    };
    let mut options = match &recorded {
        Some(recorded) => recorded.options(&base),
        None => {
            let mut options = base;
            options.packages.extend(args.packages);
            options
        }
    };
    if let Some(suite) = args.suite {
        options.suite = suite;
    }
    if let Some(mirror) = args.mirror {
        options.mirror = mirror;
    }
    options.tag = args
        .tag
        .unwrap_or_else(|| default_tag(&rustc.release, &options.suite));
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
        let found = runtime.block_on(async {
            let engine = builder::docker::Engine::connect().await?;
            anyhow::Ok(builder_image::reusable(&engine, &options).await?)
        })?;
        if let Some(image) = found {
            if json {
                let mut value = serde_json::to_value(&image)?;
                value["reused"] = true.into();
                return print_json(&value);
            }
            outln!("{}", image.id)?;
            outln!("  reference  {} (reused)", image.reference)?;
            if let Some(manifest) = &image.manifest_digest {
                outln!("  manifest   {manifest}")?;
            }
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
    let result = runtime.block_on(async {
        match &recorded {
            Some(recorded) => builder_image::create_like(recorded, &options).await,
            None => builder_image::create(&options).await,
        }
    });
    spinner.finish_and_clear();
    let image = match result {
        Ok(image) => image,
        Err(BuilderImageError::Differs { differences, hint }) => {
            if json {
                print_json(&serde_json::json!({ "differences": differences }))?;
            }
            let listed: Vec<String> = differences.iter().map(ToString::to_string).collect();
            anyhow::bail!(
                "the builder image cannot be made as {} records it; these inputs differ:\n  {}\n{hint}",
                args.like.as_deref().unwrap_or(std::path::Path::new("the record")).display(),
                listed.join("\n  ")
            );
        }
        Err(e) => return Err(e).context("creating the builder image"),
    };
    if json {
        print_json(&image)
    } else {
        Ok(print_image(&image, started.elapsed())?)
    }
}

fn print_image(image: &BuilderImage, elapsed: Duration) -> std::io::Result<()> {
    outln!("{}", image.id)?;
    outln!(
        "  manifest   {} (the ID on Docker's containerd image store)",
        image.manifest_digest
    )?;
    outln!("  reference  {}", image.reference)?;
    outln!("  rustc      {}", image.rustc_version)?;
    outln!("  toolchain  sha256:{}", image.inputs.toolchain.sha256)?;
    let mirror = match &image.inputs.snapshot {
        Some(stamp) => format!("snapshot {stamp}"),
        None => format!(
            "{} (not a snapshot: package versions move)",
            image.inputs.mirror
        ),
    };
    outln!("  debian     {} from {mirror}", image.inputs.suite)?;
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
