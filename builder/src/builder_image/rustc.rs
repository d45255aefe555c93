//! What a toolchain says about itself (`rustc -vV`), and the time derived from it.

use std::path::Path;
use std::process::Command;

use super::BuilderImageError;

/// What `rustc -vV` says about a toolchain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RustcInfo {
    /// First line, as `rustc --version` prints it.
    pub version: String,
    pub release: String,
    pub commit_hash: String,
    pub host: String,
    /// `commit-date` at 00:00 UTC, in Unix seconds.
    pub commit_unix: u64,
}

impl RustcInfo {
    pub fn read(toolchain: &Path) -> Result<Self, BuilderImageError> {
        let rustc = toolchain.join("bin").join("rustc");
        let fail = |detail: String| BuilderImageError::Toolchain {
            path: toolchain.to_owned(),
            detail,
        };
        let output = Command::new(&rustc)
            .arg("-vV")
            .output()
            .map_err(|e| fail(format!("cannot run {}: {e}", rustc.display())))?;
        if !output.status.success() {
            return Err(fail(format!(
                "`rustc -vV` failed: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            )));
        }
        Self::parse(&String::from_utf8_lossy(&output.stdout)).map_err(fail)
    }

    pub fn parse(text: &str) -> Result<Self, String> {
        let version = text.lines().next().unwrap_or_default().trim().to_owned();
        let field = |name: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(name)?.strip_prefix(": "))
                .map(|v| v.trim().to_owned())
                .ok_or_else(|| format!("`rustc -vV` printed no `{name}` line"))
        };
        let date = field("commit-date")?;
        let commit_unix = unix_from_date(&date)
            .ok_or_else(|| format!("commit-date {date:?} is not a YYYY-MM-DD date"))?;
        Ok(RustcInfo {
            version,
            release: field("release")?,
            commit_hash: field("commit-hash")?,
            host: field("host")?,
            commit_unix,
        })
    }
}

/// `YYYY-MM-DD` → Unix seconds at 00:00 UTC (days from civil, proleptic Gregorian).
fn unix_from_date(date: &str) -> Option<u64> {
    let mut parts = date.split('-');
    let (y, m, d) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || y.len() != 4 || m.len() != 2 || d.len() != 2 {
        return None;
    }
    let (y, m, d): (u64, u64, u64) = (y.parse().ok()?, m.parse().ok()?, d.parse().ok()?);
    if y < 1970 || !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    // Shifting the year to start in March puts the leap day last.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y / 400;
    let year_of_era = y % 400;
    let month_from_march = (m + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + d - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    let days = era * 146_097 + day_of_era - 719_468;
    Some(days * 86_400)
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rustc_verbose_version_is_parsed() {
        let text = "rustc 1.95.0 (59807616e 2026-04-14)\nbinary: rustc\ncommit-hash: 59807616e1fa2540724bfbac14d7976d7e4a3860\ncommit-date: 2026-04-14\nhost: x86_64-unknown-linux-gnu\nrelease: 1.95.0\nLLVM version: 22.1.2\n";
        let info = RustcInfo::parse(text).unwrap();
        assert_eq!(info.version, "rustc 1.95.0 (59807616e 2026-04-14)");
        assert_eq!(info.release, "1.95.0");
        assert_eq!(info.host, "x86_64-unknown-linux-gnu");
        assert_eq!(info.commit_unix, 1_776_124_800);
        assert!(RustcInfo::parse("rustc 1.0\nrelease: 1.0\n").is_err());
    }

    #[test]
    fn dates_convert_like_the_rfc3339_formatter_reads_them() {
        for date in [
            "1970-01-01",
            "2000-02-29",
            "2024-12-31",
            "2026-04-14",
            "2100-03-01",
        ] {
            let unix = unix_from_date(date).unwrap();
            assert!(measurer::eif::rfc3339_from_unix(unix).starts_with(&format!("{date}T00:00:00")));
        }
        for bad in ["2026-4-14", "2026-13-01", "1969-12-31", "2026-04-14-1", "x"] {
            assert_eq!(unix_from_date(bad), None, "{bad}");
        }
    }
}
