//! `mpr rebuild verify`: a release made by `mpr release` is rebuilt by two rebuilders, one from
//! the release's files as root, one from the registry as another user in another directory with
//! its own clone; both find it GOOD, and the second submits its signed report, which the registry
//! counts (a stranger's report is refused, a rebuild that cannot run is reported FAIL). A crate
//! that embeds its build time is BAD, with the differing file named, also when rebuilt from the
//! registry with the release's build record (and a record the statement does not vouch for is
//! refused).

mod build_support;
mod github_support;
mod registry_support;
mod release_support;
mod signing_support;

use std::path::Path;
use std::process::{Command, Output};

use build_support::{builder_image, check, fixture_recipe, fixture_repo, rebuilder_user};
use release_support::{ReleaseBed, VERSION};
use serde_json::Value;

fn verdict(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "mpr rebuild verify --json printed no verdict ({e}, {}); stderr:\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

fn rebuild_from_release_dir(bed: &ReleaseBed, release: &Path, out: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mpr"))
        .args(["--json", "rebuild", "verify", "--no-load"])
        .arg("--release")
        .arg(release)
        .arg("--recipe")
        .arg(&bed.recipe)
        .arg("--policy")
        .arg(bed.policy())
        .arg("--keyring")
        .arg(bed.path("keys/public.asc"))
        .arg("--out")
        .arg(out)
        .output()
        .unwrap()
}

/// `mpr [GLOBAL...] rebuild verify --version VERSION --registry ... --submit` as `rebuilder`, with
/// the bed's recipe and policy.
fn submit_from_registry(
    bed: &ReleaseBed,
    rebuilder: &release_support::Rebuilder,
    out: &Path,
    global: &[&str],
) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_mpr"));
    command
        .args(global)
        .args(["rebuild", "verify", "--no-load", "--version", VERSION])
        .args(["--registry", &bed.registry.url("")])
        .arg("--recipe")
        .arg(&bed.recipe)
        .arg("--policy")
        .arg(bed.policy())
        .arg("--out")
        .arg(out)
        .args(rebuilder.submit_args());
    command
}

#[tokio::test(flavor = "multi_thread")]
async fn two_rebuilders_in_different_places_and_users_agree() {
    let bed = ReleaseBed::start().await;
    let release = bed.path("release");
    check(bed.release(&release, &[], &[]), "mpr release");

    // Rebuilder A: the release directory, as root.
    let a = rebuild_from_release_dir(&bed, &release, &bed.path("rebuilder-a"));
    let verdict_a = verdict(&a);
    assert!(a.status.success(), "{verdict_a}");
    assert_eq!(verdict_a["status"], "GOOD");
    let rows = verdict_a["rows"].as_array().unwrap();
    assert!(rows.iter().all(|row| row["matches"] == true), "{verdict_a}");
    for fact in [
        "source.commit",
        "artifact hello.eif",
        "default/aws-nitro PCR0",
    ] {
        assert!(
            rows.iter().any(|row| row["what"] == fact),
            "no row {fact}: {verdict_a}"
        );
    }
    assert_eq!(verdict_a["signed_by"][0], bed.fingerprint.as_str());

    // Rebuilder B: another user, its own clone elsewhere, everything fetched from the registry.
    let user = rebuilder_user().to_owned();
    let b = registry_support::traversable_tempdir();
    let repo = b.path().join("src/elsewhere/hello");
    fixture_repo(&repo, &[]);
    let recipe = fixture_recipe(&repo, &builder_image(), &bed.files_url);
    let mpr = b.path().join("mpr");
    std::fs::copy(env!("CARGO_BIN_EXE_mpr"), &mpr).unwrap();
    std::fs::copy(bed.policy(), b.path().join("policy.toml")).unwrap();
    std::fs::create_dir(b.path().join("home")).unwrap();
    let rebuilder = bed
        .rebuilder(&b.path().join("rebuilder"), "rebuilder-b", true)
        .await;
    check(
        Command::new("chown")
            .args(["-R", &user])
            .arg(b.path())
            .output()
            .unwrap(),
        "chown",
    );
    let mut command = Command::new("runuser");
    command.args(["-u", &user, "--"]).arg(&mpr);
    let output = verify_from_registry(
        &mut command,
        &bed,
        &recipe,
        &b.path().join("policy.toml"),
        &b.path().join("out"),
    )
    .args(rebuilder.submit_args())
    .env("HOME", b.path().join("home"))
    // Its own, empty caches: it vendors the fixture's crates itself.
    .env("MPR_VENDOR_CACHE", b.path().join("vendor-cache"))
    .env("MPR_FILE_CACHE", b.path().join("file-cache"))
    .env("GIT_CONFIG_COUNT", "1")
    .env("GIT_CONFIG_KEY_0", "safe.directory")
    .env("GIT_CONFIG_VALUE_0", "*")
    .output()
    .unwrap();
    let verdict_b = verdict(&output);
    assert!(output.status.success(), "{verdict_b}");
    assert_eq!(verdict_b["status"], "GOOD");
    assert_eq!(
        verdict_b["rebuilt_statement_sha256"],
        verdict_a["rebuilt_statement_sha256"]
    );

    // B's signed report reached the registry, which judged it GOOD itself, logged it and counts
    // B once; wallets asking for releases one rebuilder reproduced now find this one.
    let submitted = &verdict_b["submitted"];
    assert_eq!(submitted["registry_status"], "GOOD", "{verdict_b}");
    assert_eq!(submitted["signed_by"], rebuilder.fingerprint.as_str());
    let report = std::fs::read(b.path().join("out/rebuild-report.json")).unwrap();
    let statement = verifier::statement::parse_rebuild_statement(&report).unwrap();
    assert_eq!(
        statement.predicate.verdict,
        verifier::statement::RebuildVerdict::Good
    );
    let release_statement = std::fs::read(release.join("statement.json")).unwrap();
    let release_statement =
        verifier::statement::parse_release_statement(&release_statement).unwrap();
    assert!(statement.reproduces(&release_statement.subject));
    let get = |path: String| {
        let url = bed.registry.url(&path);
        async move {
            reqwest::get(&url)
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        }
    };
    let detail = get(format!("/v1/releases/{VERSION}")).await;
    assert_eq!(
        detail["rebuilds"],
        serde_json::json!({"agreeing": 1, "rebuilders": 1})
    );
    let builds = get(format!("/v1/releases/{VERSION}/builds")).await;
    assert!(builds[1]["log_index"].is_u64(), "{builds}");
    let one = get(format!(
        "/v1/releases/{VERSION}/measurements?min_rebuilds=1"
    ))
    .await;
    assert!(!one["measurements"].as_array().unwrap().is_empty(), "{one}");
    let two = get(format!(
        "/v1/releases/{VERSION}/measurements?min_rebuilds=2"
    ))
    .await;
    assert_eq!(two["measurements"], serde_json::json!([]));

    // A stranger's key (not registered) is refused by the registry, and the command says so.
    let stranger = bed
        .rebuilder(&bed.path("stranger"), "stranger", false)
        .await;
    let refused = submit_from_registry(&bed, &stranger, &bed.path("rebuilder-a"), &[])
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("refused the rebuild report") && stderr.contains("not a registered key"),
        "{stderr}"
    );
    let detail = get(format!("/v1/releases/{VERSION}")).await;
    assert_eq!(detail["rebuilds"]["rebuilders"], 1);

    // A rebuild that cannot be done (here: no Docker engine behind DOCKER_HOST) is reported all
    // the same, as FAIL with the reason, and exits 2; the registry logs the signed report and
    // counts the rebuilder, but not as agreeing.
    let unlucky = bed.rebuilder(&bed.path("unlucky"), "unlucky", true).await;
    let failed = submit_from_registry(&bed, &unlucky, &bed.path("rebuilder-d"), &["--json"])
        .env(
            "DOCKER_HOST",
            format!("unix://{}", bed.path("no-engine.sock").display()),
        )
        .output()
        .unwrap();
    let verdict_d = verdict(&failed);
    assert_eq!(failed.status.code(), Some(2), "{verdict_d}");
    assert_eq!(verdict_d["status"], "FAIL");
    let failure = verdict_d["failure"].as_str().unwrap();
    assert!(
        failure.contains("cannot reach the Docker engine"),
        "{failure}"
    );
    assert_eq!(verdict_d["submitted"]["registry_status"], "FAIL");
    assert_eq!(
        verdict_d["submitted"]["signed_by"],
        unlucky.fingerprint.as_str()
    );
    let report: Value = serde_json::from_slice(
        &std::fs::read(bed.path("rebuilder-d/rebuild-report.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(report["predicate"]["verdict"], "FAIL", "{report}");
    let findings = report["predicate"]["findings"].to_string();
    assert!(
        findings.contains("cannot reach the Docker engine"),
        "{findings}"
    );
    let detail = get(format!("/v1/releases/{VERSION}")).await;
    assert_eq!(detail["rebuilds"]["rebuilders"], 2, "{detail}");
    assert_eq!(detail["rebuilds"]["agreeing"], 1, "{detail}");

    // A recipe that is not the release's is refused before anything is built.
    let other = bed.path("other-recipe.toml");
    let text = std::fs::read_to_string(&bed.recipe).unwrap();
    std::fs::write(&other, text.replace("panic=-1", "panic=-1 quiet")).unwrap();
    let refused = Command::new(env!("CARGO_BIN_EXE_mpr"))
        .args(["rebuild", "verify", "--no-load"])
        .arg("--release")
        .arg(&release)
        .arg("--recipe")
        .arg(&other)
        .arg("--policy")
        .arg(bed.policy())
        .arg("--keyring")
        .arg(bed.path("keys/public.asc"))
        .arg("--out")
        .arg(bed.path("rebuilder-c"))
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("is not the release's"), "{stderr}");
    assert!(!bed.path("rebuilder-c/build").exists());
}

/// A build script that puts the time of the build into the binary.
const BUILD_TIME_RS: &str = r#"fn main() {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
    println!("cargo:rustc-env=BUILT_AT={}", now.as_nanos());
    println!("cargo:rerun-if-changed=build.rs");
}
"#;
const MAIN_RS: &str = r#"fn main() {
    println!("hello, built at {}", env!("BUILT_AT"));
}
"#;

#[tokio::test(flavor = "multi_thread")]
async fn a_crate_that_embeds_its_build_time_rebuilds_bad_naming_the_file() {
    let bed =
        ReleaseBed::start_with(&[("build.rs", BUILD_TIME_RS), ("src/main.rs", MAIN_RS)]).await;
    let release = bed.path("release");
    check(bed.release(&release, &[], &[]), "mpr release");
    let output = rebuild_from_release_dir(&bed, &release, &bed.path("rebuilder"));
    let verdict = verdict(&output);
    assert_eq!(output.status.code(), Some(1), "{verdict}");
    assert_eq!(verdict["status"], "BAD");
    let differing: Vec<&str> = verdict["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|row| row["matches"] == false)
        .map(|row| row["what"].as_str().unwrap())
        .collect();
    for fact in [
        "artifact usr/local/bin/hello",
        "artifact hello.eif",
        "default/aws-nitro PCR2",
    ] {
        assert!(
            differing.contains(&fact),
            "{fact} should differ: {differing:?}"
        );
    }
    // The source, the recipe and the kernel's PCR1 are the same: only what the build made moved.
    for fact in ["source.commit", "recipe sha256", "default/aws-nitro PCR1"] {
        assert!(
            !differing.contains(&fact),
            "{fact} should match: {differing:?}"
        );
    }
    let differences = verdict["differences"].to_string();
    assert!(differences.contains("usr/local/bin/hello"), "{differences}");

    // From the registry, with the release's build record (a GitHub asset): a record the signed
    // statement does not vouch for is refused before anything is built; the real one gives the
    // same BAD verdict, file by file from the records.
    let official_record = release.join("build").join("build-record.json");
    let forged = bed.path("forged-record.json");
    let mut bytes = std::fs::read(&official_record).unwrap();
    bytes.push(b'\n');
    std::fs::write(&forged, bytes).unwrap();
    let output = rebuild_from_registry(&bed, &forged, &bed.path("from-registry-forged"));
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("it is not this release's record"),
        "{stderr}"
    );
    assert!(!bed.path("from-registry-forged").join("build").exists());

    let output = rebuild_from_registry(&bed, &official_record, &bed.path("from-registry"));
    let from_registry = crate::verdict(&output);
    assert_eq!(output.status.code(), Some(1), "{from_registry}");
    assert_eq!(from_registry["status"], "BAD");
    // The records' binary entry (usr/local/bin/hello) is what differs.
    let differences = from_registry["differences"].to_string();
    assert!(differences.contains("outputs.binary"), "{differences}");
}

/// `COMMAND --json rebuild verify` of the bed's release from its registry.
fn verify_from_registry<'a>(
    command: &'a mut Command,
    bed: &ReleaseBed,
    recipe: &Path,
    policy: &Path,
    out: &Path,
) -> &'a mut Command {
    command
        .args([
            "--json",
            "rebuild",
            "verify",
            "--no-load",
            "--version",
            VERSION,
        ])
        .args(["--registry", &bed.registry.url("")])
        .arg("--recipe")
        .arg(recipe)
        .arg("--policy")
        .arg(policy)
        .arg("--out")
        .arg(out)
}

fn rebuild_from_registry(bed: &ReleaseBed, record: &Path, out: &Path) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_mpr"));
    verify_from_registry(&mut command, bed, &bed.recipe, &bed.policy(), out)
        .arg("--record")
        .arg(record)
        .output()
        .unwrap()
}
