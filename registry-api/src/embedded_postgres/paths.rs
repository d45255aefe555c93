//! Where the cluster's files go, checked before anything is created.

use std::ffi::OsString;
use std::fs;
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use sha2::{Digest, Sha256};

use super::system::{self, User};
use super::EmbeddedPostgresError as Error;

/// `sizeof(sockaddr_un.sun_path)` minus the terminating NUL.
const MAX_SOCKET_PATH: usize = 107;

/// Absolute and with `.`/`..` resolved, without requiring the path to exist yet.
pub(super) fn absolute(data_dir: &Path) -> Result<PathBuf, Error> {
    let bad = || Error::BadDataDir {
        data_dir: data_dir.to_owned(),
    };
    let abs = std::path::absolute(data_dir).map_err(|_| bad())?;
    let mut out = PathBuf::new();
    for component in abs.components() {
        match component {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    if out.file_name().is_none() {
        return Err(bad());
    }
    // Symlinks resolved, because /proc/PID/cwd, which identifies our server, shows them resolved.
    let mut missing = Vec::new();
    let mut existing = out.as_path();
    while !existing.exists() {
        let (Some(parent), Some(name)) = (existing.parent(), existing.file_name()) else {
            return Err(bad());
        };
        missing.push(name);
        existing = parent;
    }
    let mut resolved = fs::canonicalize(existing).map_err(Error::io("resolve", existing))?;
    resolved.extend(missing.iter().rev());
    Ok(resolved)
}

/// Every existing ancestor must be enterable by the server's user; checked before anything is
/// created, so a refused data directory leaves no trace.
pub(super) fn check_ancestors(data_dir: &Path, user: &User) -> Result<(), Error> {
    for dir in data_dir.ancestors().skip(1) {
        let meta = match fs::metadata(dir) {
            Ok(meta) => meta,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(Error::io("inspect", dir)(e)),
        };
        if !meta.is_dir() {
            return Err(Error::NotADirectory {
                path: dir.to_owned(),
            });
        }
        if !system::can_traverse(&meta, user) {
            return Err(Error::Untraversable {
                dir: dir.to_owned(),
                user: user.name.clone(),
                data_dir: data_dir.to_owned(),
            });
        }
    }
    Ok(())
}

/// Creates missing ancestors as 0755 whatever the umask, since the server's user must traverse them.
pub(super) fn create_ancestors(dir: &Path) -> Result<(), Error> {
    let mut missing = Vec::new();
    for ancestor in dir.ancestors() {
        if ancestor.exists() {
            break;
        }
        missing.push(ancestor);
    }
    for ancestor in missing.into_iter().rev() {
        match fs::DirBuilder::new().mode(0o755).create(ancestor) {
            Ok(()) => fs::set_permissions(ancestor, fs::Permissions::from_mode(0o755))
                .map_err(Error::io("set the permissions of", ancestor))?,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(Error::io("create", ancestor)(e)),
        }
    }
    Ok(())
}

/// `<parent>/<name>.sock` when that fits a socket address, else a directory in /tmp named after a
/// hash of the data directory (stable across restarts, distinct per cluster).
pub(super) fn socket_dir_for(data_dir: &Path, port: u16) -> Result<PathBuf, Error> {
    let socket_len = |dir: &Path| dir.as_os_str().len() + format!("/.s.PGSQL.{port}").len();
    let next_to = sibling(data_dir, ".sock");
    if socket_len(&next_to) <= MAX_SOCKET_PATH {
        return Ok(next_to);
    }
    let hash = Sha256::digest(data_dir.as_os_str().as_encoded_bytes());
    let in_tmp = PathBuf::from(format!("{TMP_SOCKET_PREFIX}{}", hex::encode(&hash[..8])));
    let len = socket_len(&in_tmp);
    if len > MAX_SOCKET_PATH {
        return Err(Error::SocketPathTooLong { path: in_tmp, len });
    }
    Ok(in_tmp)
}

const TMP_SOCKET_PREFIX: &str = "/tmp/mpr-postgres-";

pub(super) fn is_tmp_socket_dir(dir: &Path) -> bool {
    dir.as_os_str()
        .as_encoded_bytes()
        .starts_with(TMP_SOCKET_PREFIX.as_bytes())
}

/// `<data_dir><suffix>`, a sibling sharing the data directory's parent.
pub(super) fn sibling(data_dir: &Path, suffix: &str) -> PathBuf {
    let mut name = OsString::from(data_dir.as_os_str());
    name.push(suffix);
    PathBuf::from(name)
}

/// A private directory for the socket: anyone who can reach the socket is superuser (trust auth).
pub(super) fn prepare_socket_dir(dir: &Path, user: &User, switch: bool) -> Result<(), Error> {
    match fs::symlink_metadata(dir) {
        Ok(meta) if meta.is_dir() => {
            if meta.uid() != user.uid && meta.uid() != system::euid() {
                return Err(Error::SocketDirNotOurs {
                    dir: dir.to_owned(),
                    owner: meta.uid(),
                    user: user.name.clone(),
                });
            }
        }
        Ok(_) => {
            return Err(Error::NotADirectory {
                path: dir.to_owned(),
            })
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => fs::DirBuilder::new()
            .mode(0o700)
            .create(dir)
            .map_err(Error::io("create", dir))?,
        Err(e) => return Err(Error::io("inspect", dir)(e)),
    }
    if switch {
        std::os::unix::fs::lchown(dir, Some(user.uid), Some(user.gid))
            .map_err(Error::io("change the owner of", dir))?;
    }
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
        .map_err(Error::io("set the permissions of", dir))
}
