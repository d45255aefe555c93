//! What a builder image was made from, kept as labels in its config (so the image ID covers them),
//! read back for build records, and compared when the image is recreated from a record.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::RustcInfo;

/// Everything `mpr builder-image create` took in: with the same inputs (and the same mpr) it makes
/// the same image, byte for byte.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BuilderImageInputs {
    pub suite: String,
    pub mirror: String,
    /// The snapshot.debian.org timestamp (`20250520T000000Z`) when the mirror is a snapshot, which
    /// pins every package version; `None` for a moving mirror.
    pub snapshot: Option<String>,
    /// The packages asked for (`--include`), in the order given.
    pub requested_packages: Vec<String>,
    /// Every installed package as `name:architecture=version`, sorted.
    pub installed_packages: Vec<String>,
    pub source_date_epoch: u64,
    pub toolchain: ToolchainInputs,
}

/// The Rust toolchain copied into the image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolchainInputs {
    /// `rustc --version`.
    pub version: String,
    pub commit_hash: String,
    pub host: String,
    /// SHA-256 of the toolchain tree as placed in the image (`opt/rust/`, written as a
    /// deterministic tar with every mtime 0, so it does not depend on SOURCE_DATE_EPOCH).
    pub sha256: String,
}

impl ToolchainInputs {
    pub fn new(rustc: &RustcInfo, sha256: String) -> Self {
        ToolchainInputs {
            version: rustc.version.clone(),
            commit_hash: rustc.commit_hash.clone(),
            host: rustc.host.clone(),
            sha256,
        }
    }
}

const PREFIX: &str = "dev.mpr.";
const SCHEMA: (&str, &str) = ("dev.mpr.builder-image.inputs-schema", "1");
const SUITE: &str = "dev.mpr.debian.suite";
const MIRROR: &str = "dev.mpr.debian.mirror";
const SNAPSHOT: &str = "dev.mpr.debian.snapshot";
const REQUESTED: &str = "dev.mpr.debian.packages.requested";
const INSTALLED: &str = "dev.mpr.debian.packages.installed";
const SOURCE_DATE_EPOCH: &str = "dev.mpr.source-date-epoch";
const RUSTC_VERSION: &str = "dev.mpr.rustc.version";
const RUSTC_RELEASE: &str = "dev.mpr.rustc.release";
const RUSTC_HOST: &str = "dev.mpr.rustc.host";
const TOOLCHAIN_SHA256: &str = "dev.mpr.toolchain.sha256";
use super::RUSTC_COMMIT_LABEL;

/// Why an image's labels do not give its inputs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LabelError {
    #[error("it has no `{0}` label")]
    Missing(&'static str),
    #[error("its label `{label}` = {value:?} is invalid: {reason}")]
    Invalid {
        label: &'static str,
        value: String,
        reason: String,
    },
}

impl BuilderImageInputs {
    /// The labels that record these inputs (plus the rustc release, for people reading
    /// `docker inspect`).
    pub fn to_labels(&self, rustc_release: &str) -> BTreeMap<String, String> {
        let mut labels: BTreeMap<String, String> = [
            SCHEMA,
            (SUITE, self.suite.as_str()),
            (MIRROR, self.mirror.as_str()),
            (RUSTC_VERSION, self.toolchain.version.as_str()),
            (RUSTC_RELEASE, rustc_release),
            (RUSTC_COMMIT_LABEL, self.toolchain.commit_hash.as_str()),
            (RUSTC_HOST, self.toolchain.host.as_str()),
            (TOOLCHAIN_SHA256, self.toolchain.sha256.as_str()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        if let Some(snapshot) = &self.snapshot {
            labels.insert(SNAPSHOT.to_owned(), snapshot.clone());
        }
        labels.insert(REQUESTED.to_owned(), self.requested_packages.join(","));
        labels.insert(INSTALLED.to_owned(), self.installed_packages.join("\n"));
        labels.insert(
            SOURCE_DATE_EPOCH.to_owned(),
            self.source_date_epoch.to_string(),
        );
        labels
    }

    /// Reads the inputs back from an image's labels.
    pub fn from_labels(labels: &BTreeMap<String, String>) -> Result<Self, LabelError> {
        let get = |label: &'static str| {
            labels
                .get(label)
                .map(String::as_str)
                .ok_or(LabelError::Missing(label))
        };
        let invalid = |label: &'static str, value: &str, reason: String| LabelError::Invalid {
            label,
            value: value.to_owned(),
            reason,
        };
        let schema = get(SCHEMA.0)?;
        if schema != SCHEMA.1 {
            return Err(invalid(
                SCHEMA.0,
                schema,
                format!(
                    "this mpr reads schema {}; use the mpr that made the image",
                    SCHEMA.1
                ),
            ));
        }
        let mirror = get(MIRROR)?.to_owned();
        let snapshot = labels.get(SNAPSHOT).cloned();
        let expected_snapshot =
            snapshot_timestamp(&mirror).map_err(|reason| invalid(MIRROR, &mirror, reason))?;
        if snapshot != expected_snapshot {
            return Err(invalid(
                SNAPSHOT,
                snapshot.as_deref().unwrap_or(""),
                format!("it does not match the mirror {mirror}"),
            ));
        }
        let sde_text = get(SOURCE_DATE_EPOCH)?;
        let source_date_epoch = sde_text.parse().map_err(|e| {
            invalid(
                SOURCE_DATE_EPOCH,
                sde_text,
                format!("not a number of seconds: {e}"),
            )
        })?;
        let requested = get(REQUESTED)?;
        let requested_packages = split_list(requested, ',');
        let installed = get(INSTALLED)?;
        let installed_packages = split_list(installed, '\n');
        for package in &installed_packages {
            parse_installed(package).map_err(|reason| invalid(INSTALLED, package, reason))?;
        }
        let sha256 = get(TOOLCHAIN_SHA256)?;
        if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(invalid(
                TOOLCHAIN_SHA256,
                sha256,
                "not 64 hex digits".to_owned(),
            ));
        }
        Ok(BuilderImageInputs {
            suite: get(SUITE)?.to_owned(),
            mirror,
            snapshot,
            requested_packages,
            installed_packages,
            source_date_epoch,
            toolchain: ToolchainInputs {
                version: get(RUSTC_VERSION)?.to_owned(),
                commit_hash: get(RUSTC_COMMIT_LABEL)?.to_owned(),
                host: get(RUSTC_HOST)?.to_owned(),
                sha256: sha256.to_owned(),
            },
        })
    }

    /// Whether `labels` hold any of mpr's builder-image labels (an image made by an older mpr has
    /// some, one from elsewhere none).
    pub fn has_any_label(labels: &BTreeMap<String, String>) -> bool {
        labels.keys().any(|k| k.starts_with(PREFIX))
    }
}

fn split_list(text: &str, separator: char) -> Vec<String> {
    text.split(separator)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// `name:architecture=version` → (`name:architecture`, `version`).
pub fn parse_installed(entry: &str) -> Result<(&str, &str), String> {
    let (package, version) = entry
        .split_once('=')
        .ok_or_else(|| "expected name:architecture=version".to_owned())?;
    let valid = package
        .split_once(':')
        .is_some_and(|(name, arch)| !name.is_empty() && !arch.is_empty())
        && !version.is_empty();
    if !valid {
        return Err("expected name:architecture=version".to_owned());
    }
    Ok((package, version))
}

/// The snapshot.debian.org timestamp in `mirror`, `None` for any other mirror; a snapshot URL
/// without a timestamp is an error, since it would not pin anything.
pub fn snapshot_timestamp(mirror: &str) -> Result<Option<String>, String> {
    let Some(rest) = mirror
        .strip_prefix("http://")
        .or_else(|| mirror.strip_prefix("https://"))
    else {
        return Err("the mirror must be an http:// or https:// URL".to_owned());
    };
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    if host != "snapshot.debian.org" {
        return Ok(None);
    }
    let fix = "write it as http://snapshot.debian.org/archive/debian/YYYYMMDDTHHMMSSZ";
    let mut parts = path.split('/').filter(|p| !p.is_empty());
    let (Some("archive"), Some(_archive), Some(stamp)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(format!(
            "a snapshot.debian.org mirror needs an archive and a timestamp; {fix}"
        ));
    };
    let bytes = stamp.as_bytes();
    let valid = bytes.len() == 16
        && bytes[8] == b'T'
        && bytes[15] == b'Z'
        && bytes[..8]
            .iter()
            .chain(&bytes[9..15])
            .all(u8::is_ascii_digit);
    if !valid || parts.next().is_some() {
        return Err(format!("{stamp:?} is not a snapshot timestamp; {fix}"));
    }
    Ok(Some(stamp.to_owned()))
}

/// One input that differs between a record and what can be made now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InputDifference {
    /// `toolchain sha256`, `suite`, `package libc6:amd64`, …
    pub input: String,
    /// `None`: not in the record.
    pub recorded: Option<String>,
    /// `None`: not there now.
    pub now: Option<String>,
    /// Where `now` comes from: `the host's toolchain`, `the mirror`, `the command line`.
    pub source: &'static str,
}

impl fmt::Display for InputDifference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let show = |v: &Option<String>| v.clone().unwrap_or_else(|| "(none)".to_owned());
        write!(
            f,
            "{}: recorded {}, {} gives {}",
            self.input,
            show(&self.recorded),
            self.source,
            show(&self.now)
        )
    }
}

/// Every input in which `now` differs from `recorded`, toolchain first, then the Debian inputs,
/// then package by package.
pub fn differences(
    recorded: &BuilderImageInputs,
    now: &BuilderImageInputs,
) -> Vec<InputDifference> {
    let mut out = Vec::new();
    let mut field = |input: &str, a: &str, b: &str, source: &'static str| {
        if a != b {
            out.push(InputDifference {
                input: input.to_owned(),
                recorded: Some(a.to_owned()),
                now: Some(b.to_owned()),
                source,
            });
        }
    };
    let host = "the host's toolchain";
    let (rt, nt) = (&recorded.toolchain, &now.toolchain);
    field("toolchain version", &rt.version, &nt.version, host);
    field("toolchain commit", &rt.commit_hash, &nt.commit_hash, host);
    field("toolchain host", &rt.host, &nt.host, host);
    field("toolchain sha256", &rt.sha256, &nt.sha256, host);
    let cli = "the command line";
    field("suite", &recorded.suite, &now.suite, cli);
    field("mirror", &recorded.mirror, &now.mirror, cli);
    field(
        "requested packages",
        &recorded.requested_packages.join(","),
        &now.requested_packages.join(","),
        cli,
    );
    field(
        "source date epoch",
        &recorded.source_date_epoch.to_string(),
        &now.source_date_epoch.to_string(),
        cli,
    );
    out.extend(package_differences(
        &recorded.installed_packages,
        &now.installed_packages,
    ));
    out
}

fn package_differences(recorded: &[String], now: &[String]) -> Vec<InputDifference> {
    let index = |list: &[String]| -> BTreeMap<String, String> {
        list.iter()
            .filter_map(|entry| parse_installed(entry).ok())
            .map(|(package, version)| (package.to_owned(), version.to_owned()))
            .collect()
    };
    let (recorded, now) = (index(recorded), index(now));
    let mut names: Vec<&String> = recorded.keys().chain(now.keys()).collect();
    names.sort();
    names.dedup();
    names
        .into_iter()
        .filter(|name| recorded.get(*name) != now.get(*name))
        .map(|name| InputDifference {
            input: format!("package {name}"),
            recorded: recorded.get(name).cloned(),
            now: now.get(name).cloned(),
            source: "the mirror",
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> BuilderImageInputs {
        BuilderImageInputs {
            suite: "bookworm".into(),
            mirror: "http://snapshot.debian.org/archive/debian/20250520T000000Z".into(),
            snapshot: Some("20250520T000000Z".into()),
            requested_packages: vec!["gcc".into(), "make".into()],
            installed_packages: vec!["gcc:amd64=4:12.2.0-3".into(), "make:amd64=4.3-4.1".into()],
            source_date_epoch: 1_776_124_800,
            toolchain: ToolchainInputs {
                version: "rustc 1.95.0 (59807616e 2026-04-14)".into(),
                commit_hash: "59807616e1fa2540724bfbac14d7976d7e4a3860".into(),
                host: "x86_64-unknown-linux-gnu".into(),
                sha256: "ab".repeat(32),
            },
        }
    }

    #[test]
    fn labels_round_trip() {
        let inputs = sample();
        let labels = inputs.to_labels("1.95.0");
        assert_eq!(labels["dev.mpr.debian.snapshot"], "20250520T000000Z");
        assert_eq!(
            labels["dev.mpr.debian.packages.installed"],
            "gcc:amd64=4:12.2.0-3\nmake:amd64=4.3-4.1"
        );
        assert_eq!(BuilderImageInputs::from_labels(&labels).unwrap(), inputs);
    }

    #[test]
    fn missing_and_bad_labels_are_named() {
        let mut labels = sample().to_labels("1.95.0");
        labels.remove(TOOLCHAIN_SHA256);
        assert_eq!(
            BuilderImageInputs::from_labels(&labels).unwrap_err(),
            LabelError::Missing(TOOLCHAIN_SHA256)
        );
        let mut labels = sample().to_labels("1.95.0");
        labels.insert(INSTALLED.into(), "gcc 4:12 amd64".into());
        let err = BuilderImageInputs::from_labels(&labels).unwrap_err();
        assert!(err.to_string().contains(INSTALLED), "{err}");
        let mut labels = sample().to_labels("1.95.0");
        labels.remove(SNAPSHOT);
        let err = BuilderImageInputs::from_labels(&labels).unwrap_err();
        assert!(
            err.to_string().contains("does not match the mirror"),
            "{err}"
        );
        assert!(!BuilderImageInputs::has_any_label(&BTreeMap::from([(
            "maintainer".to_owned(),
            "x".to_owned()
        )])));
    }

    #[test]
    fn snapshot_timestamps() {
        assert_eq!(snapshot_timestamp("http://deb.debian.org/debian"), Ok(None));
        assert_eq!(
            snapshot_timestamp("https://snapshot.debian.org/archive/debian/20250520T000000Z/"),
            Ok(Some("20250520T000000Z".into()))
        );
        for bad in [
            "http://snapshot.debian.org/archive/debian",
            "http://snapshot.debian.org/archive/debian/2025-05-20",
            "http://snapshot.debian.org/archive/debian/20250520T000000Z/extra",
            "ftp://deb.debian.org/debian",
        ] {
            assert!(snapshot_timestamp(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn differences_list_exactly_what_changed() {
        let recorded = sample();
        assert!(differences(&recorded, &recorded).is_empty());
        let mut now = sample();
        now.toolchain.sha256 = "cd".repeat(32);
        now.installed_packages = vec![
            "gcc:amd64=4:12.2.0-4".into(),
            "make:amd64=4.3-4.1".into(),
            "zlib1g:amd64=1:1.2.13".into(),
        ];
        let found: Vec<String> = differences(&recorded, &now)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            found,
            [
                format!(
                    "toolchain sha256: recorded {}, the host's toolchain gives {}",
                    "ab".repeat(32),
                    "cd".repeat(32)
                ),
                "package gcc:amd64: recorded 4:12.2.0-3, the mirror gives 4:12.2.0-4".to_owned(),
                "package zlib1g:amd64: recorded (none), the mirror gives 1:1.2.13".to_owned(),
            ]
        );
    }
}
