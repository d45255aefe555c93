//! The OCI image writer: byte-stable output, and a round trip through a real Docker engine.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use builder::archive::{FileData, Node, Tree};
use builder::docker::{ContainerSpec, Engine};
use builder::image::{load_image, write_image, Arch, RuntimeConfig};

const CREATED: u64 = 1_776_124_800;

fn bytes(data: &[u8]) -> FileData {
    FileData::Bytes(Arc::from(data))
}

fn sample_tree(reverse: bool, mtime: u64) -> Tree {
    let mut items = vec![
        ("etc/hostname", Node::file(bytes(b"mpr\n"), 0o644, mtime)),
        ("bin/tool", Node::file(bytes(b"#!/bin/sh\n"), 0o755, mtime)),
        ("bin/alias", Node::symlink("tool", mtime)),
        ("var/empty", Node::dir(0o700, mtime)),
    ];
    if reverse {
        items.reverse();
    }
    let mut tree = Tree::new();
    for (path, node) in items {
        tree.insert(path, node).unwrap();
    }
    tree
}

fn sample_config() -> RuntimeConfig {
    RuntimeConfig {
        entrypoint: vec!["/bin/tool".into()],
        cmd: vec!["--serve".into()],
        env: vec!["PATH=/bin".into(), "RUST_LOG=info".into()],
        user: Some("1000:1000".into()),
        working_dir: Some("/var/empty".into()),
        exposed_ports: vec!["6300".into()],
        labels: BTreeMap::from([
            ("b".to_owned(), "2".to_owned()),
            ("a".to_owned(), "1".to_owned()),
        ]),
    }
}

#[test]
fn same_tree_gives_identical_bytes_and_a_changed_mtime_changes_the_digests() {
    let dir = tempfile::tempdir().unwrap();
    let write = |tree: &Tree, name: &str| {
        write_image(
            tree,
            &sample_config(),
            CREATED,
            Arch::Amd64,
            "mpr/test:1",
            &dir.path().join(name),
        )
        .unwrap()
    };
    let a = write(&sample_tree(false, 7), "a");
    let b = write(&sample_tree(true, 7), "b");
    assert_eq!(a.config_digest, b.config_digest);
    assert_eq!(a.manifest_digest, b.manifest_digest);
    assert_eq!(a.layer, b.layer);
    assert_eq!(a.archive, b.archive);
    let tar_a = std::fs::read(&a.archive_path).unwrap();
    assert_eq!(tar_a, std::fs::read(&b.archive_path).unwrap());
    assert_eq!(
        builder::hashing::digest_bytes(&tar_a).sha256,
        a.archive.sha256
    );

    let c = write(&sample_tree(false, 8), "c");
    assert_ne!(a.layer.sha256, c.layer.sha256);
    assert_ne!(a.config_digest, c.config_digest);
    assert_ne!(a.manifest_digest, c.manifest_digest);
}

#[test]
fn layout_files_agree_with_each_other() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("image");
    let written = write_image(
        &sample_tree(false, 7),
        &sample_config(),
        CREATED,
        Arch::Arm64,
        "mpr/test:1",
        &out,
    )
    .unwrap();
    let read_json = |path: &Path| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
    };
    let blob = |digest: &str| {
        out.join("oci/blobs/sha256")
            .join(&digest["sha256:".len()..])
    };

    let index = read_json(&out.join("oci/index.json"));
    let entry = &index["manifests"][0];
    assert_eq!(entry["digest"], written.manifest_digest.as_str());
    assert_eq!(
        entry["annotations"]["org.opencontainers.image.ref.name"],
        "1"
    );
    assert_eq!(
        entry["annotations"]["io.containerd.image.name"],
        "docker.io/mpr/test:1"
    );
    assert_eq!(
        read_json(&out.join("oci/oci-layout"))["imageLayoutVersion"],
        "1.0.0"
    );

    let manifest = read_json(&blob(&written.manifest_digest));
    assert_eq!(manifest["config"]["digest"], written.config_digest.as_str());
    let layer_digest = format!("sha256:{}", written.layer.sha256);
    assert_eq!(manifest["layers"][0]["digest"], layer_digest.as_str());
    assert_eq!(
        manifest["layers"][0]["mediaType"],
        "application/vnd.oci.image.layer.v1.tar"
    );

    let config = read_json(&blob(&written.config_digest));
    assert_eq!(config["architecture"], "arm64");
    assert_eq!(config["created"], "2026-04-14T00:00:00+00:00");
    assert_eq!(config["rootfs"]["diff_ids"][0], layer_digest.as_str());
    assert_eq!(
        config["config"]["ExposedPorts"]["6300/tcp"],
        serde_json::json!({})
    );
    assert_eq!(config["config"]["WorkingDir"], "/var/empty");
    assert_eq!(config["history"][0]["created"], config["created"]);

    let docker = read_json(&out.join("oci/manifest.json"));
    assert_eq!(
        docker[0]["Config"],
        format!("blobs/sha256/{}", &written.config_digest[7..]).as_str()
    );
    assert_eq!(docker[0]["RepoTags"][0], "mpr/test:1");

    // image.tar holds exactly the layout's files.
    let mut archive = tar::Archive::new(std::fs::File::open(&written.archive_path).unwrap());
    let mut names: Vec<String> = archive
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let mut expected = vec![
        "blobs/".to_owned(),
        "blobs/sha256/".to_owned(),
        "index.json".to_owned(),
        "manifest.json".to_owned(),
        "oci-layout".to_owned(),
    ];
    for digest in [
        &written.config_digest,
        &written.manifest_digest,
        &layer_digest,
    ] {
        expected.push(format!("blobs/sha256/{}", &digest[7..]));
    }
    expected.sort();
    assert_eq!(names, expected);

    // Writing again replaces the previous output; a foreign directory is refused.
    write_image(
        &sample_tree(false, 9),
        &sample_config(),
        CREATED,
        Arch::Arm64,
        "mpr/test:1",
        &out,
    )
    .unwrap();
    let foreign = dir.path().join("foreign");
    std::fs::create_dir(&foreign).unwrap();
    std::fs::write(foreign.join("notes.txt"), b"mine").unwrap();
    let err = write_image(
        &sample_tree(false, 9),
        &sample_config(),
        CREATED,
        Arch::Arm64,
        "mpr/test:1",
        &foreign,
    )
    .unwrap_err();
    assert!(err.to_string().contains("does not hold an image"), "{err}");
    assert!(foreign.join("notes.txt").exists());
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".image-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

/// The engine, or `None` (test skipped) when there is none and `MPR_REQUIRE_DOCKER` is not `1`.
async fn engine_or_skip(test: &str) -> Option<Engine> {
    match Engine::connect().await {
        Ok(engine) => Some(engine),
        Err(err) if std::env::var("MPR_REQUIRE_DOCKER").as_deref() != Ok("1") => {
            eprintln!("SKIPPED {test}: no Docker engine ({err}); set MPR_REQUIRE_DOCKER=1 to fail instead");
            None
        }
        Err(err) => panic!("MPR_REQUIRE_DOCKER=1 but the Docker engine is unreachable: {err}"),
    }
}

#[tokio::test]
async fn docker_loads_and_runs_the_image_under_our_config_digest() {
    let Some(engine) = engine_or_skip("docker_loads_and_runs_the_image").await else {
        return;
    };
    let busybox = Path::new("/bin/busybox");
    let size = std::fs::metadata(busybox)
        .expect("busybox-static must be installed at /bin/busybox (apt-get install busybox-static)")
        .len();
    let mut rootfs = Tree::new();
    let data = FileData::Disk {
        path: busybox.to_owned(),
        size,
    };
    rootfs
        .insert("bin/busybox", Node::file(data, 0o755, CREATED))
        .unwrap();
    rootfs
        .insert("bin/sh", Node::symlink("busybox", CREATED))
        .unwrap();
    let config = RuntimeConfig {
        entrypoint: vec!["/bin/sh".into(), "-c".into()],
        cmd: vec!["echo hello-from-mpr".into()],
        env: vec!["PATH=/bin".into(), "MPR_TEST=1".into()],
        ..Default::default()
    };
    let dir = tempfile::tempdir().unwrap();
    // Unique per run so parallel or leftover runs do not share a tag.
    let reference = format!("mpr-test/image-roundtrip:{}", std::process::id());
    let written = write_image(
        &rootfs,
        &config,
        CREATED,
        Arch::host().expect("tests run on amd64 or arm64"),
        &reference,
        &dir.path().join("out"),
    )
    .unwrap();
    load_image(&engine, &written.archive_path, &written.config_digest)
        .await
        .unwrap();

    let result = async {
        let inspect = engine
            .require_image(&reference, "it was just loaded")
            .await?;
        let container = engine
            .create(&ContainerSpec {
                image: written.config_digest.clone(),
                command: Vec::new(),
                env: Vec::new(),
                working_dir: None,
                user: None,
                hostname: "mpr-test".into(),
                cpus: Some(1),
                network: false,
                volumes: Vec::new(),
            })
            .await?;
        let mut lines = Vec::new();
        let code = container.run(|line| lines.push(line.to_owned())).await;
        container.remove().await?;
        Ok::<_, builder::docker::DockerError>((inspect, code?, lines))
    }
    .await;
    engine.remove_image(&reference).await.unwrap();
    let (inspect, code, lines) = result.unwrap();

    assert_eq!(inspect.id.as_deref(), Some(written.config_digest.as_str()));
    let image_config = inspect.config.unwrap();
    assert_eq!(
        image_config.entrypoint.unwrap(),
        ["/bin/sh".to_owned(), "-c".to_owned()]
    );
    assert_eq!(image_config.env.unwrap(), config.env);
    assert_eq!(code, 0, "container output: {lines:?}");
    assert_eq!(lines, ["hello-from-mpr"]);
}
