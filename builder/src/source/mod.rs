//! The fetch stage, the only one with network: resolve the pinned commit, read its tree straight
//! from git's objects, vendor its crates with the builder image's cargo against Cargo.lock, and pack
//! it all as one deterministic source archive that the network-less build container compiles from.

mod git;
mod vendor;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::archive::{add_dir, write_tar, FileData, Node, NodeKind, Tree};
use crate::docker::{DockerError, Engine};
use crate::hashing::{BlobDigests, HashingWriter};

pub use git::{canonical_url, export_commit, is_remote_url, resolve_commit, MAX_SOURCE_FILE_BYTES};
pub use vendor::cache_dir as vendor_cache_dir;

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("`{command}` failed: {detail}")]
    Command { command: String, detail: String },
    #[error("{0:?} is not a commit in {1}; give a full commit hash, a tag or HEAD")]
    UnknownCommit(String, String),
    #[error("the source at {commit} has no Cargo.lock; commit one so the build is pinned (`cargo generate-lockfile`)")]
    NoLockfile { commit: String },
    #[error("{}", no_canonical_url(repository, found.as_deref()))]
    NoCanonicalUrl {
        repository: String,
        found: Option<String>,
    },
    #[error("vendoring crates: {0}")]
    Vendor(String),
    #[error(transparent)]
    Docker(#[from] DockerError),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

fn no_canonical_url(repository: &str, found: Option<&str>) -> String {
    let fix = "set [source] url = \"https://…\" in the recipe (the repository's public URL), or give the clone an origin remote (`git remote add origin URL`)";
    match found {
        None => format!("the release's source {repository} is a local clone without an origin remote, and a local path is not a source anyone else can fetch: {fix}"),
        Some(url) => format!("the release's source URL {url:?} is a local path, which nobody else can fetch: {fix}"),
    }
}

fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> SourceError {
    let context = context.into();
    move |source| SourceError::Io { context, source }
}

/// The packed source and what it was made from.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct SourceArchive {
    /// The canonical URL of the repository.
    pub repository: String,
    pub commit: String,
    pub source_date_epoch: u64,
    /// SHA-256 of Cargo.lock: the vendor cache key.
    pub cargo_lock_sha256: String,
    /// The archive: the tree at `src/`, crates at `src/vendor/`, `src/.cargo/config.toml`.
    pub archive: BlobDigests,
    #[serde(skip)]
    pub path: PathBuf,
}

/// Where the source comes from and what to build of it.
pub struct SourceRequest<'a> {
    /// A path or URL git can read.
    pub location: &'a str,
    pub repository_url: &'a str,
    pub commit: &'a str,
    pub source_date_epoch: u64,
    pub builder_image: &'a str,
}

/// Runs a command and returns its stdout; a failure carries its stderr.
pub(crate) fn run(command: &mut Command) -> Result<Vec<u8>, SourceError> {
    let shown = format!("{command:?}");
    let output = command
        .stdin(Stdio::null())
        .output()
        .map_err(|e| SourceError::Command {
            command: shown.clone(),
            detail: e.to_string(),
        })?;
    if !output.status.success() {
        return Err(SourceError::Command {
            command: shown,
            detail: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        });
    }
    Ok(output.stdout)
}

/// Exports the commit and vendors its crates into `work/`, then writes the deterministic source
/// archive `work/source.tar`. Vendored crates are cached under `vendor_cache/`, keyed by
/// Cargo.lock and builder image, so a second build of the same lockfile needs no network.
pub async fn fetch(
    engine: &Engine,
    request: &SourceRequest<'_>,
    work: &Path,
    vendor_cache: &Path,
    on_line: &mut dyn FnMut(&str),
) -> Result<SourceArchive, SourceError> {
    let sde = request.source_date_epoch;
    let checkout = work.join("checkout");
    std::fs::create_dir_all(&checkout).map_err(io(format!("creating {}", checkout.display())))?;
    export_commit(request.location, request.commit, &checkout)?;

    let lock = checkout.join("Cargo.lock");
    let lock_digest = crate::hashing::digest_file(&lock).map_err(|_| SourceError::NoLockfile {
        commit: request.commit.to_owned(),
    })?;
    let cached = vendor::cache_dir(vendor_cache, &lock_digest.sha256, request.builder_image);
    let vendored = vendor::vendor(
        engine,
        request.builder_image,
        &checkout,
        &cached,
        work,
        on_line,
    )
    .await?;

    let mut tree = Tree::new();
    add_dir(&mut tree, &checkout, "src", sde, &|_| false)
        .map_err(io(format!("reading {}", checkout.display())))?;
    let tree_error = |context: &str| {
        let context = context.to_owned();
        move |e: crate::archive::TreeError| SourceError::Io {
            context,
            source: std::io::Error::other(e),
        }
    };
    for (path, node) in vendored.tree.iter() {
        let Some(inside) = path.strip_prefix("vendor") else {
            continue;
        };
        let mut node = node.clone();
        // Modes as a checkout has them, whatever umask the container had.
        if let NodeKind::File(_) = node.kind {
            node.mode = if node.mode & 0o111 != 0 { 0o755 } else { 0o644 };
        } else if node.kind == NodeKind::Dir {
            node.mode = 0o755;
        }
        tree.insert(&format!("src/vendor{inside}"), node)
            .map_err(tree_error("adding the vendored crates"))?;
    }
    if !vendored.config.is_empty() {
        let config_node = Node::file(FileData::Bytes(vendored.config.into()), 0o644, sde);
        tree.insert("src/.cargo/config.toml", config_node)
            .map_err(tree_error("adding .cargo/config.toml"))?;
    }
    tree.set_all_owners_root();
    tree.set_all_mtimes(sde);

    let path = work.join("source.tar");
    let file = std::fs::File::create(&path).map_err(io(format!("creating {}", path.display())))?;
    let writer = write_tar(&tree, HashingWriter::new(std::io::BufWriter::new(file)))
        .map_err(io(format!("writing {}", path.display())))?;
    let (mut buffered, archive) = writer.finish();
    std::io::Write::flush(&mut buffered).map_err(io(format!("writing {}", path.display())))?;
    Ok(SourceArchive {
        repository: request.repository_url.to_owned(),
        commit: request.commit.to_owned(),
        source_date_epoch: sde,
        cargo_lock_sha256: lock_digest.sha256,
        archive,
        path,
    })
}
