//! Loading written images into the engine and reading their digests back: from the archive (for
//! the check after `docker load`, on either image store) and, rebuilt, for an engine that does not
//! keep manifests (Docker's classic store).

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use super::{
    descriptor, to_json, ImageError, Manifest, MEDIA_TYPE_CONFIG, MEDIA_TYPE_LAYER,
    MEDIA_TYPE_MANIFEST,
};
use crate::docker::{DigestPair, Engine};
use crate::hashing::BlobDigests;

/// `docker load`s `image_tar` and checks the engine now has the image whose config digest is
/// `expected_id`, under that ID (classic image store) or under its manifest digest from the
/// archive (containerd image store). Returns the engine's ID for it.
pub async fn load_image(
    engine: &Engine,
    image_tar: &Path,
    expected_id: &str,
) -> Result<String, ImageError> {
    let messages = engine.load_archive(image_tar).await?;
    tracing::info!(?messages, "loaded {}", image_tar.display());
    let path = image_tar.to_owned();
    let manifests = tokio::task::spawn_blocking(move || archive_manifests(&path))
        .await
        .map_err(|e| ImageError::Archive {
            path: image_tar.to_owned(),
            detail: format!("the reader thread failed: {e}"),
        })??;
    let manifests: Vec<String> = manifests
        .into_iter()
        .filter(|pair| pair.config == expected_id)
        .map(|pair| pair.manifest)
        .collect();
    for name in std::iter::once(expected_id).chain(manifests.iter().map(String::as_str)) {
        if let Some(image) = engine.find_image(name).await? {
            match image.id {
                Some(id) if id == expected_id || manifests.contains(&id) => return Ok(id),
                _ => {}
            }
        }
    }
    Err(ImageError::NotLoaded {
        expected: expected_id.to_owned(),
        manifests: manifests.join(", "),
        store: engine.image_store().await?.to_string(),
        messages: messages.join("; "),
    })
}

/// The (manifest, config) digest pairs of the image archive `image_tar` (as [`write_image`] writes
/// it, or any OCI layout in a tar), read by seeking past the layers.
pub fn archive_manifests(image_tar: &Path) -> Result<Vec<DigestPair>, ImageError> {
    let fail = |detail: String| ImageError::Archive {
        path: image_tar.to_owned(),
        detail,
    };
    let file = std::fs::File::open(image_tar).map_err(|e| fail(e.to_string()))?;
    let mut archive = tar::Archive::new(file);
    let mut blobs = BTreeMap::new();
    let mut index = None;
    for entry in archive
        .entries_with_seek()
        .map_err(|e| fail(e.to_string()))?
    {
        let mut entry = entry.map_err(|e| fail(e.to_string()))?;
        let name = entry
            .path()
            .map_err(|e| fail(e.to_string()))?
            .to_string_lossy()
            .into_owned();
        // Manifests and the index are small; layers are skipped by seeking.
        if entry.size() > 1 << 20 {
            continue;
        }
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut entry, &mut bytes).map_err(|e| fail(e.to_string()))?;
        if name == "index.json" {
            index = Some(bytes);
        } else if let Some(hex) = name.strip_prefix("blobs/sha256/") {
            blobs.insert(format!("sha256:{hex}"), bytes);
        }
    }
    let index = index.ok_or_else(|| fail("it has no index.json".to_owned()))?;
    #[derive(Deserialize)]
    struct IndexJson {
        manifests: Vec<DescriptorJson>,
    }
    #[derive(Deserialize)]
    struct DescriptorJson {
        digest: String,
    }
    #[derive(Deserialize)]
    struct ManifestJson {
        config: DescriptorJson,
    }
    let index: IndexJson =
        serde_json::from_slice(&index).map_err(|e| fail(format!("index.json: {e}")))?;
    let mut pairs = Vec::new();
    for descriptor in index.manifests {
        let bytes = blobs.get(&descriptor.digest).ok_or_else(|| {
            fail(format!(
                "index.json names {}, which it does not hold",
                descriptor.digest
            ))
        })?;
        let manifest: ManifestJson = serde_json::from_slice(bytes)
            .map_err(|e| fail(format!("manifest {}: {e}", descriptor.digest)))?;
        pairs.push(DigestPair {
            manifest: descriptor.digest,
            config: manifest.config.digest,
        });
    }
    Ok(pairs)
}

/// The manifest digest [`write_image`] gives an image with this config and these (uncompressed)
/// layers, each `(digest, size)`: how a classic image store's image is matched to a manifest pin.
pub fn mpr_manifest_digest(
    config_digest: &str,
    config_size: u64,
    layers: &[(String, u64)],
) -> Result<String, ImageError> {
    let blob = |digest: &str, size: u64| BlobDigests {
        size,
        sha256: digest.trim_start_matches("sha256:").to_owned(),
        sha384: None,
    };
    let manifest = Manifest {
        schema_version: 2,
        media_type: MEDIA_TYPE_MANIFEST,
        config: descriptor(MEDIA_TYPE_CONFIG, &blob(config_digest, config_size)),
        layers: layers
            .iter()
            .map(|(digest, size)| descriptor(MEDIA_TYPE_LAYER, &blob(digest, *size)))
            .collect(),
    };
    let bytes = to_json("manifest", &manifest)?;
    Ok(format!(
        "sha256:{}",
        crate::hashing::digest_bytes(&bytes).sha256
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::{write_image, Arch, RuntimeConfig};

    /// The readers of archives and engine exports find the digests the writer wrote: in our own
    /// archive (an OCI layout, the shape the containerd store exports) and in a docker-archive
    /// without manifests (Docker 20.10's classic `docker save`), where the manifest is rebuilt.
    #[test]
    fn archive_and_export_readers_agree_with_the_writer() {
        use crate::archive::{FileData, Node, Tree};
        use crate::docker::pairs_in_export;
        let dir = tempfile::tempdir().unwrap();
        let mut tree = Tree::new();
        let data = FileData::Bytes(std::sync::Arc::from(&b"mpr\n"[..]));
        tree.insert("etc/hostname", Node::file(data, 0o644, 0))
            .unwrap();
        let written = write_image(
            &tree,
            &RuntimeConfig::default(),
            0,
            Arch::Amd64,
            "mpr/test:1",
            &dir.path().join("out"),
        )
        .unwrap();
        let expected = vec![DigestPair {
            manifest: written.manifest_digest.clone(),
            config: written.config_digest.clone(),
        }];
        assert_eq!(archive_manifests(&written.archive_path).unwrap(), expected);
        let open = || std::fs::File::open(&written.archive_path).unwrap();
        assert_eq!(pairs_in_export(open(), None).unwrap(), expected);
        assert_eq!(
            pairs_in_export(open(), Some(&written.manifest_digest)).unwrap(),
            expected
        );

        let blob = |digest: &str| {
            std::fs::read(written.oci_dir.join("blobs/sha256").join(&digest[7..])).unwrap()
        };
        let config = blob(&written.config_digest);
        let layer = blob(&format!("sha256:{}", written.layer.sha256));
        assert_eq!(
            mpr_manifest_digest(
                &written.config_digest,
                config.len() as u64,
                &[(
                    format!("sha256:{}", written.layer.sha256),
                    layer.len() as u64
                )]
            )
            .unwrap(),
            written.manifest_digest
        );
        let mut classic = tar::Builder::new(Vec::new());
        let config_name = format!("{}.json", &written.config_digest[7..]);
        let listing = format!(
            r#"[{{"Config":"{config_name}","RepoTags":["mpr/test:1"],"Layers":["0123/layer.tar"]}}]"#
        );
        for (name, bytes) in [
            ("0123/layer.tar", &layer[..]),
            (config_name.as_str(), &config[..]),
            ("manifest.json", listing.as_bytes()),
        ] {
            let mut header = tar::Header::new_gnu();
            header.set_size(bytes.len() as u64);
            header.set_mode(0o644);
            header.set_cksum();
            classic.append_data(&mut header, name, bytes).unwrap();
        }
        let classic = classic.into_inner().unwrap();
        assert_eq!(pairs_in_export(&classic[..], None).unwrap(), expected);
    }
}
