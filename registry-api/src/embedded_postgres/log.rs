use std::fs::{self, File};
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use super::EmbeddedPostgresError as Error;

/// The server log, opened by us (so it may be root's while the server is not) and shared with the
/// children. Its `flock` is the data directory's lock: the children inherit the open file and hold
/// the lock as long as any of them lives, so a server left behind by a crashed mpr keeps a new
/// one from starting on the same directory until it is gone.
pub(super) struct LogFile {
    pub path: PathBuf,
    file: File,
    /// Where this run's output starts, so error reports do not quote earlier runs.
    start: u64,
}

impl LogFile {
    pub(super) fn open(path: PathBuf) -> Result<Self, Error> {
        use std::os::unix::fs::OpenOptionsExt;
        let file = fs::OpenOptions::new()
            .append(true)
            .create(true)
            .read(true)
            .mode(0o600)
            .open(&path)
            .map_err(Error::io("open", &path))?;
        let start = file.metadata().map(|m| m.len()).unwrap_or(0);
        Ok(Self { path, file, start })
    }

    /// Waits up to `timeout` for the lock: a server stopping after its parent died still holds it.
    pub(super) fn lock(&mut self, data_dir: &Path, timeout: Duration) -> Result<(), Error> {
        let deadline = Instant::now() + timeout;
        let mut logged = false;
        loop {
            match self.file.try_lock() {
                Ok(()) => break,
                Err(fs::TryLockError::WouldBlock) if Instant::now() < deadline => {
                    if !logged {
                        tracing::info!(lock = %self.path.display(), "waiting for the data directory's lock");
                        logged = true;
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(fs::TryLockError::WouldBlock) => {
                    return Err(Error::InUse {
                        lock: self.path.clone(),
                        data_dir: data_dir.to_owned(),
                        secs: timeout.as_secs(),
                    })
                }
                Err(fs::TryLockError::Error(e)) => return Err(Error::io("lock", &self.path)(e)),
            }
        }
        self.start = self.file.metadata().map(|m| m.len()).unwrap_or(self.start);
        Ok(())
    }

    pub(super) fn for_child(&self) -> Result<Stdio, Error> {
        let file = self
            .file
            .try_clone()
            .map_err(Error::io("duplicate", &self.path))?;
        Ok(Stdio::from(file))
    }

    /// The last 20 lines written since this run began.
    pub(super) fn tail(&self) -> String {
        const WINDOW: u64 = 64 * 1024;
        let read = || -> io::Result<String> {
            let mut file = File::open(&self.path)?;
            let len = file.metadata()?.len();
            file.seek(SeekFrom::Start(self.start.max(len.saturating_sub(WINDOW))))?;
            let mut bytes = Vec::new();
            file.read_to_end(&mut bytes)?;
            let text = String::from_utf8_lossy(&bytes);
            let lines: Vec<&str> = text.lines().collect();
            Ok(lines[lines.len().saturating_sub(20)..].join("\n"))
        };
        read().unwrap_or_else(|e| format!("(could not read {}: {e})", self.path.display()))
    }
}
