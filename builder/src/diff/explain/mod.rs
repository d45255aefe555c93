//! Why measurements changed between two releases: every register whose value differs, with the
//! recorded inputs that changed and feed it by the measurement rules (see [`Role::feeds`]), and an
//! explicit "no recorded input explains it" when none did.
//!
//! Pure: the facts come from build records or release statements ([`ReleaseFacts`]) and, for build
//! output directories, from the file-level report `mpr diff` already made.

mod facts;
mod members;
mod render;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

pub use facts::{MeasuredFacts, ReleaseFacts, Role, Source, StatementInputs};

use super::DiffReport;

/// An input that changed: its name, and its value on each side (`None`: absent on that side).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Cause {
    pub input: String,
    pub old: Option<String>,
    pub new: Option<String>,
}

/// One register whose value differs between the two releases.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RegisterChange {
    /// `aws-nitro PCR2`, `sev-snp MEASUREMENT (vcpus=2, vcpu_type=EPYC-Milan, vmm=qemu)`.
    pub measurement: String,
    pub platform: String,
    pub register: String,
    pub old: Option<String>,
    pub new: Option<String>,
    /// The changed inputs that feed this register, the most direct first.
    pub causes: Vec<Cause>,
    /// Set when no cause was found: the register moved with nothing recorded changing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unexplained: Option<String>,
    /// Inputs of this register that the compared documents do not carry.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub not_recorded: Vec<String>,
}

/// The explanation of every measurement that changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Explanation {
    /// What the facts were read from (the poorer of the two sides).
    pub source: Source,
    pub changes: Vec<RegisterChange>,
    /// Measurements (platform and launch parameters) only one side has.
    pub only_in_a: Vec<String>,
    pub only_in_b: Vec<String>,
    /// What to compare for a fuller answer.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub advice: Vec<String>,
}

impl Explanation {
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty() && self.only_in_a.is_empty() && self.only_in_b.is_empty()
    }
}

/// File-level differences of two build output directories, whose paths start with `root`.
#[derive(Debug, Clone, Copy)]
pub struct FileLevel<'a> {
    pub report: &'a DiffReport,
    pub root: &'a str,
}

/// Explains every register that differs between `a` and `b`.
pub fn explain(a: &ReleaseFacts, b: &ReleaseFacts, files: Option<FileLevel<'_>>) -> Explanation {
    let mut source = poorer(a.source, b.source);
    if files.is_some() && source == Source::Record {
        source = Source::OutputDir;
    }
    // An input only one kind of document carries (a record's Cargo.lock against a statement)
    // is unknown on the other side, not changed.
    let comparable =
        a.source == b.source || (a.source != Source::Statement && b.source != Source::Statement);
    let changed = changed_inputs(a, b, comparable, files);
    let compiled_known = a
        .facts
        .iter()
        .chain(&b.facts)
        .any(|f| f.role == Role::Compiled);
    let compiled_changed = changed.iter().any(|(role, _)| *role == Role::Compiled);
    // Source, lock file and builder image feed the registers only through the compiled files:
    // when those are recorded and equal, a new commit did not move any register.
    let build_counts = compiled_changed || !compiled_known;

    let (pairs, only_a, only_b) = pair_measurements(&a.measurements, &b.measurements);
    let mut changes = Vec::new();
    for (ma, mb) in pairs {
        let registers: BTreeSet<&String> = ma.registers.keys().chain(mb.registers.keys()).collect();
        for register in registers {
            let (old, new) = (ma.registers.get(register), mb.registers.get(register));
            if old == new {
                continue;
            }
            let mut causes = parameter_causes(ma, mb, comparable);
            causes.extend(
                changed
                    .iter()
                    .filter(|(role, _)| role.feeds(&ma.platform, register))
                    .filter(|(role, _)| *role != Role::Build || build_counts)
                    .map(|(_, cause)| cause.clone()),
            );
            let mut not_recorded: Vec<String> = source
                .describe_missing(&ma.platform, register)
                .into_iter()
                .map(str::to_owned)
                .collect();
            match (ma.platform.as_str(), register.as_str()) {
                ("aws-nitro", "PCR8") => {
                    not_recorded.push("the EIF signing certificate (PCR8 is its digest)".into())
                }
                ("aws-nitro", "PCR0" | "PCR1" | "PCR2") | ("sev-snp", "MEASUREMENT") => {}
                _ => not_recorded.push(format!(
                    "mpr does not compute {} {register} and does not know its inputs",
                    ma.platform
                )),
            }
            let unexplained = causes.is_empty().then(|| unexplained(a, b));
            changes.push(RegisterChange {
                measurement: label(ma, mb, register),
                platform: ma.platform.clone(),
                register: register.clone(),
                old: old.cloned(),
                new: new.cloned(),
                causes,
                unexplained,
                not_recorded,
            });
        }
    }
    let advice = advice(source, a, b, &changes);
    Explanation {
        source,
        changes,
        only_in_a: only_a.iter().map(|m| describe(m)).collect(),
        only_in_b: only_b.iter().map(|m| describe(m)).collect(),
        advice,
    }
}

fn poorer(a: Source, b: Source) -> Source {
    match (a, b) {
        (Source::Statement, _) | (_, Source::Statement) => Source::Statement,
        (Source::Record, _) | (_, Source::Record) => Source::Record,
        _ => Source::OutputDir,
    }
}

fn unexplained(a: &ReleaseFacts, b: &ReleaseFacts) -> String {
    let mut text = "no recorded input explains it".to_owned();
    if let (Some(ta), Some(tb)) = (&a.tool, &b.tool) {
        if ta != tb {
            text.push_str(&format!(
                " (the two were measured by {ta} and {tb}; their measurement code may differ)"
            ));
        }
    }
    text
}

/// Every recorded input whose value differs, with its role, in role order.
fn changed_inputs(
    a: &ReleaseFacts,
    b: &ReleaseFacts,
    comparable: bool,
    files: Option<FileLevel<'_>>,
) -> Vec<(Role, Cause)> {
    let index = |facts: &ReleaseFacts| -> BTreeMap<String, (Role, String)> {
        facts
            .facts
            .iter()
            .map(|f| (f.input.clone(), (f.role, f.value.clone())))
            .collect()
    };
    let (ia, ib) = (index(a), index(b));
    let names: BTreeSet<&String> = ia.keys().chain(ib.keys()).collect();
    let mut out = Vec::new();
    for name in names {
        let (va, vb) = (ia.get(name), ib.get(name));
        if va.map(|v| &v.1) == vb.map(|v| &v.1) || (!comparable && (va.is_none() || vb.is_none())) {
            continue;
        }
        let Some(role) = va.or(vb).map(|v| v.0) else {
            continue;
        };
        out.push((
            role,
            Cause {
                input: name.clone(),
                old: va.map(|v| v.1.clone()),
                new: vb.map(|v| v.1.clone()),
            },
        ));
    }
    if let Some(files) = files {
        out.extend(members::member_causes(files.report, files.root));
    }
    out.sort_by_key(|(role, _)| *role);
    out
}

fn parameter_name(key: &str) -> String {
    match key {
        "vcpus" => "vCPU count".to_owned(),
        "vcpu_type" => "vCPU type".to_owned(),
        "vcpu_sig" => "vCPU signature".to_owned(),
        "vmm" => "VMM type".to_owned(),
        "firmware_sha256" => "firmware (OVMF sha256)".to_owned(),
        "guest_features" => "guest features".to_owned(),
        "ovmf_hash" => "firmware pages digest (--snp-ovmf-hash)".to_owned(),
        other => format!("launch parameter {other}"),
    }
}

/// Launch parameters that differ: each feeds every register of its measurement.
fn parameter_causes(a: &MeasuredFacts, b: &MeasuredFacts, comparable: bool) -> Vec<Cause> {
    let keys: BTreeSet<&String> = a.parameters.keys().chain(b.parameters.keys()).collect();
    keys.into_iter()
        .filter(|k| a.parameters.get(*k) != b.parameters.get(*k))
        .filter(|k| comparable || (a.parameters.contains_key(*k) && b.parameters.contains_key(*k)))
        .map(|k| Cause {
            input: parameter_name(k),
            old: a.parameters.get(k).cloned(),
            new: b.parameters.get(k).cloned(),
        })
        .collect()
}

fn differing_parameters(a: &MeasuredFacts, b: &MeasuredFacts) -> usize {
    let keys: BTreeSet<&String> = a.parameters.keys().chain(b.parameters.keys()).collect();
    keys.into_iter()
        .filter(|k| a.parameters.get(*k) != b.parameters.get(*k))
        .count()
}

type Pairs<'a> = (
    Vec<(&'a MeasuredFacts, &'a MeasuredFacts)>,
    Vec<&'a MeasuredFacts>,
    Vec<&'a MeasuredFacts>,
);

/// Matches the measurements of the two sides: same platform and parameters first, then each
/// remaining one of A with the remaining one of B (same platform) that differs in the fewest
/// parameters, so that `vcpus 4 -> 8` or a new firmware reads as a change, not as one measurement
/// removed and another added.
fn pair_measurements<'a>(a: &'a [MeasuredFacts], b: &'a [MeasuredFacts]) -> Pairs<'a> {
    let mut pairs = Vec::new();
    let mut left_a = Vec::new();
    let mut left_b: Vec<&MeasuredFacts> = b.iter().collect();
    for ma in a {
        let exact = left_b
            .iter()
            .position(|mb| mb.platform == ma.platform && mb.parameters == ma.parameters);
        match exact {
            Some(i) => pairs.push((ma, left_b.remove(i))),
            None => left_a.push(ma),
        }
    }
    let mut only_a = Vec::new();
    for ma in left_a {
        let closest = left_b
            .iter()
            .enumerate()
            .filter(|(_, mb)| mb.platform == ma.platform)
            .min_by_key(|(_, mb)| differing_parameters(ma, mb))
            .map(|(i, _)| i);
        match closest {
            Some(i) => pairs.push((ma, left_b.remove(i))),
            None => only_a.push(ma),
        }
    }
    (pairs, only_a, left_b)
}

/// The parameters people tell configurations apart by (the firmware digest is too long for that).
const LABEL_PARAMETERS: [&str; 3] = ["vcpus", "vcpu_type", "vmm"];

fn describe(m: &MeasuredFacts) -> String {
    let shown: Vec<String> = m
        .parameters
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    if shown.is_empty() {
        m.platform.clone()
    } else {
        format!("{} ({})", m.platform, shown.join(", "))
    }
}

fn label(a: &MeasuredFacts, b: &MeasuredFacts, register: &str) -> String {
    let shown: Vec<String> = LABEL_PARAMETERS
        .iter()
        .filter_map(|k| match (a.parameters.get(*k), b.parameters.get(*k)) {
            (Some(x), Some(y)) if x == y => Some(format!("{k}={x}")),
            (None, None) => None,
            (x, y) => Some(format!(
                "{k}={} -> {}",
                x.map_or("(absent)", String::as_str),
                y.map_or("(absent)", String::as_str)
            )),
        })
        .collect();
    if shown.is_empty() {
        format!("{} {register}", a.platform)
    } else {
        format!("{} {register} ({})", a.platform, shown.join(", "))
    }
}

fn advice(
    source: Source,
    a: &ReleaseFacts,
    b: &ReleaseFacts,
    changes: &[RegisterChange],
) -> Vec<String> {
    let mut out = Vec::new();
    if changes.is_empty() {
        return out;
    }
    match source {
        Source::Statement => {
            let digests: Vec<&str> = [&a.record_sha256, &b.record_sha256]
                .into_iter()
                .flatten()
                .map(String::as_str)
                .collect();
            let which = if digests.is_empty() {
                String::new()
            } else {
                format!(" (sha256 {})", digests.join(" and "))
            };
            out.push(format!(
                "release statements carry the source, recipe, builder image and artifact digests but not the kernel cmdlines, the enclave command and environment, or the files inside the ramdisks: give the build records{which} (build-record.json on the GitHub release) for the file-level cause"
            ));
        }
        Source::Record => {
            let ramdisk_moved = changes
                .iter()
                .any(|c| c.register == "PCR2" || c.register == "MEASUREMENT");
            if ramdisk_moved {
                out.push("build records hold the ramdisks' digests, not their files: compare the build output directories (or `mpr release` directories) to see which rootfs paths changed".to_owned());
            }
        }
        Source::OutputDir => {}
    }
    out
}
