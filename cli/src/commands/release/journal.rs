//! `release.json` in the release directory: what each stage did, rewritten (temp file + rename)
//! after every stage, so a re-run knows what a killed or failed run finished, and `--json` prints
//! the same document.

use std::path::Path;

use anyhow::Context;
use serde::{Deserialize, Serialize};

/// The journal's file name inside `--out`; its presence marks the directory as mpr's.
pub const JOURNAL_FILE: &str = "release.json";
/// Journals are small; anything larger is not ours.
const MAX_JOURNAL_BYTES: u64 = 1 << 20;

/// The stages in the order they run.
pub const STAGES: [&str; 5] = ["build", "sign", "record", "log", "github"];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// The stage did its work in this run.
    Done,
    /// Its work was already done (by an earlier run); nothing was repeated.
    Skipped,
    /// It was left out on purpose (e.g. no GitHub token); `detail` says why.
    NotConfigured,
    /// It failed in this run; `detail` holds the error.
    Failed,
    /// An earlier stage failed.
    NotRun,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StageReport {
    pub stage: String,
    pub outcome: Outcome,
    pub detail: String,
    pub seconds: f64,
}

/// What wallets and the Action read off a release: its measurements.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Measurements {
    pub pcr0: Option<String>,
    pub pcr1: Option<String>,
    pub pcr2: Option<String>,
    pub pcr8: Option<String>,
    pub snp: Vec<SnpDigest>,
    /// The UKI boot disk's vTPM PCRs (GCP and Azure confidential VMs).
    #[serde(default)]
    pub vtpm: Option<VtpmPcrs>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VtpmPcrs {
    pub pcr4: String,
    pub pcr9: String,
    pub pcr11: String,
    pub pcr12: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SnpDigest {
    pub vcpus: u32,
    pub vcpu_type: Option<String>,
    pub vmm: String,
    pub digest: String,
}

/// The GitHub release as published, kept so that a re-run does not upload it again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GitHubPublication {
    pub repository: String,
    pub tag: String,
    pub url: String,
    /// Asset names and the SHA-256 of what was uploaded.
    pub assets: Vec<(String, String)>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Journal {
    pub version: String,
    pub registry: String,
    pub stages: Vec<StageReport>,
    pub record_sha256: Option<String>,
    pub statement_sha256: Option<String>,
    pub signed_by: Option<String>,
    pub log_index: Option<u64>,
    pub release_url: Option<String>,
    pub github: Option<GitHubPublication>,
    pub measurements: Measurements,
}

impl Journal {
    pub fn new(version: &str, registry: &str) -> Journal {
        Journal {
            version: version.to_owned(),
            registry: registry.to_owned(),
            stages: Vec::new(),
            record_sha256: None,
            statement_sha256: None,
            signed_by: None,
            log_index: None,
            release_url: None,
            github: None,
            measurements: Measurements::default(),
        }
    }

    /// The journal an earlier run left in `dir`, if any.
    pub fn load(dir: &Path) -> anyhow::Result<Option<Journal>> {
        let path = dir.join(JOURNAL_FILE);
        if !path.exists() {
            return Ok(None);
        }
        let bytes =
            registry_api::signing::read_limited(&path, "a release journal", MAX_JOURNAL_BYTES)?;
        let journal = serde_json::from_slice(&bytes).with_context(|| {
            format!(
                "{} is not a release journal of this mpr; move it away to start the release afresh",
                path.display()
            )
        })?;
        Ok(Some(journal))
    }

    pub fn save(&self, dir: &Path) -> anyhow::Result<()> {
        let mut text = serde_json::to_string_pretty(self)?;
        text.push('\n');
        registry_api::signing::write_replacing(&dir.join(JOURNAL_FILE), text.as_bytes(), 0o644)?;
        Ok(())
    }

    pub fn report(&mut self, stage: &str, outcome: Outcome, detail: String, seconds: f64) {
        self.stages.retain(|report| report.stage != stage);
        self.stages.push(StageReport {
            stage: stage.to_owned(),
            outcome,
            detail,
            seconds,
        });
    }
}
