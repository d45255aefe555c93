//! Keeps the private cluster up once it has started: when the postmaster dies (SIGKILL, the OOM
//! killer, a crash), it is started again, with a growing delay between attempts, and PostgreSQL's
//! own crash recovery runs on that start. The registry's pool reconnects by itself, so it answers
//! 503 while the server is away and 200 again seconds later.

use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::log::LogFile;
use super::process::{self, Server};
use super::system::{self, User};
use super::EmbeddedPostgresError as Error;
use super::{cluster, describe, shutdown, Running, START_TIMEOUT, STOP_TIMEOUT};

/// The first restart waits this long, each further one twice as long as the previous, up to
/// `MAX_DELAY`; a server that stayed up for `STABLE` starts the sequence again.
const FIRST_DELAY: Duration = Duration::from_millis(500);
const MAX_DELAY: Duration = Duration::from_secs(30);
const STABLE: Duration = Duration::from_secs(60);
/// How long a restart waits for the dead postmaster's backends to go (they exit when they notice
/// it is gone); a new postmaster refuses to start while they still hold its shared memory.
const ORPHANS_TIMEOUT: Duration = Duration::from_secs(10);
const POLL: Duration = Duration::from_millis(10);

/// What wakes the supervisor.
pub(super) enum Event {
    /// A server it spawned exited (sent by the server's keeper thread after reaping it).
    Exited,
    /// Supervision ends: we are shutting the cluster down.
    Stop,
}

/// Everything needed to start the postmaster again the way it was first started.
pub(super) struct Launch {
    pub postgres: PathBuf,
    pub data_dir: PathBuf,
    pub socket_dir: PathBuf,
    pub port: u16,
    pub user: User,
    pub switch: bool,
}

impl Launch {
    /// Spawns the postmaster; `events` hears of its exit.
    pub(super) fn spawn(&self, log: &LogFile, events: &Sender<Event>) -> Result<Server, Error> {
        let mut cmd = std::process::Command::new(&self.postgres);
        cmd.arg("-D")
            .arg(&self.data_dir)
            .arg("-k")
            .arg(&self.socket_dir)
            .args(["-c", "listen_addresses=", "-p", &self.port.to_string()])
            .stdin(std::process::Stdio::null())
            .stdout(log.for_child()?)
            .stderr(log.for_child()?);
        // SIGINT is a fast shutdown: if we die, the cluster stops cleanly.
        process::prepare(&mut cmd, self.switch.then_some(&self.user), libc::SIGINT);
        let events = events.clone();
        Server::spawn_with_notice(cmd, move || {
            let _ = events.send(Event::Exited);
        })
        .map_err(|source| Error::Spawn {
            program: self.postgres.clone(),
            source,
        })
    }

    fn socket_paths(&self) -> (PathBuf, PathBuf) {
        let socket = self.socket_dir.join(format!(".s.PGSQL.{}", self.port));
        let lock = self.socket_dir.join(format!(".s.PGSQL.{}.lock", self.port));
        (socket, lock)
    }
}

/// What the supervisor and the owner of the cluster share.
struct Slot {
    /// The current server; it may have exited while a restart is being prepared.
    server: Option<Server>,
    /// Carries the data directory's lock, kept across restarts.
    log: Option<LogFile>,
    /// Set by [`Supervisor::stop`]: nothing may be started any more.
    stopping: bool,
}

pub(super) struct Supervisor {
    slot: Arc<Mutex<Slot>>,
    events: Sender<Event>,
    thread: Option<JoinHandle<()>>,
}

impl Supervisor {
    /// Takes over a server that is ready. `events` must be the channel its exit is reported on.
    pub(super) fn start(
        running: Running,
        launch: Launch,
        events: Sender<Event>,
        receiver: Receiver<Event>,
    ) -> Result<Self, Error> {
        let slot = Arc::new(Mutex::new(Slot {
            server: Some(running.server),
            log: Some(running.log),
            stopping: false,
        }));
        let watcher = Watcher {
            slot: Arc::clone(&slot),
            launch,
            events: events.clone(),
            receiver,
        };
        let thread = match thread::Builder::new()
            .name("postgres-supervisor".into())
            .spawn(move || watcher.run())
        {
            Ok(thread) => thread,
            Err(e) => {
                let mut slot = lock(&slot);
                if let (Some(server), Some(log)) = (slot.server.take(), slot.log.take()) {
                    let _ = shutdown(Running { server, log });
                }
                return Err(Error::io("start a thread to supervise", "PostgreSQL")(e));
            }
        };
        Ok(Self {
            slot,
            events,
            thread: Some(thread),
        })
    }

    /// The postmaster's PID, if one runs.
    pub(super) fn pid(&self) -> Option<i32> {
        lock(&self.slot).server.as_ref().map(Server::pid)
    }

    /// Ends supervision (waiting for a restart under way to give up) and hands back the server
    /// that runs now, if any, for the caller to stop.
    pub(super) fn stop(&mut self) -> Option<Running> {
        lock(&self.slot).stopping = true;
        let _ = self.events.send(Event::Stop);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        let mut slot = lock(&self.slot);
        let (server, log) = (slot.server.take(), slot.log.take());
        drop(slot);
        match (server, log) {
            (Some(server), Some(log)) if server.status().is_none() => Some(Running { server, log }),
            (Some(mut server), _) => {
                // Died while we were stopping: nothing left to stop, only its keeper to join.
                server.wait(Duration::ZERO);
                None
            }
            _ => None,
        }
    }
}

impl Drop for Supervisor {
    fn drop(&mut self) {
        if self.thread.is_some() {
            if let Some(running) = self.stop() {
                let _ = shutdown(running);
            }
        }
    }
}

/// The supervisor thread's side.
struct Watcher {
    slot: Arc<Mutex<Slot>>,
    launch: Launch,
    events: Sender<Event>,
    receiver: Receiver<Event>,
}

/// Why a restart did not bring the server back.
enum Failed {
    Stopping,
    Error(Error),
}

impl From<Error> for Failed {
    fn from(error: Error) -> Self {
        Failed::Error(error)
    }
}

impl Watcher {
    fn run(self) {
        let mut delay = FIRST_DELAY;
        let mut up_since = Instant::now();
        loop {
            match self.receiver.recv() {
                Ok(Event::Exited) => {}
                Ok(Event::Stop) | Err(_) => return,
            }
            let Some((pid, status)) = self.take_dead_server() else {
                continue;
            };
            if up_since.elapsed() >= STABLE {
                delay = FIRST_DELAY;
            }
            let crashed = Instant::now();
            tracing::warn!(
                pid,
                status = %describe(status),
                data_dir = %self.launch.data_dir.display(),
                "PostgreSQL exited unexpectedly; restarting it (crash recovery runs on start) in {:.1} s",
                delay.as_secs_f64()
            );
            let mut attempt = 1u32;
            loop {
                if self.pause(delay).is_err() {
                    return;
                }
                let result = self.restart();
                delay = (delay * 2).min(MAX_DELAY);
                match result {
                    Ok(pid) => {
                        tracing::warn!(
                            pid,
                            attempt,
                            down_ms = crashed.elapsed().as_millis() as u64,
                            "PostgreSQL restarted and accepts connections again"
                        );
                        up_since = Instant::now();
                        break;
                    }
                    Err(Failed::Stopping) => return,
                    Err(Failed::Error(error)) => tracing::warn!(
                        attempt,
                        "restarting PostgreSQL failed: {error}; trying again in {:.1} s",
                        delay.as_secs_f64()
                    ),
                }
                attempt += 1;
            }
        }
    }

    /// The server if it has exited (an `Exited` event may be stale: the server it was about may
    /// already have been replaced), with its PID and status.
    fn take_dead_server(&self) -> Option<(i32, Option<std::process::ExitStatus>)> {
        let mut slot = lock(&self.slot);
        if slot.stopping || slot.server.as_ref()?.status().is_none() {
            return None;
        }
        let mut server = slot.server.take()?;
        drop(slot);
        let status = server.wait(Duration::ZERO).flatten();
        Some((server.pid(), status))
    }

    /// Sleeps, waking early only to stop.
    fn pause(&self, delay: Duration) -> Result<(), ()> {
        let deadline = Instant::now() + delay;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(());
            }
            match self.receiver.recv_timeout(left) {
                Ok(Event::Stop) | Err(RecvTimeoutError::Disconnected) => return Err(()),
                Ok(Event::Exited) | Err(RecvTimeoutError::Timeout) => {}
            }
        }
    }

    fn restart(&self) -> Result<i32, Failed> {
        self.wait_for_orphans()?;
        let pid = {
            let mut slot = lock(&self.slot);
            if slot.stopping {
                return Err(Failed::Stopping);
            }
            let data_dir = &self.launch.data_dir;
            cluster::clear_stale_lock(&data_dir.join("postmaster.pid"), data_dir, None)?;
            let (socket, socket_lock) = self.launch.socket_paths();
            cluster::clear_stale_lock(&socket_lock, data_dir, Some(&socket))?;
            let Some(log) = slot.log.as_ref() else {
                return Err(Failed::Stopping);
            };
            let server = self.launch.spawn(log, &self.events)?;
            let pid = server.pid();
            slot.server = Some(server);
            pid
        };
        self.wait_ready(pid)?;
        Ok(pid)
    }

    /// Waits for the dead postmaster's children, which PostgreSQL would otherwise refuse to start
    /// beside. Past the timeout the start is tried anyway and its error tells what is left.
    fn wait_for_orphans(&self) -> Result<(), Failed> {
        let deadline = Instant::now() + ORPHANS_TIMEOUT;
        loop {
            let left = system::postgres_processes_in(&self.launch.data_dir);
            if left.is_empty() || Instant::now() >= deadline {
                return Ok(());
            }
            self.pause(POLL).map_err(|()| Failed::Stopping)?;
        }
    }

    fn wait_ready(&self, pid: i32) -> Result<(), Failed> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            {
                let mut slot = lock(&self.slot);
                if slot.stopping {
                    return Err(Failed::Stopping);
                }
                let Some(server) = slot.server.as_mut() else {
                    return Err(Failed::Stopping);
                };
                if let Some(status) = server.status() {
                    let mut server = slot.server.take().expect("checked above");
                    server.wait(Duration::ZERO);
                    let log = slot.log.as_ref();
                    return Err(Failed::Error(Error::ServerExited {
                        status: describe(status),
                        log: log.map(|l| l.path.clone()).unwrap_or_default(),
                        tail: log.map(LogFile::tail).unwrap_or_default(),
                    }));
                }
                if cluster::server_ready(&self.launch.data_dir, pid) {
                    return Ok(());
                }
                if Instant::now() >= deadline {
                    let server = slot.server.take().expect("checked above");
                    let log_path = slot.log.as_ref().map(|l| l.path.clone());
                    let tail = slot.log.as_ref().map(LogFile::tail).unwrap_or_default();
                    drop(slot);
                    stop_unready(server);
                    return Err(Failed::Error(Error::StartTimeout {
                        secs: START_TIMEOUT.as_secs(),
                        log: log_path.unwrap_or_default(),
                        tail,
                    }));
                }
            }
            if let Ok(Event::Stop) = self.receiver.recv_timeout(POLL) {
                return Err(Failed::Stopping);
            }
        }
    }
}

/// A server that never became ready: fast shutdown, then SIGKILL.
fn stop_unready(mut server: Server) {
    server.signal(libc::SIGINT);
    if server.wait(STOP_TIMEOUT).is_none() {
        server.signal(libc::SIGKILL);
        server.wait(STOP_TIMEOUT);
    }
}

fn lock(slot: &Mutex<Slot>) -> MutexGuard<'_, Slot> {
    slot.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// For the owner's channel: created before the first server so that its exit is heard too.
pub(super) fn channel() -> (Sender<Event>, Receiver<Event>) {
    mpsc::channel()
}
