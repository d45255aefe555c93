//! Files on disk: blobs of the OCI layout, the single-file archive made from them, and putting the
//! finished output in place atomically.

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::archive::{write_tar, FileData, Node, Tree};
use crate::hashing::{BlobDigests, HashingWriter};

use super::ImageError;

pub(super) fn io_error(
    context: &'static str,
    path: &Path,
) -> impl FnOnce(std::io::Error) -> ImageError {
    let path = path.to_owned();
    move |source| ImageError::Io {
        context,
        path,
        source,
    }
}

/// Streams `write` into `path` through a hasher, flushed and synced before returning so a later
/// rename never publishes a file whose bytes are still in flight.
pub(super) fn write_hashed(
    path: &Path,
    write: impl FnOnce(
        HashingWriter<BufWriter<File>>,
    ) -> std::io::Result<HashingWriter<BufWriter<File>>>,
) -> Result<BlobDigests, ImageError> {
    let file = File::create(path).map_err(io_error("creating", path))?;
    let writer =
        write(HashingWriter::new(BufWriter::new(file))).map_err(io_error("writing", path))?;
    let (buffered, digests) = writer.finish();
    let file = buffered
        .into_inner()
        .map_err(|e| io_error("writing", path)(e.into_error()))?;
    file.sync_all().map_err(io_error("syncing", path))?;
    Ok(digests)
}

/// Where the blobs of the OCI layout live, and what has been put there.
pub(super) struct Blobs {
    dir: PathBuf,
    /// (hex digest, source) of every blob, for the single-file archive.
    written: Vec<(String, FileData)>,
}

impl Blobs {
    pub(super) fn create(oci_dir: &Path) -> Result<Self, ImageError> {
        let dir = oci_dir.join("blobs").join("sha256");
        fs::create_dir_all(&dir).map_err(io_error("creating", &dir))?;
        Ok(Blobs {
            dir,
            written: Vec::new(),
        })
    }

    /// Writes the layer tar of `rootfs`; its digest is only known at the end, so it is written under
    /// a temporary name and renamed.
    pub(super) fn add_layer(&mut self, rootfs: &Tree) -> Result<BlobDigests, ImageError> {
        let partial = self.dir.join("layer.partial");
        let digests = write_hashed(&partial, |w| write_tar(rootfs, w))?;
        let path = self.dir.join(&digests.sha256);
        fs::rename(&partial, &path).map_err(io_error("renaming", &partial))?;
        self.written.push((
            digests.sha256.clone(),
            FileData::Disk {
                path,
                size: digests.size,
            },
        ));
        Ok(digests)
    }

    /// Writes a JSON document as a blob and returns its digests.
    pub(super) fn add_bytes(&mut self, bytes: Vec<u8>) -> Result<BlobDigests, ImageError> {
        let digests = crate::hashing::digest_bytes(&bytes);
        let path = self.dir.join(&digests.sha256);
        fs::write(&path, &bytes).map_err(io_error("writing", &path))?;
        self.written
            .push((digests.sha256.clone(), FileData::Bytes(Arc::from(bytes))));
        Ok(digests)
    }

    /// The tree of the single-file archive: every blob plus the top-level `files` (`index.json`,
    /// `oci-layout`, `manifest.json`), owned by root with fixed modes and the image's creation time.
    pub(super) fn archive_tree(
        &self,
        files: &[(&str, &[u8])],
        mtime: u64,
    ) -> Result<Tree, ImageError> {
        let mut tree = Tree::new();
        let mut insert = |path: &str, data: FileData| {
            tree.insert(path, Node::file(data, 0o644, mtime))
                .map_err(|source| ImageError::Tree {
                    path: path.to_owned(),
                    source,
                })
        };
        for (hex, data) in &self.written {
            insert(&format!("blobs/sha256/{hex}"), data.clone())?;
        }
        for (name, bytes) in files {
            insert(name, FileData::Bytes(Arc::from(*bytes)))?;
        }
        Ok(tree)
    }
}

/// Moves the finished `staging` directory to `out_dir`. A previous output there is swapped out and
/// deleted only after the new one is in place; a directory that is not one of our outputs is never
/// touched, so a mistyped path cannot delete someone's files.
pub(super) fn publish(staging: &Path, out_dir: &Path) -> Result<(), ImageError> {
    if !out_dir.exists() {
        return fs::rename(staging, out_dir).map_err(io_error("renaming into place", out_dir));
    }
    let ours = out_dir.join("image.tar").is_file() || out_dir.join("oci/oci-layout").is_file();
    let empty = fs::read_dir(out_dir)
        .map_err(io_error("reading", out_dir))?
        .next()
        .is_none();
    if !ours && !empty {
        return Err(ImageError::OutputOccupied {
            path: out_dir.to_owned(),
        });
    }
    let parent = staging.parent().unwrap_or(Path::new("."));
    let old = tempfile::Builder::new()
        .prefix(".image-old-")
        .tempdir_in(parent)
        .map_err(io_error("creating a temporary directory in", parent))?;
    let old_path = old.path().join("previous");
    fs::rename(out_dir, &old_path).map_err(io_error("moving aside", out_dir))?;
    if let Err(source) = fs::rename(staging, out_dir) {
        // Put the previous output back so a failure leaves things as they were.
        let _ = fs::rename(&old_path, out_dir);
        return Err(ImageError::Io {
            context: "renaming into place",
            path: out_dir.to_owned(),
            source,
        });
    }
    // `old` removes the previous output when dropped.
    Ok(())
}

/// Writes `bytes` at `dir/name`.
pub(super) fn write_file(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), ImageError> {
    let path = dir.join(name);
    let mut file = File::create(&path).map_err(io_error("creating", &path))?;
    file.write_all(bytes).map_err(io_error("writing", &path))?;
    file.sync_all().map_err(io_error("syncing", &path))
}
