//! `mpr release` end to end on the fixture crate, against a real registry (embedded PostgreSQL),
//! real Docker and the local GitHub stand-in: a run killed in its build, a run that meets a
//! stopped registry, and the runs after them finish the release without repeating anything, and
//! the result is what a wallet checks offline.

mod build_support;
mod github_support;
mod registry_support;
mod release_support;
mod signing_support;

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use build_support::check;
use github_support::{FakeGitHub, OWNER, REPO};
use release_support::{expect, outcomes, ReleaseBed, VERSION};
use serde_json::Value;

/// A build script that makes the compile last long enough to be killed in the middle of it.
const SLOW_BUILD_RS: &str =
    "fn main() {\n    std::thread::sleep(std::time::Duration::from_secs(15));\n}\n";

fn journal(output: &std::process::Output) -> Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "mpr release --json printed no journal ({e}); stderr:\n{}",
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

/// Starts `mpr release` and SIGKILLs it once its build is compiling.
fn kill_during_compile(bed: &ReleaseBed, out: &Path) {
    let stderr_path = bed.path("killed-release.stderr");
    let stderr = std::fs::File::create(&stderr_path).unwrap();
    let mut child = bed
        .release_command("http://127.0.0.1:9", out, &[], &[])
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let text = std::fs::read_to_string(&stderr_path).unwrap_or_default();
        if text.contains("mpr: fetch done") {
            break;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("mpr release ended ({status}) before its compile stage:\n{text}");
        }
        assert!(
            Instant::now() < deadline,
            "no compile stage in 600 s:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_secs(2));
    child.kill().unwrap();
    child.wait().unwrap();
    // The killed process could not remove its build container: do it for it (by its label).
    let label = format!("label={}={}", builder::docker::PID_LABEL, child.id());
    let listed = check(
        std::process::Command::new("docker")
            .args(["ps", "-aq", "--filter", &label])
            .output()
            .unwrap(),
        "docker ps",
    );
    for id in String::from_utf8_lossy(&listed.stdout).split_whitespace() {
        check(
            std::process::Command::new("docker")
                .args(["rm", "-f", id])
                .output()
                .unwrap(),
            "docker rm -f",
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_killed_or_failed_release_is_finished_by_running_it_again() {
    let mut bed = ReleaseBed::start_with(&[("build.rs", SLOW_BUILD_RS)]).await;
    let out = bed.path("release");

    // 1. Killed while compiling: nothing of the build is left as if it were finished.
    kill_during_compile(&bed, &out);
    assert!(!out.join("build/build-record.json").exists());
    assert!(out.join("release.json").exists());

    // 2. The registry cannot be reached: the build completes and its statement is signed,
    //    recording fails, the rest waits.
    let failed = bed.release_against("http://127.0.0.1:9", &out, &[], &[]);
    assert!(!failed.status.success());
    let stderr = String::from_utf8_lossy(&failed.stderr);
    assert!(stderr.contains("stage record failed"), "{stderr}");
    assert!(
        stderr.contains("run the same command again to resume"),
        "{stderr}"
    );
    assert_eq!(
        outcomes(&journal(&failed)),
        expect(&[
            ("build", "done"),
            ("sign", "done"),
            ("record", "failed"),
            ("log", "not-run"),
            ("github", "not-run")
        ])
    );
    let record = std::fs::read(out.join("build/build-record.json")).unwrap();

    // 3. The registry is back (on another address): the same command finishes the release; the
    //    build and the signature are reused (the key is not asked again), and without a GitHub
    //    token that stage says it did not publish.
    bed.restart_registry().await;
    let policy = bed.policy();
    let policy_arg = policy.to_str().unwrap();
    let finished = check(
        bed.release(&out, &["--policy", policy_arg], &[]),
        "mpr release",
    );
    let finished_journal = journal(&finished);
    assert_eq!(
        outcomes(&finished_journal),
        expect(&[
            ("build", "skipped"),
            ("sign", "skipped"),
            ("record", "done"),
            ("log", "done"),
            ("github", "not-configured")
        ])
    );
    let github_detail = finished_journal["stages"][4]["detail"].as_str().unwrap();
    assert!(github_detail.contains("no GitHub token"), "{github_detail}");
    assert_eq!(
        std::fs::read(out.join("build/build-record.json")).unwrap(),
        record
    );
    assert_eq!(finished_journal["signed_by"], bed.fingerprint.as_str());

    // 4. With a token: only the GitHub stage runs.
    let github = FakeGitHub::start("ghp_release_test_token").await;
    let github_args = [
        "--github-repo",
        &format!("{OWNER}/{REPO}"),
        "--github-api-url",
        &github.api_url(),
    ]
    .map(|s| s.to_owned());
    let github_args: Vec<&str> = github_args.iter().map(String::as_str).collect();
    let token = [("MPR_GITHUB_TOKEN", "ghp_release_test_token")];
    let published = journal(&check(
        bed.release(&out, &github_args, &token),
        "mpr release",
    ));
    assert_eq!(
        outcomes(&published),
        expect(&[
            ("build", "skipped"),
            ("sign", "skipped"),
            ("record", "skipped"),
            ("log", "skipped"),
            ("github", "done")
        ])
    );
    let releases = github.releases();
    assert_eq!(releases.len(), 1);
    assert_eq!(releases[0].tag, format!("v{VERSION}"));
    let mut names: Vec<String> = github.assets().into_iter().map(|a| a.name).collect();
    names.sort();
    assert_eq!(
        names,
        [
            "RELEASE-KEY.asc",
            "build-record.json",
            "hello.eif",
            "initrd.img",
            "statement.json",
            "statement.json.asc",
            "statement.proof",
            "vmlinuz"
        ]
    );
    let statement = std::fs::read(out.join("statement.json")).unwrap();
    let uploaded = github.assets();
    let uploaded_statement = uploaded
        .iter()
        .find(|a| a.name == "statement.json")
        .unwrap();
    assert_eq!(uploaded_statement.bytes, statement);
    assert_eq!(
        published["github"]["url"].as_str().unwrap(),
        format!("{}/{OWNER}/{REPO}/releases/tag/v{VERSION}", github.base)
    );

    // 5. Once more: every stage is skipped, GitHub sees no write.
    let requests = github.requests().len();
    let again = journal(&check(
        bed.release(&out, &github_args, &token),
        "mpr release",
    ));
    assert!(
        outcomes(&again)
            .iter()
            .all(|(_, outcome)| outcome == "skipped"),
        "{again}"
    );
    assert_eq!(github.requests().len(), requests);

    // No duplicates in the registry: one release, one signature, one log entry.
    let signatures = get_json(
        &bed.registry
            .url(&format!("/v1/releases/{VERSION}/statement/signatures")),
    )
    .await;
    assert_eq!(signatures.as_array().unwrap().len(), 1, "{signatures}");
    let sha256 = published["statement_sha256"].as_str().unwrap();
    let entries = get_json(
        &bed.registry
            .url(&format!("/v1/log/entries?statement=sha256:{sha256}")),
    )
    .await;
    assert_eq!(entries["entries"].as_array().unwrap().len(), 1, "{entries}");

    // What a wallet checks offline, from the release directory alone: the key that verifies is
    // the one the release carries, and it is the registered one.
    let keyring = out.join("RELEASE-KEY.asc");
    let registered = std::fs::read(bed.path("keys/public.asc")).unwrap();
    let carried = std::fs::read(&keyring).unwrap();
    assert!(
        uploaded
            .iter()
            .any(|a| a.name == "RELEASE-KEY.asc" && a.bytes == carried),
        "the GitHub release does not carry the release directory's key"
    );
    assert_eq!(
        registry_api::openpgp::parse_keyring(&carried).unwrap()[0].fingerprint,
        registry_api::openpgp::parse_keyring(&registered).unwrap()[0].fingerprint
    );
    check(
        std::process::Command::new(env!("CARGO_BIN_EXE_mpr"))
            .args(["manifest", "verify", "--policy", policy_arg])
            .arg("--statement")
            .arg(out.join("statement.json"))
            .arg("--signature")
            .arg(out.join("statement.json.asc"))
            .arg("--keyring")
            .arg(&keyring)
            .arg("--proof")
            .arg(out.join("statement.proof"))
            .output()
            .unwrap(),
        "mpr manifest verify of the release directory",
    );
    bed.registry.terminate(Duration::from_secs(30));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_release_refuses_what_it_must_not_touch_before_building() {
    let bed = ReleaseBed::start().await;
    // A directory with someone else's files is never written into.
    let foreign = bed.path("foreign");
    std::fs::create_dir(&foreign).unwrap();
    std::fs::write(foreign.join("notes.txt"), "mine").unwrap();
    let refused = bed.release(&foreign, &[], &[]);
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("exists and is not mpr's"), "{stderr}");
    assert_eq!(std::fs::read_dir(&foreign).unwrap().count(), 1);

    // A version the recipe is not for.
    let out = bed.path("wrong-version");
    let refused = check_fails(
        std::process::Command::new(env!("CARGO_BIN_EXE_mpr"))
            .args(["release", "--version", "9.9.9", "--no-load"])
            .arg("--recipe")
            .arg(&bed.recipe)
            .arg("--out")
            .arg(&out)
            .arg("--token-file")
            .arg(&bed.token_file)
            .arg("--key")
            .arg(&bed.key)
            .arg("--passphrase-file")
            .arg(&bed.passphrase),
    );
    assert!(
        refused.contains(&format!(
            "is for version {VERSION} but the release is 9.9.9"
        )),
        "{refused}"
    );
    assert!(!out.exists());

    // A wrong passphrase is found before the build, not after it.
    std::fs::write(&bed.passphrase, "not the passphrase\n").unwrap();
    let out = bed.path("release");
    let refused = bed.release(&out, &[], &[]);
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("unlocking the key") && stderr.contains("wrong passphrase"),
        "{stderr}"
    );
    assert!(!out.exists());
}

async fn get_json(url: &str) -> Value {
    reqwest::get(url).await.unwrap().json().await.unwrap()
}

fn check_fails(command: &mut std::process::Command) -> String {
    let output = command.output().unwrap();
    assert!(!output.status.success(), "the command succeeded");
    String::from_utf8_lossy(&output.stderr).into_owned()
}
