//! The verdict for people: one row per fact, the file-level differences, the report sent.

use super::Verdict;

pub(super) fn print(verdict: &Verdict, json: bool) -> anyhow::Result<()> {
    if json {
        return crate::commands::print_json(verdict);
    }
    let width = verdict
        .rows
        .iter()
        .map(|row| row.what.len())
        .max()
        .unwrap_or(0);
    let short = |value: &Option<String>| match value {
        Some(value) if value.len() > 24 => format!("{}…", &value[..24]),
        Some(value) => value.clone(),
        None => "(none)".to_owned(),
    };
    for row in &verdict.rows {
        let mark = if row.matches { "match" } else { "DIFFERS" };
        outln!(
            "{mark:<7}  {:<width$}  {:<25}  {}",
            row.what,
            short(&row.official),
            short(&row.rebuilt)
        )?;
    }
    for difference in &verdict.differences {
        outln!("  {difference}")?;
    }
    if let Some(submitted) = &verdict.submitted {
        outln!(
            "report {} ({}) signed by {}: the registry judged it {}",
            submitted.report.display(),
            submitted.report_sha256,
            submitted.signed_by,
            submitted.registry_status
        )?;
    }
    let differing = verdict.rows.iter().filter(|row| !row.matches).count();
    let Some(rebuilt) = &verdict.rebuilt_statement_sha256 else {
        outln!(
            "FAIL: release {} could not be rebuilt: {}",
            verdict.version,
            verdict.failure.as_deref().unwrap_or("(no reason recorded)")
        )?;
        return Ok(());
    };
    outln!(
        "{}: release {} rebuilt; statement sha256:{rebuilt} {}",
        verdict.status,
        verdict.version,
        if verdict.status == "GOOD" {
            "is the signed statement, byte for byte".to_owned()
        } else {
            format!(
                "differs from the signed sha256:{} ({differing} of {} facts differ)",
                verdict.statement_sha256,
                verdict.rows.len()
            )
        }
    )?;
    Ok(())
}
