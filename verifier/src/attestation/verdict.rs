//! What a verification answers: accepted with the release, set and platform matched, or rejected
//! with every reason, each under a stable code that scripts and wallets can branch on.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One check that was run, passed or not, in the order run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Check {
    pub name: String,
    pub passed: bool,
    pub detail: String,
}

/// Why evidence was rejected. `code` is stable (`nitro-pcr-missing`, `binding-mismatch`, ...);
/// `message` says what was found and what to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reason {
    pub code: String,
    pub message: String,
}

impl Reason {
    pub fn new(code: &str, message: impl Into<String>) -> Reason {
        Reason {
            code: code.into(),
            message: message.into(),
        }
    }
}

/// The release measurement set the evidence matched.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Matched {
    pub package: String,
    pub version: String,
    pub release_statement_sha256: String,
    pub measurement_set: String,
    pub platform: String,
    /// The launch parameters the matched values hold for (vCPUs, VMM, firmware, ...).
    pub parameters: BTreeMap<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    pub accepted: bool,
    pub platform: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub matched: Option<Matched>,
    /// vTPM evidence: how the attestation key was trusted (`azure-hcl-snp`,
    /// `gcp-ak-certificate`, `policy-ak-root`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ak_trust: Option<String>,
    pub checks: Vec<Check>,
    pub reasons: Vec<Reason>,
}

impl Verdict {
    pub(crate) fn new(platform: &str) -> Verdict {
        Verdict {
            accepted: false,
            platform: platform.into(),
            matched: None,
            ak_trust: None,
            checks: Vec::new(),
            reasons: Vec::new(),
        }
    }

    pub(crate) fn pass(&mut self, name: &str, detail: impl Into<String>) {
        self.checks.push(Check {
            name: name.into(),
            passed: true,
            detail: detail.into(),
        });
    }

    pub(crate) fn fail(&mut self, name: &str, code: &str, message: impl Into<String>) {
        let message = message.into();
        self.checks.push(Check {
            name: name.into(),
            passed: false,
            detail: message.clone(),
        });
        self.reasons.push(Reason::new(code, message));
    }

    /// Accepted only when no check failed and a release set matched: fail closed.
    pub(crate) fn finish(mut self) -> Verdict {
        self.accepted = self.reasons.is_empty() && self.matched.is_some();
        if self.reasons.is_empty() && self.matched.is_none() {
            self.reasons.push(Reason::new(
                "no-release-matched",
                "no trusted release measurement set was checked against the evidence",
            ));
        }
        self
    }

    /// Folds in a check made outside this crate (the TLS key a client saw, say): a failure
    /// rejects the verdict.
    pub fn record(&mut self, name: &str, outcome: Result<String, Reason>) {
        match outcome {
            Ok(detail) => self.pass(name, detail),
            Err(reason) => {
                self.fail(name, &reason.code, reason.message);
                self.accepted = false;
            }
        }
    }

    pub fn codes(&self) -> Vec<&str> {
        self.reasons.iter().map(|r| r.code.as_str()).collect()
    }
}
