//! `mpr builder-image create`: the image every build runs in, made without a registry from Debian
//! packages (mmdebstrap) plus the host's Rust toolchain, written by our deterministic image writer
//! so that the same packages and toolchain give the same image ID on any machine.

mod rootfs;
mod rustc;

use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Serialize;

use crate::archive::{import_tar, ImportError, ImportLimits, ImportPolicy};
use crate::archive::{Node, TreeError};
use crate::docker::{DockerError, Engine};
use crate::image::{self, Arch, ImageError, RuntimeConfig};

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
    /// `sha256:…`, the image config digest and the engine's image ID.
    pub id: String,
    pub reference: String,
    /// `rustc --version` output.
    pub rustc_version: String,
    /// SHA-256 of the sorted `name version architecture` lines of the installed Debian packages: two
    /// images with equal digests hold the same package versions.
    pub packages_digest: String,
    pub package_count: usize,
    pub source_date_epoch: u64,
    /// `docker load`-able archive (also an OCI layout), kept in the work directory.
    pub archive: PathBuf,
    pub archive_size: u64,
}

/// Builds the builder image, loads it into the engine and returns its ID.
pub async fn create(options: &BuilderImageOptions) -> Result<BuilderImage, BuilderImageError> {
    let mmdebstrap = find_in_path("mmdebstrap").ok_or(BuilderImageError::MissingTool {
        tool: "mmdebstrap",
        fix: "apt-get install mmdebstrap",
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
    // Before minutes of package installation, not after.
    let engine = Engine::connect().await?;

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

    let (toolchain, sde, out_dir) = (
        options.toolchain.clone(),
        options.source_date_epoch,
        options.work_dir.join("image"),
    );
    let config = runtime_config(&rustc, &options.suite);
    let reference = options.tag.clone();
    let (written, packages) = blocking(move || {
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
        rootfs::add_toolchain(&mut tree, &toolchain, &rustc.host, sde)?;
        tree.insert("cargo-home", Node::dir(0o755, sde))
            .map_err(|source| BuilderImageError::Tree {
                path: "cargo-home".to_owned(),
                source,
            })?;
        tree.set_all_mtimes(sde);
        let written = image::write_image(&tree, &config, sde, arch, &reference, &out_dir)?;
        Ok::<_, BuilderImageError>((written, packages))
    })
    .await??;

    image::load_image(&engine, &written.archive_path, &written.config_digest).await?;
    let packages_digest = crate::hashing::digest_bytes(packages.join("\n").as_bytes()).sha256;
    Ok(BuilderImage {
        id: written.config_digest,
        reference: written.reference,
        rustc_version: rustc.version,
        packages_digest: format!("sha256:{packages_digest}"),
        package_count: packages.len(),
        source_date_epoch: options.source_date_epoch,
        archive: written.archive_path,
        archive_size: written.archive.size,
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

fn runtime_config(rustc: &RustcInfo, suite: &str) -> RuntimeConfig {
    RuntimeConfig {
        env: vec![PATH_ENV.to_owned(), "CARGO_HOME=/cargo-home".to_owned()],
        labels: [
            ("dev.mpr.rustc.release", rustc.release.clone()),
            (RUSTC_COMMIT_LABEL, rustc.commit_hash.clone()),
            ("dev.mpr.debian.suite", suite.to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect(),
        ..Default::default()
    }
}
