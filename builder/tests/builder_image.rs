//! The builder image, made from Debian packages and the host toolchain: it compiles Rust and C in a
//! network-less container, records its inputs in its labels, and is made again, with the same ID,
//! from a build record's inputs (or every differing input is listed). Needs mmdebstrap, a reachable
//! Debian mirror and a Docker engine; without the engine the tests fail, naming it.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use builder::builder_image::{
    create, create_like, recorded_inputs, BuilderImageError, BuilderImageOptions,
    RecordedBuilderImage, RustcInfo,
};
use builder::docker::{ContainerSpec, Engine};
use builder::pipeline::{build, BuildOptions};
use builder::record::RECORD_FILE;
use sha2::{Digest, Sha256};

/// The engine at DOCKER_HOST or the local socket; a missing engine fails the test, naming it.
async fn engine() -> Engine {
    match Engine::connect().await {
        Ok(engine) => engine,
        Err(err) => panic!("this test needs a Docker engine (docker.io; ci/setup.sh): {err}"),
    }
}

/// Untags (and so deletes) the test's image tags when dropped, also when the test fails.
struct TagsToRemove(Vec<String>);

impl Drop for TagsToRemove {
    fn drop(&mut self) {
        for tag in &self.0 {
            let _ = Command::new("docker")
                .args(["rmi", "--no-prune", tag])
                .output();
        }
    }
}

/// The fixture crate of cli/tests as a git repository with one commit that does not depend on
/// where or when it is made, and a recipe for it (no EIF or CVM: only the image is needed here).
fn fixture_recipe(dir: &Path, image: &str) -> PathBuf {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("../cli/tests/fixtures/hello");
    std::fs::create_dir_all(dir.join("src")).unwrap();
    for file in ["Cargo.toml", "Cargo.lock", "src/main.rs"] {
        std::fs::copy(fixture.join(file), dir.join(file)).unwrap();
    }
    let git = |args: &[&str]| {
        let output = Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .env("GIT_AUTHOR_NAME", "mpr")
            .env("GIT_AUTHOR_EMAIL", "mpr@example.invalid")
            .env("GIT_AUTHOR_DATE", "1700000000 +0000")
            .env("GIT_COMMITTER_NAME", "mpr")
            .env("GIT_COMMITTER_EMAIL", "mpr@example.invalid")
            .env("GIT_COMMITTER_DATE", "1700000000 +0000")
            .output()
            .expect("git is installed");
        assert!(output.status.success(), "git {args:?}: {output:?}");
    };
    git(&["init", "-q", "-b", "main"]);
    git(&["add", "."]);
    git(&["commit", "-q", "-m", "fixture"]);
    let recipe = dir.join("mpr-recipe.toml");
    std::fs::write(
        &recipe,
        format!(
            r#"schema = 1
name = "hello"
version = "0.1.0"

[source]
repository = "."
url = "https://example.invalid/mpr/hello.git"
package = "hello"
binary = "hello"
install_path = "usr/local/bin/hello"

[builder]
image = "{image}"

[runtime]
entrypoint = ["/usr/local/bin/hello"]
"#
        ),
    )
    .unwrap();
    recipe
}

fn sha256_file(path: &Path) -> String {
    hex::encode(Sha256::digest(std::fs::read(path).unwrap()))
}

/// Runs `script` in a network-less container of `image` and returns its exit code and output.
async fn run_in(engine: &Engine, image: &str, script: &str) -> (i64, Vec<String>) {
    let container = engine
        .create(&ContainerSpec {
            image: image.to_owned(),
            command: vec!["sh".into(), "-c".into(), script.into()],
            env: Vec::new(),
            working_dir: None,
            user: None,
            hostname: "mpr-builder-test".into(),
            cpus: Some(2),
            network: false,
            volumes: Vec::new(),
        })
        .await
        .unwrap();
    let mut lines = Vec::new();
    let code = container.run(|line| lines.push(line.to_owned())).await;
    container.remove().await.unwrap();
    (code.unwrap(), lines)
}

#[tokio::test]
async fn builder_image_is_made_again_from_a_build_record() {
    let engine = engine().await;
    let work = tempfile::tempdir().unwrap();
    let mut options = BuilderImageOptions::host_defaults().unwrap();
    options.work_dir = work.path().join("first");
    // Its own tags, so the test never retags a builder image someone uses.
    let tag = |which: &str| format!("mpr-test/builder:{}-{which}", std::process::id());
    options.tag = tag("first");
    let host_rustc = RustcInfo::read(&options.toolchain).unwrap();

    let started = Instant::now();
    let first = create(&options).await.unwrap();
    eprintln!(
        "builder image {} ({}) created in {:.0?}: {} bytes, {} Debian packages ({})",
        first.id,
        first.reference,
        started.elapsed(),
        first.archive_size,
        first.package_count,
        first.packages_digest
    );
    let _tags = TagsToRemove(vec![tag("first"), tag("edited")]);

    // It compiles Rust and C with no network.
    let script = "rustc --version && cargo --version && cc --version | head -n1 \
        && printf 'int main(void) { return 0; }\\n' | cc -x c - -o /tmp/c-ok && /tmp/c-ok \
        && cd /tmp && cargo new --quiet --vcs none hello && cd hello \
        && cargo run --quiet --offline";
    let (code, lines) = run_in(&engine, &first.id, script).await;
    assert_eq!(code, 0, "container output: {lines:#?}");
    assert_eq!(lines.first(), Some(&host_rustc.version), "{lines:#?}");
    assert!(lines[1].starts_with("cargo "), "{lines:#?}");
    assert!(lines[2].starts_with("cc (Debian"), "{lines:#?}");
    assert_eq!(lines.last().map(String::as_str), Some("Hello, world!"));

    // Its labels give back exactly what it was made from.
    assert_eq!(
        recorded_inputs(&engine, &first.id).await.unwrap(),
        first.inputs
    );
    let inputs = &first.inputs;
    assert_eq!(inputs.toolchain.version, host_rustc.version);
    assert_eq!(inputs.toolchain.sha256.len(), 64);
    assert!(
        inputs.installed_packages.len() > 50
            && inputs.installed_packages.len() == first.package_count
    );
    assert!(inputs
        .installed_packages
        .iter()
        .any(|p| p.starts_with("gcc:amd64=") || p.starts_with("gcc:arm64=")));
    assert_eq!(inputs.requested_packages, options.packages);

    // A real build with it records those inputs.
    let recipe = fixture_recipe(&work.path().join("repo"), &first.id);
    let out = work.path().join("out");
    let record = build(
        &BuildOptions {
            recipe,
            out_dir: out.clone(),
            jobs: Some(2),
            vendor_cache: work.path().join("vendor"),
            file_cache: work.path().join("files"),
            load: false,
        },
        &mut |_| {},
    )
    .await
    .unwrap();
    assert_eq!(&record.inputs.builder_image_inputs, inputs);
    let record_path = out.join(RECORD_FILE);

    // --like of that record makes the same image: same ID, and (under the same tag, which the
    // archive names) the same archive bytes.
    let recorded = RecordedBuilderImage::read(&record_path).unwrap();
    let mut like = recorded.options(&options);
    like.tag = tag("first");
    like.work_dir = work.path().join("again");
    let again = create_like(&recorded, &like).await.unwrap();
    assert_eq!(again.id, first.id);
    assert_eq!(again.manifest_digest, first.manifest_digest);
    assert_eq!(again.inputs, first.inputs);
    assert_eq!(sha256_file(&again.archive), sha256_file(&first.archive));

    // A record whose toolchain digest and one package version were edited: exactly those differ.
    let mut edited: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&record_path).unwrap()).unwrap();
    let recorded_inputs_json = &mut edited["inputs"]["builder_image_inputs"];
    recorded_inputs_json["toolchain"]["sha256"] = "0".repeat(64).into();
    let packages = recorded_inputs_json["installed_packages"]
        .as_array_mut()
        .unwrap();
    let libc = packages
        .iter_mut()
        .find(|p| p.as_str().unwrap().starts_with("libc6:"))
        .unwrap();
    let (libc_name, libc_version) = libc.as_str().unwrap().split_once('=').unwrap();
    let (libc_name, libc_version) = (libc_name.to_owned(), libc_version.to_owned());
    *libc = format!("{libc_name}=0.0-edited").into();
    let edited_path = work.path().join("edited-record.json");
    std::fs::write(&edited_path, serde_json::to_vec_pretty(&edited).unwrap()).unwrap();
    let edited = RecordedBuilderImage::read(&edited_path).unwrap();
    let mut like = edited.options(&options);
    like.tag = tag("edited");
    like.work_dir = work.path().join("edited");
    let err = create_like(&edited, &like).await.unwrap_err();
    let BuilderImageError::Differs { differences, hint } = &err else {
        panic!("expected the differences, got {err}");
    };
    let listed: Vec<String> = differences.iter().map(ToString::to_string).collect();
    assert_eq!(
        listed,
        [
            format!(
                "toolchain sha256: recorded {}, the host's toolchain gives {}",
                "0".repeat(64),
                inputs.toolchain.sha256
            ),
            format!("package {libc_name}: recorded 0.0-edited, the mirror gives {libc_version}"),
        ],
        "{err}"
    );
    assert!(hint.contains("rustup toolchain install"), "{hint}");
    assert!(
        engine.find_image(&tag("edited")).await.unwrap().is_none(),
        "no image is made when inputs differ"
    );
}

/// A second dockerd with the containerd image store, on its own socket, data root, exec root and
/// containerd, so the system's engine is never touched. Stopped when dropped.
struct ContainerdDockerd {
    child: std::process::Child,
    socket: PathBuf,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl ContainerdDockerd {
    async fn start() -> (ContainerdDockerd, Engine) {
        let root = std::env::var_os("MPR_CONTAINERD_DOCKERD").map(PathBuf::from).unwrap_or_else(|| {
            panic!("this test needs dockerd 24+ and containerd 1.7+ for Docker's containerd image store: set MPR_CONTAINERD_DOCKERD to a directory holding usr/sbin/dockerd and usr/bin/containerd (Debian trixie's docker.io and containerd packages unpacked with dpkg-deb -x; ci/setup.sh's setup_containerd_dockerd does it)")
        });
        // Socket paths are limited to 108 bytes: a short directory under /tmp.
        let dir = tempfile::Builder::new()
            .prefix("mpr-cd-")
            .tempdir_in("/tmp")
            .unwrap();
        // dockerd and containerd from `root`, runc from the system (newer runc builds may need a
        // newer glibc than the host's).
        let bin = dir.path().join("bin");
        std::fs::create_dir(&bin).unwrap();
        for tool in [
            "usr/sbin/dockerd",
            "usr/sbin/docker-proxy",
            "usr/bin/containerd",
            "usr/bin/containerd-shim-runc-v2",
            "usr/bin/docker-init",
        ] {
            let from = root.join(tool);
            assert!(
                from.exists() || tool.ends_with("docker-init") || tool.ends_with("docker-proxy"),
                "MPR_CONTAINERD_DOCKERD={} has no {tool}",
                root.display()
            );
            if from.exists() {
                std::os::unix::fs::symlink(&from, bin.join(from.file_name().unwrap())).unwrap();
            }
        }
        let config = dir.path().join("daemon.json");
        std::fs::write(
            &config,
            r#"{"features": {"containerd-snapshotter": true}, "storage-driver": "native", "bridge": "none", "iptables": false, "ip6tables": false, "ip-masq": false}"#,
        )
        .unwrap();
        let socket = dir.path().join("docker.sock");
        let log = dir.path().join("dockerd.log");
        let path = format!(
            "{}:{}",
            bin.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        // In a network namespace of its own: a dockerd with `"bridge": "none"` deletes the host's
        // docker0 at start-up, which would cut the system engine's containers off. `unshare` execs
        // dockerd, so the child is dockerd itself.
        let child = Command::new("unshare")
            .args(["--net", "--"])
            .arg(bin.join("dockerd"))
            .arg("--config-file")
            .arg(&config)
            .arg("--data-root")
            .arg(dir.path().join("data"))
            .arg("--exec-root")
            .arg(dir.path().join("exec"))
            .arg("--pidfile")
            .arg(dir.path().join("dockerd.pid"))
            .arg("-H")
            .arg(format!("unix://{}", socket.display()))
            .env("PATH", path)
            .stdin(std::process::Stdio::null())
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("starting the second dockerd");
        let daemon = ContainerdDockerd {
            child,
            socket,
            log,
            _dir: dir,
        };
        let started = Instant::now();
        loop {
            if daemon.socket.exists() {
                if let Ok(engine) = Engine::connect_at(&daemon.socket).await {
                    return (daemon, engine);
                }
            }
            if started.elapsed().as_secs() > 90 {
                panic!(
                    "the second dockerd did not answer within 90 s; its log:\n{}",
                    daemon.log_tail()
                );
            }
            std::thread::sleep(std::time::Duration::from_millis(250));
        }
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }
}

impl Drop for ContainerdDockerd {
    fn drop(&mut self) {
        // SIGTERM lets dockerd stop its containerd and unmount; SIGKILL if it will not.
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        for _ in 0..100 {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A one-file image written by mpr (static busybox), labelled like a builder image so that a pin
/// by its other digest is looked for among mpr's images.
fn busybox_image(dir: &Path, reference: &str) -> builder::image::WrittenImage {
    use builder::archive::{FileData, Node, Tree};
    let busybox = Path::new("/bin/busybox");
    let size = std::fs::metadata(busybox)
        .expect("busybox-static is installed (ci/setup.sh)")
        .len();
    let mut tree = Tree::new();
    let data = FileData::Disk {
        path: busybox.to_owned(),
        size,
    };
    tree.insert("bin/busybox", Node::file(data, 0o755, 0))
        .unwrap();
    tree.insert("bin/sh", Node::symlink("busybox", 0)).unwrap();
    let config = builder::image::RuntimeConfig {
        labels: [(
            builder::builder_image::RUSTC_COMMIT_LABEL.to_owned(),
            "mpr-test".to_owned(),
        )]
        .into(),
        ..Default::default()
    };
    let arch = builder::image::Arch::host().expect("tests run on amd64 or arm64");
    builder::image::write_image(&tree, &config, 1_700_000_000, arch, reference, dir).unwrap()
}

/// On the classic store (this machine's engine) and on a second engine with the containerd store,
/// an image mpr wrote loads, and both its config digest and its manifest digest pin it: for
/// inspection, for containers and for `image_digests`.
#[tokio::test]
async fn pins_name_images_on_both_image_stores() {
    use builder::docker::{DockerError, ImageStore};
    let classic = engine().await;
    let (daemon, containerd) = ContainerdDockerd::start().await;
    assert_eq!(classic.image_store().await.unwrap(), ImageStore::Classic);
    assert_eq!(
        containerd.image_store().await.unwrap(),
        ImageStore::Containerd,
        "{}",
        daemon.log_tail()
    );

    let work = tempfile::tempdir().unwrap();
    let reference = format!("mpr-test/store:{}", std::process::id());
    let _tags = TagsToRemove(vec![reference.clone()]);
    let written = busybox_image(&work.path().join("image"), &reference);
    let (config, manifest) = (&written.config_digest, &written.manifest_digest);

    for (engine, store, id) in [
        (&classic, ImageStore::Classic, config),
        (&containerd, ImageStore::Containerd, manifest),
    ] {
        let loaded = builder::image::load_image(engine, &written.archive_path, config)
            .await
            .unwrap();
        assert_eq!(&loaded, id, "{store} store");
        for pin in [config, manifest] {
            let inspect = engine
                .require_image(pin, "it was just loaded")
                .await
                .unwrap();
            assert_eq!(inspect.id.as_ref(), Some(id), "{store} store, pin {pin}");
            let container = engine
                .create(&ContainerSpec {
                    image: pin.clone(),
                    command: vec!["/bin/busybox".into(), "echo".into(), "pinned".into()],
                    env: Vec::new(),
                    working_dir: None,
                    user: None,
                    hostname: "mpr-store-test".into(),
                    cpus: Some(1),
                    network: false,
                    volumes: Vec::new(),
                })
                .await
                .unwrap_or_else(|e| panic!("{store} store, pin {pin}: {e}"));
            let mut lines = Vec::new();
            let code = container.run(|line| lines.push(line.to_owned())).await;
            container.remove().await.unwrap();
            assert_eq!((code.unwrap(), lines), (0, vec!["pinned".to_owned()]));
        }
        let digests = engine
            .image_digests(&reference)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{store} store: no image {reference}"));
        assert_eq!(&digests.engine_id, id);
        assert_eq!(&digests.config_digest, config);
        match store {
            ImageStore::Containerd => assert_eq!(digests.manifest_digest.as_ref(), Some(manifest)),
            ImageStore::Classic => assert_eq!(digests.manifest_digest, None),
        }
        // A digest of neither kind: the message says what this store calls IDs and what to set.
        let unknown = format!("sha256:{}", "0".repeat(64));
        let err = engine.require_image(&unknown, "load it").await.unwrap_err();
        let DockerError::MissingImage { fix, .. } = &err else {
            panic!("{err}");
        };
        assert!(fix.contains(store.pin_fix()), "{fix}");
        if store == ImageStore::Containerd {
            assert!(fix.contains("\"containerd-snapshotter\": false"), "{fix}");
        }
        engine.remove_image(&reference).await.unwrap();
    }
    drop(daemon);
}
