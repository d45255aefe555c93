//! EIFs: header fields and PCRs, the section list, then each pair of sections: bytes (size, SHA-256,
//! first differing offset), the cmdline as text, the metadata as JSON, and ramdisks entry by entry.

use std::path::Path;

use measurer::eif::{describe, EifDescription, SectionInfo, SectionKind};
use serde_json::Value;

use super::bytes::{self, Content};
use super::entries::{compare_entries, cpio_entries};
use super::json::compare_json;
use super::{DiffError, DiffKind, DiffOptions, Difference, FieldChange};

/// The 12-byte section header before each section's data.
const SECTION_HEADER_SIZE: u64 = 12;

fn load(path: &Path) -> Result<EifDescription, DiffError> {
    describe(path).map_err(|source| DiffError::Eif {
        what: format!("reading the EIF {}", path.display()),
        source,
    })
}

fn data(path: &Path, section: &SectionInfo) -> Content {
    Content::Range {
        path: path.to_owned(),
        offset: section.offset.saturating_add(SECTION_HEADER_SIZE),
        len: section.size,
    }
}

fn fields(description: &EifDescription) -> Vec<(&'static str, Value)> {
    let pcr = |p: Option<&measurer::Digest384>| p.map_or(Value::Null, |d| Value::from(d.to_hex()));
    let pcrs = &description.pcrs;
    vec![
        ("version", Value::from(description.version)),
        ("arch", Value::from(description.arch.as_str())),
        ("flags", Value::from(description.flags)),
        ("default_mem", Value::from(description.default_mem)),
        ("default_cpus", Value::from(description.default_cpus)),
        ("crc32", Value::from(format!("{:08x}", description.crc32))),
        ("sections", Value::from(description.sections.len())),
        ("pcr0", pcr(Some(&pcrs.pcr0))),
        ("pcr1", pcr(Some(&pcrs.pcr1))),
        ("pcr2", pcr(Some(&pcrs.pcr2))),
        ("pcr8", pcr(pcrs.pcr8.as_ref())),
    ]
}

/// Compares two EIF files already known to differ byte-wise.
pub(crate) fn compare_eifs(
    prefix: &str,
    path_a: &Path,
    path_b: &Path,
    options: &DiffOptions,
    out: &mut Vec<Difference>,
) -> Result<(), DiffError> {
    let (a, b) = (load(path_a)?, load(path_b)?);
    let mut header = Difference::new(super::join(prefix, "header"), DiffKind::Changed);
    for ((field, va), (_, vb)) in fields(&a).into_iter().zip(fields(&b)) {
        if va != vb {
            header.fields.push(FieldChange {
                field: field.to_owned(),
                a: Some(va),
                b: Some(vb),
            });
        }
    }
    if !header.fields.is_empty() {
        out.push(header);
    }
    for index in 0..a.sections.len().max(b.sections.len()) {
        match (a.sections.get(index), b.sections.get(index)) {
            (Some(sa), Some(sb)) => section_pair(prefix, path_a, sa, path_b, sb, options, out)?,
            (Some(sa), None) => out.push(one_sided(prefix, path_a, sa, DiffKind::Removed)?),
            (None, Some(sb)) => out.push(one_sided(prefix, path_b, sb, DiffKind::Added)?),
            (None, None) => {}
        }
    }
    Ok(())
}

fn section_path(prefix: &str, section: &SectionInfo) -> String {
    super::join(
        prefix,
        &format!("section[{}]({})", section.index, section.kind),
    )
}

fn one_sided(
    prefix: &str,
    path: &Path,
    section: &SectionInfo,
    kind: DiffKind,
) -> Result<Difference, DiffError> {
    let side = bytes::summarize(&data(path, section))?;
    Ok(Difference::one_sided(
        section_path(prefix, section),
        kind,
        side,
    ))
}

fn section_pair(
    prefix: &str,
    path_a: &Path,
    sa: &SectionInfo,
    path_b: &Path,
    sb: &SectionInfo,
    options: &DiffOptions,
    out: &mut Vec<Difference>,
) -> Result<(), DiffError> {
    let name = section_path(prefix, sa);
    let (da, db) = (data(path_a, sa), data(path_b, sb));
    let compared = bytes::compare(&da, &db)?;
    let Some(mut diff) = compared.difference(&name) else {
        return Ok(());
    };
    if sa.kind != sb.kind {
        diff.fields.push(FieldChange {
            field: "kind".to_owned(),
            a: Some(Value::from(sa.kind.to_string())),
            b: Some(Value::from(sb.kind.to_string())),
        });
        out.push(diff);
        return Ok(());
    }
    match sa.kind {
        SectionKind::Cmdline => {
            let max = options.max_text_diff;
            diff.unified_diff = bytes::text_diff_of("cmdline", &da, &db, max)?;
            out.push(diff);
        }
        SectionKind::Metadata => {
            out.push(diff);
            let read =
                |c: &Content| super::json::read_json(c, &c.describe(), options.max_json_size);
            match (read(&da), read(&db)) {
                (Ok(ja), Ok(jb)) => compare_json(&name, &ja, &jb, out),
                _ => {
                    if let Some(last) = out.last_mut() {
                        last.note = Some("not valid JSON on both sides: compared as bytes".into());
                    }
                }
            }
        }
        SectionKind::Ramdisk => {
            out.push(diff);
            let read = |path: &Path, s: &SectionInfo| {
                cpio_entries(path, s.offset + SECTION_HEADER_SIZE, s.size, options)
            };
            match (read(path_a, sa), read(path_b, sb)) {
                (Ok(ea), Ok(eb)) => compare_entries(&name, &ea, &eb, options, out)?,
                (Err(e), _) | (_, Err(e)) => {
                    // The EIF format allows any bytes here: say why we stop at the bytes.
                    if let Some(last) = out.last_mut() {
                        last.note = Some(format!("contents not compared: {e}"));
                    }
                }
            }
        }
        SectionKind::Kernel | SectionKind::Signature => out.push(diff),
    }
    Ok(())
}
