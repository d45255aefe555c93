//! The release's first stage: `mpr build` into `OUT/build`, or the build a previous run left there
//! when it is of this version, this recipe and this commit and its files are intact.

use std::path::Path;

use anyhow::Context;
use builder::hashing::sha256_file;
use builder::recipe::Recipe;
use builder::record::{BuildRecord, RECORD_FILE};
use builder::source::{is_remote_url, resolve_commit};

/// A finished build: its record and the record file's exact bytes.
pub struct Built {
    pub record: BuildRecord,
    pub record_bytes: Vec<u8>,
}

/// Loads the recipe and checks that it is the recipe of `version`.
pub fn load_recipe(path: &Path, version: &str) -> anyhow::Result<Recipe> {
    if !path.exists() {
        anyhow::bail!(
            "recipe {} not found; pass --recipe FILE (see README: \"Building a release\")",
            path.display()
        );
    }
    let recipe = Recipe::load(path)?;
    if recipe.version != version {
        anyhow::bail!(
            "the recipe {} is for version {} but the release is {version}: set version = \"{version}\" in the recipe (the version is part of what is measured and signed)",
            path.display(),
            recipe.version
        );
    }
    Ok(recipe)
}

/// The build in `build_dir` if it can stand for this release; otherwise why not.
pub fn reusable(build_dir: &Path, recipe: &Recipe) -> anyhow::Result<Result<Built, String>> {
    let record_path = build_dir.join(RECORD_FILE);
    if !record_path.exists() {
        return Ok(Err(format!("no finished build in {}", build_dir.display())));
    }
    let record_bytes = std::fs::read(&record_path)
        .with_context(|| format!("reading {}", record_path.display()))?;
    let Ok(record) = serde_json::from_slice::<BuildRecord>(&record_bytes) else {
        return Ok(Err(format!(
            "{} is not a build record of this mpr",
            record_path.display()
        )));
    };
    if record.release.version != recipe.version {
        return Ok(Err(format!(
            "the build in {} is of version {}",
            build_dir.display(),
            record.release.version
        )));
    }
    if recipe.canonical_sha256(&record.inputs.repository) != record.inputs.recipe_sha256 {
        return Ok(Err("the recipe changed since the previous build".to_owned()));
    }
    if let Some(problem) = commit_moved(recipe, &record.inputs.commit) {
        return Ok(Err(problem));
    }
    if let Some(problem) = damaged_output(build_dir, &record)? {
        return Ok(Err(problem));
    }
    Ok(Ok(Built {
        record,
        record_bytes,
    }))
}

/// Whether the recipe's commit now names another commit than the one built.
fn commit_moved(recipe: &Recipe, built: &str) -> Option<String> {
    let wanted = &recipe.source.commit;
    let location = recipe.repository_location();
    let is_hash = wanted.len() == 40 && wanted.bytes().all(|b| b.is_ascii_hexdigit());
    let current = if is_hash {
        wanted.to_ascii_lowercase()
    } else if is_remote_url(&location) {
        return Some(format!(
            "the recipe's commit {wanted:?} of a remote repository cannot be resolved without fetching"
        ));
    } else {
        match resolve_commit(&location, wanted) {
            Ok((hash, _)) => hash,
            Err(error) => return Some(format!("cannot resolve the recipe's commit: {error}")),
        }
    };
    (current != built).then(|| format!("{wanted} is now commit {current}, the build is of {built}"))
}

/// The first output file whose bytes are not what the record says (a truncated copy, a hand edit).
fn damaged_output(build_dir: &Path, record: &BuildRecord) -> anyhow::Result<Option<String>> {
    let outputs = &record.outputs;
    let mut expected = vec![(
        build_dir.join("image/image.tar"),
        outputs.image.archive.sha256.as_str(),
    )];
    if let Some(eif) = &outputs.eif {
        expected.push((
            build_dir.join("eif").join(&eif.file),
            eif.eif.sha256.as_str(),
        ));
    }
    if let Some(cvm) = &outputs.cvm {
        expected.push((build_dir.join("cvm/vmlinuz"), cvm.kernel.sha256.as_str()));
        expected.push((build_dir.join("cvm/initrd.img"), cvm.initrd.sha256.as_str()));
    }
    if let Some(uki) = &outputs.uki {
        for (file, digests) in [
            (builder::uki::UKI_FILE, &uki.uki),
            (builder::uki::GCP_IMAGE_FILE, &uki.gcp_image),
            (builder::uki::AZURE_VHD_FILE, &uki.azure_vhd),
        ] {
            expected.push((build_dir.join("uki").join(file), digests.sha256.as_str()));
        }
    }
    for (path, sha256) in expected {
        match sha256_file(&path) {
            Ok(digests) if digests.sha256 == sha256 => {}
            Ok(_) => return Ok(Some(format!("{} differs from its record", path.display()))),
            Err(error) => return Ok(Some(format!("{}: {error}", path.display()))),
        }
    }
    Ok(None)
}
