//! How a verdict is shown: every check with its outcome, then the match or every reason. The exit
//! status is the verdict: a rejection is an error.

use anyhow::bail;
use verifier::attestation::{Matched, Verdict};

pub fn describe_match(matched: &Matched) -> String {
    let mut text = if matched.version.is_empty() {
        format!("{} ({})", matched.package, matched.platform)
    } else {
        format!(
            "{} {}, measurement set {:?} ({})",
            matched.package, matched.version, matched.measurement_set, matched.platform
        )
    };
    if !matched.parameters.is_empty() {
        let parameters: Vec<String> = matched
            .parameters
            .iter()
            .map(|(name, value)| format!("{name}={value}"))
            .collect();
        text.push_str(&format!(" [{}]", parameters.join(", ")));
    }
    text
}

pub fn print(verdict: &Verdict, json: bool) -> anyhow::Result<()> {
    if json {
        super::super::print_json(verdict)?;
    } else {
        for check in &verdict.checks {
            outln!(
                "{} {}: {}",
                if check.passed { "ok  " } else { "FAIL" },
                check.name,
                check.detail
            )?;
        }
        if let (true, Some(matched)) = (verdict.accepted, &verdict.matched) {
            outln!(
                "ACCEPTED {} evidence: {}",
                verdict.platform,
                describe_match(matched)
            )?;
        }
    }
    if !verdict.accepted {
        let reasons: Vec<String> = verdict
            .reasons
            .iter()
            .map(|r| format!("[{}] {}", r.code, r.message))
            .collect();
        bail!(
            "REJECTED {} evidence ({} reason{}):\n  {}",
            verdict.platform,
            reasons.len(),
            if reasons.len() == 1 { "" } else { "s" },
            reasons.join("\n  ")
        );
    }
    Ok(())
}
