//! A deterministic OCI image writer: one uncompressed layer written from a [`Tree`], JSON documents
//! with a fixed shape, and a single archive that is both an OCI layout and a docker-archive.
//!
//! `docker build` stamps times and ordering of its own into layers and configs; writing the image
//! ourselves makes the config digest, which Docker uses as the image ID, a function of the inputs
//! alone, so two builders that agree on the tree agree on the ID.

mod config;
mod layout;
mod load;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::archive::{write_tar, Tree, TreeError};
use crate::docker::DockerError;
use crate::hashing::BlobDigests;

pub use config::RuntimeConfig;
use config::{
    ContainerConfig, Descriptor, DockerArchiveEntry, History, ImageConfig, Index, Manifest,
    OciLayout, Platform, RootFs, MEDIA_TYPE_CONFIG, MEDIA_TYPE_INDEX, MEDIA_TYPE_LAYER,
    MEDIA_TYPE_MANIFEST,
};
use layout::{io_error, publish, write_file, write_hashed, Blobs};
pub use load::{archive_manifests, load_image, mpr_manifest_digest};

#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("{context} {path}: {source}")]
    Io {
        context: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("image config field `{field}` has the invalid value {value:?}; {fix}")]
    BadConfig {
        field: &'static str,
        value: String,
        fix: &'static str,
    },
    #[error("image reference {reference:?} is invalid: {reason}; use the form `name:tag`, e.g. `mpr/prover:1.0`")]
    BadReference {
        reference: String,
        reason: &'static str,
    },
    #[error("{path} exists and does not hold an image written by mpr; choose an empty or new output directory")]
    OutputOccupied { path: PathBuf },
    #[error("cannot add {path:?} to the image archive: {source}")]
    Tree {
        path: String,
        #[source]
        source: TreeError,
    },
    #[error("cannot encode the image's {document} as JSON: {source}")]
    Json {
        document: &'static str,
        #[source]
        source: serde_json::Error,
    },
    #[error(transparent)]
    Docker(#[from] DockerError),
    #[error("after `docker load` the engine ({store} image store) has no image {expected} or {manifests} (it said: {messages:?}): the engine changed the image while loading it, so its ID is neither our config nor our manifest digest; check the engine's storage driver and version")]
    NotLoaded {
        expected: String,
        manifests: String,
        store: String,
        messages: String,
    },
    #[error("cannot read the image archive {path}: {detail}")]
    Archive { path: PathBuf, detail: String },
}

/// CPU architecture, named as OCI and Docker name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Arch {
    Amd64,
    Arm64,
}

impl Arch {
    /// The architecture this program was built for, if it is one we write images for.
    pub fn host() -> Option<Arch> {
        match std::env::consts::ARCH {
            "x86_64" => Some(Arch::Amd64),
            "aarch64" => Some(Arch::Arm64),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Arch::Amd64 => "amd64",
            Arch::Arm64 => "arm64",
        }
    }
}

impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Arch {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "amd64" | "x86_64" => Ok(Arch::Amd64),
            "arm64" | "aarch64" => Ok(Arch::Arm64),
            other => Err(format!(
                "unknown architecture {other:?}; use amd64 (x86_64) or arm64 (aarch64)"
            )),
        }
    }
}

/// What [`write_image`] wrote. Digests are `sha256:<hex>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WrittenImage {
    pub reference: String,
    pub manifest_digest: String,
    /// The image config's digest, which is also the ID Docker gives the loaded image.
    pub config_digest: String,
    /// The uncompressed layer; its digest is also the layer's diff ID.
    pub layer: BlobDigests,
    /// `image.tar`.
    pub archive: BlobDigests,
    pub oci_dir: PathBuf,
    pub archive_path: PathBuf,
}

/// Writes `rootfs` as a one-layer image: `out_dir/oci/` (OCI image layout) and `out_dir/image.tar`
/// (the same files in one deterministic tar, loadable with `docker load`). Everything is written in
/// a temporary directory next to `out_dir` and renamed into place at the end.
pub fn write_image(
    rootfs: &Tree,
    config: &RuntimeConfig,
    created_unix: u64,
    arch: Arch,
    reference: &str,
    out_dir: &Path,
) -> Result<WrittenImage, ImageError> {
    let tag = tag_of(reference)?;
    let container_config = ContainerConfig::from_runtime(config)?;
    let parent = match out_dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(parent).map_err(io_error("creating", parent))?;
    let staging = tempfile::Builder::new()
        .prefix(".image-new-")
        .tempdir_in(parent)
        .map_err(io_error("creating a temporary directory in", parent))?;
    let oci_dir = staging.path().join("oci");
    let mut blobs = Blobs::create(&oci_dir)?;

    let layer = blobs.add_layer(rootfs)?;
    let created = measurer::eif::rfc3339_from_unix(created_unix);
    let image_config = ImageConfig {
        created: created.clone(),
        architecture: arch,
        os: "linux",
        config: container_config,
        rootfs: RootFs {
            kind: "layers",
            diff_ids: vec![format!("sha256:{}", layer.sha256)],
        },
        history: vec![History {
            created,
            created_by: "mpr: deterministic image writer",
        }],
    };
    let config_blob = blobs.add_bytes(to_json("image config", &image_config)?)?;
    let manifest = Manifest {
        schema_version: 2,
        media_type: MEDIA_TYPE_MANIFEST,
        config: descriptor(MEDIA_TYPE_CONFIG, &config_blob),
        layers: vec![descriptor(MEDIA_TYPE_LAYER, &layer)],
    };
    let manifest_blob = blobs.add_bytes(to_json("manifest", &manifest)?)?;

    let mut manifest_entry = descriptor(MEDIA_TYPE_MANIFEST, &manifest_blob);
    manifest_entry.platform = Some(Platform {
        architecture: arch,
        os: "linux",
    });
    manifest_entry.annotations = BTreeMap::from([
        ("io.containerd.image.name", normalized_name(reference)),
        ("org.opencontainers.image.ref.name", tag.to_owned()),
    ]);
    let index = to_json(
        "index",
        &Index {
            schema_version: 2,
            media_type: MEDIA_TYPE_INDEX,
            manifests: vec![manifest_entry],
        },
    )?;
    let oci_layout = to_json(
        "oci-layout",
        &OciLayout {
            image_layout_version: "1.0.0",
        },
    )?;
    let docker_manifest = to_json(
        "docker manifest.json",
        &[DockerArchiveEntry {
            config: format!("blobs/sha256/{}", config_blob.sha256),
            repo_tags: vec![reference.to_owned()],
            layers: vec![format!("blobs/sha256/{}", layer.sha256)],
        }],
    )?;
    let top_level: [(&str, &[u8]); 3] = [
        ("index.json", &index),
        ("manifest.json", &docker_manifest),
        ("oci-layout", &oci_layout),
    ];
    for (name, bytes) in top_level {
        write_file(&oci_dir, name, bytes)?;
    }

    let archive_tree = blobs.archive_tree(&top_level, created_unix)?;
    let staged_archive = staging.path().join("image.tar");
    let archive = write_hashed(&staged_archive, |w| write_tar(&archive_tree, w))?;

    publish(staging.path(), out_dir)?;
    // Renamed away: nothing left for the guard to clean up.
    let _ = staging.keep();
    tracing::info!(
        reference,
        id = %format!("sha256:{}", config_blob.sha256),
        layer_bytes = layer.size,
        "wrote image to {}",
        out_dir.display()
    );
    Ok(WrittenImage {
        reference: reference.to_owned(),
        manifest_digest: format!("sha256:{}", manifest_blob.sha256),
        config_digest: format!("sha256:{}", config_blob.sha256),
        layer,
        archive,
        oci_dir: out_dir.join("oci"),
        archive_path: out_dir.join("image.tar"),
    })
}

fn descriptor(media_type: &'static str, blob: &BlobDigests) -> Descriptor {
    Descriptor {
        media_type,
        digest: format!("sha256:{}", blob.sha256),
        size: blob.size,
        platform: None,
        annotations: BTreeMap::new(),
    }
}

fn to_json(document: &'static str, value: &impl Serialize) -> Result<Vec<u8>, ImageError> {
    serde_json::to_vec(value).map_err(|source| ImageError::Json { document, source })
}

/// `reference` as Docker names it in full (`mpr/prover:1` → `docker.io/mpr/prover:1`, `hello:1` →
/// `docker.io/library/hello:1`). Docker's containerd image store keeps the name of a loaded image
/// exactly as `io.containerd.image.name` gives it and looks names up in this full form, so a short
/// name there would load an image that no tag reaches.
fn normalized_name(reference: &str) -> String {
    let first = reference.split('/').next().unwrap_or_default();
    let has_registry = reference.contains('/')
        && (first.contains('.') || first.contains(':') || first == "localhost");
    if has_registry {
        reference.to_owned()
    } else if reference.contains('/') {
        format!("docker.io/{reference}")
    } else {
        format!("docker.io/library/{reference}")
    }
}

/// The tag of `name:tag`, after checking the reference the way `docker load` will, so a bad one fails
/// before gigabytes are written.
fn tag_of(reference: &str) -> Result<&str, ImageError> {
    let bad = |reason| ImageError::BadReference {
        reference: reference.to_owned(),
        reason,
    };
    // The last ':' after the last '/' separates the tag; an earlier one is a registry port.
    let slash = reference.rfind('/').map_or(0, |i| i + 1);
    let (name, tag) = match reference[slash..].rfind(':') {
        Some(colon) => reference.split_at(slash + colon),
        None => return Err(bad("it has no tag")),
    };
    let tag = &tag[1..];
    let tag_ok = !tag.is_empty()
        && tag.len() <= 128
        && !tag.starts_with(['.', '-'])
        && tag
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if !tag_ok {
        return Err(bad(
            "the tag must be 1-128 letters, digits, '_', '.' or '-', not starting with '.' or '-'",
        ));
    }
    let name_ok = !name.is_empty()
        && name.split('/').all(|component| {
            component.starts_with(|c: char| c.is_ascii_alphanumeric())
                && component.ends_with(|c: char| c.is_ascii_alphanumeric())
        })
        && name.chars().all(|c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-' | '/' | ':')
        });
    if !name_ok {
        return Err(bad(
            "the name must be lowercase letters, digits and '.', '_', '-' separated by '/'",
        ));
    }
    Ok(tag)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_need_a_valid_name_and_tag() {
        assert_eq!(tag_of("mpr/builder:1.95.0").unwrap(), "1.95.0");
        assert_eq!(tag_of("localhost:5000/mpr/prover:v1").unwrap(), "v1");
        for bad in [
            "mpr/builder",
            "localhost:5000/mpr",
            "Mpr/builder:1",
            "mpr/builder:",
            "mpr//builder:1",
            ":1",
            "mpr/builder:-x",
            "mpr/builder:a b",
        ] {
            assert!(
                matches!(tag_of(bad), Err(ImageError::BadReference { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn containerd_names_are_normalized_as_docker_does() {
        for (short, full) in [
            ("mpr/builder:1.95.0", "docker.io/mpr/builder:1.95.0"),
            ("hello:0.1.0", "docker.io/library/hello:0.1.0"),
            (
                "localhost:5000/mpr/prover:v1",
                "localhost:5000/mpr/prover:v1",
            ),
            ("ghcr.io/midnight/prover:1", "ghcr.io/midnight/prover:1"),
            ("docker.io/mpr/x:1", "docker.io/mpr/x:1"),
        ] {
            assert_eq!(normalized_name(short), full);
        }
    }

    #[test]
    fn arch_names() {
        assert_eq!("x86_64".parse::<Arch>().unwrap(), Arch::Amd64);
        assert_eq!(Arch::Arm64.to_string(), "arm64");
        assert!("riscv64".parse::<Arch>().is_err());
    }
}
