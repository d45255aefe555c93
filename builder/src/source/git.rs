//! Reading the pinned commit straight from git's object database: no `git archive`, no checkout, so
//! nothing of the host's git configuration (autocrlf, eol, filters, export-subst, attributes files,
//! replace refs) can change the bytes that are built.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};

use super::{io, run, SourceError};

/// Most files of a source tree are small; anything this large is not source.
pub const MAX_SOURCE_FILE_BYTES: u64 = 256 << 20;

/// A git command on `repo` that ignores replace refs (they would swap objects under a hash).
pub(crate) fn git(repo: &str) -> Command {
    let mut command = Command::new("git");
    command
        .env("GIT_NO_REPLACE_OBJECTS", "1")
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .arg("-C")
        .arg(repo);
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

/// True for what git fetches over a network: `scheme://…` (but not `file://`) or `user@host:path`.
pub fn is_remote_url(location: &str) -> bool {
    if let Some((scheme, _)) = location.split_once("://") {
        return scheme != "file" && !scheme.is_empty();
    }
    location
        .split_once(':')
        .is_some_and(|(host, _)| host.contains('@') && !host.contains('/'))
}

/// The repository's canonical URL, which the record and the release publish as the source: the
/// recipe's `url`, else the repository when it is a URL, else the local clone's `origin` remote.
/// A local path is never a release's source: nobody else can fetch it.
pub fn canonical_url(
    recipe_url: Option<&str>,
    repository: &str,
    location: &str,
) -> Result<String, SourceError> {
    let candidate = match recipe_url {
        Some(url) => url.to_owned(),
        None if is_remote_url(repository) => repository.to_owned(),
        None => {
            let origin = git(location)
                .args(["config", "--get", "remote.origin.url"])
                .stdin(Stdio::null())
                .output()
                .map_err(|e| SourceError::Command {
                    command: "git config --get remote.origin.url".into(),
                    detail: e.to_string(),
                })?;
            let origin = String::from_utf8_lossy(&origin.stdout).trim().to_owned();
            if origin.is_empty() {
                return Err(SourceError::NoCanonicalUrl {
                    repository: repository.to_owned(),
                    found: None,
                });
            }
            origin
        }
    };
    if !is_remote_url(&candidate) {
        return Err(SourceError::NoCanonicalUrl {
            repository: repository.to_owned(),
            found: Some(candidate),
        });
    }
    Ok(candidate)
}

/// One entry of `git ls-tree -r`.
struct TreeEntry {
    mode: String,
    kind: String,
    object: String,
    path: String,
}

fn list_tree(repository: &str, commit: &str) -> Result<Vec<TreeEntry>, SourceError> {
    let listing = run(git(repository).args(["ls-tree", "-r", "-z", "--full-tree", commit]))?;
    let mut entries = Vec::new();
    for record in listing.split(|&b| b == 0).filter(|r| !r.is_empty()) {
        let record = String::from_utf8(record.to_vec()).map_err(|_| SourceError::Command {
            command: format!("git ls-tree {commit}"),
            detail: "a path in the commit is not UTF-8; rename it".into(),
        })?;
        let malformed = || SourceError::Command {
            command: format!("git ls-tree {commit}"),
            detail: format!("unexpected entry {record:?}"),
        };
        let (meta, path) = record.split_once('\t').ok_or_else(malformed)?;
        let mut fields = meta.split(' ');
        let (Some(mode), Some(kind), Some(object)) = (fields.next(), fields.next(), fields.next())
        else {
            return Err(malformed());
        };
        entries.push(TreeEntry {
            mode: mode.to_owned(),
            kind: kind.to_owned(),
            object: object.to_owned(),
            path: path.to_owned(),
        });
    }
    Ok(entries)
}

/// Writes the committed tree of `commit` under `dest` exactly as stored: files with mode 0644 or
/// 0755 as git records them, symlinks as links; a submodule is refused, as its content is not in
/// the commit.
pub fn export_commit(repository: &str, commit: &str, dest: &Path) -> Result<(), SourceError> {
    let entries = list_tree(repository, commit)?;
    for entry in &entries {
        if entry.kind != "blob" {
            return Err(SourceError::Command {
                command: format!("git ls-tree {commit}"),
                detail: format!(
                    "{} is a {} (mode {}); submodules are not part of the commit, so vendor their code into the repository",
                    entry.path, entry.kind, entry.mode
                ),
            });
        }
        if entry
            .path
            .split('/')
            .any(|c| c.is_empty() || c == "." || c == ".." || c == ".git")
        {
            return Err(SourceError::Command {
                command: format!("git ls-tree {commit}"),
                detail: format!("refusing the path {:?}", entry.path),
            });
        }
    }
    let mut batch = git(repository)
        .args(["cat-file", "--batch"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| SourceError::Command {
            command: "git cat-file --batch".into(),
            detail: e.to_string(),
        })?;
    let mut stdin = batch.stdin.take().expect("stdin is piped");
    let objects: Vec<String> = entries.iter().map(|e| e.object.clone()).collect();
    // Fed from a thread: git answers while it reads, and both pipes have finite buffers.
    let feeder = std::thread::spawn(move || -> std::io::Result<()> {
        for object in objects {
            writeln!(stdin, "{object}")?;
        }
        Ok(())
    });
    let mut out = BufReader::new(batch.stdout.take().expect("stdout is piped"));
    let result = write_blobs(&entries, &mut out, dest);
    drop(out);
    let fed = feeder.join();
    let status = batch.wait().map_err(io("waiting for git cat-file"))?;
    result?;
    if !status.success() || !matches!(fed, Ok(Ok(()))) {
        return Err(SourceError::Command {
            command: "git cat-file --batch".into(),
            detail: format!("exited with {status}"),
        });
    }
    Ok(())
}

fn write_blobs(
    entries: &[TreeEntry],
    out: &mut impl BufRead,
    dest: &Path,
) -> Result<(), SourceError> {
    let failed = |detail: String| SourceError::Command {
        command: "git cat-file --batch".into(),
        detail,
    };
    for entry in entries {
        let mut header = String::new();
        out.read_line(&mut header)
            .map_err(io("reading git's objects"))?;
        let size: u64 = match header.trim_end().split(' ').collect::<Vec<_>>()[..] {
            [object, "blob", size] if object == entry.object => size
                .parse()
                .map_err(|_| failed(format!("bad header {header:?}")))?,
            _ => {
                return Err(failed(format!(
                    "{}: unexpected answer {header:?}",
                    entry.path
                )))
            }
        };
        if size > MAX_SOURCE_FILE_BYTES {
            return Err(failed(format!(
                "{} is {size} bytes; source files are limited to {MAX_SOURCE_FILE_BYTES}",
                entry.path
            )));
        }
        let mut content = Vec::with_capacity(size as usize);
        out.by_ref()
            .take(size + 1)
            .read_to_end(&mut content)
            .map_err(io("reading git's objects"))?;
        if content.pop() != Some(b'\n') || content.len() as u64 != size {
            return Err(failed(format!("{}: truncated object", entry.path)));
        }
        let path = dest.join(&entry.path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(io(format!("creating {}", parent.display())))?;
        }
        match entry.mode.as_str() {
            "120000" => {
                let target = String::from_utf8(content)
                    .map_err(|_| failed(format!("{}: link target is not UTF-8", entry.path)))?;
                std::os::unix::fs::symlink(target, &path)
                    .map_err(io(format!("linking {}", path.display())))?;
            }
            "100644" | "100755" => {
                std::fs::write(&path, &content)
                    .map_err(io(format!("writing {}", path.display())))?;
                let mode = if entry.mode == "100755" { 0o755 } else { 0o644 };
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))
                    .map_err(io(format!("setting the mode of {}", path.display())))?;
            }
            mode => return Err(failed(format!("{}: unknown mode {mode}", entry.path))),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remote_urls_and_local_paths() {
        for url in [
            "https://github.com/mpr-dev/mpr",
            "ssh://git@github.com/mpr-dev/mpr.git",
            "git@github.com:mpr-dev/mpr.git",
        ] {
            assert!(is_remote_url(url), "{url}");
        }
        for local in [
            "/work/main",
            ".",
            "../mpr",
            "file:///work/main",
            "C:/x",
            "a/b:c",
        ] {
            assert!(!is_remote_url(local), "{local}");
        }
    }
}
