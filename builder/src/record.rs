//! The build record: every input digest, every output digest and size, and the measurements of
//! every platform. It holds nothing that varies between machines or runs (no times, host names or
//! paths outside the output), so two honest builds of one recipe give byte-identical records.

use serde::{Deserialize, Serialize};

use crate::cvm::BuiltCvm;
use crate::hashing::BlobDigests;
pub use crate::inputs::{PinnedInput, PlacedFile};
use crate::nitro::BuiltEif;
use crate::uki::BuiltUki;

pub const RECORD_SCHEMA: u32 = 1;
/// The record's file name inside the output directory.
pub const RECORD_FILE: &str = "build-record.json";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuildRecord {
    pub schema: u32,
    pub tool: Tool,
    pub release: Release,
    pub inputs: Inputs,
    pub outputs: Outputs,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tool {
    pub name: String,
    pub version: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Release {
    pub name: String,
    pub version: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inputs {
    /// SHA-256 of the recipe's canonical form (see `Recipe::canonical_sha256`): the same wherever
    /// the recipe, its files and the clone sit.
    pub recipe_sha256: String,
    /// The repository's canonical URL.
    pub repository: String,
    pub commit: String,
    pub source_date_epoch: u64,
    pub cargo_lock_sha256: String,
    /// The deterministic source archive (tree + vendored crates) the container compiled.
    pub source_archive: BlobDigests,
    pub builder_image: String,
    /// What the builder image was made from, as its labels record it: enough for
    /// `mpr builder-image create --like` to make it again.
    pub builder_image_inputs: crate::builder_image::BuilderImageInputs,
    pub package: String,
    pub binary: String,
    /// The build's environment inside the container (RUSTFLAGS, codegen units, …), minus the
    /// job count, which does not change the output.
    pub build_env: Vec<String>,
    /// Pinned boot files by recipe field: name and the SHA-256 of what was read.
    pub files: Vec<PinnedInput>,
    /// The recipe's `[[files]]`, as placed in every root file system.
    pub placed_files: Vec<PlacedFile>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outputs {
    pub binary: FileRecord,
    pub libraries: Vec<FileRecord>,
    pub image: ImageRecord,
    pub eif: Option<BuiltEif>,
    pub cvm: Option<BuiltCvm>,
    /// The measured boot disk for GCP and Azure (`[uki]`); absent from records of older recipes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uki: Option<BuiltUki>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileRecord {
    /// Path inside the image.
    pub path: String,
    #[serde(flatten)]
    pub digests: BlobDigests,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageRecord {
    pub reference: String,
    /// Docker's image ID (the config digest).
    pub config_digest: String,
    pub manifest_digest: String,
    pub layer: BlobDigests,
    pub archive: BlobDigests,
    /// What a container runtime (Docker, GCP Confidential Space's launcher) runs from the image:
    /// published with the image digest, because the digest binds them only while nobody overrides
    /// them. Empty in records made before mpr recorded it.
    #[serde(default)]
    pub launch: ContainerLaunch,
}

/// The image's `Entrypoint` followed by its `Cmd`, and its `Env`, as the image config holds them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerLaunch {
    pub args: Vec<String>,
    pub env: Vec<String>,
}

impl ContainerLaunch {
    pub fn of(runtime: &crate::image::RuntimeConfig) -> ContainerLaunch {
        ContainerLaunch {
            args: runtime
                .entrypoint
                .iter()
                .chain(&runtime.cmd)
                .cloned()
                .collect(),
            env: runtime.env.clone(),
        }
    }
}

impl BuildRecord {
    /// Pretty JSON with a final newline: the record is meant to be read, diffed and signed.
    pub fn to_json(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).expect("a record has only string keys");
        text.push('\n');
        text
    }
}
