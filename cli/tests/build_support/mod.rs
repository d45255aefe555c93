//! What the build tests share: running commands with their output shown on failure, the builder
//! image, and the fixture crate as a git repository whose commit does not depend on where or when
//! it is made.
#![allow(dead_code)] // each test binary uses its own part

use std::path::Path;
use std::process::{Command, Output};

/// `output` if the command succeeded; otherwise a failure showing its status, stdout and stderr.
pub fn check(output: Output, what: &str) -> Output {
    assert!(
        output.status.success(),
        "{what} failed ({}):\nstdout:\n{}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// The builder image's ID: from CI's environment (`MPR_BUILDER_IMAGE`), or made now.
pub fn builder_image() -> String {
    if let Ok(id) = std::env::var("MPR_BUILDER_IMAGE") {
        return id;
    }
    let output = check(
        Command::new(env!("CARGO_BIN_EXE_mpr"))
            .args(["--json", "builder-image", "create", "--reuse"])
            .output()
            .unwrap(),
        "mpr builder-image create",
    );
    let created: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    created["id"]
        .as_str()
        .expect("builder-image create --json prints an id")
        .to_owned()
}

/// Runs git in `dir` with a fixed author, committer and time.
pub fn git(dir: &Path, args: &[&str]) -> Output {
    check(
        Command::new("git")
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
            .unwrap(),
        "git",
    )
}

/// Copies the `hello` fixture crate into `dir`, adds `extra` files (path, content), and commits it
/// all; returns the commit hash, which is the same wherever and whenever this runs.
pub fn fixture_repo(dir: &Path, extra: &[(&str, &str)]) -> String {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/hello");
    std::fs::create_dir_all(dir.join("src")).unwrap();
    for file in ["Cargo.toml", "Cargo.lock", "src/main.rs"] {
        std::fs::copy(fixture.join(file), dir.join(file)).unwrap();
    }
    for (path, content) in extra {
        std::fs::write(dir.join(path), content).unwrap();
    }
    git(dir, &["init", "-q", "-b", "main"]);
    git(dir, &["add", "."]);
    git(dir, &["commit", "-q", "-m", "fixture"]);
    String::from_utf8(git(dir, &["rev-parse", "HEAD"]).stdout)
        .unwrap()
        .trim()
        .to_owned()
}

/// `mpr-rebuilder`, an unprivileged system user in the docker group, made if missing. Making it
/// needs root, as CI runs; elsewhere the test fails saying so.
pub fn rebuilder_user() -> &'static str {
    let name = "mpr-rebuilder";
    let exists = Command::new("id")
        .arg(name)
        .output()
        .unwrap()
        .status
        .success();
    if !exists {
        check(
            Command::new("useradd")
                .args(["--system", "--no-create-home", "--groups", "docker", name])
                .output()
                .unwrap(),
            "useradd mpr-rebuilder (the build by another user needs root to make that user, as CI runs)",
        );
    }
    name
}

/// `cp -a from to`.
pub fn copy_dir(from: &Path, to: &Path) {
    check(
        Command::new("cp")
            .arg("-a")
            .arg(from)
            .arg(to)
            .output()
            .unwrap(),
        "cp -a",
    );
}
