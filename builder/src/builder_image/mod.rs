//! `mpr builder-image create`: the image every build runs in, made without a registry from Debian
//! packages (mmdebstrap) plus the host's Rust toolchain, written by our deterministic image writer
//! so that the same packages and toolchain give the same image ID on any machine.

mod inputs;
mod like;
mod rootfs;
mod rustc;

use std::collections::BTreeMap;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Serialize;

use crate::archive::{import_tar, ImportError, ImportLimits, ImportPolicy};
use crate::archive::{Node, Tree, TreeError};
use crate::docker::{DockerError, Engine};
use crate::image::{self, Arch, ImageError, RuntimeConfig};

pub use inputs::{
    differences, snapshot_timestamp, BuilderImageInputs, InputDifference, LabelError,
    ToolchainInputs,
};
pub use like::{create_like, host_toolchain, reusable, RecordedBuilderImage, ReusableImage};
pub use rustc::RustcInfo;

/// What C-building crates (ring, blst, aws-lc-sys, zstd-sys, …) need next to rustc and cargo.
pub const DEFAULT_PACKAGES: &[&str] = &[
    "gcc",
    "g++",
    "libc6-dev",
    "make",
    "cmake",
    "pkg-config",
    "perl",
    "ca-certificates",
];

/// The label holding the toolchain's commit, which `mpr builder-image create --reuse` matches.
pub const RUSTC_COMMIT_LABEL: &str = "dev.mpr.rustc.commit-hash";

const PATH_ENV: &str =
    "PATH=/opt/rust/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

#[derive(Debug, thiserror::Error)]
pub enum BuilderImageError {
    #[error("`{tool}` was not found in PATH; install it (`{fix}`)")]
    MissingTool {
        tool: &'static str,
        fix: &'static str,
    },
    #[error("cannot use the Rust toolchain at {}: {detail}; pass the directory `rustc --print sysroot` prints", path.display())]
    Toolchain { path: PathBuf, detail: String },
    #[error("mmdebstrap failed ({status}); its last messages:\n{tail}\ncheck the suite, the mirror URL and the package names")]
    Mmdebstrap { status: String, tail: String },
    #[error("the root file system written by mmdebstrap could not be imported: {0}")]
    Import(#[from] ImportError),
    #[error("{context} {}: {source}", path.display())]
    Io {
        context: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Image(#[from] ImageError),
    #[error(transparent)]
    Docker(#[from] DockerError),
    #[error("cannot add {path:?} to the builder image's file tree: {source}")]
    Tree {
        path: String,
        #[source]
        source: TreeError,
    },
    #[error("a worker thread failed: {0}")]
    Worker(String),
    #[error("mirror {mirror}: {reason}")]
    Mirror { mirror: String, reason: String },
    #[error("builder image {image} does not record its inputs ({problem}): {}; recreate it with `mpr builder-image create` of this mpr and pin the new ID in the recipe's builder.image", if *made_by_mpr { "an older mpr made it" } else { "mpr did not make it" })]
    NoInputs {
        image: String,
        problem: String,
        made_by_mpr: bool,
    },
    #[error("cannot read the build record {}: {detail}", path.display())]
    Record { path: PathBuf, detail: String },
    #[error("the builder image cannot be made as recorded; these inputs differ:\n  {}\n{hint}", differences.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n  "))]
    Differs {
        differences: Vec<InputDifference>,
        hint: String,
    },
    #[error("the inputs match the record, but the image made now is {made} (manifest {made_manifest}) where the record pins {recorded}; the record was made by mpr {recorded_by}, this is mpr {}: use that version to recreate it", env!("CARGO_PKG_VERSION"))]
    IdMismatch {
        recorded: String,
        made: String,
        made_manifest: String,
        recorded_by: String,
    },
}

pub(crate) fn io_error(
    context: &'static str,
    path: &Path,
) -> impl FnOnce(std::io::Error) -> BuilderImageError {
    let path = path.to_owned();
    move |source| BuilderImageError::Io {
        context,
        path,
        source,
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuilderImageOptions {
    pub suite: String,
    pub mirror: String,
    pub packages: Vec<String>,
    /// A rustc sysroot (holding `bin/rustc`, `lib/rustlib/<host>/`).
    pub toolchain: PathBuf,
    pub source_date_epoch: u64,
    pub tag: String,
    /// Scratch space (about three times the image size) and, in `image/`, the written image.
    pub work_dir: PathBuf,
}

impl BuilderImageOptions {
    /// Debian bookworm from deb.debian.org, the default packages, and the toolchain `rustc` on PATH
    /// runs; see [`BuilderImageOptions::for_toolchain`].
    pub fn host_defaults() -> Result<Self, BuilderImageError> {
        let output = Command::new("rustc")
            .args(["--print", "sysroot"])
            .output()
            .map_err(|_| BuilderImageError::MissingTool {
                tool: "rustc",
                fix: "install Rust with rustup, or pass the toolchain directory",
            })?;
        let sysroot = String::from_utf8_lossy(&output.stdout).trim().to_owned();
        if !output.status.success() || sysroot.is_empty() {
            return Err(BuilderImageError::Toolchain {
                path: PathBuf::from(sysroot),
                detail: format!(
                    "`rustc --print sysroot` failed: {}",
                    String::from_utf8_lossy(&output.stderr).trim()
                ),
            });
        }
        Self::for_toolchain(PathBuf::from(sysroot))
    }

    /// Defaults for `toolchain`: SOURCE_DATE_EPOCH is its commit date (so it is fixed per toolchain)
    /// and the tag `mpr/builder:<release>-<suite>`.
    pub fn for_toolchain(toolchain: PathBuf) -> Result<Self, BuilderImageError> {
        let rustc = RustcInfo::read(&toolchain)?;
        let suite = "bookworm".to_owned();
        let work_dir = std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
            .unwrap_or_else(std::env::temp_dir)
            .join("mpr")
            .join("builder-image");
        Ok(BuilderImageOptions {
            tag: default_tag(&rustc.release, &suite),
            suite,
            mirror: "http://deb.debian.org/debian".to_owned(),
            packages: DEFAULT_PACKAGES.iter().map(|p| (*p).to_owned()).collect(),
            toolchain,
            source_date_epoch: rustc.commit_unix,
            work_dir,
        })
    }
}

/// `mpr/builder:<rustc release>-<suite>`, e.g. `mpr/builder:1.95.0-bookworm`.
pub fn default_tag(rustc_release: &str, suite: &str) -> String {
    format!("mpr/builder:{rustc_release}-{suite}")
}

/// The loaded builder image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BuilderImage {
    /// `sha256:…`, the image config digest: the image ID on Docker's classic image store, and what
    /// recipes usually pin.
    pub id: String,
    /// The manifest digest: the image ID on Docker's containerd image store. Either may be pinned.
    pub manifest_digest: String,
    /// What the engine calls the image (one of the two above, depending on its image store).
    pub engine_id: String,
    pub reference: String,
    /// `rustc --version` output.
    pub rustc_version: String,
    /// SHA-256 of the sorted `name:architecture=version` lines of the installed Debian packages: two
    /// images with equal digests hold the same package versions.
    pub packages_digest: String,
    pub package_count: usize,
    pub source_date_epoch: u64,
    /// `docker load`-able archive (also an OCI layout), kept in the work directory.
    pub archive: PathBuf,
    pub archive_size: u64,
    /// Everything the image was made from, as its labels record it.
    pub inputs: BuilderImageInputs,
}

/// A root file system ready to be written as the builder image, and the inputs it was made from.
struct Prepared {
    tree: Tree,
    inputs: BuilderImageInputs,
    rustc: RustcInfo,
    arch: Arch,
    /// Holds the files the tree refers to.
    _scratch: tempfile::TempDir,
}

/// Builds the builder image, loads it into the engine and returns its ID.
pub async fn create(options: &BuilderImageOptions) -> Result<BuilderImage, BuilderImageError> {
    let engine = Engine::connect().await?;
    let prepared = prepare(options).await?;
    finish(&engine, options, prepared).await
}

/// The inputs recorded in `image` (an ID, a pin or a tag the engine knows).
pub async fn recorded_inputs(
    engine: &Engine,
    image: &str,
) -> Result<BuilderImageInputs, BuilderImageError> {
    let fix =
        "create it with `mpr builder-image create` (its ID goes in the recipe's builder.image)";
    let inspect = engine.require_image(image, fix).await?;
    let labels = inspect
        .config
        .and_then(|config| config.labels)
        .unwrap_or_default();
    let labels: BTreeMap<String, String> = labels.into_iter().collect();
    BuilderImageInputs::from_labels(&labels).map_err(|problem| BuilderImageError::NoInputs {
        image: image.to_owned(),
        problem: problem.to_string(),
        made_by_mpr: BuilderImageInputs::has_any_label(&labels),
    })
}

/// Host checks, the toolchain, mmdebstrap and the import: everything before the image is written.
async fn prepare(options: &BuilderImageOptions) -> Result<Prepared, BuilderImageError> {
    let mmdebstrap = find_in_path("mmdebstrap").ok_or(BuilderImageError::MissingTool {
        tool: "mmdebstrap",
        fix: "apt-get install mmdebstrap",
    })?;
    let snapshot =
        snapshot_timestamp(&options.mirror).map_err(|reason| BuilderImageError::Mirror {
            mirror: options.mirror.clone(),
            reason,
        })?;
    let rustc = RustcInfo::read(&options.toolchain)?;
    let arch = rustc
        .host
        .split('-')
        .next()
        .and_then(|a| a.parse::<Arch>().ok())
        .ok_or_else(|| BuilderImageError::Toolchain {
            path: options.toolchain.clone(),
            detail: format!(
                "its host {} is neither x86_64 nor aarch64 Linux",
                rustc.host
            ),
        })?;
    let (sysroot, host, sde) = (
        options.toolchain.clone(),
        rustc.host.clone(),
        options.source_date_epoch,
    );
    let (toolchain, toolchain_sha256) = blocking(move || {
        let tree = rootfs::toolchain_tree(&sysroot, &host, sde)?;
        let sha256 = rootfs::toolchain_sha256(&tree)?;
        Ok::<_, BuilderImageError>((tree, sha256))
    })
    .await??;

    std::fs::create_dir_all(&options.work_dir).map_err(io_error("creating", &options.work_dir))?;
    let scratch = tempfile::Builder::new()
        .prefix(".builder-image-")
        .tempdir_in(&options.work_dir)
        .map_err(io_error("creating a directory in", &options.work_dir))?;
    let rootfs_tar = scratch.path().join("rootfs.tar");
    let blobs = scratch.path().join("files");
    std::fs::create_dir(&blobs).map_err(io_error("creating", &blobs))?;

    let command = rootfs::mmdebstrap_command(&mmdebstrap, options, &rootfs_tar);
    blocking(move || rootfs::run_logged(command)).await??;

    let (tree, installed_packages) = blocking(move || {
        let file = std::fs::File::open(&rootfs_tar).map_err(io_error("opening", &rootfs_tar))?;
        // mmdebstrap was told to skip /dev; a device node showing up anyway is refused.
        let policy = ImportPolicy {
            allow_devices: false,
            strip_components: 0,
        };
        let mut tree = import_tar(
            BufReader::new(file),
            &blobs,
            &ImportLimits::default(),
            &policy,
        )?;
        // Every file now has its own copy; the tar is dead weight for the rest of the run.
        std::fs::remove_file(&rootfs_tar).map_err(io_error("removing", &rootfs_tar))?;
        let packages = rootfs::installed_packages(&tree)?;
        for (path, node) in toolchain.iter() {
            if path == "opt" && tree.get(path).is_some() {
                continue;
            }
            tree.insert(path, node.clone())
                .map_err(|source| BuilderImageError::Tree {
                    path: path.to_owned(),
                    source,
                })?;
        }
        tree.insert("cargo-home", Node::dir(0o755, sde))
            .map_err(|source| BuilderImageError::Tree {
                path: "cargo-home".to_owned(),
                source,
            })?;
        tree.set_all_mtimes(sde);
        Ok::<_, BuilderImageError>((tree, packages))
    })
    .await??;
    let inputs = BuilderImageInputs {
        suite: options.suite.clone(),
        mirror: options.mirror.clone(),
        snapshot,
        requested_packages: options.packages.clone(),
        installed_packages,
        source_date_epoch: options.source_date_epoch,
        toolchain: ToolchainInputs::new(&rustc, toolchain_sha256),
    };
    Ok(Prepared {
        tree,
        inputs,
        rustc,
        arch,
        _scratch: scratch,
    })
}

/// Writes the prepared root file system as the image and loads it.
async fn finish(
    engine: &Engine,
    options: &BuilderImageOptions,
    prepared: Prepared,
) -> Result<BuilderImage, BuilderImageError> {
    let Prepared {
        tree,
        inputs,
        rustc,
        arch,
        _scratch: scratch,
    } = prepared;
    let config = runtime_config(&inputs, &rustc.release);
    let (reference, sde, out_dir) = (
        options.tag.clone(),
        options.source_date_epoch,
        options.work_dir.join("image"),
    );
    let written = blocking(move || {
        let written = image::write_image(&tree, &config, sde, arch, &reference, &out_dir)?;
        // The files the layer was written from go now, not after the load.
        drop(tree);
        Ok::<_, BuilderImageError>(written)
    })
    .await??;
    drop(scratch);

    let engine_id =
        image::load_image(engine, &written.archive_path, &written.config_digest).await?;
    let packages_digest =
        crate::hashing::digest_bytes(inputs.installed_packages.join("\n").as_bytes()).sha256;
    Ok(BuilderImage {
        id: written.config_digest,
        manifest_digest: written.manifest_digest,
        engine_id,
        reference: written.reference,
        rustc_version: rustc.version,
        packages_digest: format!("sha256:{packages_digest}"),
        package_count: inputs.installed_packages.len(),
        source_date_epoch: options.source_date_epoch,
        archive: written.archive_path,
        archive_size: written.archive.size,
        inputs,
    })
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, BuilderImageError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| BuilderImageError::Worker(e.to_string()))
}

fn find_in_path(tool: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(tool))
        .find(|candidate| candidate.is_file())
}

fn runtime_config(inputs: &BuilderImageInputs, rustc_release: &str) -> RuntimeConfig {
    RuntimeConfig {
        env: vec![PATH_ENV.to_owned(), "CARGO_HOME=/cargo-home".to_owned()],
        labels: inputs.to_labels(rustc_release),
        ..Default::default()
    }
}
