//! Ctrl-C during `mpr build`: the build container, its volume and the staging directory go, nothing
//! is left in Docker or next to --out, and mpr exits with 130. Needs Docker and a builder image
//! (`MPR_BUILDER_IMAGE`, or one is created); without Docker the test fails, naming it.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

mod build_support;
use build_support::{builder_image, check};

fn docker(args: &[&str]) -> String {
    let output = Command::new("docker")
        .args(args)
        .output()
        .expect("this test needs the docker CLI and a Docker engine (docker.io; ci/setup.sh)");
    let output = check(output, &format!("docker {args:?}"));
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

/// The fixture crate as a git repository, with a build script that sleeps for ten minutes: the
/// compile container is then surely running when the signal comes. Returns the recipe's path.
fn slow_fixture(dir: &Path, image: &str) -> PathBuf {
    build_support::fixture_repo(
        dir,
        &[(
            "build.rs",
            "fn main() { std::thread::sleep(std::time::Duration::from_secs(600)); }\n",
        )],
    );
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

/// Containers labelled with the mpr process `pid` (every container mpr creates is).
fn containers_of(pid: u32, extra: &[&str]) -> Vec<String> {
    let filter = format!("label=dev.mpr.pid={pid}");
    let mut args = vec!["ps", "-aq", "--no-trunc", "--filter", &filter];
    args.extend_from_slice(extra);
    docker(&args)
        .lines()
        .map(str::to_owned)
        .filter(|l| !l.is_empty())
        .collect()
}

fn staging_dirs(parent: &Path) -> Vec<String> {
    std::fs::read_dir(parent)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with(".mpr-build-"))
        .collect()
}

#[test]
fn ctrl_c_during_the_compile_stage_removes_its_container_and_staging_directory() {
    let image = builder_image();
    let work = tempfile::tempdir().unwrap();
    let recipe = slow_fixture(&work.path().join("repo"), &image);
    let parent = work.path().join("outputs");
    std::fs::create_dir(&parent).unwrap();
    let out = parent.join("out");

    let mut child = Command::new(env!("CARGO_BIN_EXE_mpr"))
        .arg("build")
        .arg("--recipe")
        .arg(&recipe)
        .arg("--out")
        .arg(&out)
        .arg("--vendor-cache")
        .arg(work.path().join("vendor"))
        .args(["--jobs", "1", "--no-load"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let log = Arc::new(Mutex::new(Vec::<String>::new()));
    let reader = {
        let (log, stderr) = (log.clone(), child.stderr.take().unwrap());
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                log.lock().unwrap().push(line);
            }
        })
    };
    let log_text = || log.lock().unwrap().join("\n");

    // Wait for the compile container (host name mpr-builder) to run.
    let started = Instant::now();
    let compile_container = loop {
        if let Some(status) = child.try_wait().unwrap() {
            panic!(
                "mpr build ended ({status}) before its compile container ran:\n{}",
                log_text()
            );
        }
        let running = containers_of(pid, &["--filter", "status=running"]);
        let compile = running
            .into_iter()
            .find(|id| docker(&["inspect", "-f", "{{.Config.Hostname}}", id]) == "mpr-builder");
        if let Some(id) = compile {
            break id;
        }
        assert!(
            started.elapsed() < Duration::from_secs(900),
            "no compile container after 15 minutes:\n{}",
            log_text()
        );
        std::thread::sleep(Duration::from_millis(300));
    };
    assert_eq!(
        staging_dirs(&parent).len(),
        1,
        "the build stages next to --out"
    );
    // The compile works on an anonymous volume at /build, which must go with its container.
    let volume = docker(&[
        "inspect",
        "-f",
        "{{range .Mounts}}{{if eq .Destination \"/build\"}}{{.Name}}{{end}}{{end}}",
        &compile_container,
    ]);
    assert!(
        !volume.is_empty(),
        "the compile container has no /build volume"
    );
    // Let cargo get into the build script.
    std::thread::sleep(Duration::from_secs(2));

    // SAFETY: kill(2) with a pid of our own child and a valid signal number.
    assert_eq!(unsafe { libc::kill(pid as libc::pid_t, libc::SIGINT) }, 0);
    let interrupted = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if interrupted.elapsed() > Duration::from_secs(120) {
            let _ = child.kill();
            panic!(
                "mpr build still running 120 s after SIGINT:\n{}",
                log_text()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    reader.join().unwrap();
    let log = log_text();

    assert_eq!(status.code(), Some(130), "{log}");
    assert!(log.contains("interrupted"), "{log}");
    assert_eq!(containers_of(pid, &[]), Vec::<String>::new(), "{log}");
    let gone = Command::new("docker")
        .args(["inspect", &compile_container])
        .output()
        .unwrap();
    assert!(
        !gone.status.success(),
        "the compile container is still there"
    );
    let volume_gone = Command::new("docker")
        .args(["volume", "inspect", &volume])
        .output()
        .unwrap();
    assert!(
        !volume_gone.status.success(),
        "the compile container's volume {volume} is still there"
    );
    assert_eq!(staging_dirs(&parent), Vec::<String>::new(), "{log}");
    assert!(!out.exists(), "no output appears for an interrupted build");
}
