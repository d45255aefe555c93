//! The build stage: compile the source archive inside the pinned builder image with no network, then
//! collect the binary and exactly the shared libraries it loads, as a root file system.

use std::path::Path;

use crate::archive::{import_tar, ImportLimits, ImportPolicy, Tree};
use crate::docker::{ContainerSpec, DockerError, Engine};
use crate::recipe::Recipe;
use crate::source::SourceArchive;

/// Where things live inside the build container; fixed, so no host path reaches the binary.
const SRC: &str = "/build/src";
const OUT: &str = "/build/out";

/// The one script the container runs. `ldd` lists every library the loader maps (transitively),
/// with the path it resolved; each is copied, dereferenced, to that same path in the rootfs, which
/// is where the loader's built-in search path looks for it without an ld.so.cache.
const BUILD_SCRIPT: &str = r#"set -eu
umask 022
mkdir -p /build/home /build/out
cd /build/src
cargo build --release --locked --offline -p "$MPR_PACKAGE" --bin "$MPR_BINARY" ${MPR_JOBS:+-j "$MPR_JOBS"}
bin=/build/target/release/$MPR_BINARY
mkdir -p "/build/out/rootfs/$(dirname "$MPR_INSTALL_PATH")"
cp "$bin" "/build/out/rootfs/$MPR_INSTALL_PATH"
ldd "$bin" | while read -r first second third rest; do
    case "$first" in
        linux-vdso.so.*|linux-gate.so.*) continue ;;
        /*) lib=$first ;;
        *) if [ "$second" = "=>" ] && [ "${third#/}" != "$third" ]; then lib=$third; else echo "mpr: cannot resolve shared library: $first $second $third" >&2; exit 1; fi ;;
    esac
    mkdir -p "/build/out/rootfs$(dirname "$lib")"
    cp -L "$lib" "/build/out/rootfs$lib"
    echo "$lib" >> /build/out/libraries
done
"#;

#[derive(Debug, thiserror::Error)]
pub enum CompileError {
    #[error(transparent)]
    Docker(#[from] DockerError),
    #[error(
        "the build failed in the container (exit code {code}); the last lines of its log:\n{tail}"
    )]
    Failed { code: i64, tail: String },
    #[error("reading the build output: {0}")]
    Import(#[from] crate::archive::ImportError),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

/// What the build stage produced.
pub struct Compiled {
    /// The binary at its install path and its libraries, as regular files.
    pub rootfs: Tree,
    /// Absolute paths of the shared libraries, in `ldd` order.
    pub libraries: Vec<String>,
}

/// The environment of the build. Everything that could differ between machines is fixed here;
/// nothing of the host's environment is passed in.
pub fn build_env(recipe: &Recipe, source: &SourceArchive, jobs: Option<u32>) -> Vec<String> {
    let mut rustflags = vec![
        format!("--remap-path-prefix={SRC}=/src"),
        "--remap-path-prefix=/build/cargo-home=/cargo".to_owned(),
        "-C link-arg=-Wl,--build-id=none".to_owned(),
        // ThinLTO renames the local symbols it promotes to `name.llvm.<hash of the module's IR>`,
        // and that hash is not stable between runs (llvm/llvm-project#72206): the prover's binaries
        // differed only in those names in .strtab. Name promoted locals after their module instead,
        // which is fixed by the crate and codegen unit.
        "-C llvm-args=-use-source-filename-for-promoted-locals".to_owned(),
    ];
    rustflags.extend(recipe.builder.rustflags.iter().cloned());
    let mut env = vec![
        "HOME=/build/home".to_owned(),
        "CARGO_HOME=/build/cargo-home".to_owned(),
        "CARGO_TARGET_DIR=/build/target".to_owned(),
        "CARGO_INCREMENTAL=0".to_owned(),
        "CARGO_TERM_COLOR=never".to_owned(),
        "CARGO_TERM_PROGRESS_WHEN=never".to_owned(),
        format!(
            "CARGO_PROFILE_RELEASE_CODEGEN_UNITS={}",
            recipe.builder.codegen_units
        ),
        format!("RUSTFLAGS={}", rustflags.join(" ")),
        // C code compiled by build scripts (ring, blst, …) must not embed the build path either.
        format!("CFLAGS=-ffile-prefix-map={SRC}=/src"),
        format!("CXXFLAGS=-ffile-prefix-map={SRC}=/src"),
        format!("SOURCE_DATE_EPOCH={}", source.source_date_epoch),
        "TZ=UTC".to_owned(),
        "LANG=C.UTF-8".to_owned(),
        "LC_ALL=C.UTF-8".to_owned(),
        format!("MPR_PACKAGE={}", recipe.source.package),
        format!("MPR_BINARY={}", recipe.source.binary),
        format!("MPR_INSTALL_PATH={}", recipe.source.install_path),
    ];
    if let Some(jobs) = jobs {
        env.push(format!("MPR_JOBS={jobs}"));
    }
    env
}

/// Runs the build stage. `on_line` receives the container's log lines as they come.
pub async fn compile(
    engine: &Engine,
    recipe: &Recipe,
    source: &SourceArchive,
    jobs: Option<u32>,
    work: &Path,
    mut on_line: impl FnMut(&str),
) -> Result<Compiled, CompileError> {
    let fix = if recipe.builder.image.contains('@') {
        // A registry image pinned by digest: mpr never pulls, so the digest stays the only authority.
        format!("pull it where its registry is reachable (`docker pull {}`), or `docker load` a saved copy", recipe.builder.image)
    } else {
        "create it with `mpr builder-image create` (its ID goes in the recipe's builder.image)"
            .to_owned()
    };
    engine.require_image(&recipe.builder.image, &fix).await?;
    let spec = ContainerSpec {
        image: recipe.builder.image.clone(),
        command: vec!["/bin/sh".into(), "-c".into(), BUILD_SCRIPT.into()],
        env: build_env(recipe, source, jobs),
        working_dir: Some("/".into()),
        user: Some("0:0".into()),
        hostname: "mpr-builder".into(),
        cpus: jobs,
        network: false,
        // Source, target directory and output on a volume of their own, not the storage driver.
        volumes: vec!["/build".into()],
    };
    let container = engine.create(&spec).await?;
    let result = run_build(&container, source, work, &mut on_line).await;
    let removed = container.remove().await;
    let compiled = result?;
    removed?;
    Ok(compiled)
}

async fn run_build(
    container: &crate::docker::Container,
    source: &SourceArchive,
    work: &Path,
    on_line: &mut impl FnMut(&str),
) -> Result<Compiled, CompileError> {
    // Docker unpacks only into an existing directory: /build is the volume's mount point.
    container.upload_tar(&source.path, "/build").await?;
    let mut tail = std::collections::VecDeque::with_capacity(40);
    let code = container
        .run(|line| {
            if tail.len() == 40 {
                tail.pop_front();
            }
            tail.push_back(line.to_owned());
            on_line(line);
        })
        .await?;
    if code != 0 {
        return Err(CompileError::Failed {
            code,
            tail: Vec::from(tail).join("\n"),
        });
    }
    let out_tar = work.join("build-output.tar");
    container.download_tar(OUT, &out_tar).await?;
    let io = |context: &str| {
        let context = context.to_owned();
        move |source| CompileError::Io { context, source }
    };
    let file = std::fs::File::open(&out_tar).map_err(io("opening the build output"))?;
    let blobs = work.join("build-output");
    std::fs::create_dir_all(&blobs).map_err(io("creating the build output directory"))?;
    let policy = ImportPolicy {
        strip_components: 1,
        ..ImportPolicy::default()
    };
    let mut output = import_tar(
        std::io::BufReader::new(file),
        &blobs,
        &ImportLimits::default(),
        &policy,
    )?;
    let libraries = match output.remove("libraries") {
        Some(node) => read_lines(&node)?,
        None => Vec::new(),
    };
    let mut rootfs = Tree::new();
    for (path, node) in output.iter() {
        if let Some(inside) = path.strip_prefix("rootfs/") {
            rootfs
                .insert(inside, node.clone())
                .map_err(|e| CompileError::Io {
                    context: "assembling the rootfs".into(),
                    source: std::io::Error::other(e),
                })?;
        }
    }
    Ok(Compiled { rootfs, libraries })
}

fn read_lines(node: &crate::archive::Node) -> Result<Vec<String>, CompileError> {
    let bytes = match &node.kind {
        crate::archive::NodeKind::File(data) => data.read().map_err(|source| CompileError::Io {
            context: "reading the library list".into(),
            source,
        })?,
        _ => Vec::new(),
    };
    Ok(String::from_utf8_lossy(&bytes)
        .lines()
        .map(str::to_owned)
        .collect())
}
