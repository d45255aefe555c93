//! OCI images, as a layout directory or a single tar: the top-level JSON files, then index →
//! manifest → config and layers. Blobs with equal digests are equal and skipped; differing layers
//! are compared as bytes and, when uncompressed tars, imported (safely, to temporary files) and
//! compared file by file.

use std::path::{Path, PathBuf};

use serde_json::Value;
use tempfile::TempDir;

use super::bytes::{self, Content};
use super::entries::{compare_entries, tree_entries};
use super::json::{compare_json, read_json};
use super::{DiffError, DiffKind, DiffOptions, Difference};
use crate::archive::{import_tar, ImportPolicy, NodeKind, Tree};

/// Where an image's files are.
enum Store {
    Dir(PathBuf),
    /// A single-file image, imported; the temporary directory holds the file contents.
    Tar {
        tree: Tree,
        _work: TempDir,
        path: PathBuf,
    },
}

impl Store {
    fn open(path: &Path, options: &DiffOptions) -> Result<Store, DiffError> {
        if path.is_dir() {
            return Ok(Store::Dir(path.to_owned()));
        }
        let (tree, work) = import(&Content::file(path)?, options)?;
        Ok(Store::Tar {
            tree,
            _work: work,
            path: path.to_owned(),
        })
    }

    fn name(&self) -> String {
        match self {
            Store::Dir(path) | Store::Tar { path, .. } => path.display().to_string(),
        }
    }

    /// The file at `rel` (a fixed name or `blobs/sha256/<hex>`), if present.
    fn file(&self, rel: &str) -> Result<Option<Content>, DiffError> {
        match self {
            Store::Dir(dir) => {
                let path = dir.join(rel);
                match std::fs::symlink_metadata(&path) {
                    Ok(meta) if meta.is_file() => Ok(Some(Content::Range {
                        path,
                        offset: 0,
                        len: meta.len(),
                    })),
                    Ok(_) => Ok(None),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                    Err(e) => Err(super::io_err(format_args!("inspecting {}", path.display()))(e)),
                }
            }
            Store::Tar { tree, .. } => Ok(tree.get(rel).and_then(|node| match &node.kind {
                NodeKind::File(data) => Some(Content::of(data)),
                _ => None,
            })),
        }
    }

    fn json(&self, rel: &str, options: &DiffOptions) -> Result<Option<Value>, DiffError> {
        let what = format!("{} in {}", rel, self.name());
        self.file(rel)?
            .map(|content| read_json(&content, &what, options.max_json_size))
            .transpose()
    }

    fn blob(&self, digest: &str) -> Result<Content, DiffError> {
        let bad = |reason: String| DiffError::BadImage {
            what: self.name(),
            reason,
        };
        let hex = digest
            .strip_prefix("sha256:")
            .filter(|h| h.len() == 64 && h.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
            .ok_or_else(|| {
                bad(format!(
                    "digest {digest:?} is not sha256:<64 lowercase hex digits>"
                ))
            })?;
        self.file(&format!("blobs/sha256/{hex}"))?
            .ok_or_else(|| bad(format!("blob {digest} is missing")))
    }
}

/// Imports a tar (an image archive or a layer) into a fresh temporary directory.
fn import(tar: &Content, options: &DiffOptions) -> Result<(Tree, TempDir), DiffError> {
    let work = tempfile::Builder::new()
        .prefix("mpr-diff-")
        .tempdir()
        .map_err(super::io_err("creating a temporary directory"))?;
    let what = tar.describe();
    let reader = tar
        .open()
        .map_err(super::io_err(format_args!("opening {what}")))?;
    let policy = ImportPolicy {
        allow_devices: true,
        strip_components: 0,
    };
    let reader = std::io::BufReader::with_capacity(1 << 20, reader);
    let tree =
        import_tar(reader, work.path(), &options.import_limits, &policy).map_err(|source| {
            DiffError::Import {
                what: format!("reading the tar {what}"),
                source,
            }
        })?;
    Ok((tree, work))
}

/// Compares two images (directories or tars, in any combination).
pub(crate) fn compare_images(
    prefix: &str,
    path_a: &Path,
    path_b: &Path,
    options: &DiffOptions,
    out: &mut Vec<Difference>,
) -> Result<(), DiffError> {
    let (a, b) = (Store::open(path_a, options)?, Store::open(path_b, options)?);
    for name in ["oci-layout", "index.json", "manifest.json"] {
        let (ja, jb) = (a.json(name, options)?, b.json(name, options)?);
        one_json(&super::join(prefix, name), ja.as_ref(), jb.as_ref(), out);
    }
    let (ia, ib) = (
        a.json("index.json", options)?,
        b.json("index.json", options)?,
    );
    let digests = |index: &Option<Value>| -> Vec<String> {
        let manifests = index
            .as_ref()
            .and_then(|i| i.get("manifests"))
            .and_then(Value::as_array);
        manifests.map_or_else(Vec::new, |list| list.iter().map(digest_of).collect())
    };
    let (ma, mb) = (digests(&ia), digests(&ib));
    let single = ma.len() == 1 && mb.len() == 1;
    for i in 0..ma.len().min(mb.len()) {
        let (Some(da), Some(db)) = (ma.get(i), mb.get(i)) else {
            continue;
        };
        if da != db {
            let mp = if single {
                prefix.to_owned()
            } else {
                super::join(prefix, &format!("manifest[{i}]"))
            };
            compare_manifests(&mp, (&a, da), (&b, db), options, out)?;
        }
    }
    Ok(())
}

fn digest_of(descriptor: &Value) -> String {
    descriptor
        .get("digest")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

fn one_json(path: &str, a: Option<&Value>, b: Option<&Value>, out: &mut Vec<Difference>) {
    match (a, b) {
        (Some(a), Some(b)) => compare_json(path, a, b, out),
        (Some(_), None) => out.push(Difference::new(path, DiffKind::Removed)),
        (None, Some(_)) => out.push(Difference::new(path, DiffKind::Added)),
        (None, None) => {}
    }
}

fn compare_manifests(
    mp: &str,
    (a, da): (&Store, &str),
    (b, db): (&Store, &str),
    options: &DiffOptions,
    out: &mut Vec<Difference>,
) -> Result<(), DiffError> {
    let read = |store: &Store, digest: &str| {
        let what = format!("manifest {digest} in {}", store.name());
        read_json(&store.blob(digest)?, &what, options.max_json_size)
    };
    let (ma, mb) = (read(a, da)?, read(b, db)?);
    compare_json(&super::join(mp, "manifest"), &ma, &mb, out);

    let config = |m: &Value| m.get("config").map(digest_of).unwrap_or_default();
    let (ca, cb) = (config(&ma), config(&mb));
    if ca != cb {
        let read = |store: &Store, digest: &str| {
            let what = format!("config {digest} in {}", store.name());
            read_json(&store.blob(digest)?, &what, options.max_json_size)
        };
        compare_json(
            &super::join(mp, "config"),
            &read(a, &ca)?,
            &read(b, &cb)?,
            out,
        );
    }

    let layers = |m: &Value| -> Vec<(String, String)> {
        let list = m.get("layers").and_then(Value::as_array);
        list.map_or_else(Vec::new, |l| {
            l.iter()
                .map(|d| {
                    let media = d
                        .get("mediaType")
                        .and_then(Value::as_str)
                        .unwrap_or_default();
                    (digest_of(d), media.to_owned())
                })
                .collect()
        })
    };
    let (la, lb) = (layers(&ma), layers(&mb));
    for i in 0..la.len().max(lb.len()) {
        let path = super::join(mp, &format!("layer[{i}]"));
        match (la.get(i), lb.get(i)) {
            (Some((da, media_a)), Some((db, media_b))) if da != db => {
                let (ca, cb) = (a.blob(da)?, b.blob(db)?);
                let compared = bytes::compare(&ca, &cb)?;
                let Some(mut diff) = compared.difference(&path) else {
                    continue;
                };
                let plain = |m: &str| m.ends_with(".tar") || m.ends_with(".diff.tar");
                if !(plain(media_a) && plain(media_b)) {
                    diff.note = Some(format!(
                        "compressed layers ({media_a}, {media_b}): files not compared"
                    ));
                    out.push(diff);
                    continue;
                }
                out.push(diff);
                compare_tars(&path, &ca, &cb, options, out)?;
            }
            (Some((d, _)), None) => out.push(blob_side(&path, DiffKind::Removed, &a.blob(d)?)?),
            (None, Some((d, _))) => out.push(blob_side(&path, DiffKind::Added, &b.blob(d)?)?),
            _ => {}
        }
    }
    Ok(())
}

fn blob_side(path: &str, kind: DiffKind, content: &Content) -> Result<Difference, DiffError> {
    Ok(Difference::one_sided(
        path,
        kind,
        bytes::summarize(content)?,
    ))
}

/// Compares two tar files (layers) as file trees under `prefix`.
fn compare_tars(
    prefix: &str,
    a: &Content,
    b: &Content,
    options: &DiffOptions,
    out: &mut Vec<Difference>,
) -> Result<(), DiffError> {
    let (ta, _wa) = import(a, options)?;
    let (tb, _wb) = import(b, options)?;
    compare_entries(prefix, &tree_entries(&ta), &tree_entries(&tb), options, out)
}
