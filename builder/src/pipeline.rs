//! `mpr build`: recipe → fetch → compile → image, EIF, CVM bundle → record, in a staging directory
//! that becomes the output directory only once everything is complete.

use std::path::{Path, PathBuf};

use crate::archive::{FileData, Node, NodeKind, Tree};
use crate::compile::{build_env, compile, CompileError};
use crate::cvm::{build_cvm, CvmError};
use crate::docker::{DockerError, Engine};
use crate::hashing::digest_reader;
use crate::image::{load_image, write_image, Arch, ImageError};
use crate::inputs::{fetch_files, stage, InputError, PlacedFile};
use crate::nitro::{build_eif, NitroError};
use crate::output_dir::{check_replaceable, mark, publish, OutputDirError};
use crate::recipe::{Recipe, RecipeError};
use crate::record::{
    BuildRecord, ContainerLaunch, FileRecord, ImageRecord, Inputs, Outputs, Release, Tool,
    RECORD_FILE, RECORD_SCHEMA,
};
use crate::source::{
    canonical_url, fetch, resolve_commit, SourceArchive, SourceError, SourceRequest,
};
use crate::uki::{build_uki, default_os_release, UkiError};

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    Recipe(#[from] RecipeError),
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error(transparent)]
    Input(#[from] InputError),
    #[error(transparent)]
    OutputDir(#[from] OutputDirError),
    #[error(transparent)]
    BuilderImage(#[from] crate::builder_image::BuilderImageError),
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
    #[error(transparent)]
    Uki(#[from] UkiError),
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
    /// Vendored crates by Cargo.lock digest and builder image.
    pub vendor_cache: PathBuf,
    /// `[[files]]` fetched from URLs, by SHA-256.
    pub file_cache: PathBuf,
    /// Load the finished image into Docker.
    pub load: bool,
}

/// Progress of a build, for the terminal.
pub enum Event<'a> {
    Stage(&'a str),
    Log(&'a str),
}

/// Runs the whole build and returns its record; `out_dir` holds the results afterwards:
/// `build-record.json`, `image/` (OCI layout + `image.tar`), `eif/`, `cvm/`, `uki/`.
pub async fn build(
    options: &BuildOptions,
    on_event: &mut dyn FnMut(Event),
) -> Result<BuildRecord, BuildError> {
    on_event(Event::Stage("recipe"));
    let mut recipe = Recipe::load(&options.recipe)?;
    let out_dir = absolute(&options.out_dir)?;
    // Before minutes of work, not after.
    check_replaceable(&out_dir)?;
    let (location, repository_url) = source_origin(&recipe)?;
    let recipe_sha256 = recipe.canonical_sha256(&repository_url);
    // Connect before the long fetch so a stopped engine is reported at once.
    let engine = Engine::connect().await?;

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
    fetch_files(&recipe, &options.file_cache).await?;
    let inputs = stage(&mut recipe, &work.join("inputs"), &options.file_cache)?;
    let builder_image_inputs =
        crate::builder_image::recorded_inputs(&engine, &recipe.builder.image).await?;
    let source = fetch_source(
        &engine,
        &recipe,
        (&location, &repository_url),
        &work,
        &options.vendor_cache,
        &mut |line| on_event(Event::Log(line)),
    )
    .await?;
    let (commit, sde) = (source.commit.clone(), source.source_date_epoch);

    on_event(Event::Stage("compile"));
    let compiled = compile(&engine, &recipe, &source, options.jobs, &work, |line| {
        on_event(Event::Log(line))
    })
    .await?;
    let rootfs = runtime_rootfs(compiled.rootfs, &inputs.placed, sde)?;

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
                &recipe.eif_runtime(),
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
                &recipe.cvm_runtime(),
                sde,
                &result.join("cvm"),
            )?)
        }
        None => None,
    };
    let uki = match (&recipe.uki, &recipe.cvm) {
        (Some(spec), Some(cvm)) => {
            on_event(Event::Stage("uki"));
            let dir = result.join("uki");
            std::fs::create_dir_all(&dir).map_err(io(format!("creating {}", dir.display())))?;
            let os_release = spec
                .os_release
                .clone()
                .unwrap_or_else(|| default_os_release(&recipe.name, &recipe.version));
            Some(build_uki(
                spec,
                &result.join("cvm").join("vmlinuz"),
                &result.join("cvm").join("initrd.img"),
                spec.cmdline.as_deref().unwrap_or(&cvm.cmdline),
                &os_release,
                sde,
                &dir,
            )?)
        }
        _ => None,
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
            repository: repository_url.clone(),
            commit,
            source_date_epoch: sde,
            cargo_lock_sha256: source.cargo_lock_sha256.clone(),
            source_archive: source.archive.clone(),
            builder_image: recipe.builder.image.clone(),
            builder_image_inputs,
            package: recipe.source.package.clone(),
            binary: recipe.source.binary.clone(),
            build_env: env,
            files: inputs.pinned,
            placed_files: inputs
                .placed
                .into_iter()
                .map(|(placed, _)| placed)
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
                launch: ContainerLaunch::of(&recipe.runtime),
            },
            eif,
            cvm,
            uki,
        },
    };
    std::fs::write(result.join(RECORD_FILE), record.to_json())
        .map_err(io("writing the build record"))?;
    mark(&result)?;

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

/// The fetch stage alone: resolves the recipe's commit, vendors its crates and fetches its
/// `[[files]]` into the caches, so that a later `build` needs no network (and an air-gapped builder
/// can be handed the caches).
pub async fn prefetch(
    recipe_path: &Path,
    vendor_cache: &Path,
    file_cache: &Path,
    on_line: &mut dyn FnMut(&str),
) -> Result<SourceArchive, BuildError> {
    let recipe = Recipe::load(recipe_path)?;
    let (location, repository_url) = source_origin(&recipe)?;
    let engine = Engine::connect().await?;
    fetch_files(&recipe, file_cache).await?;
    let work = tempfile::tempdir().map_err(io("creating a temporary directory"))?;
    let origin = (location.as_str(), repository_url.as_str());
    fetch_source(&engine, &recipe, origin, work.path(), vendor_cache, on_line).await
}

/// Where git reads the recipe's source, and the canonical URL it is recorded and published under.
fn source_origin(recipe: &Recipe) -> Result<(String, String), BuildError> {
    let location = recipe.repository_location();
    let url = canonical_url(
        recipe.source.url.as_deref(),
        &recipe.source.repository,
        &location,
    )?;
    Ok((location, url))
}

/// The source part of the fetch stage: resolves the commit (and so SOURCE_DATE_EPOCH), exports it
/// and vendors its crates.
async fn fetch_source(
    engine: &Engine,
    recipe: &Recipe,
    (location, repository_url): (&str, &str),
    work: &Path,
    vendor_cache: &Path,
    on_line: &mut dyn FnMut(&str),
) -> Result<SourceArchive, BuildError> {
    let (commit, commit_time) = resolve_commit(location, &recipe.source.commit)?;
    let request = SourceRequest {
        location,
        repository_url,
        commit: &commit,
        source_date_epoch: recipe.source.source_date_epoch.unwrap_or(commit_time),
        builder_image: &recipe.builder.image,
    };
    Ok(fetch(engine, &request, work, vendor_cache, on_line).await?)
}

/// The runtime root file system: what the build produced, plus `/tmp`, every entry owned by root
/// and stamped with SOURCE_DATE_EPOCH.
fn runtime_rootfs(
    mut rootfs: Tree,
    placed: &[(PlacedFile, PathBuf)],
    sde: u64,
) -> Result<Tree, BuildError> {
    let tree_error = |e| io("assembling the rootfs")(std::io::Error::other(e));
    rootfs
        .insert("tmp", Node::dir(0o1777, sde))
        .map_err(tree_error)?;
    for (file, copy) in placed {
        if rootfs.get(&file.dest).is_some() {
            return Err(io("placing the recipe's [[files]]")(std::io::Error::other(
                format!(
                    "{} would replace what the build produced there; choose another dest",
                    file.dest
                ),
            )));
        }
        let data = FileData::Disk {
            path: copy.clone(),
            size: file.size,
        };
        rootfs
            .insert(&file.dest, Node::file(data, file.mode, sde))
            .map_err(tree_error)?;
    }
    rootfs.set_all_owners_root();
    rootfs.set_all_mtimes(sde);
    Ok(rootfs)
}

fn node_digests(node: Option<&Node>) -> Result<crate::hashing::BlobDigests, BuildError> {
    match node.map(|n| &n.kind) {
        Some(NodeKind::File(data)) => data
            .open()
            .and_then(digest_reader)
            .map_err(io("hashing the build output")),
        _ => Err(io("the build output")(std::io::Error::other(
            "the binary or a library is missing from the build output",
        ))),
    }
}

fn absolute(path: &Path) -> Result<PathBuf, BuildError> {
    std::path::absolute(path).map_err(io(format!("resolving {}", path.display())))
}
