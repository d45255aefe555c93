//! `mpr build`: recipe → fetch → compile → image, EIF, CVM bundle → record, in a staging directory
//! that becomes the output directory only once everything is complete.

use std::path::{Path, PathBuf};

use crate::archive::{FileData, Node, NodeKind, Tree};
use crate::compile::{build_env, compile, CompileError};
use crate::cvm::{build_cvm, CvmError};
use crate::docker::{DockerError, Engine};
use crate::hashing::{digest_bytes, digest_file};
use crate::image::{load_image, write_image, Arch, ImageError};
use crate::nitro::{build_eif, NitroError};
use crate::recipe::{Recipe, RecipeError};
use crate::record::{
    BuildRecord, FileRecord, ImageRecord, Inputs, Outputs, PinnedInput, Release, Tool, RECORD_FILE,
    RECORD_SCHEMA,
};
use crate::source::{fetch, resolve_commit, SourceArchive, SourceError};

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    Recipe(#[from] RecipeError),
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error(transparent)]
    Docker(#[from] DockerError),
    #[error(transparent)]
    Compile(#[from] CompileError),
    #[error(transparent)]
    Image(#[from] ImageError),
    #[error(transparent)]
    Nitro(#[from] NitroError),
    #[error(transparent)]
    Cvm(#[from] CvmError),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> BuildError {
    let context = context.into();
    move |source| BuildError::Io { context, source }
}

/// What `mpr build` was asked to do.
#[derive(Debug, Clone)]
pub struct BuildOptions {
    pub recipe: PathBuf,
    pub out_dir: PathBuf,
    /// Parallel compile jobs and CPUs of the build container; never changes the output.
    pub jobs: Option<u32>,
    /// Vendored crates by Cargo.lock digest.
    pub vendor_cache: PathBuf,
    /// Load the finished image into Docker.
    pub load: bool,
}

/// Progress of a build, for the terminal.
pub enum Event<'a> {
    Stage(&'a str),
    Log(&'a str),
}

/// Runs the whole build and returns its record; `out_dir` holds the results afterwards:
/// `build-record.json`, `image/` (OCI layout + `image.tar`), `eif/`, `cvm/`.
pub async fn build(
    options: &BuildOptions,
    on_event: &mut dyn FnMut(Event),
) -> Result<BuildRecord, BuildError> {
    on_event(Event::Stage("recipe"));
    let recipe = Recipe::load(&options.recipe)?;
    recipe.verify_pins()?;
    let recipe_sha256 = digest_file(&options.recipe)
        .map_err(io("reading the recipe"))?
        .sha256;
    // Connect before the long fetch so a stopped engine is reported at once.
    let engine = Engine::connect().await?;

    let out_dir = absolute(&options.out_dir)?;
    let parent = out_dir.parent().unwrap_or(Path::new("/")).to_owned();
    std::fs::create_dir_all(&parent).map_err(io(format!("creating {}", parent.display())))?;
    let staging = tempfile::Builder::new()
        .prefix(".mpr-build-")
        .tempdir_in(&parent)
        .map_err(io(format!(
            "creating a staging directory in {}",
            parent.display()
        )))?;
    let work = staging.path().join("work");
    let result = staging.path().join("result");
    for dir in [&work, &result, &result.join("eif"), &result.join("cvm")] {
        std::fs::create_dir_all(dir).map_err(io(format!("creating {}", dir.display())))?;
    }

    on_event(Event::Stage("fetch"));
    let source = fetch_source(&recipe, &work, &options.vendor_cache)?;
    let (commit, sde) = (source.commit.clone(), source.source_date_epoch);

    on_event(Event::Stage("compile"));
    let compiled = compile(&engine, &recipe, &source, options.jobs, &work, |line| {
        on_event(Event::Log(line))
    })
    .await?;
    let rootfs = runtime_rootfs(compiled.rootfs, sde)?;

    on_event(Event::Stage("image"));
    let reference = format!("{}:{}", recipe.name, recipe.version);
    let image = write_image(
        &rootfs,
        &recipe.runtime,
        sde,
        Arch::Amd64,
        &reference,
        &result.join("image"),
    )?;

    let eif = match &recipe.eif {
        Some(spec) => {
            on_event(Event::Stage("eif"));
            Some(build_eif(
                spec,
                &rootfs,
                &recipe.runtime,
                &recipe.name,
                &recipe.version,
                sde,
                &result.join("eif"),
            )?)
        }
        None => None,
    };
    let cvm = match &recipe.cvm {
        Some(spec) => {
            on_event(Event::Stage("cvm"));
            Some(build_cvm(
                spec,
                &recipe.snp,
                &rootfs,
                &recipe.runtime,
                sde,
                &result.join("cvm"),
            )?)
        }
        None => None,
    };

    let binary_node = rootfs.get(&recipe.source.install_path);
    let binary = FileRecord {
        path: recipe.source.install_path.clone(),
        digests: node_digests(binary_node)?,
    };
    let mut libraries = Vec::new();
    for lib in &compiled.libraries {
        let path = lib.trim_start_matches('/');
        libraries.push(FileRecord {
            path: path.to_owned(),
            digests: node_digests(rootfs.get(path))?,
        });
    }
    let mut env = build_env(&recipe, &source, None);
    env.sort();
    let record = BuildRecord {
        schema: RECORD_SCHEMA,
        tool: Tool {
            name: "mpr".into(),
            version: env!("CARGO_PKG_VERSION").into(),
        },
        release: Release {
            name: recipe.name.clone(),
            version: recipe.version.clone(),
        },
        inputs: Inputs {
            recipe_sha256,
            repository: recipe.source.repository.clone(),
            commit,
            source_date_epoch: sde,
            cargo_lock_sha256: source.cargo_lock_sha256.clone(),
            source_archive: source.archive.clone(),
            builder_image: recipe.builder.image.clone(),
            package: recipe.source.package.clone(),
            binary: recipe.source.binary.clone(),
            build_env: env,
            files: recipe
                .pinned_files()
                .into_iter()
                .map(|(field, file)| PinnedInput {
                    field,
                    file_name: file
                        .path
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default(),
                    sha256: file.sha256.clone(),
                })
                .collect(),
        },
        outputs: Outputs {
            binary,
            libraries,
            image: ImageRecord {
                reference: image.reference.clone(),
                config_digest: image.config_digest.clone(),
                manifest_digest: image.manifest_digest.clone(),
                layer: image.layer.clone(),
                archive: image.archive.clone(),
            },
            eif,
            cvm,
        },
    };
    std::fs::write(result.join(RECORD_FILE), record.to_json())
        .map_err(io("writing the build record"))?;

    on_event(Event::Stage("publish"));
    publish(&result, &out_dir)?;
    if options.load {
        load_image(
            &engine,
            &out_dir.join("image").join("image.tar"),
            &record.outputs.image.config_digest,
        )
        .await?;
    }
    Ok(record)
}

/// The fetch stage alone: resolves the recipe's commit and vendors its crates into the cache, so
/// that a later `build` needs no network (and an air-gapped builder can be handed the cache).
pub fn prefetch(recipe_path: &Path, vendor_cache: &Path) -> Result<SourceArchive, BuildError> {
    let recipe = Recipe::load(recipe_path)?;
    let work = tempfile::tempdir().map_err(io("creating a temporary directory"))?;
    fetch_source(&recipe, work.path(), vendor_cache)
}

fn fetch_source(
    recipe: &Recipe,
    work: &Path,
    vendor_cache: &Path,
) -> Result<SourceArchive, BuildError> {
    let location = recipe.repository_location();
    let (commit, commit_time) = resolve_commit(&location, &recipe.source.commit)?;
    let sde = recipe.source.source_date_epoch.unwrap_or(commit_time);
    Ok(fetch(&location, &commit, sde, work, vendor_cache)?)
}

/// The runtime root file system: what the build produced, plus `/tmp`, every entry owned by root
/// and stamped with SOURCE_DATE_EPOCH.
fn runtime_rootfs(mut rootfs: Tree, sde: u64) -> Result<Tree, BuildError> {
    rootfs
        .insert("tmp", Node::dir(0o1777, sde))
        .map_err(|e| io("assembling the rootfs")(std::io::Error::other(e)))?;
    rootfs.set_all_owners_root();
    rootfs.set_all_mtimes(sde);
    Ok(rootfs)
}

fn node_digests(node: Option<&Node>) -> Result<crate::hashing::BlobDigests, BuildError> {
    match node.map(|n| &n.kind) {
        Some(NodeKind::File(FileData::Disk { path, .. })) => {
            digest_file(path).map_err(io(format!("hashing {}", path.display())))
        }
        Some(NodeKind::File(FileData::Bytes(bytes))) => Ok(digest_bytes(bytes)),
        _ => Err(io("the build output")(std::io::Error::other(
            "the binary or a library is missing from the build output",
        ))),
    }
}

fn absolute(path: &Path) -> Result<PathBuf, BuildError> {
    std::path::absolute(path).map_err(io(format!("resolving {}", path.display())))
}

/// Moves the complete result into place. An existing output directory is moved aside first and
/// deleted only after the new one is in place, so a reader never sees a mix of two builds.
fn publish(result: &Path, out_dir: &Path) -> Result<(), BuildError> {
    let aside = out_dir.with_extension(format!("old-{}", std::process::id()));
    let had_old = out_dir.exists();
    if had_old {
        std::fs::rename(out_dir, &aside).map_err(io(format!(
            "moving the previous {} aside",
            out_dir.display()
        )))?;
    }
    std::fs::rename(result, out_dir)
        .map_err(io(format!("moving the result to {}", out_dir.display())))?;
    if had_old {
        std::fs::remove_dir_all(&aside).map_err(io(format!("removing {}", aside.display())))?;
    }
    Ok(())
}
