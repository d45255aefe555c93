//! A configfs-tsm device in a temporary directory, plugged in through the one seam the server has
//! (`CreateReportEntry`: how a report entry directory comes to exist). Like the kernel, it fills the
//! entry with `provider`, `generation`, `auxblob` and `outblob`; `generation` and `outblob` are FIFOs
//! answered by a device thread, which reads the `inblob` the server wrote and answers a report that
//! contains it, so a test sees exactly the REPORT_DATA that passed through the interface. With
//! `quote_template` the report is a real TD quote with that REPORT_DATA written into it, as the
//! TDX module and quoting enclave would make it.

use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use nix::sys::stat::Mode;
use prover::attestation::CreateReportEntry;

/// What the fake report is: this prefix, then the 64 bytes of REPORT_DATA.
pub const REPORT_PREFIX: &[u8] = b"fake-tsm-report:";
/// REPORT_DATA in a v4 TD quote: after the 48-byte header, at 520 in the TD report body.
pub const TD_QUOTE_V4_REPORT_DATA: usize = 48 + 520;

#[derive(Clone)]
pub struct FakeTsm {
    pub provider: &'static str,
    pub auxblob: Option<Vec<u8>>,
    /// Without it the entry has no `outblob` (and `generation` is a plain file).
    pub outblob: bool,
    /// Another writer changes the entry while the report is made: the second `generation` read moves.
    pub generation_moves: bool,
    /// Empties the entry before its last answer, so the server's `rmdir` can succeed as on configfs.
    pub removable: bool,
    /// A v4 TD quote: the outblob is this with the inblob at [`TD_QUOTE_V4_REPORT_DATA`].
    pub quote_template: Option<Vec<u8>>,
}

/// An empty configfs-tsm report directory in `dir`.
pub fn reports_dir(dir: &Path) -> PathBuf {
    let reports = dir.join("report");
    fs::create_dir(&reports).unwrap();
    reports
}

/// What the device saw: the entry it made and the inblob the server wrote there.
#[derive(Debug)]
pub struct Seen {
    pub entry: PathBuf,
    pub report_data: Vec<u8>,
}

impl FakeTsm {
    pub fn new(provider: &'static str) -> FakeTsm {
        FakeTsm {
            provider,
            auxblob: None,
            outblob: true,
            generation_moves: false,
            removable: true,
            quote_template: None,
        }
    }

    /// The seam, and where the device reports what it saw (one message per report served).
    pub fn install(self) -> (CreateReportEntry, mpsc::Receiver<Seen>) {
        let (seen, receiver) = mpsc::channel();
        let create = CreateReportEntry::custom(move |entry: &Path| {
            fs::create_dir(entry)?;
            fs::write(entry.join("provider"), format!("{}\n", self.provider))?;
            if let Some(auxblob) = &self.auxblob {
                fs::write(entry.join("auxblob"), auxblob)?;
            }
            if !self.outblob {
                fs::write(entry.join("generation"), "1\n")?;
                return Ok(());
            }
            for fifo in ["generation", "outblob"] {
                nix::unistd::mkfifo(&entry.join(fifo), Mode::from_bits_truncate(0o600))
                    .map_err(std::io::Error::from)?;
            }
            let device = self.clone();
            let entry = entry.to_owned();
            let seen = seen.clone();
            std::thread::spawn(move || device.serve(&entry, &seen));
            Ok(())
        });
        (create, receiver)
    }

    /// The kernel's side of one report, in the order the server reads.
    fn serve(&self, entry: &Path, seen: &mpsc::Sender<Seen>) {
        if !answer(&entry.join("generation"), || b"1\n".to_vec()) {
            return;
        }
        let mut report_data = Vec::new();
        let answered = answer(&entry.join("outblob"), || {
            report_data = fs::read(entry.join("inblob")).expect("the server wrote inblob first");
            match &self.quote_template {
                Some(template) => {
                    let mut quote = template.clone();
                    quote[TD_QUOTE_V4_REPORT_DATA..TD_QUOTE_V4_REPORT_DATA + report_data.len()]
                        .copy_from_slice(&report_data);
                    quote
                }
                None => [REPORT_PREFIX, &report_data].concat(),
            }
        });
        if !answered {
            return;
        }
        answer(&entry.join("generation"), || {
            if self.removable {
                for name in ["provider", "auxblob", "inblob", "outblob", "generation"] {
                    let _ = fs::remove_file(entry.join(name));
                }
            }
            let generation: &[u8] = if self.generation_moves {
                b"2\n"
            } else {
                b"1\n"
            };
            generation.to_vec()
        });
        let _ = seen.send(Seen {
            entry: entry.to_owned(),
            report_data,
        });
    }
}

/// Waits (up to 10 s) for the server to open the FIFO, makes the answer while the server waits for
/// it, writes it and closes, which ends the server's read. False when the server never came (it
/// gave up on the report earlier, as some tests make it).
fn answer(fifo: &Path, content: impl FnOnce() -> Vec<u8>) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut file = loop {
        // Non-blocking: opening a FIFO for writing fails (ENXIO) until a reader has it open.
        match fs::OpenOptions::new()
            .write(true)
            .custom_flags(nix::libc::O_NONBLOCK)
            .open(fifo)
        {
            Ok(file) => break file,
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(2)),
            Err(_) => return false,
        }
    };
    let content = content();
    file.write_all(&content)
        .expect("the answer fits in the pipe");
    true
}
