//! `--submit`: the rebuild's verdict as a signed in-toto statement (rebuild/v1) sent to the
//! registry, which checks the signature against its registered rebuilder keys, compares the
//! artifacts itself, logs the report and counts the rebuilder once (k of n by distinct keys).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use verifier::statement::{
    Digest, RebuildPredicate, RebuildStatement, RebuildVerdict, ReleaseStatement, Statement,
    MAX_FINDINGS, MAX_FINDING_BYTES, REBUILD_PREDICATE, STATEMENT_TYPE,
};

use crate::commands::http::read_body;
use crate::commands::key::Signer;

/// The signed report, beside the verdict in the rebuild's directory.
pub const REPORT_FILE: &str = "rebuild-report.json";

/// Where reports go and who sends them.
pub struct Submitter {
    pub registry: String,
    pub token: String,
    pub signer: Signer,
}

/// What the registry answered.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Submitted {
    pub report: PathBuf,
    pub report_sha256: String,
    pub signed_by: String,
    /// The registry's own verdict (it compares the artifacts with the official ones itself).
    pub registry_status: String,
}

/// What went into the report besides the verdict.
pub struct ReportInputs<'a> {
    pub official: &'a ReleaseStatement,
    pub official_sha256: &'a str,
    pub verdict: RebuildVerdict,
    /// The rebuild's own statement and build record digest (absent when the build failed).
    pub rebuilt: Option<(&'a ReleaseStatement, String, String)>,
    pub sizes: BTreeMap<String, u64>,
    pub findings: Vec<String>,
}

/// The report: the rebuilt artifacts as subject (or the release statement when nothing was
/// built), and where and with what it was rebuilt.
pub fn report(inputs: &ReportInputs<'_>) -> RebuildStatement {
    let official = &inputs.official.predicate;
    let mut findings: Vec<String> = inputs
        .findings
        .iter()
        .take(MAX_FINDINGS)
        .map(|finding| bounded(finding))
        .collect();
    findings.dedup();
    let predicate = RebuildPredicate {
        version: official.version.clone(),
        release_statement: Digest {
            sha256: inputs.official_sha256.to_owned(),
        },
        verdict: inputs.verdict,
        rebuilder: None,
        rebuilt_statement: inputs.rebuilt.as_ref().map(|(_, sha256, _)| Digest {
            sha256: sha256.clone(),
        }),
        build_record: inputs.rebuilt.as_ref().map(|(_, _, record)| Digest {
            sha256: record.clone(),
        }),
        sizes: BTreeMap::new(),
        environment: environment(official.builder_image.as_deref()),
        findings,
    };
    match (&inputs.rebuilt, inputs.verdict) {
        (Some((rebuilt, _, _)), RebuildVerdict::Good | RebuildVerdict::Bad) => Statement {
            statement_type: STATEMENT_TYPE.to_owned(),
            subject: rebuilt.subject.clone(),
            predicate_type: REBUILD_PREDICATE.to_owned(),
            predicate: RebuildPredicate {
                sizes: inputs.sizes.clone(),
                ..predicate
            },
        },
        _ => RebuildStatement::failed(RebuildPredicate {
            verdict: RebuildVerdict::Fail,
            ..predicate
        }),
    }
}

/// One finding within the statement's limits, cut at a character boundary.
fn bounded(finding: &str) -> String {
    let clean: String = finding
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if clean.len() <= MAX_FINDING_BYTES {
        return clean;
    }
    let mut end = MAX_FINDING_BYTES - 3;
    while !clean.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &clean[..end])
}

/// The rebuilder's environment, as far as it can affect a build or its reading.
fn environment(builder_image: Option<&str>) -> BTreeMap<String, String> {
    let mut environment = BTreeMap::from([
        (
            "mpr_version".to_owned(),
            env!("CARGO_PKG_VERSION").to_owned(),
        ),
        ("os".to_owned(), std::env::consts::OS.to_owned()),
        ("arch".to_owned(), std::env::consts::ARCH.to_owned()),
    ]);
    if let Ok(kernel) = std::fs::read_to_string("/proc/sys/kernel/osrelease") {
        let kernel = kernel.trim();
        if !kernel.is_empty() && kernel.len() <= 256 {
            environment.insert("kernel".to_owned(), kernel.to_owned());
        }
    }
    if let Some(image) = builder_image {
        environment.insert("builder_image".to_owned(), image.to_owned());
    }
    environment
}

/// Writes, signs and sends the report; the registry's answer says how it judged it.
pub async fn submit(
    submitter: &Submitter,
    statement: &RebuildStatement,
    out: &Path,
) -> anyhow::Result<Submitted> {
    let bytes = statement.to_bytes();
    let path = out.join(REPORT_FILE);
    registry_api::signing::write_replacing(&path, &bytes, 0o644)?;
    let signature = submitter
        .signer
        .sign(&path)
        .context("signing the rebuild report")?;
    let mut signature_path = path.clone().into_os_string();
    signature_path.push(".asc");
    registry_api::signing::write_replacing(
        Path::new(&signature_path),
        signature.armored.as_bytes(),
        0o644,
    )?;
    let version = &statement.predicate.version;
    let url = format!(
        "{}/v1/releases/{version}/rebuilds",
        submitter.registry.trim_end_matches('/')
    );
    let response = crate::commands::http::client()?
        .post(&url)
        .bearer_auth(&submitter.token)
        .header(
            registry_api::builds::SIGNATURE_HEADER,
            base64::engine::general_purpose::STANDARD.encode(signature.armored.as_bytes()),
        )
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(bytes.clone())
        .send()
        .await
        .with_context(|| format!("sending the rebuild report to {url}"))?;
    let body = read_body(response, &url, 1 << 20).await.with_context(|| {
        format!(
            "the registry refused the rebuild report (signed, in {})",
            path.display()
        )
    })?;
    #[derive(Deserialize)]
    struct Answer {
        status: String,
    }
    let answer: Answer = serde_json::from_slice(&body)
        .with_context(|| format!("{url} answered something other than a rebuild verdict"))?;
    Ok(Submitted {
        report: path,
        report_sha256: verifier::statement::sha256_hex(&bytes),
        signed_by: signature.verified.key_fingerprint,
        registry_status: answer.status,
    })
}
