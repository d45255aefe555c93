//! The few OS facts std does not expose: passwd and group entries, permission checks on behalf of
//! another user, and what a foreign PID really is.

use std::ffi::{CStr, CString, OsStr};
use std::fs::{File, Metadata};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::ptr;

/// Who initdb and postgres run as.
#[derive(Debug, Clone)]
pub(super) struct User {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub home: PathBuf,
    /// Supplementary groups, so a permission check for this user sees what the kernel will see.
    pub groups: Vec<libc::gid_t>,
}

enum Key<'a> {
    Name(&'a CStr),
    Uid(libc::uid_t),
}

pub(super) fn euid() -> u32 {
    // SAFETY: geteuid cannot fail and touches no memory.
    unsafe { libc::geteuid() }
}

pub(super) fn user_by_name(name: &str) -> io::Result<Option<User>> {
    let Ok(c_name) = CString::new(name) else {
        return Ok(None);
    };
    let Some(mut user) = passwd(Key::Name(&c_name))? else {
        return Ok(None);
    };
    user.groups = group_list(&c_name, user.gid)?;
    Ok(Some(user))
}

/// The user this process runs as; its groups are the process's own, which is what matters for it.
pub(super) fn current_user() -> io::Result<User> {
    let uid = euid();
    // SAFETY: getegid cannot fail and touches no memory.
    let gid = unsafe { libc::getegid() };
    let (name, home) = match passwd(Key::Uid(uid))? {
        Some(u) => (u.name, u.home),
        // A container may run under a uid with no passwd entry: still a usable identity.
        None => (uid.to_string(), PathBuf::from("/")),
    };
    Ok(User {
        name,
        uid,
        gid,
        home,
        groups: process_groups()?,
    })
}

fn passwd(key: Key<'_>) -> io::Result<Option<User>> {
    let mut buf: Vec<libc::c_char> = vec![0; 1024];
    loop {
        // SAFETY: passwd is plain old data; an all-zero value is valid and is only read after the
        // call below filled it in.
        let mut entry: libc::passwd = unsafe { std::mem::zeroed() };
        let mut result: *mut libc::passwd = ptr::null_mut();
        // SAFETY: every pointer is valid for the duration of the call and buf.len() is its size.
        let rc = unsafe {
            match key {
                Key::Name(name) => libc::getpwnam_r(
                    name.as_ptr(),
                    &mut entry,
                    buf.as_mut_ptr(),
                    buf.len(),
                    &mut result,
                ),
                Key::Uid(uid) => {
                    libc::getpwuid_r(uid, &mut entry, buf.as_mut_ptr(), buf.len(), &mut result)
                }
            }
        };
        if rc == libc::ERANGE && buf.len() < 1 << 20 {
            buf.resize(buf.len() * 2, 0);
            continue;
        }
        if rc != 0 {
            return Err(io::Error::from_raw_os_error(rc));
        }
        if result.is_null() {
            return Ok(None);
        }
        // SAFETY: on success pw_name and pw_dir point at NUL-terminated strings inside buf.
        let (name, home) = unsafe { (CStr::from_ptr(entry.pw_name), CStr::from_ptr(entry.pw_dir)) };
        return Ok(Some(User {
            name: name.to_string_lossy().into_owned(),
            uid: entry.pw_uid,
            gid: entry.pw_gid,
            home: PathBuf::from(OsStr::from_bytes(home.to_bytes())),
            groups: Vec::new(),
        }));
    }
}

fn group_list(name: &CStr, gid: libc::gid_t) -> io::Result<Vec<libc::gid_t>> {
    let mut groups: Vec<libc::gid_t> = vec![0; 32];
    loop {
        let mut n = libc::c_int::try_from(groups.len()).unwrap_or(libc::c_int::MAX);
        // SAFETY: groups has room for n entries; getgrouplist writes at most n and updates n.
        let rc = unsafe { libc::getgrouplist(name.as_ptr(), gid, groups.as_mut_ptr(), &mut n) };
        let n = usize::try_from(n).unwrap_or(0);
        if rc >= 0 {
            groups.truncate(n);
            return Ok(groups);
        }
        if n <= groups.len() || n > 1 << 16 {
            return Err(io::Error::other("getgrouplist failed"));
        }
        groups.resize(n, 0);
    }
}

fn process_groups() -> io::Result<Vec<libc::gid_t>> {
    // SAFETY: a zero size asks only for the count and writes nothing.
    let n = unsafe { libc::getgroups(0, ptr::null_mut()) };
    let mut groups: Vec<libc::gid_t> =
        vec![0; usize::try_from(n).map_err(|_| io::Error::last_os_error())?];
    // SAFETY: groups has room for n entries.
    let n = unsafe { libc::getgroups(n, groups.as_mut_ptr()) };
    groups.truncate(usize::try_from(n).map_err(|_| io::Error::last_os_error())?);
    Ok(groups)
}

/// Mode bits only, the way the kernel applies them (owner, else group, else other); ACLs are not
/// consulted, which at worst turns a usable directory into a clear error.
pub(super) fn can_traverse(meta: &Metadata, user: &User) -> bool {
    if user.uid == 0 {
        return true;
    }
    let mode = meta.mode();
    if meta.uid() == user.uid {
        mode & 0o100 != 0
    } else if meta.gid() == user.gid || user.groups.contains(&meta.gid()) {
        mode & 0o010 != 0
    } else {
        mode & 0o001 != 0
    }
}

pub(super) fn process_exists(pid: i32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// Whether `pid` is a PostgreSQL process working in `data_dir` (postgres chdirs into its data
/// directory, so cwd identifies the cluster even across PID reuse). Unreadable means no: a server for
/// our data directory runs as our user or, when we are root, is readable anyway.
pub(super) fn is_postgres_in(pid: i32, data_dir: &Path) -> PostgresProcess {
    let Ok(exe) = std::fs::read_link(format!("/proc/{pid}/exe")) else {
        return PostgresProcess::Other;
    };
    let name = exe.file_name().and_then(OsStr::to_str).unwrap_or("");
    if name != "postgres" && name != "postmaster" {
        return PostgresProcess::Other;
    }
    match std::fs::read_link(format!("/proc/{pid}/cwd")) {
        Ok(cwd) if cwd == data_dir => PostgresProcess::Ours,
        _ => PostgresProcess::Foreign,
    }
}

/// PIDs of the postgres processes serving `data_dir`: after the postmaster was killed, its backends
/// linger until they notice, and a new postmaster refuses to start while they hold the old shared
/// memory.
pub(super) fn postgres_processes_in(data_dir: &Path) -> Vec<i32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&pid| is_postgres_in(pid, data_dir) == PostgresProcess::Ours)
        .collect()
}

#[derive(Debug, PartialEq, Eq)]
pub(super) enum PostgresProcess {
    /// A postgres serving our data directory.
    Ours,
    /// A postgres serving some other data directory.
    Foreign,
    /// Not postgres at all (or unreadable).
    Other,
}

/// Flushes a whole file system: after `initdb -N` this costs ~0.2 s where initdb's per-file fsync
/// costs ~2 s, and still makes the new cluster durable before it is renamed into place.
pub(super) fn syncfs(dir: &Path) -> io::Result<()> {
    let file = File::open(dir)?;
    // SAFETY: the descriptor is valid while `file` lives.
    if unsafe { libc::syncfs(file.as_raw_fd()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

pub(super) fn fsync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}
