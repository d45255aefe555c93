//! `mpr publish github` and `registry_api::github::publish` against a local stand-in for GitHub's
//! REST API (github_support): what it receives (token, names, media types, bodies byte for byte),
//! a re-run replacing assets instead of failing, 422 `already_exists`, the errors for a bad token,
//! a missing repository and an exhausted rate limit, and the token never appearing in any output.

mod github_support;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use github_support::{FakeGitHub, Recorded, API_PREFIX, OWNER, REPO};
use registry_api::github::{self, GitHubError, GitHubToken, Publication, ReleaseAsset, Repository};
use serde_json::Value;

const TOKEN: &str = "ghp_testTOKENnever2appear0in0output";

/// The files `mpr release` will publish, with contents of their kind.
fn release_files(dir: &Path) -> Vec<PathBuf> {
    let statement = dir.join("statement.json");
    fs::write(
        &statement,
        br#"{"_type":"https://in-toto.io/Statement/v1","subject":[]}"#,
    )
    .expect("write");
    let signature = dir.join("statement.json.asc");
    fs::write(
        &signature,
        "-----BEGIN PGP SIGNATURE-----\n\nwsBcBAABCAAQ\n-----END PGP SIGNATURE-----\n",
    )
    .expect("write");
    // Every byte value, and more than one read buffer's worth, so streaming is exercised.
    let eif = dir.join("prover.eif");
    let bytes: Vec<u8> = (0..300_000u32).map(|i| (i * 7 + i / 251) as u8).collect();
    fs::write(&eif, bytes).expect("write");
    vec![statement, signature, eif]
}

fn publication(fake: &FakeGitHub, tag: &str, files: &[PathBuf]) -> Publication {
    Publication {
        api_url: fake.api_url(),
        repository: Repository::parse(&format!("{OWNER}/{REPO}")).expect("repo"),
        tag: tag.to_owned(),
        name: Some(format!("Prover {tag}")),
        notes: Some("Measurements and signatures.".to_owned()),
        assets: files
            .iter()
            .map(|f| ReleaseAsset::from_path(f).expect("asset"))
            .collect(),
    }
}

fn token() -> GitHubToken {
    GitHubToken::new("test", TOKEN).expect("token")
}

fn uploads(requests: &[Recorded]) -> Vec<&Recorded> {
    requests
        .iter()
        .filter(|r| r.method == "POST" && r.uri.starts_with("/uploads/"))
        .collect()
}

#[tokio::test]
async fn publishes_creates_the_release_uploads_every_asset_and_replaces_them_on_a_rerun() {
    let fake = FakeGitHub::start(TOKEN).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let files = release_files(dir.path());

    let first = github::publish(&publication(&fake, "v1.0.0", &files), &token())
        .await
        .expect("first publish");
    assert!(first.created);
    assert_eq!(first.tag, "v1.0.0");
    assert_eq!(
        first.html_url,
        format!("{}/{OWNER}/{REPO}/releases/tag/v1.0.0", fake.base)
    );
    let requests = fake.requests();
    let summary: Vec<(String, String, u16)> = requests
        .iter()
        .map(|r| (r.method.clone(), r.uri.clone(), r.status))
        .collect();
    let releases = format!("{API_PREFIX}/repos/{OWNER}/{REPO}/releases");
    let release_id = first.id;
    let upload = |name: &str| {
        format!("/uploads/repos/{OWNER}/{REPO}/releases/{release_id}/assets?name={name}")
    };
    assert_eq!(
        summary,
        vec![
            ("GET".into(), format!("{releases}/tags/v1.0.0"), 404),
            ("POST".into(), releases.clone(), 201),
            (
                "GET".into(),
                format!("{releases}/{release_id}/assets?per_page=100"),
                200
            ),
            ("POST".into(), upload("statement.json"), 201),
            ("POST".into(), upload("statement.json.asc"), 201),
            ("POST".into(), upload("prover.eif"), 201),
        ]
    );
    for request in &requests {
        assert_eq!(
            request.authorization.as_deref(),
            Some(format!("Bearer {TOKEN}").as_str()),
            "{} {}",
            request.method,
            request.uri
        );
    }
    let create: Value = serde_json::from_slice(&requests[1].body).expect("create body");
    assert_eq!(create["tag_name"], "v1.0.0");
    assert_eq!(create["name"], "Prover v1.0.0");
    assert_eq!(create["body"], "Measurements and signatures.");

    let sent = uploads(&requests);
    let expected_types = [
        "application/json",
        "application/pgp-signature",
        "application/octet-stream",
    ];
    for ((request, file), content_type) in sent.iter().zip(&files).zip(expected_types) {
        let bytes = fs::read(file).expect("read");
        assert!(request.body == bytes, "{} arrived altered", file.display());
        assert_eq!(request.content_type.as_deref(), Some(content_type));
        assert_eq!(request.content_length, Some(bytes.len().to_string()));
    }
    assert_eq!(first.assets.len(), 3);
    for (asset, file) in first.assets.iter().zip(&files) {
        let name = file.file_name().and_then(|n| n.to_str()).expect("name");
        assert_eq!(asset.name, name);
        assert!(!asset.replaced);
        assert_eq!(asset.size, fs::metadata(file).expect("meta").len());
        assert_eq!(
            asset.browser_download_url,
            format!(
                "{}/{OWNER}/{REPO}/releases/download/v1.0.0/{name}",
                fake.base
            )
        );
    }

    // A re-run with a changed statement: the release is reused, every asset replaced.
    fs::write(
        &files[0],
        br#"{"_type":"https://in-toto.io/Statement/v1","v":2}"#,
    )
    .expect("write");
    let before = fake.requests().len();
    let second = github::publish(&publication(&fake, "v1.0.0", &files), &token())
        .await
        .expect("second publish");
    assert!(!second.created);
    assert_eq!(second.id, first.id);
    assert!(second.assets.iter().all(|a| a.replaced));
    let rerun = &fake.requests()[before..];
    let deleted: Vec<&str> = rerun
        .iter()
        .filter(|r| r.method == "DELETE")
        .map(|r| r.uri.as_str())
        .collect();
    let old_ids: Vec<String> = first
        .assets
        .iter()
        .map(|a| format!("{releases}/assets/{}", a.id))
        .collect();
    assert_eq!(deleted, old_ids, "each old asset deleted once");
    assert!(rerun.iter().all(|r| r.status < 300), "{rerun:#?}");
    assert_eq!(fake.releases().len(), 1, "no second release");
    let stored = fake.assets();
    assert_eq!(stored.len(), 3, "no duplicate assets");
    for file in &files {
        let name = file.file_name().and_then(|n| n.to_str()).expect("name");
        let asset = stored.iter().find(|a| a.name == name).expect("stored");
        assert!(
            asset.bytes == fs::read(file).expect("read"),
            "{name} stored altered"
        );
    }
}

#[tokio::test]
async fn an_upload_answered_already_exists_replaces_the_asset() {
    let fake = FakeGitHub::start(TOKEN).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let files = release_files(dir.path());
    let release_id = fake.add_release("v2.0.0");
    github::publish(&publication(&fake, "v2.0.0", &files[..1]), &token())
        .await
        .expect("first publish");
    // The next listing misses the asset, as if it had been uploaded since: GitHub answers 422.
    fake.world.lock().expect("world").stale_listings = 1;
    let before = fake.requests().len();
    let published = github::publish(&publication(&fake, "v2.0.0", &files[..1]), &token())
        .await
        .expect("publish over an asset the listing missed");
    assert!(!published.created);
    assert_eq!(published.id, release_id);
    assert!(published.assets[0].replaced);
    let statuses: Vec<(String, u16)> = fake.requests()[before..]
        .iter()
        .map(|r| (r.method.clone(), r.status))
        .collect();
    assert_eq!(
        statuses,
        vec![
            ("GET".into(), 200),
            ("GET".into(), 200),
            ("POST".into(), 422),
            ("GET".into(), 200),
            ("DELETE".into(), 204),
            ("POST".into(), 201),
        ]
    );
    let stored = fake.assets();
    assert_eq!(stored.len(), 1);
    assert!(stored[0].bytes == fs::read(&files[0]).expect("read"));
    assert_eq!(
        fake.releases()[0].name.as_deref(),
        Some("v2.0.0 (made by hand)"),
        "an existing release keeps its title"
    );
}

#[tokio::test]
async fn errors_name_the_problem_and_never_the_token() {
    let fake = FakeGitHub::start(TOKEN).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let files = release_files(dir.path());

    let wrong = GitHubToken::new("test", "ghp_wrongTOKEN").expect("token");
    let error = github::publish(&publication(&fake, "v1", &files), &wrong)
        .await
        .expect_err("a wrong token");
    assert!(
        matches!(error, GitHubError::BadCredentials { .. }),
        "{error}"
    );
    assert!(!error.to_string().contains("ghp_wrongTOKEN"), "{error}");

    let mut elsewhere = publication(&fake, "v1", &files);
    elsewhere.repository = Repository::parse("someone/else").expect("repo");
    let error = github::publish(&elsewhere, &token())
        .await
        .expect_err("an unknown repository");
    assert!(matches!(error, GitHubError::NotFound { .. }), "{error}");
    assert!(error.to_string().contains("someone/else"), "{error}");

    // A release whose upload_url points elsewhere never gets the token sent there.
    let other = FakeGitHub::start(TOKEN).await;
    fake.world.lock().expect("world").upload_origin = Some(other.base.clone());
    let error = github::publish(&publication(&fake, "v1", &files), &token())
        .await
        .expect_err("a foreign upload host");
    assert!(
        matches!(error, GitHubError::UploadHostNotAllowed { .. }),
        "{error}"
    );
    assert!(other.requests().is_empty(), "{:?}", other.requests());
    fake.world.lock().expect("world").upload_origin = None;

    fake.world.lock().expect("world").rate_limited = true;
    let error = github::publish(&publication(&fake, "v1", &files), &token())
        .await
        .expect_err("rate limited");
    assert!(matches!(error, GitHubError::RateLimited { .. }), "{error}");
    assert!(
        error.to_string().contains("resets at 2030-03-17"),
        "{error}"
    );

    // Checked before any request: names GitHub would alter, duplicates, empty files.
    let count = fake.requests().len();
    let mut bad = publication(&fake, "v1", &files);
    bad.assets[1].name = "statement.json".into();
    assert!(matches!(
        github::publish(&bad, &token()).await,
        Err(GitHubError::DuplicateAssetName { .. })
    ));
    bad.assets[1].name = "my statement.json".into();
    assert!(matches!(
        github::publish(&bad, &token()).await,
        Err(GitHubError::InvalidAssetName { .. })
    ));
    let empty = dir.path().join("empty.json");
    fs::write(&empty, b"").expect("write");
    let mut bad = publication(&fake, "v1", &files);
    bad.assets
        .push(ReleaseAsset::from_path(&empty).expect("asset"));
    assert!(matches!(
        github::publish(&bad, &token()).await,
        Err(GitHubError::AssetSize { .. })
    ));
    assert_eq!(fake.requests().len(), count, "nothing was sent");
    assert!(format!("{:?}", token()).contains("redacted"));
    assert!(!format!("{:?}", token()).contains(TOKEN));
}

fn mpr(fake: &FakeGitHub, args: &[&str], token: Option<&str>) -> std::process::Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_mpr"));
    command
        .args(["publish", "github", "--api-url", &fake.api_url()])
        .args(args)
        .env_remove("GITHUB_TOKEN")
        .env_remove("MPR_GITHUB_TOKEN")
        // Everything any crate logs, so that a leaked token would show.
        .env("RUST_LOG", "trace");
    if let Some(token) = token {
        command.env("GITHUB_TOKEN", token);
    }
    command.output().expect("run mpr")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_command_publishes_prints_urls_and_json_and_keeps_the_token_out_of_its_output() {
    let fake = FakeGitHub::start(TOKEN).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let files = release_files(dir.path());
    let notes = dir.path().join("NOTES.md");
    fs::write(&notes, "# Prover 3.0.0\n\nSigned statement attached.\n").expect("write");
    let repo = format!("{OWNER}/{REPO}");
    let mut args = vec!["--repo", &repo, "--tag", "v3.0.0"];
    args.extend(["--notes-file", notes.to_str().expect("utf-8")]);
    for file in &files {
        args.extend(["--asset", file.to_str().expect("utf-8")]);
    }

    let run = {
        let (fake, args) = (
            fake.clone(),
            args.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
        );
        move |extra: &[&str], token: Option<&str>| {
            let mut all: Vec<&str> = args.iter().map(String::as_str).collect();
            all.extend(extra);
            mpr(&fake, &all, token)
        }
    };
    let run = std::sync::Arc::new(run);

    let text = tokio::task::spawn_blocking({
        let run = run.clone();
        move || run(&[], Some(TOKEN))
    })
    .await
    .expect("task");
    let stdout = String::from_utf8_lossy(&text.stdout);
    let stderr = String::from_utf8_lossy(&text.stderr);
    assert!(text.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains(&format!("{}/{OWNER}/{REPO}/releases/tag/v3.0.0", fake.base)),
        "{stdout}"
    );
    for file in &files {
        let name = file.file_name().and_then(|n| n.to_str()).expect("name");
        let url = format!(
            "{}/{OWNER}/{REPO}/releases/download/v3.0.0/{name}",
            fake.base
        );
        assert!(stdout.contains(&url), "{url} not printed:\n{stdout}");
    }
    assert_eq!(
        fake.releases()[0].body.as_deref(),
        Some("# Prover 3.0.0\n\nSigned statement attached.\n")
    );

    let json = tokio::task::spawn_blocking({
        let run = run.clone();
        move || run(&["--json"], Some(TOKEN))
    })
    .await
    .expect("task");
    assert!(
        json.status.success(),
        "{}",
        String::from_utf8_lossy(&json.stderr)
    );
    let summary: Value = serde_json::from_slice(&json.stdout).expect("JSON summary");
    assert_eq!(summary["created"], false);
    assert_eq!(summary["tag"], "v3.0.0");
    assert_eq!(summary["repository"], repo);
    let assets = summary["assets"].as_array().expect("assets");
    assert_eq!(assets.len(), 3);
    assert!(assets.iter().all(|a| a["replaced"] == true));
    assert_eq!(assets[2]["size"], 300_000);
    assert_eq!(fake.assets().len(), 3);

    let missing = tokio::task::spawn_blocking({
        let run = run.clone();
        move || run(&[], None)
    })
    .await
    .expect("task");
    assert!(!missing.status.success());
    let message = String::from_utf8_lossy(&missing.stderr);
    assert!(message.contains("GITHUB_TOKEN"), "{message}");

    let bad = tokio::task::spawn_blocking({
        let run = run.clone();
        move || run(&[], Some("ghp_revokedTOKEN"))
    })
    .await
    .expect("task");
    assert!(!bad.status.success());
    let message = String::from_utf8_lossy(&bad.stderr);
    assert!(message.contains("refused the token"), "{message}");

    for output in [&text, &json, &missing, &bad] {
        for stream in [&output.stdout, &output.stderr] {
            let stream = String::from_utf8_lossy(stream);
            assert!(!stream.contains(TOKEN), "the token leaked:\n{stream}");
            assert!(
                !stream.contains("ghp_revokedTOKEN"),
                "the token leaked:\n{stream}"
            );
        }
    }
}
