//! Children that must die with us, and the thread that keeps the server's.

use std::io;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitStatus};
use std::sync::{mpsc, Arc, Condvar, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::system::User;

/// Makes `cmd` run as `user` (when given: we are root and switch to it) and receive `deathsig`
/// when the thread that spawns it exits, so that neither initdb nor the server outlives a crashed
/// or killed mpr.
pub(super) fn prepare(cmd: &mut Command, user: Option<&User>, deathsig: libc::c_int) {
    cmd.env("LC_ALL", "C").current_dir("/");
    // libpq and the server read PG* variables (PGOPTIONS, PGHOST, PGDATA...); the caller's must not
    // leak into a private cluster addressed with explicit flags.
    for (key, _) in std::env::vars_os() {
        if key.as_encoded_bytes().starts_with(b"PG") {
            cmd.env_remove(key);
        }
    }
    let switch = user.map(|u| {
        cmd.env("HOME", &u.home)
            .env("USER", &u.name)
            .env("LOGNAME", &u.name);
        (u.uid, u.gid, u.groups.clone())
    });
    let parent = std::process::id();
    // SAFETY: the closure only makes async-signal-safe system calls on data captured before the
    // fork; it allocates nothing (the error values are raw OS errors).
    unsafe {
        cmd.pre_exec(move || {
            if let Some((uid, gid, groups)) = &switch {
                // Groups first, then gid, then uid: each later step gives up the right to do the
                // earlier ones.
                if libc::setgroups(groups.len(), groups.as_ptr()) != 0
                    || libc::setgid(*gid) != 0
                    || libc::setuid(*uid) != 0
                {
                    return Err(io::Error::last_os_error());
                }
            }
            // After the uid switch: the kernel clears the death signal whenever credentials change.
            if libc::prctl(libc::PR_SET_PDEATHSIG, deathsig as libc::c_ulong) != 0 {
                return Err(io::Error::last_os_error());
            }
            // We may have died between fork and prctl, in which case nobody would signal us.
            if libc::getppid() as u32 != parent {
                return Err(io::Error::from_raw_os_error(libc::ESRCH));
            }
            Ok(())
        });
    }
}

/// The running postmaster, spawned and reaped by a dedicated thread.
///
/// PR_SET_PDEATHSIG fires when the spawning *thread* exits, not the process: spawning from the
/// caller's thread would stop the server when a tokio blocking worker or a test thread ends. The
/// keeper thread lives exactly as long as the child.
pub(super) struct Server {
    pid: i32,
    shared: Arc<Shared>,
    keeper: Option<JoinHandle<()>>,
}

#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    changed: Condvar,
}

#[derive(Default)]
struct State {
    /// Set once the child has exited, before it is reaped: from then on its PID may be reused, so
    /// nobody may signal it.
    exited: bool,
    /// Set once reaped; None inside when reaping failed (someone else reaped it).
    status: Option<Option<ExitStatus>>,
}

impl Server {
    /// Calls `on_exit` from the keeper thread once the child has exited and been reaped (the
    /// supervisor's wake-up call).
    pub(super) fn spawn_with_notice(
        mut cmd: Command,
        on_exit: impl FnOnce() + Send + 'static,
    ) -> io::Result<Self> {
        let shared = Arc::new(Shared::default());
        let (tx, rx) = mpsc::channel();
        let keeper_shared = Arc::clone(&shared);
        let keeper = thread::Builder::new()
            .name("postgres-keeper".into())
            .spawn(move || {
                let child = match cmd.spawn() {
                    Ok(child) => child,
                    Err(e) => {
                        let _ = tx.send(Err(e));
                        return;
                    }
                };
                let _ = tx.send(Ok(child.id()));
                keep(child, &keeper_shared);
                on_exit();
            })?;
        let pid = match rx.recv() {
            Ok(Ok(pid)) => pid,
            Ok(Err(e)) => {
                let _ = keeper.join();
                return Err(e);
            }
            Err(_) => return Err(io::Error::other("the postgres keeper thread died")),
        };
        let pid = i32::try_from(pid).map_err(|_| io::Error::other("child PID out of range"))?;
        Ok(Self {
            pid,
            shared,
            keeper: Some(keeper),
        })
    }

    pub(super) fn pid(&self) -> i32 {
        self.pid
    }

    /// Sends `sig` unless the child has already exited; true if sent.
    pub(super) fn signal(&self, sig: libc::c_int) -> bool {
        let state = self.lock();
        if state.exited {
            return false;
        }
        // SAFETY: kill takes plain integers. The child is not reaped while we hold the lock (the
        // keeper marks `exited` under it before reaping), so the PID is still ours.
        unsafe { libc::kill(self.pid, sig) == 0 }
    }

    /// The exit status once reaped; `Some(None)` if it exited but the status was lost.
    pub(super) fn status(&self) -> Option<Option<ExitStatus>> {
        self.lock().status
    }

    pub(super) fn wait(&mut self, timeout: Duration) -> Option<Option<ExitStatus>> {
        let deadline = Instant::now() + timeout;
        let mut state = self.lock();
        while state.status.is_none() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            state = match self.shared.changed.wait_timeout(state, left) {
                Ok((state, _)) => state,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
        let status = state.status;
        drop(state);
        if let Some(keeper) = self.keeper.take() {
            let _ = keeper.join();
        }
        status
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.shared
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn keep(mut child: Child, shared: &Shared) {
    let pid = child.id() as libc::id_t;
    loop {
        // SAFETY: siginfo_t is plain old data; zeroed is a valid value for waitid to overwrite.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // WNOWAIT leaves the zombie in place, so the PID cannot be reused before `exited` is set.
        // SAFETY: info is a valid siginfo_t for the kernel to fill.
        let rc =
            unsafe { libc::waitid(libc::P_PID, pid, &mut info, libc::WEXITED | libc::WNOWAIT) };
        if rc == 0 || io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
            break;
        }
    }
    shared
        .state
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .exited = true;
    let status = child.wait().ok();
    shared
        .state
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .status = Some(status);
    shared.changed.notify_all();
}
