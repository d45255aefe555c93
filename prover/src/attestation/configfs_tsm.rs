//! SEV-SNP and TDX reports through the kernel's configfs-tsm interface
//! (Documentation/ABI/testing/configfs-tsm): make a report directory, write 64 bytes of report data
//! to `inblob`, read the report from `outblob`, check `generation` did not move meanwhile (another
//! writer would make the report someone else's), remove the directory.

use std::fs;
use std::path::{Path, PathBuf};

use super::{AttestationError, Platform};

/// A report and the platform the kernel says produced it.
pub struct TsmReport {
    pub platform: Platform,
    pub report: Vec<u8>,
}

/// Removes the report directory however the request ends.
struct ReportDir(PathBuf);

impl Drop for ReportDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir(&self.0);
    }
}

pub fn request_report(
    reports: &Path,
    report_data: &[u8; 64],
) -> Result<TsmReport, AttestationError> {
    let name = format!(
        "mpr-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
    );
    let dir = ReportDir(reports.join(name));
    fs::create_dir(&dir.0).map_err(|e| device_error(&dir.0, "create", e))?;
    let inblob = dir.0.join("inblob");
    fs::write(&inblob, report_data).map_err(|e| device_error(&inblob, "write", e))?;
    let before = read_generation(&dir.0)?;
    let outblob = dir.0.join("outblob");
    let report = fs::read(&outblob).map_err(|e| device_error(&outblob, "read", e))?;
    let after = read_generation(&dir.0)?;
    if before != after {
        return Err(AttestationError::Device {
            path: dir.0.clone(),
            problem: format!(
                "the report's inputs changed while it was generated (generation {before} -> {after}); retry"
            ),
        });
    }
    let provider_path = dir.0.join("provider");
    let provider =
        fs::read_to_string(&provider_path).map_err(|e| device_error(&provider_path, "read", e))?;
    let platform = match provider.trim() {
        "sev_guest" => Platform::SevSnp,
        "tdx_guest" => Platform::Tdx,
        other => {
            return Err(AttestationError::Device {
                path: provider_path,
                problem: format!(
                    "unknown configfs-tsm provider {other:?} (expected sev_guest or tdx_guest)"
                ),
            })
        }
    };
    Ok(TsmReport { platform, report })
}

fn read_generation(dir: &Path) -> Result<u64, AttestationError> {
    let path = dir.join("generation");
    let text = fs::read_to_string(&path).map_err(|e| device_error(&path, "read", e))?;
    text.trim().parse().map_err(|_| AttestationError::Device {
        path,
        problem: format!("generation is {text:?}, not a number"),
    })
}

fn device_error(path: &Path, action: &str, error: std::io::Error) -> AttestationError {
    AttestationError::Device {
        path: path.to_owned(),
        problem: format!("cannot {action} it: {error}"),
    }
}
