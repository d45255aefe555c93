//! `mpr build` on bad ground: a stopped engine, a missing builder image, a changed pinned file, and
//! a source that does not compile. Each must say what is wrong and how to fix it, and leave no
//! output behind.

use std::path::Path;
use std::process::{Command, Output};

const MISSING_IMAGE: &str =
    "sha256:1111111111111111111111111111111111111111111111111111111111111111";

mod build_support;

/// The fixture crate with another `src/main.rs`, committed.
fn repo_with(dir: &Path, main_rs: &str) {
    build_support::fixture_repo(dir, &[("src/main.rs", main_rs)]);
}

fn recipe(dir: &Path, image: &str, extra: &str) -> std::path::PathBuf {
    let path = dir.join("mpr-recipe.toml");
    std::fs::write(
        &path,
        format!(
            "schema = 1\nname = \"hello\"\nversion = \"1\"\n[source]\nurl = \"https://example.invalid/hello.git\"\npackage = \"hello\"\nbinary = \"hello\"\ninstall_path = \"usr/local/bin/hello\"\n[builder]\nimage = \"{image}\"\n[runtime]\nentrypoint = [\"/usr/local/bin/hello\"]\n{extra}"
        ),
    )
    .unwrap();
    path
}

fn build(recipe: &Path, out: &Path, docker_host: Option<&str>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_mpr"));
    command
        .args(["build", "--no-load", "--recipe"])
        .arg(recipe)
        .arg("--out")
        .arg(out);
    if let Some(host) = docker_host {
        command.env("DOCKER_HOST", host);
    }
    command.output().unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Nothing but the inputs is left in `dir`: no output, no staging directory.
fn assert_nothing_written(dir: &Path) {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [".git", "Cargo.lock", "Cargo.toml", "mpr-recipe.toml", "src"]
    );
}

#[test]
fn a_stopped_engine_is_named_with_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    repo_with(dir.path(), "fn main() {}\n");
    let recipe = recipe(dir.path(), MISSING_IMAGE, "");
    let output = build(
        &recipe,
        &dir.path().join("out"),
        Some("unix:///nonexistent/docker.sock"),
    );
    assert!(!output.status.success());
    let message = stderr(&output);
    assert!(
        message.contains("cannot reach the Docker engine")
            && message.contains("systemctl start docker"),
        "{message}"
    );
    assert_nothing_written(dir.path());
}

#[test]
fn a_missing_builder_image_names_the_command_that_makes_it() {
    let dir = tempfile::tempdir().unwrap();
    repo_with(dir.path(), "fn main() {}\n");
    let recipe = recipe(dir.path(), MISSING_IMAGE, "");
    let output = build(&recipe, &dir.path().join("out"), None);
    assert!(!output.status.success());
    let message = stderr(&output);
    assert!(
        message.contains(MISSING_IMAGE) && message.contains("mpr builder-image create"),
        "{message}"
    );
    assert_nothing_written(dir.path());
}

#[test]
fn a_changed_pinned_file_is_refused_before_anything_runs() {
    let dir = tempfile::tempdir().unwrap();
    repo_with(dir.path(), "fn main() {}\n");
    let blobs = tempfile::tempdir().unwrap();
    std::fs::write(blobs.path().join("vmlinuz"), b"kernel").unwrap();
    std::fs::write(blobs.path().join("busybox"), b"busybox").unwrap();
    let zeros = "0".repeat(64);
    let cvm = format!(
        "[cvm]\ncmdline = \"console=ttyS0\"\nkernel = {{ path = \"{}\", sha256 = \"{zeros}\" }}\nbusybox = {{ path = \"{}\", sha256 = \"{zeros}\" }}\n",
        blobs.path().join("vmlinuz").display(),
        blobs.path().join("busybox").display()
    );
    let recipe = recipe(dir.path(), MISSING_IMAGE, &cvm);
    let output = build(&recipe, &dir.path().join("out"), None);
    let message = stderr(&output);
    assert!(
        message.contains("cvm.kernel") && message.contains("but the recipe pins"),
        "{message}"
    );
    assert_nothing_written(dir.path());
}

#[test]
fn a_failed_compile_shows_the_log_and_leaves_no_output() {
    let Ok(image) = std::env::var("MPR_BUILDER_IMAGE") else {
        assert!(
            std::env::var("MPR_REQUIRE_DOCKER").is_err(),
            "MPR_BUILDER_IMAGE is needed with MPR_REQUIRE_DOCKER=1"
        );
        eprintln!("skipped: set MPR_BUILDER_IMAGE (ci/setup.sh's setup_builder_image does)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    repo_with(dir.path(), "fn main() { let x: u32 = \"not a number\"; }\n");
    let recipe = recipe(dir.path(), &image, "");
    let output = build(&recipe, &dir.path().join("out"), None);
    assert!(!output.status.success());
    let message = stderr(&output);
    assert!(
        message.contains("the build failed in the container")
            && message.contains("mismatched types"),
        "{message}"
    );
    assert_nothing_written(dir.path());
}

#[test]
fn an_existing_directory_mpr_did_not_make_is_never_replaced() {
    let dir = tempfile::tempdir().unwrap();
    repo_with(dir.path(), "fn main() {}\n");
    let recipe = recipe(dir.path(), MISSING_IMAGE, "");
    // `--out .` (the clone itself) and a directory with someone's files: refused before any work.
    for out in [dir.path().to_owned(), dir.path().join("src")] {
        let output = build(&recipe, &out, None);
        assert!(!output.status.success());
        let message = stderr(&output);
        assert!(
            message.contains("is not an mpr build output") && message.contains(".mpr-build-output"),
            "{message}"
        );
        assert_nothing_written(dir.path());
    }
}

#[test]
fn a_local_clone_without_a_public_url_is_not_a_release_source() {
    let dir = tempfile::tempdir().unwrap();
    repo_with(dir.path(), "fn main() {}\n");
    let path = recipe(dir.path(), MISSING_IMAGE, "");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(
        &path,
        text.replace("url = \"https://example.invalid/hello.git\"\n", ""),
    )
    .unwrap();
    let output = build(&path, &dir.path().join("out"), None);
    assert!(!output.status.success());
    let message = stderr(&output);
    assert!(
        message.contains("local clone without an origin remote")
            && message.contains("[source] url"),
        "{message}"
    );
    // An origin that is itself a local path is no better.
    let origin = Command::new("git")
        .arg("-C")
        .arg(dir.path())
        .args(["remote", "add", "origin", "/srv/git/hello"])
        .status()
        .unwrap();
    assert!(origin.success());
    let message = stderr(&build(&path, &dir.path().join("out"), None));
    assert!(
        message.contains("\"/srv/git/hello\" is a local path"),
        "{message}"
    );
    assert_nothing_written(dir.path());
}

#[test]
fn an_enclave_command_that_nitro_cli_would_change_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    repo_with(dir.path(), "fn main() {}\n");
    let eif = format!(
        "cmd = [\"--port\", \"6300\"]\n[eif]\ncmdline = \"console=ttyS0\"\nkernel = {{ path = \"k\", sha256 = \"{z}\" }}\ninit = {{ path = \"i\", sha256 = \"{z}\" }}\nnsm_ko = {{ path = \"n\", sha256 = \"{z}\" }}\n",
        z = "0".repeat(64)
    );
    let recipe = recipe(dir.path(), MISSING_IMAGE, &eif);
    let output = build(&recipe, &dir.path().join("out"), None);
    assert!(!output.status.success());
    let message = stderr(&output);
    assert!(
        message.contains("nitro-cli puts the image's Cmd into the EIF when it is set, else its Entrypoint, never both")
            && message.contains("[eif] command"),
        "{message}"
    );
    assert_nothing_written(dir.path());
}

#[test]
fn a_crate_without_dependencies_builds_and_a_rebuild_replaces_its_output() {
    let image = build_support::builder_image();
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    build_support::fixture_repo(
        &repo,
        &[
            (
                "Cargo.toml",
                "[package]\nname = \"hello\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[workspace]\n",
            ),
            (
                "Cargo.lock",
                "# This file is automatically @generated by Cargo.\n# It is not intended for manual editing.\nversion = 4\n\n[[package]]\nname = \"hello\"\nversion = \"0.1.0\"\n",
            ),
            ("src/main.rs", "fn main() { println!(\"no dependencies\"); }\n"),
        ],
    );
    let recipe = recipe(&repo, &image, "");
    let out = dir.path().join("out");
    for round in ["first", "second"] {
        let output = Command::new(env!("CARGO_BIN_EXE_mpr"))
            .args(["--json", "build", "--recipe"])
            .arg(&recipe)
            .arg("--out")
            .arg(&out)
            .env("MPR_VENDOR_CACHE", dir.path().join("vendor"))
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{round} build: {}",
            stderr(&output)
        );
        assert!(out.join(".mpr-build-output").is_file());
    }
    let record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("build-record.json")).unwrap()).unwrap();
    let run = Command::new("docker")
        .args(["run", "--rm", "--network", "none"])
        .arg(
            record["outputs"]["image"]["config_digest"]
                .as_str()
                .unwrap(),
        )
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&run.stdout), "no dependencies\n");
    // Only the output and the caches are there: the previous output was replaced, nothing left aside.
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["out", "repo", "vendor"]);
}
