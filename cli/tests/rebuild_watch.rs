//! `mpr rebuild watch`: a watcher started before anything is released picks the release up when it
//! appears, is killed in the middle of its rebuild, starts again, finishes and reports once; a
//! third start rebuilds nothing. `/metrics` shows what it is doing.

mod build_support;
mod github_support;
mod registry_support;
mod release_support;
mod signing_support;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use build_support::check;
use release_support::{Rebuilder, ReleaseBed, VERSION};
use serde_json::Value;

/// A build script slow enough that the watcher can be killed while it compiles.
const SLOW_BUILD_RS: &str =
    "fn main() {\n    std::thread::sleep(std::time::Duration::from_secs(15));\n}\n";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn watcher(bed: &ReleaseBed, rebuilder: &Rebuilder, state: &Path, port: u16, log: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_mpr"));
    command
        .args([
            "rebuild",
            "watch",
            "--no-load",
            "--interval",
            "1",
            "--attempts",
            "100",
        ])
        .args(["--registry", &bed.registry.url("")])
        .arg("--policy")
        .arg(bed.policy())
        .arg("--state-dir")
        .arg(state)
        // The fixture's clone, which also holds the files its recipe pins.
        .arg("--source")
        .arg(bed.path("hello"))
        .arg("--files")
        .arg(bed.path("hello"))
        .args(["--metrics-listen", &format!("127.0.0.1:{port}")])
        .arg("--token-file")
        .arg(&rebuilder.token_file)
        .arg("--key")
        .arg(&rebuilder.key)
        .arg("--passphrase-file")
        .arg(&rebuilder.passphrase)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(bed.path(log)).unwrap());
    command
}

async fn metrics(port: u16) -> Option<String> {
    let response = reqwest::get(format!("http://127.0.0.1:{port}/metrics"))
        .await
        .ok()?;
    response.text().await.ok()
}

/// Waits until `/metrics` satisfies `done`, or fails showing the watcher's log.
async fn wait_for_metrics(
    bed: &ReleaseBed,
    port: u16,
    log: &str,
    limit: Duration,
    done: impl Fn(&str) -> bool,
) -> String {
    let start = Instant::now();
    loop {
        if let Some(text) = metrics(port).await.filter(|text| done(text)) {
            return text;
        }
        assert!(
            start.elapsed() < limit,
            "the watcher did not get there in {limit:?}; metrics:\n{}\nlog:\n{}",
            metrics(port).await.unwrap_or_default(),
            registry_support::tail(&bed.path(log))
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

fn kill(child: &mut Child) {
    child.kill().unwrap();
    child.wait().unwrap();
}

async fn get(bed: &ReleaseBed, path: &str) -> Value {
    reqwest::get(bed.registry.url(path))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_watcher_picks_up_a_new_release_survives_a_kill_and_reports_once() {
    let bed = ReleaseBed::start_with(&[("build.rs", SLOW_BUILD_RS)]).await;
    let rebuilder = bed
        .rebuilder(&bed.path("rebuilder"), "rebuilder-watch", true)
        .await;
    let state = bed.path("watch");
    let port = free_port();

    // Nothing released yet: the watcher is up and sees no release.
    let mut first = watcher(&bed, &rebuilder, &state, port, "watch-1.log")
        .spawn()
        .unwrap();
    wait_for_metrics(&bed, port, "watch-1.log", Duration::from_secs(60), |m| {
        m.contains("mpr_rebuild_watch_releases_seen 0")
            && !m.contains("mpr_rebuild_watch_last_poll_timestamp_seconds 0\n")
    })
    .await;

    // The release appears; the watcher starts rebuilding it and is killed mid-build.
    // `mpr release` runs beside the watcher: the watcher starts once the statement is logged,
    // while the release may still be finishing its last stages.
    let release = {
        let command = bed.release_command(&bed.registry.url(""), &bed.path("release"), &[], &[]);
        std::thread::spawn(move || {
            let mut command = command;
            command.output().unwrap()
        })
    };
    wait_for_metrics(&bed, port, "watch-1.log", Duration::from_secs(300), |m| {
        m.contains(&format!(
            "mpr_rebuild_watch_rebuilding{{version=\"{VERSION}\"}} 1"
        ))
    })
    .await;
    // The release's evidence is checked and saved first; then the build starts (in a staging
    // directory that becomes `build` only when complete).
    let evidence = state.join("releases").join(VERSION).join("official");
    let start = Instant::now();
    while !evidence.exists() && start.elapsed() < Duration::from_secs(300) {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Into the 15 s build script, well before the rebuild can finish.
    tokio::time::sleep(Duration::from_secs(6)).await;
    kill(&mut first);
    check(release.join().unwrap(), "mpr release");
    let detail = get(&bed, &format!("/v1/releases/{VERSION}")).await;
    assert_eq!(
        detail["rebuilds"]["rebuilders"],
        0,
        "killed before reporting; log:\n{}",
        registry_support::tail(&bed.path("watch-1.log"))
    );

    // Started again, it finishes the release and reports it once.
    let mut second = watcher(&bed, &rebuilder, &state, port, "watch-2.log")
        .spawn()
        .unwrap();
    let done = wait_for_metrics(&bed, port, "watch-2.log", Duration::from_secs(900), |m| {
        m.contains("mpr_rebuild_watch_reports{verdict=\"GOOD\"} 1")
    })
    .await;
    // A second watcher on the same state directory is refused while this one runs.
    let twin = watcher(&bed, &rebuilder, &state, free_port(), "watch-twin.log")
        .arg("--once")
        .output()
        .unwrap();
    assert_eq!(twin.status.code(), Some(2));
    assert!(registry_support::tail(&bed.path("watch-twin.log"))
        .contains("another mpr rebuild watch uses"));
    assert!(done.contains("mpr_rebuild_watch_releases_seen 1"), "{done}");
    kill(&mut second);
    let saved: Value =
        serde_json::from_slice(&std::fs::read(state.join("watch-state.json")).unwrap()).unwrap();
    assert_eq!(saved["releases"][VERSION]["status"], "GOOD", "{saved}");
    let detail = get(&bed, &format!("/v1/releases/{VERSION}")).await;
    assert_eq!(
        detail["rebuilds"],
        serde_json::json!({"agreeing": 1, "rebuilders": 1})
    );

    // A third start has nothing to do: no rebuild, no second report.
    let third = watcher(&bed, &rebuilder, &state, free_port(), "watch-3.log")
        .arg("--once")
        .output()
        .unwrap();
    assert!(
        third.status.success(),
        "{}",
        registry_support::tail(&bed.path("watch-3.log"))
    );
    let builds = get(&bed, &format!("/v1/releases/{VERSION}/builds")).await;
    let reports = builds
        .as_array()
        .unwrap()
        .iter()
        .filter(|build| build["kind"] == "rebuilder")
        .count();
    assert_eq!(reports, 1, "{builds}");
    assert!(!registry_support::tail(&bed.path("watch-3.log")).contains("rebuilding"));
}
