//! Docker's two image stores. The classic store (graph drivers: overlay2, fuse-overlayfs, …) names
//! an image by its config digest; the containerd image store (the default of new Docker 29 installs)
//! by the digest of its manifest or index. mpr writes both digests and a pin may be either, so a pin
//! that the engine does not know by that name is looked for among the images mpr made.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use bollard::models::ImageInspect;
use bollard::query_parameters::ListImagesOptionsBuilder;
use serde::Serialize;

use super::export::DigestPair;
use super::{api, DockerError, Engine};

/// Images made by mpr that a pin may name by their other digest carry this label.
const MPR_IMAGE_LABEL: &str = crate::builder_image::RUSTC_COMMIT_LABEL;

/// Where an engine keeps its images, which decides what it calls an image's ID.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ImageStore {
    /// Graph drivers: the image ID is the config digest.
    Classic,
    /// The containerd snapshotter: the image ID is the manifest (or index) digest.
    Containerd,
}

impl ImageStore {
    /// From `docker info`'s `DriverStatus`: the containerd store reports
    /// `["driver-type", "io.containerd.snapshotter.v1"]`.
    pub fn from_driver_status(status: &[Vec<String>]) -> ImageStore {
        let containerd = status.iter().any(|pair| {
            matches!(pair.as_slice(), [key, value] if key == "driver-type" && value.starts_with("io.containerd.snapshotter"))
        });
        if containerd {
            ImageStore::Containerd
        } else {
            ImageStore::Classic
        }
    }

    /// From an image's inspection, when it tells: only the containerd store gives an image a
    /// `Descriptor` (API 1.48 and later).
    pub fn from_inspect(image: &ImageInspect) -> Option<ImageStore> {
        image.descriptor.as_ref().map(|_| ImageStore::Containerd)
    }

    /// What this store calls an image's ID.
    pub fn id_kind(self) -> &'static str {
        match self {
            ImageStore::Classic => "config digest",
            ImageStore::Containerd => "manifest digest",
        }
    }

    /// What to do when a pin of the other kind names no image mpr made on this engine.
    pub fn pin_fix(self) -> &'static str {
        match self {
            ImageStore::Classic => "this engine uses Docker's classic image store, which names images by config digest, and no image mpr made here has this manifest digest; load the image (`mpr builder-image create --like build-record.json` makes a builder image again) or pin its config digest (`mpr builder-image create` prints both)",
            ImageStore::Containerd => "this engine uses Docker's containerd image store, which names images by manifest digest, and no image mpr made here has this config digest; load the image (`mpr builder-image create --like build-record.json` makes a builder image again), pin its manifest digest (`mpr builder-image create` prints both), or switch the engine to the classic store: set \"features\": {\"containerd-snapshotter\": false} in /etc/docker/daemon.json and restart Docker",
        }
    }
}

impl fmt::Display for ImageStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ImageStore::Classic => "classic",
            ImageStore::Containerd => "containerd",
        })
    }
}

/// The digests of one image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImageDigests {
    /// What the engine calls it.
    pub engine_id: String,
    pub config_digest: String,
    /// Known on the containerd store; on the classic store only when asked for by a pin.
    pub manifest_digest: Option<String>,
}

/// What an engine has learnt about its store and about pins, shared by its clones.
#[derive(Debug, Default)]
pub(super) struct StoreState {
    store: Mutex<Option<ImageStore>>,
    /// Pin → engine ID, for pins found under their other digest.
    resolved: Mutex<HashMap<String, String>>,
}

pub(super) type SharedStoreState = Arc<StoreState>;

/// `sha256:<64 hex>`.
pub fn is_bare_digest(reference: &str) -> bool {
    reference.strip_prefix("sha256:").is_some_and(|hex| {
        hex.len() == 64
            && hex
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    })
}

impl Engine {
    /// Which image store the engine uses (asked once per engine).
    pub async fn image_store(&self) -> Result<ImageStore, DockerError> {
        if let Some(store) = *lock(&self.state.store) {
            return Ok(store);
        }
        let info = self
            .docker
            .info()
            .await
            .map_err(api("asking the engine for its storage driver"))?;
        let store = ImageStore::from_driver_status(&info.driver_status.unwrap_or_default());
        *lock(&self.state.store) = Some(store);
        Ok(store)
    }

    /// The image `pin` names: the engine's own lookup first; for a bare digest the engine does not
    /// know, the images mpr made are searched for one whose config or manifest digest it is.
    pub async fn resolve_image(&self, pin: &str) -> Result<Option<ImageInspect>, DockerError> {
        if let Some(image) = self.find_image(pin).await? {
            return Ok(Some(image));
        }
        if !is_bare_digest(pin) {
            return Ok(None);
        }
        let known = lock(&self.state.resolved).get(pin).cloned();
        if let Some(engine_id) = known {
            return self.find_image(&engine_id).await;
        }
        let store = self.image_store().await?;
        for candidate in self.mpr_images().await? {
            let pairs = self.exported_pairs(&candidate, store).await?;
            if pairs.iter().any(|pair| pair.names(pin)) {
                tracing::info!(pin, engine_id = %candidate, %store, "found the pinned image under its other digest");
                lock(&self.state.resolved).insert(pin.to_owned(), candidate.clone());
                return self.find_image(&candidate).await;
            }
        }
        Ok(None)
    }

    /// What the engine calls the image `pin` names, for creating containers from it.
    pub(super) async fn engine_reference(&self, pin: &str) -> Result<Option<String>, DockerError> {
        Ok(self.resolve_image(pin).await?.and_then(|image| image.id))
    }

    /// The config and manifest digests of `reference`. On the classic store the manifest digest is
    /// left out (finding it means streaming the whole image out of the engine).
    pub async fn image_digests(
        &self,
        reference: &str,
    ) -> Result<Option<ImageDigests>, DockerError> {
        let Some(image) = self.find_image(reference).await? else {
            return Ok(None);
        };
        let store = match ImageStore::from_inspect(&image) {
            Some(store) => store,
            None => self.image_store().await?,
        };
        let Some(engine_id) = image.id else {
            return Ok(None);
        };
        if store == ImageStore::Classic {
            return Ok(Some(ImageDigests {
                config_digest: engine_id.clone(),
                engine_id,
                manifest_digest: None,
            }));
        }
        let pairs = self.exported_pairs(&engine_id, store).await?;
        let pair =
            pairs
                .iter()
                .find(|pair| pair.manifest == engine_id)
                .or(match pairs.as_slice() {
                    [only] => Some(only),
                    _ => None,
                });
        let Some(pair) = pair else {
            return Err(DockerError::Export {
                image: engine_id,
                detail: format!(
                    "its export holds {} image manifests and none is the image itself",
                    pairs.len()
                ),
            });
        };
        Ok(Some(ImageDigests {
            engine_id: engine_id.clone(),
            config_digest: pair.config.clone(),
            manifest_digest: Some(pair.manifest.clone()),
        }))
    }

    /// IDs of the images carrying mpr's builder-image labels.
    async fn mpr_images(&self) -> Result<Vec<String>, DockerError> {
        let filters = HashMap::from([("label", vec![MPR_IMAGE_LABEL])]);
        let options = ListImagesOptionsBuilder::default()
            .filters(&filters)
            .build();
        let images = self
            .docker
            .list_images(Some(options))
            .await
            .map_err(api("listing the images mpr made"))?;
        Ok(images.into_iter().map(|image| image.id).collect())
    }
}

impl DigestPair {
    fn names(&self, pin: &str) -> bool {
        self.config == pin || self.manifest == pin
    }
}

/// A poisoned lock only means another thread panicked while holding a cache entry: the data is
/// still a valid cache.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `DriverStatus` as Docker 26 with `"features": {"containerd-snapshotter": true}` and Docker
    /// 20.10 with fuse-overlayfs report it (from `docker info --format '{{json .DriverStatus}}'`).
    #[test]
    fn store_from_docker_info() {
        let containerd: Vec<Vec<String>> =
            serde_json::from_str(r#"[["driver-type","io.containerd.snapshotter.v1"]]"#).unwrap();
        assert_eq!(
            ImageStore::from_driver_status(&containerd),
            ImageStore::Containerd
        );
        let overlay2: Vec<Vec<String>> = serde_json::from_str(
            r#"[["Backing Filesystem","extfs"],["Supports d_type","true"],["Using metacopy","false"],["Native Overlay Diff","true"],["userxattr","false"]]"#,
        )
        .unwrap();
        assert_eq!(
            ImageStore::from_driver_status(&overlay2),
            ImageStore::Classic
        );
        assert_eq!(ImageStore::from_driver_status(&[]), ImageStore::Classic);
    }

    /// The containerd store's inspection as Docker 29 gives it (API 1.48 added `Descriptor`; the
    /// shape is the Engine API schema's, the values those the Docker 26 containerd engine of
    /// `tests/builder_image.rs` gave this image). Docker 26 itself answers API 1.45 without
    /// `Descriptor`, so there the store comes from `docker info` alone.
    #[test]
    fn store_from_inspect_shape() {
        let containerd: ImageInspect = serde_json::from_str(
            r#"{"Id":"sha256:f76bba8a6c461a0ae8b70c358db0ab685594848416880e02cc7868682e284bb4","Descriptor":{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:f76bba8a6c461a0ae8b70c358db0ab685594848416880e02cc7868682e284bb4","size":402},"RepoTags":["mpr-probe/busybox:latest"],"GraphDriver":{"Data":null,"Name":"native"}}"#,
        )
        .unwrap();
        assert_eq!(
            ImageStore::from_inspect(&containerd),
            Some(ImageStore::Containerd)
        );
        let classic: ImageInspect = serde_json::from_str(
            r#"{"Id":"sha256:790c6dde1da82549efacc23ad68ed64f0d3dbf78e1770f42b903dc77f3680898","RepoTags":["mpr-probe/busybox:latest"],"GraphDriver":{"Data":{"LowerDir":"x"},"Name":"fuse-overlayfs"}}"#,
        )
        .unwrap();
        assert_eq!(ImageStore::from_inspect(&classic), None);
    }

    #[test]
    fn bare_digests() {
        assert!(is_bare_digest(&format!("sha256:{}", "a".repeat(64))));
        for other in [
            "mpr/builder:1.95.0-bookworm",
            &format!("rust@sha256:{}", "a".repeat(64)),
            &format!("sha256:{}", "A".repeat(64)),
            "sha256:abc",
        ] {
            assert!(!is_bare_digest(other), "{other}");
        }
    }
}
