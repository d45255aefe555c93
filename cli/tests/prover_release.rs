//! The real prover is reproducible for every honest rebuilder: a second clone of this repository, in
//! another directory, with its recipe written there (other absolute paths), built by another,
//! unprivileged user (with a copy of CI's vendored crates), gives a `build-record.json` byte-identical to the release CI
//! built from its own clone (`MPR_PROVER_RELEASE`, made by ci/test.sh with ci/prover-recipe.sh), so
//! the same binary, image digest, EIF PCRs and SEV-SNP digests.

use std::path::{Path, PathBuf};
use std::process::Command;

mod build_support;
use build_support::{check, copy_dir, rebuilder_user};

fn required(name: &str, what: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("set {name}: {what} (ci/test.sh does)"))
}

#[test]
fn a_second_clone_by_another_user_gives_the_same_record() {
    let release = PathBuf::from(required(
        "MPR_PROVER_RELEASE",
        "the `mpr build --out` directory of the in-repo prover",
    ));
    required("MPR_BUILDER_IMAGE", "the builder image's ID");
    let expected = std::fs::read(release.join("build-record.json")).unwrap();
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();

    let dir = tempfile::tempdir().unwrap();
    let clone = dir.path().join("another/place/mpr");
    check(
        Command::new("git")
            .args(["clone", "-q", "--no-local"])
            .arg(workspace)
            .arg(&clone)
            .output()
            .unwrap(),
        "git clone",
    );
    let user = rebuilder_user();
    let out = dir.path().join("rebuild");
    // The recipe is written inside the clone, naming its own absolute paths; the shared fixtures
    // stay where they are (they sit beside the original clone).
    check(
        Command::new("bash")
            .arg(clone.join("ci/prover-recipe.sh"))
            .arg(&out)
            .env("MPR_SHARED_DIR", workspace.join("../shared"))
            .output()
            .unwrap(),
        "ci/prover-recipe.sh in the second clone",
    );
    let home = dir.path().join("home");
    std::fs::create_dir(&home).unwrap();
    // The crates CI vendored (checked against Cargo.lock either way): vendoring the prover's ~500
    // crates again would add minutes, and the fixture test already shows a cold vendor cache gives
    // the same record.
    let vendor_cache = std::env::var_os("MPR_VENDOR_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var("HOME").unwrap()).join(".cache/mpr/vendor"));
    std::fs::create_dir_all(home.join(".cache/mpr")).unwrap();
    copy_dir(&vendor_cache, &home.join(".cache/mpr/vendor"));
    let mpr = dir.path().join("mpr");
    std::fs::copy(env!("CARGO_BIN_EXE_mpr"), &mpr).unwrap();
    check(
        Command::new("chown")
            .args(["-R", user])
            .arg(dir.path())
            .output()
            .unwrap(),
        "chown",
    );
    // The other user can read the shared fixtures the recipe names (read-only files already).
    // runuser sets HOME to the user's own; `env` sets it back to the one prepared here.
    let build = Command::new("runuser")
        .args(["-u", user, "--", "env"])
        .arg(format!("HOME={}", home.display()))
        .arg(&mpr)
        .args(["build", "--no-load", "--recipe"])
        .arg(out.join("mpr-recipe.toml"))
        .arg("--out")
        .arg(out.join("release"))
        .arg("--vendor-cache")
        .arg(home.join(".cache/mpr/vendor"))
        .arg("--file-cache")
        .arg(home.join(".cache/mpr/files"))
        .env("GIT_CONFIG_COUNT", "1")
        .env("GIT_CONFIG_KEY_0", "safe.directory")
        .env("GIT_CONFIG_VALUE_0", "*")
        .env("TZ", "Asia/Kolkata")
        .current_dir(&home)
        .output()
        .unwrap();
    check(
        build,
        "mpr build of the prover by another user in another clone",
    );
    let rebuilt = std::fs::read(out.join("release/build-record.json")).unwrap();
    if rebuilt != expected {
        let diff = Command::new(env!("CARGO_BIN_EXE_mpr"))
            .arg("diff")
            .arg(release.join("build-record.json"))
            .arg(out.join("release/build-record.json"))
            .output()
            .unwrap();
        panic!(
            "the records differ:\n{}",
            String::from_utf8_lossy(&diff.stdout)
        );
    }
    let record: serde_json::Value = serde_json::from_slice(&rebuilt).unwrap();
    let repository = record["inputs"]["repository"].as_str().unwrap();
    assert!(repository.starts_with("https://"), "{repository}");
    assert!(
        !String::from_utf8_lossy(&rebuilt).contains(&*dir.path().to_string_lossy()),
        "the record names a path of the machine"
    );

    // The registry stores the recipe as the record digests it (canonical text: files by name, the
    // source by its URL), so the recipe from this clone publishes against the first clone's record.
    let publish = check(
        Command::new(env!("CARGO_BIN_EXE_mpr"))
            // --dry-run prints the submission without reading the token or sending anything.
            .args(["registry", "publish", "--dry-run", "--token-file", "unused"])
            .arg("--record")
            .arg(release.join("build-record.json"))
            .arg("--recipe")
            .arg(out.join("mpr-recipe.toml"))
            .output()
            .unwrap(),
        "mpr registry publish --dry-run with the recipe",
    );
    let submission: serde_json::Value = serde_json::from_slice(&publish.stdout).unwrap();
    let body = submission["recipe"]["body"]
        .as_str()
        .expect("the recipe's text");
    assert_eq!(
        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(body.as_bytes())),
        record["inputs"]["recipe_sha256"].as_str().unwrap(),
        "the published recipe text has the record's recipe digest"
    );
    assert!(!body.contains(&*dir.path().to_string_lossy()), "{body}");
}
