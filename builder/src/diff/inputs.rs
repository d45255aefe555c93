//! What an input is, and the comparison for each kind, build output directories included.

use std::collections::BTreeMap;
use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::bytes::{self, Content};
use super::entries::{compare_entries, cpio_entries};
use super::json::{compare_json, read_json};
use super::{DiffError, DiffKind, DiffOptions, Difference, FieldChange};
use crate::record::RECORD_FILE;

/// What an input was detected as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum InputKind {
    /// A JSON build record (an object with `schema` and `outputs`).
    Record,
    /// An EIF (magic `.eif`).
    Eif,
    /// A newc cpio archive (magic `070701`).
    Ramdisk,
    /// An OCI image layout directory (holding `oci-layout`).
    ImageDir,
    /// A tar holding `oci-layout` or Docker's `manifest.json`.
    ImageTar,
    /// A directory holding `build-record.json`.
    OutputDir,
    /// Anything else: compared as bytes.
    File,
}

impl InputKind {
    /// Image directories and image tars are both images and compare with each other.
    pub fn family(self) -> InputKind {
        match self {
            InputKind::ImageTar => InputKind::ImageDir,
            other => other,
        }
    }

    pub fn same_family(self, other: InputKind) -> bool {
        self.family() == other.family()
    }

    /// The first component of the report's paths.
    pub fn name(self) -> &'static str {
        match self {
            InputKind::Record => "record",
            InputKind::Eif => "eif",
            InputKind::Ramdisk => "ramdisk",
            InputKind::ImageDir | InputKind::ImageTar => "image",
            InputKind::OutputDir => "",
            InputKind::File => "file",
        }
    }
}

impl fmt::Display for InputKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            InputKind::Record => "a build record",
            InputKind::Eif => "an EIF",
            InputKind::Ramdisk => "a cpio ramdisk",
            InputKind::ImageDir => "an OCI image directory",
            InputKind::ImageTar => "an image archive",
            InputKind::OutputDir => "a build output directory",
            InputKind::File => "a file",
        })
    }
}

/// Detects what `path` is from its contents (never its name).
pub fn detect(path: &Path, options: &DiffOptions) -> Result<InputKind, DiffError> {
    let meta = std::fs::metadata(path)
        .map_err(super::io_err(format_args!("inspecting {}", path.display())))?;
    if meta.is_dir() {
        return if path.join(RECORD_FILE).is_file() {
            Ok(InputKind::OutputDir)
        } else if path.join("oci-layout").is_file() {
            Ok(InputKind::ImageDir)
        } else {
            Err(DiffError::UnknownDirectory {
                path: path.to_owned(),
            })
        };
    }
    if !meta.is_file() {
        return Err(DiffError::NotAFile {
            path: path.to_owned(),
        });
    }
    let mut head = [0u8; 512];
    let mut file = std::fs::File::open(path)
        .map_err(super::io_err(format_args!("opening {}", path.display())))?;
    let n = file
        .by_ref()
        .take(512)
        .read(&mut head)
        .map_err(super::io_err(format_args!("reading {}", path.display())))?;
    let head = head.get(..n).unwrap_or_default();
    if head.starts_with(b".eif") {
        return Ok(InputKind::Eif);
    }
    if head.starts_with(b"070701") || head.starts_with(b"070702") {
        return Ok(InputKind::Ramdisk);
    }
    if head.trim_ascii_start().starts_with(b"{") && meta.len() <= options.max_json_size {
        let record = read_json(&Content::file(path)?, "", options.max_json_size)
            .ok()
            .is_some_and(|v| v.get("schema").is_some() && v.get("outputs").is_some());
        if record {
            return Ok(InputKind::Record);
        }
    }
    if is_image_tar(path) {
        return Ok(InputKind::ImageTar);
    }
    Ok(InputKind::File)
}

/// A tar whose top level holds `oci-layout` or `manifest.json`; headers are read with seeks.
fn is_image_tar(path: &Path) -> bool {
    let Ok(file) = std::fs::File::open(path) else {
        return false;
    };
    let mut archive = tar::Archive::new(file);
    let Ok(entries) = archive.entries_with_seek() else {
        return false;
    };
    for entry in entries.take(100_000) {
        let Ok(entry) = entry else { return false };
        let name = entry.path_bytes();
        let name = name.strip_prefix(b"./").unwrap_or(&name);
        if name == b"oci-layout" || name == b"manifest.json" {
            return true;
        }
    }
    false
}

/// Compares two inputs of the same family; `prefix` starts the paths.
#[allow(clippy::too_many_arguments)]
pub(crate) fn diff_at(
    prefix: &str,
    family: InputKind,
    a: &Path,
    b: &Path,
    a_kind: InputKind,
    b_kind: InputKind,
    options: &DiffOptions,
    out: &mut Vec<Difference>,
) -> Result<(), DiffError> {
    if family == InputKind::OutputDir {
        return compare_dirs(prefix, a, b, options, out);
    }
    // Single files: equal bytes end the comparison; otherwise report the whole file, then descend.
    let both_files = a_kind != InputKind::ImageDir && b_kind != InputKind::ImageDir;
    if both_files {
        let compared = bytes::compare(&Content::file(a)?, &Content::file(b)?)?;
        match compared.difference(prefix) {
            None => return Ok(()),
            Some(diff) => out.push(diff),
        }
    }
    let before = out.len();
    match family {
        InputKind::Record => {
            let read = |p: &Path| {
                read_json(
                    &Content::file(p)?,
                    &p.display().to_string(),
                    options.max_json_size,
                )
            };
            compare_json(prefix, &read(a)?, &read(b)?, out);
        }
        InputKind::Eif => super::eif::compare_eifs(prefix, a, b, options, out)?,
        InputKind::Ramdisk => {
            let read = |p: &Path| -> Result<_, DiffError> {
                let len = Content::file(p)?.len();
                cpio_entries(p, 0, len, options)
            };
            compare_entries(prefix, &read(a)?, &read(b)?, options, out)?;
        }
        InputKind::ImageDir | InputKind::ImageTar => {
            super::image::compare_images(prefix, a, b, options, out)?
        }
        InputKind::File | InputKind::OutputDir => {}
    }
    if both_files && out.len() == before && family != InputKind::File {
        if let Some(last) = out.last_mut() {
            last.note = Some("the bytes differ but the parsed contents compare equal (padding, order or encoding)".into());
        }
    }
    Ok(())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Walked {
    File,
    ImageDir,
    Symlink,
    Other,
}

/// Relative path → what it is, sorted; OCI layout directories are leaves.
fn walk(
    root: &Path,
    options: &DiffOptions,
) -> Result<BTreeMap<String, (PathBuf, Walked)>, DiffError> {
    let mut found = BTreeMap::new();
    let mut pending = vec![(root.to_owned(), String::new())];
    while let Some((dir, rel)) = pending.pop() {
        let read = std::fs::read_dir(&dir)
            .map_err(super::io_err(format_args!("listing {}", dir.display())))?;
        for item in read {
            let item = item.map_err(super::io_err(format_args!("listing {}", dir.display())))?;
            let name = item.file_name().to_string_lossy().into_owned();
            let path = item.path();
            let child = if rel.is_empty() {
                name
            } else {
                format!("{rel}/{name}")
            };
            let kind = item
                .file_type()
                .map_err(super::io_err(format_args!("inspecting {}", path.display())))?;
            let walked = if kind.is_symlink() {
                Walked::Symlink
            } else if kind.is_dir() && path.join("oci-layout").is_file() {
                Walked::ImageDir
            } else if kind.is_dir() {
                pending.push((path.clone(), child.clone()));
                continue;
            } else if kind.is_file() {
                Walked::File
            } else {
                Walked::Other
            };
            found.insert(child, (path, walked));
            if found.len() > options.max_dir_entries {
                return Err(DiffError::TooManyPaths {
                    path: root.to_owned(),
                    max: options.max_dir_entries,
                });
            }
        }
    }
    Ok(found)
}

/// Build output directories: every path pairwise, each compared as what it is.
fn compare_dirs(
    prefix: &str,
    a: &Path,
    b: &Path,
    options: &DiffOptions,
    out: &mut Vec<Difference>,
) -> Result<(), DiffError> {
    let (wa, wb) = (walk(a, options)?, walk(b, options)?);
    let mut names: Vec<&String> = wa.keys().chain(wb.keys()).collect();
    names.sort();
    names.dedup();
    for name in names {
        let path = super::join(prefix, name);
        match (wa.get(name), wb.get(name)) {
            (Some((pa, ka)), Some((pb, kb))) if ka == kb => match ka {
                Walked::Symlink => {
                    let target = |p: &Path| std::fs::read_link(p).map(|t| t.display().to_string());
                    let ta = target(pa)
                        .map_err(super::io_err(format_args!("reading {}", pa.display())))?;
                    let tb = target(pb)
                        .map_err(super::io_err(format_args!("reading {}", pb.display())))?;
                    if ta != tb {
                        let mut diff = Difference::new(path, DiffKind::Changed);
                        diff.fields.push(FieldChange {
                            field: "link target".into(),
                            a: Some(ta.into()),
                            b: Some(tb.into()),
                        });
                        out.push(diff);
                    }
                }
                Walked::Other => {}
                Walked::File | Walked::ImageDir => {
                    let (ka, kb) = (detect(pa, options)?, detect(pb, options)?);
                    if ka.same_family(kb) {
                        diff_at(&path, ka.family(), pa, pb, ka, kb, options, out)?;
                    } else {
                        let mut diff = Difference::new(path, DiffKind::Changed);
                        diff.fields.push(FieldChange {
                            field: "kind".into(),
                            a: Some(ka.to_string().into()),
                            b: Some(kb.to_string().into()),
                        });
                        out.push(diff);
                    }
                }
            },
            (Some(_), Some(_)) => out.push(
                Difference::new(path, DiffKind::Changed)
                    .with_note("different types of file on the two sides"),
            ),
            (Some((pa, _)), None) => out.push(present(path, DiffKind::Removed, pa)?),
            (None, Some((pb, _))) => out.push(present(path, DiffKind::Added, pb)?),
            (None, None) => {}
        }
    }
    Ok(())
}

fn present(path: String, kind: DiffKind, file: &Path) -> Result<Difference, DiffError> {
    let mut diff = Difference::new(path, kind);
    if file.is_file() {
        let side = Some(bytes::summarize(&Content::file(file)?)?);
        if kind == DiffKind::Added {
            diff.b = side;
        } else {
            diff.a = side;
        }
    }
    Ok(diff)
}
