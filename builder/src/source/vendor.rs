//! Vendoring with the pinned builder image's cargo (never the host's, whose version and
//! configuration would change what is vendored): the one container of a build that has a network.
//! The result is cached as the tar the container produced, keyed by Cargo.lock and builder image.

use std::path::{Path, PathBuf};

use crate::archive::{add_dir, index_tar, write_tar, ImportLimits, ImportPolicy, Tree};
use crate::docker::{ContainerSpec, Engine};
use crate::hashing::digest_bytes;

use super::{io, SourceError};

/// The container's script: the checkout arrives as `/tmp/src`. A crate without dependencies has
/// nothing to vendor (cargo then prints no configuration), which is fine: it builds offline as is.
const VENDOR_SCRIPT: &str = r#"set -eu
umask 022
mkdir -p /build/home /build/vendored/vendor
mv /tmp/src /build/src
cd /build/vendored
cargo vendor --locked --versioned-dirs --manifest-path /build/src/Cargo.toml vendor > config.toml
"#;

/// Vendored crates of the prover's size fit well within these; a larger result is refused.
fn vendor_limits() -> ImportLimits {
    ImportLimits {
        max_entries: 500_000,
        max_file_size: 512 << 20,
        max_total_size: 8 << 30,
        max_path_len: 4096,
    }
}

/// What vendoring gave: the crates (under `vendor/`) and cargo's source-replacement configuration
/// (empty when there is nothing to vendor).
pub struct Vendored {
    pub tree: Tree,
    pub config: Vec<u8>,
}

/// The cache entry of a lockfile vendored by a builder image.
pub fn cache_dir(vendor_cache: &Path, cargo_lock_sha256: &str, builder_image: &str) -> PathBuf {
    let image = digest_bytes(builder_image.as_bytes()).sha256;
    vendor_cache.join(format!("{cargo_lock_sha256}-{}", &image[..16]))
}

/// Vendors the crates of `checkout` (cached in `cached`), logging cargo's output through `on_line`.
pub async fn vendor(
    engine: &Engine,
    builder_image: &str,
    checkout: &Path,
    cached: &Path,
    work: &Path,
    on_line: &mut dyn FnMut(&str),
) -> Result<Vendored, SourceError> {
    let tar_path = cached.join("vendor.tar");
    if !tar_path.is_file() {
        fill_cache(engine, builder_image, checkout, cached, work, on_line).await?;
    }
    let policy = ImportPolicy {
        strip_components: 1,
        ..ImportPolicy::default()
    };
    // Read in place: the crates (the prover's are 720 MiB in some 40,000 files) are archived again
    // straight from the cached tar instead of being copied out file by file first.
    let mut tree = index_tar(&tar_path, &vendor_limits(), &policy).map_err(|e| {
        SourceError::Vendor(format!(
            "{}: {e}; delete that cache entry and fetch again",
            tar_path.display()
        ))
    })?;
    let config = match tree.remove("config.toml") {
        Some(node) => read_node(&node)?,
        None => Vec::new(),
    };
    let config = if String::from_utf8_lossy(&config).contains("vendored-sources") {
        config
    } else {
        Vec::new()
    };
    Ok(Vendored { tree, config })
}

async fn fill_cache(
    engine: &Engine,
    builder_image: &str,
    checkout: &Path,
    cached: &Path,
    work: &Path,
    on_line: &mut dyn FnMut(&str),
) -> Result<(), SourceError> {
    let mut tree = Tree::new();
    add_dir(&mut tree, checkout, "src", 0, &|_| false)
        .map_err(io(format!("reading {}", checkout.display())))?;
    let mut env = vec![
        "HOME=/build/home".to_owned(),
        "CARGO_HOME=/build/cargo-home".to_owned(),
        "CARGO_TERM_COLOR=never".to_owned(),
        "CARGO_TERM_PROGRESS_WHEN=never".to_owned(),
    ];
    // The host's network setup, for this container only: its TLS roots (a proxy that re-signs
    // TLS, as in many companies, has its CA there) and its proxy. Neither can change what is
    // vendored: cargo checks every crate against the checksums in Cargo.lock.
    if let Some(roots) = host_tls_roots() {
        let size = std::fs::metadata(&roots)
            .map_err(io(format!("reading {}", roots.display())))?
            .len();
        let node = crate::archive::Node::file(
            crate::archive::FileData::Disk { path: roots, size },
            0o644,
            0,
        );
        tree.insert("mpr-tls/roots.pem", node)
            .map_err(|e| SourceError::Vendor(e.to_string()))?;
        env.push("CARGO_HTTP_CAINFO=/tmp/mpr-tls/roots.pem".to_owned());
    }
    for name in [
        "HTTPS_PROXY",
        "https_proxy",
        "HTTP_PROXY",
        "http_proxy",
        "NO_PROXY",
        "no_proxy",
    ] {
        if let Ok(value) = std::env::var(name) {
            env.push(format!("{name}={value}"));
        }
    }
    let upload = work.join("checkout.tar");
    let file =
        std::fs::File::create(&upload).map_err(io(format!("creating {}", upload.display())))?;
    write_tar(&tree, std::io::BufWriter::new(file))
        .and_then(|mut w| std::io::Write::flush(&mut w))
        .map_err(io(format!("writing {}", upload.display())))?;

    let spec = ContainerSpec {
        image: builder_image.to_owned(),
        command: vec!["/bin/sh".into(), "-c".into(), VENDOR_SCRIPT.into()],
        env,
        working_dir: Some("/".into()),
        user: Some("0:0".into()),
        hostname: "mpr-fetch".into(),
        cpus: None,
        network: true,
        volumes: Vec::new(),
    };
    let container = engine.create(&spec).await?;
    let result = async {
        container.upload_tar(&upload, "/tmp").await?;
        let mut tail = std::collections::VecDeque::with_capacity(20);
        let code = container
            .run(|line| {
                if tail.len() == 20 {
                    tail.pop_front();
                }
                tail.push_back(line.to_owned());
                on_line(line);
            })
            .await?;
        if code != 0 {
            return Err(SourceError::Vendor(format!(
                "`cargo vendor --locked` in the builder image failed (exit code {code}); the last lines of its log:\n{}\n\
                 this stage needs crates.io (or the registry Cargo.lock names) to be reachable from Docker's default network",
                Vec::from(tail).join("\n")
            )));
        }
        let parent = cached.parent().unwrap_or(cached);
        std::fs::create_dir_all(parent).map_err(io(format!("creating {}", parent.display())))?;
        let staging = tempfile::Builder::new()
            .prefix(".vendor-")
            .tempdir_in(parent)
            .map_err(io(format!("creating a directory in {}", parent.display())))?;
        container
            .download_tar("/build/vendored", &staging.path().join("vendor.tar"))
            .await?;
        // Appears complete or not at all; a concurrent fetch of the same lockfile may have won.
        let staged = staging.keep();
        if std::fs::rename(&staged, cached).is_err() {
            let _ = std::fs::remove_dir_all(&staged);
        }
        Ok(())
    }
    .await;
    let removed = container.remove().await;
    result?;
    removed?;
    Ok(())
}

/// The host's CA bundle: `SSL_CERT_FILE`, else Debian's (and Ubuntu's) or Fedora's standard place.
fn host_tls_roots() -> Option<PathBuf> {
    std::env::var_os("SSL_CERT_FILE")
        .map(PathBuf::from)
        .into_iter()
        .chain(
            [
                "/etc/ssl/certs/ca-certificates.crt",
                "/etc/pki/tls/certs/ca-bundle.crt",
            ]
            .map(PathBuf::from),
        )
        .find(|path| path.is_file())
}

fn read_node(node: &crate::archive::Node) -> Result<Vec<u8>, SourceError> {
    match &node.kind {
        crate::archive::NodeKind::File(data) => {
            data.read().map_err(io("reading the vendored config.toml"))
        }
        _ => Err(SourceError::Vendor(
            "the vendored config.toml is not a file".into(),
        )),
    }
}
