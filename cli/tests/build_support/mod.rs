//! What the build tests share: running commands with their output shown on failure, the builder
//! image, and the fixture crate as a git repository whose commit does not depend on where or when
//! it is made.
#![allow(dead_code)] // each test binary uses its own part

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
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

/// Fixed pseudo-random bytes (SHA-256 in counter mode): stand-ins for the Nitro kernel, init and
/// nsm.ko and the CVM kernel, whose contents only have to be pinned, not booted, here.
pub fn blob(path: &Path, label: &str, size: usize) -> String {
    let mut data = Vec::with_capacity(size + 32);
    let mut i = 0u64;
    while data.len() < size {
        data.extend_from_slice(&Sha256::digest(format!("{label}:{i}")));
        i += 1;
    }
    data.truncate(size);
    std::fs::write(path, &data).unwrap();
    hex::encode(Sha256::digest(&data))
}

/// A file the recipe places through `[[files]]` from a URL, served on loopback to every build.
pub const SERVED_PARAMS: &[u8] = b"stand-in public parameters, fetched in the fetch stage\n";

/// Writes the recipe and its pinned inputs into the repository's directory (untracked, so not part
/// of the commit); the recipe names the repository as ".", so both builds read the same recipe bytes.
/// `files_url` serves [`SERVED_PARAMS`] at `/params`.
pub fn fixture_recipe(dir: &Path, image: &str, files_url: &str) -> PathBuf {
    let local_file = dir.join("keys.bin");
    std::fs::write(&local_file, b"stand-in key material\n").unwrap();
    let local_sha = sha256_file(&local_file);
    let served_sha = hex::encode(Sha256::digest(SERVED_PARAMS));
    let kernel = blob(&dir.join("bzImage"), "nitro-kernel", 1 << 20);
    let init = blob(&dir.join("init"), "nitro-init", 64 << 10);
    let nsm = blob(&dir.join("nsm.ko"), "nitro-nsm", 16 << 10);
    let cvm_kernel = blob(&dir.join("vmlinuz"), "cvm-kernel", 1 << 20);
    std::fs::copy("/bin/busybox", dir.join("busybox"))
        .expect("busybox-static is installed (ci/setup.sh)");
    let busybox = hex::encode(Sha256::digest(std::fs::read(dir.join("busybox")).unwrap()));
    // The synthetic firmware has a kernel-hashes table, which no distribution's OVMF.fd has.
    let firmware = measurer::snp::testing::synthetic_firmware();
    std::fs::write(dir.join("OVMF.fd"), &firmware).unwrap();
    let ovmf = hex::encode(Sha256::digest(&firmware));
    let text = format!(
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
env = ["RUST_LOG=info"]
user = "65534:65534"
exposed_ports = ["6300/tcp"]

[eif]
kernel = {{ path = "bzImage", sha256 = "{kernel}" }}
init = {{ path = "init", sha256 = "{init}" }}
nsm_ko = {{ path = "nsm.ko", sha256 = "{nsm}" }}
cmdline = "reboot=k panic=30 pci=off nomodules console=ttyS0 random.trust_cpu=on"

[cvm]
kernel = {{ path = "vmlinuz", sha256 = "{cvm_kernel}" }}
busybox = {{ path = "busybox", sha256 = "{busybox}" }}
cmdline = "console=ttyS0 panic=-1"

[[snp]]
ovmf = {{ path = "OVMF.fd", sha256 = "{ovmf}" }}
vcpus = [1, 4]
vcpu_type = "EPYC-Milan"

[[files]]
dest = "params/keys.bin"
sha256 = "{local_sha}"
path = "keys.bin"

[[files]]
dest = "params/served.bin"
sha256 = "{served_sha}"
url = "{files_url}/params"
mode = 0o640
"#
    );
    let path = dir.join("mpr-recipe.toml");
    std::fs::write(&path, text).unwrap();
    path
}

pub fn sha256_file(path: &Path) -> String {
    hex::encode(Sha256::digest(std::fs::read(path).unwrap()))
}
