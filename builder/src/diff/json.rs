//! JSON documents compared leaf by leaf: every value that differs, named by its JSON path
//! (`outputs.eif.pcrs.pcr0`, `config.Env[1]`, `annotations["org.opencontainers.image.ref.name"]`).

use serde_json::Value;

use super::bytes::Content;
use super::{DiffError, DiffKind, Difference, FieldChange};

/// Reads and parses a JSON document of at most `max` bytes.
pub(crate) fn read_json(content: &Content, what: &str, max: u64) -> Result<Value, DiffError> {
    let bytes = content
        .read_small(max)
        .map_err(super::io_err(format_args!("reading {what}")))?
        .ok_or_else(|| DiffError::JsonTooLarge {
            what: what.to_owned(),
            max,
        })?;
    serde_json::from_slice(&bytes).map_err(|source| DiffError::Json {
        what: what.to_owned(),
        source,
    })
}

fn is_plain_key(key: &str) -> bool {
    !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

fn key_path(path: &str, key: &str) -> String {
    if !is_plain_key(key) {
        let quoted = Value::String(key.to_owned());
        format!("{path}[{quoted}]")
    } else if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

fn leaf(
    prefix: &str,
    path: &str,
    kind: DiffKind,
    a: Option<&Value>,
    b: Option<&Value>,
) -> Difference {
    // `manifest.json[0].Config`, not `manifest.json/[0].Config`.
    let full = match path.starts_with('[') && !prefix.is_empty() {
        true => format!("{prefix}{path}"),
        false => super::join(prefix, path),
    };
    let mut diff = Difference::new(full, kind);
    diff.fields.push(FieldChange {
        field: "value".to_owned(),
        a: a.cloned(),
        b: b.cloned(),
    });
    diff
}

/// Appends one difference per differing leaf of `a` and `b`, paths under `prefix`.
pub(crate) fn compare_json(prefix: &str, a: &Value, b: &Value, out: &mut Vec<Difference>) {
    walk(prefix, "", a, b, out);
}

fn walk(prefix: &str, path: &str, a: &Value, b: &Value, out: &mut Vec<Difference>) {
    match (a, b) {
        (Value::Object(ma), Value::Object(mb)) => {
            let mut keys: Vec<&String> = ma.keys().chain(mb.keys()).collect();
            keys.sort();
            keys.dedup();
            for key in keys {
                let sub = key_path(path, key);
                match (ma.get(key), mb.get(key)) {
                    (Some(va), Some(vb)) => walk(prefix, &sub, va, vb, out),
                    (Some(va), None) => {
                        out.push(leaf(prefix, &sub, DiffKind::Removed, Some(va), None))
                    }
                    (None, Some(vb)) => {
                        out.push(leaf(prefix, &sub, DiffKind::Added, None, Some(vb)))
                    }
                    (None, None) => {}
                }
            }
        }
        (Value::Array(va), Value::Array(vb)) => {
            for index in 0..va.len().max(vb.len()) {
                let sub = format!("{path}[{index}]");
                match (va.get(index), vb.get(index)) {
                    (Some(x), Some(y)) => walk(prefix, &sub, x, y, out),
                    (Some(x), None) => {
                        out.push(leaf(prefix, &sub, DiffKind::Removed, Some(x), None))
                    }
                    (None, Some(y)) => out.push(leaf(prefix, &sub, DiffKind::Added, None, Some(y))),
                    (None, None) => {}
                }
            }
        }
        _ if a != b => out.push(leaf(prefix, path, DiffKind::Changed, Some(a), Some(b))),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn leaves_are_named_by_json_path() {
        let a = json!({"outputs": {"eif": {"pcrs": {"pcr0": "aa"}}}, "list": [1, 2], "x.y": 1});
        let b =
            json!({"outputs": {"eif": {"pcrs": {"pcr0": "bb"}}}, "list": [1, 3, 4], "new": true});
        let mut out = Vec::new();
        compare_json("record", &a, &b, &mut out);
        let got: Vec<_> = out.iter().map(|d| (d.path.as_str(), d.kind)).collect();
        assert_eq!(
            got,
            [
                ("record/list[1]", DiffKind::Changed),
                ("record/list[2]", DiffKind::Added),
                ("record/new", DiffKind::Added),
                ("record/outputs.eif.pcrs.pcr0", DiffKind::Changed),
                ("record[\"x.y\"]", DiffKind::Removed),
            ]
        );
        assert_eq!(
            out[3].to_string(),
            "changed  record/outputs.eif.pcrs.pcr0: \"aa\" != \"bb\""
        );
        let mut none = Vec::new();
        compare_json("r", &a, &a, &mut none);
        assert!(none.is_empty());
    }
}
