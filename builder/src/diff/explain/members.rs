//! The file-level causes a comparison of two build output directories found: which paths of the
//! user ramdisk and of the CVM initrd changed, and the EIF's cmdline, read from the report of
//! [`crate::diff::diff_paths`] rather than from the archives a second time.

use super::facts::Role;
use super::Cause;
use crate::diff::{DiffKind, DiffReport, Difference};

/// Where the pipeline writes the archives whose members are measured (see `pipeline::build`).
const USER_RAMDISK: &str = "eif/customer-initrd.img/";
const CVM_INITRD: &str = "cvm/initrd.img/";
/// The user ramdisk holds the rootfs under this directory, beside `cmd` and `env`.
const ROOTFS_DIR: &str = "rootfs/";

/// File-level causes of the report, whose paths start with `root` (`""` for two build output
/// directories, `"build/"` for two release directories).
pub(crate) fn member_causes(report: &DiffReport, root: &str) -> Vec<(Role, Cause)> {
    let mut out = Vec::new();
    for difference in &report.differences {
        let Some(path) = difference.path.strip_prefix(root) else {
            continue;
        };
        if let Some(member) = path.strip_prefix(USER_RAMDISK) {
            // `cmd` and `env` are recorded as the enclave command and environment.
            if let Some(file) = member.strip_prefix(ROOTFS_DIR) {
                out.push((
                    Role::NitroCustomerFile,
                    member_cause("user ramdisk file", file, difference),
                ));
            }
        } else if let Some(member) = path.strip_prefix(CVM_INITRD) {
            out.push((
                Role::CvmInitrdFile,
                member_cause("CVM initrd file", member, difference),
            ));
        } else if path.starts_with("eif/") && path.ends_with("(cmdline)") {
            out.push((Role::NitroCmdline, cmdline_cause(difference)));
        }
    }
    out
}

/// `sha256 <hex>` when the side has contents, else its type; metadata changes (mode, mtime,
/// owner) are added as `field value` pairs so that a touched-but-equal file shows why it differs.
fn side_values(difference: &Difference) -> (Option<String>, Option<String>) {
    let describe = |side: Option<&crate::diff::Side>| {
        side.map(|s| match (&s.sha256, &s.file_type) {
            (Some(sha), _) => format!("sha256 {sha}"),
            (None, Some(kind)) => kind.clone(),
            (None, None) => "present".to_owned(),
        })
    };
    let (mut a, mut b) = (
        describe(difference.a.as_ref()),
        describe(difference.b.as_ref()),
    );
    if difference.kind == DiffKind::Changed && (a == b || (a.is_none() && b.is_none())) {
        let show = |v: &Option<serde_json::Value>| match v {
            Some(serde_json::Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
            None => "(absent)".to_owned(),
        };
        let fields = |pick: fn(&crate::diff::FieldChange) -> &Option<serde_json::Value>| {
            difference
                .fields
                .iter()
                .map(|f| format!("{} {}", f.field, show(pick(f))))
                .collect::<Vec<_>>()
                .join(", ")
        };
        if !difference.fields.is_empty() {
            a = Some(fields(|f| &f.a));
            b = Some(fields(|f| &f.b));
        }
    }
    (a, b)
}

fn member_cause(what: &str, member: &str, difference: &Difference) -> Cause {
    let (old, new) = side_values(difference);
    let (old, new) = match difference.kind {
        DiffKind::Added => (None, new.or_else(|| Some("added".to_owned()))),
        DiffKind::Removed => (old.or_else(|| Some("removed".to_owned())), None),
        DiffKind::Changed => (old, new),
    };
    Cause {
        input: format!("{what} {member}"),
        old,
        new,
    }
}

/// The cmdline's text from the section's unified diff (one line each side), else its digests.
fn cmdline_cause(difference: &Difference) -> Cause {
    let line = |sign: char| {
        difference.unified_diff.as_deref().and_then(|diff| {
            diff.lines()
                .filter(|l| !l.starts_with("---") && !l.starts_with("+++"))
                .find_map(|l| l.strip_prefix(sign).map(str::to_owned))
        })
    };
    let (old, new) = match (line('-'), line('+')) {
        (Some(old), Some(new)) => (Some(old), Some(new)),
        _ => side_values(difference),
    };
    Cause {
        input: "enclave kernel cmdline".to_owned(),
        old,
        new,
    }
}
