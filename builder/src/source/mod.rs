//! The fetch stage, the only one with network: resolve the pinned commit, export its tree, vendor
//! its crates against Cargo.lock, and pack it all as one deterministic source archive that the
//! network-less build container compiles from.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::archive::{add_dir, write_tar, FileData, Node, Tree};
use crate::hashing::{BlobDigests, HashingWriter};

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("`{command}` failed: {detail}")]
    Command { command: String, detail: String },
    #[error("{0:?} is not a commit in {1}; give a full commit hash, a tag or HEAD")]
    UnknownCommit(String, String),
    #[error("the source at {commit} has no Cargo.lock; commit one so the build is pinned (`cargo generate-lockfile`)")]
    NoLockfile { commit: String },
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> SourceError {
    let context = context.into();
    move |source| SourceError::Io { context, source }
}

/// The packed source and what it was made from.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct SourceArchive {
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

fn git(repo: &str) -> Command {
    let mut command = Command::new("git");
    command.arg("-C").arg(repo);
    command
}

/// Resolves `commit` in `repository` to a full hash and its committer time.
pub fn resolve_commit(repository: &str, commit: &str) -> Result<(String, u64), SourceError> {
    let hash = run(git(repository)
        .args(["rev-parse", "--verify", "--quiet"])
        .arg(format!("{commit}^{{commit}}")))
    .map_err(|_| SourceError::UnknownCommit(commit.to_owned(), repository.to_owned()))?;
    let hash = String::from_utf8_lossy(&hash).trim().to_owned();
    let time = run(git(repository).args(["show", "-s", "--format=%ct", &hash]))?;
    let time = String::from_utf8_lossy(&time)
        .trim()
        .parse()
        .map_err(|_| SourceError::Command {
            command: format!("git show -s --format=%ct {hash}"),
            detail: "not a Unix time".into(),
        })?;
    Ok((hash, time))
}

/// Exports `commit` and vendors its crates into `work/`, then writes the deterministic source
/// archive `work/source.tar`. Vendored crates are cached under `vendor_cache/<Cargo.lock sha256>`,
/// so a second build of the same lockfile needs no network.
pub fn fetch(
    repository: &str,
    commit: &str,
    source_date_epoch: u64,
    work: &Path,
    vendor_cache: &Path,
) -> Result<SourceArchive, SourceError> {
    let checkout = work.join("checkout");
    std::fs::create_dir_all(&checkout).map_err(io(format!("creating {}", checkout.display())))?;
    // `git archive` exports exactly the committed tree: no untracked files, no local changes.
    let mut export = Command::new("sh");
    export
        .arg("-c")
        .arg(r#"git -C "$1" archive --format=tar "$2" | tar -x -C "$3""#)
        .args(["sh", repository, commit, &checkout.display().to_string()]);
    run(&mut export)?;

    let lock = checkout.join("Cargo.lock");
    let lock_digest = crate::hashing::digest_file(&lock).map_err(|_| SourceError::NoLockfile {
        commit: commit.to_owned(),
    })?;
    let cached = vendor_cache.join(&lock_digest.sha256);
    let config = vendor(&checkout, &cached)?;

    let mut tree = Tree::new();
    add_dir(&mut tree, &checkout, "src", source_date_epoch, &|_| false)
        .map_err(io(format!("reading {}", checkout.display())))?;
    add_dir(
        &mut tree,
        &cached.join("vendor"),
        "src/vendor",
        source_date_epoch,
        &|_| false,
    )
    .map_err(io(format!("reading {}", cached.display())))?;
    let config_node = Node::file(FileData::Bytes(config.into()), 0o644, source_date_epoch);
    tree.insert("src/.cargo/config.toml", config_node)
        .map_err(|e| SourceError::Io {
            context: "adding .cargo/config.toml".into(),
            source: std::io::Error::other(e),
        })?;
    tree.set_all_mtimes(source_date_epoch);

    let path = work.join("source.tar");
    let file = std::fs::File::create(&path).map_err(io(format!("creating {}", path.display())))?;
    let writer = write_tar(&tree, HashingWriter::new(std::io::BufWriter::new(file)))
        .map_err(io(format!("writing {}", path.display())))?;
    let (mut buffered, archive) = writer.finish();
    std::io::Write::flush(&mut buffered).map_err(io(format!("writing {}", path.display())))?;
    Ok(SourceArchive {
        repository: repository.to_owned(),
        commit: commit.to_owned(),
        source_date_epoch,
        cargo_lock_sha256: lock_digest.sha256,
        archive,
        path,
    })
}

/// `cargo vendor` into `cached/vendor` unless it is already there; returns the cargo configuration
/// that points the build at the vendored crates.
fn vendor(checkout: &Path, cached: &Path) -> Result<Vec<u8>, SourceError> {
    let config_path = cached.join("config.toml");
    if let Ok(config) = std::fs::read(&config_path) {
        return Ok(config);
    }
    let parent = cached.parent().unwrap_or(cached);
    std::fs::create_dir_all(parent).map_err(io(format!("creating {}", parent.display())))?;
    let staging = tempfile::Builder::new()
        .prefix(".vendor-")
        .tempdir_in(parent)
        .map_err(io(format!("creating a directory in {}", parent.display())))?;
    // Run from the staging directory with a relative destination, so the printed configuration says
    // `directory = "vendor"`, which cargo resolves next to `.cargo/` in the build container.
    let config = run(Command::new("cargo")
        .current_dir(staging.path())
        .args(["vendor", "--locked", "--versioned-dirs", "--manifest-path"])
        .arg(checkout.join("Cargo.toml"))
        .arg("vendor"))?;
    // `--quiet` would also silence this configuration, which cargo prints on stdout.
    if !String::from_utf8_lossy(&config).contains("vendored-sources") {
        return Err(SourceError::Command {
            command: "cargo vendor".into(),
            detail: "printed no source-replacement configuration".into(),
        });
    }
    std::fs::write(staging.path().join("config.toml"), &config)
        .map_err(io(format!("writing {}", config_path.display())))?;
    // Appears complete or not at all; a concurrent fetch of the same lockfile may have won.
    let staged = staging.keep();
    if std::fs::rename(&staged, cached).is_err() {
        let _ = std::fs::remove_dir_all(&staged);
    }
    std::fs::read(&config_path).map_err(io(format!("reading {}", config_path.display())))
}
