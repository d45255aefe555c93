//! Reading an image's config and manifest digests out of the engine's export (`docker save`), the
//! one place where an engine shows both: its tar holds the manifests (containerd store, and the
//! classic store since Docker 25) or the config and layers from which mpr's manifest is rebuilt.

use std::collections::HashMap;
use std::io::Read;

use bytes::Bytes;
use futures_util::StreamExt;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::store::ImageStore;
use super::{DockerError, Engine};

/// Blobs up to this size are read (manifests, configs, indexes); larger ones are layers.
const SMALL: u64 = 4 << 20;

/// A manifest digest and the config digest it names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestPair {
    pub manifest: String,
    pub config: String,
}

#[derive(Deserialize)]
struct ManifestJson {
    config: Option<DescriptorJson>,
    layers: Option<Vec<DescriptorJson>>,
}

#[derive(Deserialize)]
struct DescriptorJson {
    digest: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DockerArchiveEntry {
    config: String,
    layers: Vec<String>,
}

#[derive(Deserialize)]
struct ConfigJson {
    rootfs: RootFsJson,
}

#[derive(Deserialize)]
struct RootFsJson {
    diff_ids: Vec<String>,
}

impl Engine {
    /// The (manifest, config) digest pairs in the export of `image_id`. On the containerd store the
    /// stream is dropped as soon as the image's own manifest has gone by.
    pub(super) async fn exported_pairs(
        &self,
        image_id: &str,
        store: ImageStore,
    ) -> Result<Vec<DigestPair>, DockerError> {
        // A bounded channel to a reader thread: a full channel blocks this task only until that
        // thread, which runs on its own, takes the next chunk.
        let (sender, receiver) = std::sync::mpsc::sync_channel::<Result<Bytes, String>>(16);
        let stop_at = (store == ImageStore::Containerd).then(|| image_id.to_owned());
        let image = image_id.to_owned();
        let reader = tokio::task::spawn_blocking(move || {
            let reader = ChannelReader {
                receiver,
                current: Bytes::new(),
            };
            pairs_in_export(reader, stop_at.as_deref())
        });
        let mut stream = self.docker.export_image(image_id);
        while let Some(chunk) = stream.next().await {
            let item = chunk.map_err(|e| e.to_string());
            let failed = item.is_err();
            // The reader hangs up once it has what it needs.
            if sender.send(item).is_err() || failed {
                break;
            }
        }
        drop(sender);
        let result = reader.await.map_err(|e| DockerError::Export {
            image: image.clone(),
            detail: format!("the reader thread failed: {e}"),
        })?;
        result.map_err(|detail| DockerError::Export { image, detail })
    }
}

/// A blocking reader over the chunks the export stream delivers.
struct ChannelReader {
    receiver: std::sync::mpsc::Receiver<Result<Bytes, String>>,
    current: Bytes,
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            match self.receiver.recv() {
                Ok(Ok(chunk)) => self.current = chunk,
                Ok(Err(e)) => return Err(std::io::Error::other(e)),
                Err(std::sync::mpsc::RecvError) => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current.split_to(n));
        Ok(n)
    }
}

/// The pairs in an export tar: every manifest blob (`blobs/sha256/<hex>`) that names a config, and,
/// for each docker-archive entry of `manifest.json`, the manifest mpr's image writer makes of that
/// config and its layers. With `stop_at`, returns as soon as that manifest has been read.
pub fn pairs_in_export(
    reader: impl Read,
    stop_at: Option<&str>,
) -> Result<Vec<DigestPair>, String> {
    let mut archive = tar::Archive::new(reader);
    let mut small: HashMap<String, Vec<u8>> = HashMap::new();
    let mut sizes: HashMap<String, u64> = HashMap::new();
    let mut pairs = Vec::new();
    let entries = archive
        .entries()
        .map_err(|e| format!("reading the export: {e}"))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| format!("reading the export: {e}"))?;
        let path = entry
            .path()
            .map_err(|e| format!("an entry of the export has a bad name: {e}"))?
            .to_string_lossy()
            .into_owned();
        let size = entry.size();
        sizes.insert(path.clone(), size);
        if size > SMALL || !entry.header().entry_type().is_file() {
            continue;
        }
        let mut bytes = Vec::with_capacity(size as usize);
        entry
            .read_to_end(&mut bytes)
            .map_err(|e| format!("reading {path} of the export: {e}"))?;
        if let Some(hex) = path.strip_prefix("blobs/sha256/") {
            let digest = format!("sha256:{hex}");
            if let Some(config) = manifest_config(&bytes) {
                pairs.push(DigestPair {
                    manifest: digest.clone(),
                    config,
                });
                if stop_at == Some(digest.as_str()) {
                    return Ok(pairs);
                }
            }
        }
        small.insert(path, bytes);
    }
    if let Some(listing) = small.get("manifest.json") {
        let entries: Vec<DockerArchiveEntry> = serde_json::from_slice(listing).map_err(|e| {
            format!("the export's manifest.json is not a docker-archive listing: {e}")
        })?;
        for entry in entries {
            if let Some(pair) = rebuilt_pair(&entry, &small, &sizes)? {
                if !pairs.contains(&pair) {
                    pairs.push(pair);
                }
            }
        }
    }
    Ok(pairs)
}

/// The config digest a manifest names, if `bytes` is an image manifest.
fn manifest_config(bytes: &[u8]) -> Option<String> {
    let manifest: ManifestJson = serde_json::from_slice(bytes).ok()?;
    manifest.layers?;
    Some(manifest.config?.digest)
}

/// The manifest mpr's writer makes of a docker-archive entry's config and layers: only images
/// whose layers are uncompressed tars (diff ID = blob digest), as mpr writes them, get one.
fn rebuilt_pair(
    entry: &DockerArchiveEntry,
    small: &HashMap<String, Vec<u8>>,
    sizes: &HashMap<String, u64>,
) -> Result<Option<DigestPair>, String> {
    let Some(config_bytes) = small.get(&entry.config) else {
        return Ok(None);
    };
    let config_digest = format!("sha256:{}", hex::encode(Sha256::digest(config_bytes)));
    let Ok(config) = serde_json::from_slice::<ConfigJson>(config_bytes) else {
        return Ok(None);
    };
    if config.rootfs.diff_ids.len() != entry.layers.len() {
        return Ok(None);
    }
    let mut layers = Vec::new();
    for (diff_id, path) in config.rootfs.diff_ids.iter().zip(&entry.layers) {
        let Some(size) = sizes.get(path) else {
            return Err(format!(
                "the export's manifest.json lists {path}, which it does not hold"
            ));
        };
        layers.push((diff_id.clone(), *size));
    }
    let manifest =
        crate::image::mpr_manifest_digest(&config_digest, config_bytes.len() as u64, &layers)
            .map_err(|e| e.to_string())?;
    Ok(Some(DigestPair {
        manifest,
        config: config_digest,
    }))
}
