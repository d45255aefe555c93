//! Making a builder image again from a build record (`--like`), and deciding whether an image the
//! engine already has was made from the inputs asked for (`--reuse`).

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

use super::inputs::{differences, BuilderImageInputs, InputDifference, ToolchainInputs};
use super::{
    blocking, finish, prepare, rootfs, BuilderImage, BuilderImageError, BuilderImageOptions,
    RustcInfo,
};
use crate::docker::Engine;

/// The builder image a build record names, and the inputs it recorded for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedBuilderImage {
    /// The pin the build used (`sha256:…` or `name@sha256:…`).
    pub image: String,
    pub inputs: BuilderImageInputs,
    /// The mpr version that wrote the record.
    pub recorded_by: String,
}

impl RecordedBuilderImage {
    /// Reads `inputs.builder_image` and `inputs.builder_image_inputs` of a `build-record.json`.
    pub fn read(path: &Path) -> Result<Self, BuilderImageError> {
        let fail = |detail: String| BuilderImageError::Record {
            path: path.to_owned(),
            detail,
        };
        let text = std::fs::read_to_string(path).map_err(|e| fail(e.to_string()))?;
        let record: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
            fail(format!(
                "it is not JSON ({e}); pass the build-record.json of `mpr build`"
            ))
        })?;
        let inputs = record.pointer("/inputs/builder_image_inputs").ok_or_else(|| {
            fail("it has no inputs.builder_image_inputs: the mpr that made it did not record the builder image's inputs; build the release again with this mpr".to_owned())
        })?;
        let inputs: BuilderImageInputs = serde_json::from_value(inputs.clone())
            .map_err(|e| fail(format!("inputs.builder_image_inputs: {e}")))?;
        let image = record
            .pointer("/inputs/builder_image")
            .and_then(|v| v.as_str())
            .ok_or_else(|| fail("it has no inputs.builder_image string".to_owned()))?
            .to_owned();
        let recorded_by = record
            .pointer("/tool/version")
            .and_then(|v| v.as_str())
            .unwrap_or("(unknown)")
            .to_owned();
        Ok(RecordedBuilderImage {
            image,
            inputs,
            recorded_by,
        })
    }

    /// Options that make the recorded image: the record's suite, mirror, packages and time, with
    /// `base`'s toolchain, tag and work directory.
    pub fn options(&self, base: &BuilderImageOptions) -> BuilderImageOptions {
        BuilderImageOptions {
            suite: self.inputs.suite.clone(),
            mirror: self.inputs.mirror.clone(),
            packages: self.inputs.requested_packages.clone(),
            source_date_epoch: self.inputs.source_date_epoch,
            ..base.clone()
        }
    }
}

/// Makes the image `recorded` describes with `options` (normally [`RecordedBuilderImage::options`],
/// perhaps with another suite or mirror). Fails, without writing an image, with every input that
/// differs from the record: toolchain against the host's, package versions against what the mirror
/// serves now, suite, mirror, packages asked for and time against the options.
pub async fn create_like(
    recorded: &RecordedBuilderImage,
    options: &BuilderImageOptions,
) -> Result<BuilderImage, BuilderImageError> {
    let engine = Engine::connect().await?;
    let prepared = prepare(options).await?;
    let found = differences(&recorded.inputs, &prepared.inputs);
    if !found.is_empty() {
        return Err(BuilderImageError::Differs {
            hint: hint(&recorded.inputs, &found),
            differences: found,
        });
    }
    let image = finish(&engine, options, prepared).await?;
    if !pin_names(&recorded.image, &image) {
        return Err(BuilderImageError::IdMismatch {
            recorded: recorded.image.clone(),
            made: image.id,
            made_manifest: image.manifest_digest,
            recorded_by: recorded.recorded_by.clone(),
        });
    }
    Ok(image)
}

/// Whether `pin` (a bare digest or `name@digest`) names `image` on either image store.
fn pin_names(pin: &str, image: &BuilderImage) -> bool {
    let digest = pin.rsplit_once('@').map_or(pin, |(_, digest)| digest);
    digest == image.id || digest == image.manifest_digest
}

/// What to do about the differences found.
fn hint(recorded: &BuilderImageInputs, found: &[InputDifference]) -> String {
    let mut hints = Vec::new();
    if found.iter().any(|d| d.input.starts_with("toolchain")) {
        let release = recorded
            .toolchain
            .version
            .split_whitespace()
            .nth(1)
            .unwrap_or("<release>");
        let same_version = found
            .iter()
            .filter(|d| d.input.starts_with("toolchain"))
            .all(|d| d.input == "toolchain sha256");
        let why = if same_version {
            "the host's toolchain is the same release with other files (another build, or a changed toolchain directory)"
        } else {
            "the host's toolchain is another release"
        };
        hints.push(format!(
            "the recorded toolchain is {}; {why}: install rustup's build of it (`rustup toolchain install {release} --profile minimal`) and pass --toolchain \"$(rustc +{release} --print sysroot)\"",
            recorded.toolchain.version
        ));
    }
    if found.iter().any(|d| d.input.starts_with("package")) {
        hints.push(match &recorded.snapshot {
            Some(stamp) => format!("the record's mirror is snapshot {stamp}, which never changes: check that the mirror URL reaches snapshot.debian.org"),
            None => format!("the record's mirror {} is not a snapshot.debian.org snapshot, so the versions it serves move on; such an image cannot be made again (the image ID covers the mirror URL): make the next builder image from a snapshot mirror, e.g. --mirror http://snapshot.debian.org/archive/debian/YYYYMMDDTHHMMSSZ", recorded.mirror),
        });
    }
    if hints.is_empty() {
        "pass the recorded values (or leave --suite and --mirror out)".to_owned()
    } else {
        hints.join("\n")
    }
}

/// The toolchain at `sysroot` as it would be recorded (its digest takes a few seconds).
pub async fn host_toolchain(sysroot: &Path) -> Result<ToolchainInputs, BuilderImageError> {
    let rustc = RustcInfo::read(sysroot)?;
    let (sysroot, host) = (sysroot.to_owned(), rustc.host.clone());
    let sha256 =
        blocking(move || rootfs::toolchain_sha256(&rootfs::toolchain_tree(&sysroot, &host, 0)?))
            .await??;
    Ok(ToolchainInputs::new(&rustc, sha256))
}

/// An image the engine already has that `--reuse` can stand for a new one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReusableImage {
    /// The config digest (the classic store's image ID).
    pub id: String,
    /// The manifest digest, when the engine can tell it.
    pub manifest_digest: Option<String>,
    pub engine_id: String,
    pub reference: String,
    pub inputs: BuilderImageInputs,
}

/// The image tagged `options.tag`, if its labels show it was made from the same suite, mirror,
/// packages asked for, time and toolchain (version and digest) as `options` would use. Package
/// versions are not compared: that needs mmdebstrap, which is what reusing avoids.
pub async fn reusable(
    engine: &Engine,
    options: &BuilderImageOptions,
) -> Result<Option<ReusableImage>, BuilderImageError> {
    let Some(inspect) = engine.find_image(&options.tag).await? else {
        return Ok(None);
    };
    let labels: BTreeMap<String, String> = inspect
        .config
        .and_then(|c| c.labels)
        .unwrap_or_default()
        .into_iter()
        .collect();
    let Ok(inputs) = BuilderImageInputs::from_labels(&labels) else {
        tracing::info!(tag = %options.tag, "the image with this tag does not record its inputs; making a new one");
        return Ok(None);
    };
    let toolchain = host_toolchain(&options.toolchain).await?;
    let same = inputs.suite == options.suite
        && inputs.mirror == options.mirror
        && inputs.requested_packages == options.packages
        && inputs.source_date_epoch == options.source_date_epoch
        && inputs.toolchain == toolchain;
    if !same {
        tracing::info!(tag = %options.tag, "the image with this tag was made from other inputs; making a new one");
        return Ok(None);
    }
    let Some(digests) = engine.image_digests(&options.tag).await? else {
        return Ok(None);
    };
    Ok(Some(ReusableImage {
        id: digests.config_digest,
        manifest_digest: digests.manifest_digest,
        engine_id: digests.engine_id,
        reference: options.tag.clone(),
        inputs,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_without_inputs_are_explained() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("build-record.json");
        std::fs::write(
            &path,
            r#"{"tool":{"version":"0.1.0"},"inputs":{"builder_image":"sha256:00"}}"#,
        )
        .unwrap();
        let err = RecordedBuilderImage::read(&path).unwrap_err().to_string();
        assert!(
            err.contains("did not record the builder image's inputs"),
            "{err}"
        );
        std::fs::write(&path, "not json").unwrap();
        let err = RecordedBuilderImage::read(&path).unwrap_err().to_string();
        assert!(err.contains("is not JSON"), "{err}");
    }
}
