//! Files written whole or not at all: a temporary file in the destination's directory, synced,
//! then renamed into place, so a crash never leaves half a key or half a signature.

use std::fs::{File, Permissions};
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use super::SigningError;

/// Writes a new file readable only by its owner (0600), failing with
/// [`SigningError::AlreadyExists`] if `path` exists: an existing key file is never replaced.
pub fn write_new_private_file(path: &Path, bytes: &[u8]) -> Result<(), SigningError> {
    refuse_existing(path)?;
    let temp = staged(path, bytes, 0o600)?;
    match temp.persist_noclobber(path) {
        Ok(_) => sync_parent(path),
        Err(e) if e.error.kind() == std::io::ErrorKind::AlreadyExists => {
            Err(SigningError::AlreadyExists {
                path: path.to_path_buf(),
            })
        }
        Err(e) => Err(SigningError::io("create", path)(e.error)),
    }
}

/// Fails with [`SigningError::AlreadyExists`] if `path` exists (checked before expensive work;
/// [`write_new_private_file`] checks again atomically).
pub fn refuse_existing(path: &Path) -> Result<(), SigningError> {
    match path.symlink_metadata() {
        Ok(_) => Err(SigningError::AlreadyExists {
            path: path.to_path_buf(),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(SigningError::io("inspect", path)(e)),
    }
}

/// Writes `path` with `mode`, replacing a previous file of that name in one rename.
pub fn write_replacing(path: &Path, bytes: &[u8], mode: u32) -> Result<(), SigningError> {
    if path.is_dir() {
        return Err(SigningError::io("write", path)(std::io::Error::new(
            std::io::ErrorKind::IsADirectory,
            "it is a directory; give a file name",
        )));
    }
    let temp = staged(path, bytes, mode)?;
    temp.persist(path)
        .map_err(|e| SigningError::io("write", path)(e.error))?;
    sync_parent(path)
}

fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    }
}

fn staged(path: &Path, bytes: &[u8], mode: u32) -> Result<tempfile::NamedTempFile, SigningError> {
    let dir = parent(path);
    // The temporary file is created with `mode` already, so a secret is never readable by
    // others, not even for a moment.
    let mut temp = tempfile::Builder::new()
        .prefix(".mpr-partial-")
        .permissions(Permissions::from_mode(mode))
        .tempfile_in(dir)
        .map_err(SigningError::io("create a temporary file in", dir))?;
    temp.write_all(bytes)
        .and_then(|()| temp.as_file().sync_all())
        .map_err(SigningError::io("write", temp.path()))?;
    Ok(temp)
}

fn sync_parent(path: &Path) -> Result<(), SigningError> {
    let dir = parent(path);
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(SigningError::io("sync the directory", dir))
}

/// Reads a whole file of at most `limit` bytes.
pub fn read_limited(path: &Path, what: &'static str, limit: u64) -> Result<Vec<u8>, SigningError> {
    let file = File::open(path).map_err(SigningError::io("read", path))?;
    let mut bytes = Vec::new();
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(SigningError::io("read", path))?;
    let len = bytes.len() as u64;
    if len > limit {
        return Err(SigningError::TooLarge {
            what,
            path: path.to_path_buf(),
            len: path.metadata().map(|m| m.len()).unwrap_or(len),
            limit,
        });
    }
    Ok(bytes)
}

/// Reads a statement to sign or verify (at most [`super::MAX_STATEMENT_BYTES`]).
pub fn read_statement(path: &Path) -> Result<Vec<u8>, SigningError> {
    read_limited(path, "a statement", super::MAX_STATEMENT_BYTES)
}
