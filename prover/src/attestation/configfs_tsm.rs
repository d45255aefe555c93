//! SEV-SNP and TDX reports through the kernel's configfs-tsm interface
//! (Documentation/ABI/testing/configfs-tsm-report): make a report entry directory, read `provider`,
//! write the 64 bytes of report data to `inblob`, read the report from `outblob` and the host's
//! certificate table from `auxblob`, check `generation` did not move meanwhile (another writer would
//! make the report someone else's), remove the entry.
//!
//! TDX (`tdx_guest`) has no auxblob: the driver shows only `provider`, `generation`, `inblob` and
//! `outblob`, and `outblob` is the whole DCAP quote, whose certification data already carries the
//! PCK certificate chain; a wallet needs nothing else from the host. An auxblob a TDX entry may
//! still show (older kernels list the attribute, empty) is not passed on.
//!
//! `privlevel` is not written: its default is the privilege level the guest kernel runs at (VMPL 0
//! without an SVSM), and the report states its VMPL, which the verifier checks; asking for another
//! level would only make the kernel refuse or the verifier reject.

use std::fmt;
use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{AttestationError, Platform};

/// An SEV-SNP report is 1184 bytes; a TDX quote with its PCK certificate chain is ~5 KiB.
pub const MAX_OUTBLOB_LEN: u64 = 64 * 1024;
/// The SEV-SNP certificate table (VCEK/VLEK, ASK, ARK): the kernel caps it at 16 KiB today.
pub const MAX_AUXBLOB_LEN: u64 = 64 * 1024;
/// `provider` and `generation` are one short line each.
const MAX_ATTRIBUTE_LEN: u64 = 256;

/// How a report entry directory comes to exist. On the kernel's configfs a plain `mkdir` makes it and
/// the kernel fills it with its attribute files; tests substitute a fake device that creates the
/// directory and the files itself. Nothing else about the device is replaceable.
#[derive(Clone)]
pub struct CreateReportEntry(Arc<MakeEntry>);

/// Makes the report entry directory at the path given.
type MakeEntry = dyn Fn(&Path) -> io::Result<()> + Send + Sync;

impl CreateReportEntry {
    /// `mkdir`, which configfs answers by populating the entry.
    pub fn kernel() -> CreateReportEntry {
        CreateReportEntry(Arc::new(|path: &Path| fs::create_dir(path)))
    }

    /// Anything else that makes the directory and its attribute files (a test device).
    pub fn custom(create: impl Fn(&Path) -> io::Result<()> + Send + Sync + 'static) -> Self {
        CreateReportEntry(Arc::new(create))
    }

    fn create(&self, path: &Path) -> io::Result<()> {
        (self.0)(path)
    }
}

impl Default for CreateReportEntry {
    fn default() -> Self {
        CreateReportEntry::kernel()
    }
}

impl fmt::Debug for CreateReportEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CreateReportEntry")
    }
}

/// A report, the platform the kernel says produced it and the host's certificate table if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TsmReport {
    pub platform: Platform,
    pub report: Vec<u8>,
    /// `auxblob`: on SEV-SNP the GHCB certificate table the host supplied; absent or empty = none.
    /// TDX has none (see the module docs).
    pub auxblob: Option<Vec<u8>>,
}

/// Removes the report entry however the request ends (configfs removes an entry with its attribute
/// files; elsewhere a non-empty directory stays, which is harmless).
struct ReportEntry(PathBuf);

impl Drop for ReportEntry {
    fn drop(&mut self) {
        let _ = fs::remove_dir(&self.0);
    }
}

/// A report carrying `report_data`, from the configfs-tsm report directory `reports`.
pub fn request_report(
    reports: &Path,
    create_entry: &CreateReportEntry,
    report_data: &[u8; 64],
) -> Result<TsmReport, AttestationError> {
    let name = format!(
        "mpr-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
    );
    let path = reports.join(name);
    create_entry
        .create(&path)
        .map_err(|e| device_error(&path, "create", e))?;
    let entry = ReportEntry(path);
    // Before asking for a report: an unknown provider would give a report nobody can verify.
    let platform = read_provider(&entry.0)?;
    let inblob = entry.0.join("inblob");
    fs::write(&inblob, report_data).map_err(|e| device_error(&inblob, "write", e))?;
    let before = read_generation(&entry.0)?;
    let report = read_limited(&entry.0.join("outblob"), MAX_OUTBLOB_LEN, true)?.unwrap_or_default();
    if report.is_empty() {
        return Err(AttestationError::Device {
            path: entry.0.join("outblob"),
            problem: "the kernel returned an empty report".into(),
        });
    }
    let auxblob = read_limited(&entry.0.join("auxblob"), MAX_AUXBLOB_LEN, false)?
        .filter(|blob| !blob.is_empty());
    let after = read_generation(&entry.0)?;
    if before != after {
        return Err(AttestationError::Device {
            path: entry.0.clone(),
            problem: format!(
                "the report's inputs changed while it was generated (generation {before} -> {after}); retry"
            ),
        });
    }
    Ok(TsmReport {
        platform,
        report,
        auxblob,
    })
}

fn read_provider(entry: &Path) -> Result<Platform, AttestationError> {
    let path = entry.join("provider");
    let provider = read_attribute(&path)?;
    match provider.trim() {
        "sev_guest" => Ok(Platform::SevSnp),
        "tdx_guest" => Ok(Platform::Tdx),
        other => Err(AttestationError::Device {
            path,
            problem: format!(
                "unknown configfs-tsm provider {other:?} (expected sev_guest or tdx_guest)"
            ),
        }),
    }
}

fn read_generation(entry: &Path) -> Result<u64, AttestationError> {
    let path = entry.join("generation");
    let text = read_attribute(&path)?;
    text.trim().parse().map_err(|_| AttestationError::Device {
        path,
        problem: format!("generation is {text:?}, not a number"),
    })
}

fn read_attribute(path: &Path) -> Result<String, AttestationError> {
    let bytes = read_limited(path, MAX_ATTRIBUTE_LEN, true)?.unwrap_or_default();
    String::from_utf8(bytes).map_err(|_| AttestationError::Device {
        path: path.to_owned(),
        problem: "not text".into(),
    })
}

/// The file's content up to `limit` bytes; `None` when it does not exist and is not `required`.
fn read_limited(
    path: &Path,
    limit: u64,
    required: bool,
) -> Result<Option<Vec<u8>>, AttestationError> {
    let file = match fs::File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound && !required => return Ok(None),
        Err(e) => return Err(device_error(path, "open", e)),
    };
    let mut content = Vec::new();
    file.take(limit + 1)
        .read_to_end(&mut content)
        .map_err(|e| device_error(path, "read", e))?;
    if content.len() as u64 > limit {
        return Err(AttestationError::Device {
            path: path.to_owned(),
            problem: format!("more than {limit} bytes; not a configfs-tsm attribute"),
        });
    }
    Ok(Some(content))
}

fn device_error(path: &Path, action: &str, error: io::Error) -> AttestationError {
    AttestationError::Device {
        path: path.to_owned(),
        problem: format!("cannot {action} it: {error}"),
    }
}
