//! `mpr rebuild watch`: a rebuilder service. It follows a registry's releases, rebuilds each one
//! once with the recipe the registry stores, and submits its signed report. Its state (which
//! releases are done, how) is one JSON file replaced atomically after every release, and each
//! release's rebuild has its own directory; a watcher killed at any point starts again where it
//! was: a finished build is reused, a report already submitted is not sent again. Progress is on
//! `/metrics` (Prometheus text).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use serde::{Deserialize, Serialize};

use super::{read_token, Origin, Rebuild, Submitter, VERDICT_FILE};
use crate::commands::build::BuildEnvArgs;
use crate::commands::http::{client, get_bytes};
use crate::commands::key::SignerArgs;

#[derive(Debug, Args)]
pub struct WatchArgs {
    /// The registry to follow and report to.
    #[arg(long)]
    registry: String,
    /// The trust policy every release must pass before it is rebuilt.
    #[arg(long)]
    policy: PathBuf,
    /// Where the watcher keeps its state (watch-state.json) and each release's rebuild.
    #[arg(long)]
    state_dir: PathBuf,
    /// Seconds between looks at the registry.
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    interval: u64,
    /// Where to serve /metrics (Prometheus text).
    #[arg(long, default_value = "127.0.0.1:9465")]
    metrics_listen: SocketAddr,
    /// Attempts at a release whose rebuild could not be done (registry away, a release not yet
    /// signed or logged, one failing the policy) before it is given up, one per --interval; a
    /// rebuild that completes is reported at once (GOOD, BAD or FAIL) and never repeated.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=1000))]
    attempts: u32,
    /// Where to fetch the source from: a clone or mirror (path or URL) of the releases' repository
    /// (default: the repository URL each recipe records).
    #[arg(long)]
    source: Option<String>,
    /// The directory holding the files the recipes pin by name (kernels, init, nsm.ko, busybox,
    /// firmware, local [[files]]); each is checked against its pinned SHA-256 when read. Files
    /// pinned by URL are fetched as in `mpr build`.
    #[arg(long)]
    files: PathBuf,
    /// Look once, rebuild what is new, and exit.
    #[arg(long)]
    once: bool,
    /// A file holding a rebuilder token (`mpr registry token create --role rebuilder`).
    #[arg(long)]
    token_file: PathBuf,
    #[command(flatten)]
    signer: SignerArgs,
    #[command(flatten)]
    build: BuildEnvArgs,
}

const STATE_FILE: &str = "watch-state.json";
/// Releases listed per page, and pages read per look (newest first).
const PAGE: usize = 100;
const MAX_PAGES: usize = 50;

/// What the watcher has done, by release version.
#[derive(Debug, Default, Serialize, Deserialize)]
struct State {
    registry: String,
    releases: BTreeMap<String, ReleaseState>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct ReleaseState {
    /// GOOD, BAD or FAIL once reported; GAVE-UP after the last failed attempt; PENDING before.
    status: String,
    attempts: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    report_sha256: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    last_error: Option<String>,
}

impl ReleaseState {
    fn finished(&self) -> bool {
        self.status != "PENDING"
    }
}

impl State {
    fn load(dir: &Path, registry: &str) -> anyhow::Result<State> {
        let path = dir.join(STATE_FILE);
        let state: State = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).with_context(|| {
                format!(
                    "{} is not a watcher's state; give another --state-dir",
                    path.display()
                )
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => State {
                registry: registry.to_owned(),
                releases: BTreeMap::new(),
            },
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        if state.registry != registry {
            anyhow::bail!(
                "{} follows {}, not {registry}: one state directory per registry",
                path.display(),
                state.registry
            );
        }
        Ok(state)
    }

    fn save(&self, dir: &Path) -> anyhow::Result<()> {
        let mut text = serde_json::to_string_pretty(self)?;
        text.push('\n');
        registry_api::signing::write_replacing(&dir.join(STATE_FILE), text.as_bytes(), 0o644)?;
        Ok(())
    }
}

/// What /metrics shows.
#[derive(Debug, Default)]
struct Metrics {
    releases_seen: usize,
    reported: BTreeMap<String, u64>,
    gave_up: u64,
    failed_attempts: u64,
    poll_errors: u64,
    last_poll_unix: u64,
    rebuilding: Option<String>,
}

impl Metrics {
    fn render(&self) -> String {
        let mut out = String::new();
        let mut gauge = |name: &str, help: &str, kind: &str, lines: Vec<String>| {
            out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} {kind}\n"));
            for line in lines {
                out.push_str(&line);
                out.push('\n');
            }
        };
        gauge(
            "mpr_rebuild_watch_releases_seen",
            "Releases the registry lists.",
            "gauge",
            vec![format!(
                "mpr_rebuild_watch_releases_seen {}",
                self.releases_seen
            )],
        );
        gauge(
            "mpr_rebuild_watch_reports",
            "Releases rebuilt and reported, by verdict (this watcher's state, across restarts).",
            "gauge",
            ["GOOD", "BAD", "FAIL"]
                .iter()
                .map(|status| {
                    format!(
                        "mpr_rebuild_watch_reports{{verdict=\"{status}\"}} {}",
                        self.reported.get(*status).copied().unwrap_or(0)
                    )
                })
                .collect(),
        );
        gauge(
            "mpr_rebuild_watch_gave_up",
            "Releases given up after every attempt failed.",
            "gauge",
            vec![format!("mpr_rebuild_watch_gave_up {}", self.gave_up)],
        );
        gauge(
            "mpr_rebuild_watch_failed_attempts_total",
            "Attempts that could not rebuild a release since this process started.",
            "counter",
            vec![format!(
                "mpr_rebuild_watch_failed_attempts_total {}",
                self.failed_attempts
            )],
        );
        gauge(
            "mpr_rebuild_watch_poll_errors_total",
            "Looks at the registry that failed since this process started.",
            "counter",
            vec![format!(
                "mpr_rebuild_watch_poll_errors_total {}",
                self.poll_errors
            )],
        );
        gauge(
            "mpr_rebuild_watch_last_poll_timestamp_seconds",
            "When the registry last answered the release list.",
            "gauge",
            vec![format!(
                "mpr_rebuild_watch_last_poll_timestamp_seconds {}",
                self.last_poll_unix
            )],
        );
        gauge(
            "mpr_rebuild_watch_rebuilding",
            "1 while a release is being rebuilt (labelled with its version).",
            "gauge",
            match &self.rebuilding {
                Some(version) => vec![format!(
                    "mpr_rebuild_watch_rebuilding{{version=\"{version}\"}} 1"
                )],
                None => vec!["mpr_rebuild_watch_rebuilding 0".to_owned()],
            },
        );
        out
    }

    fn count(&mut self, state: &State) {
        self.reported.clear();
        self.gave_up = 0;
        for release in state.releases.values() {
            match release.status.as_str() {
                "GAVE-UP" => self.gave_up += 1,
                "PENDING" => {}
                status => *self.reported.entry(status.to_owned()).or_default() += 1,
            }
        }
    }
}

pub fn main(args: &WatchArgs) -> anyhow::Result<()> {
    let registry = args.registry.trim_end_matches('/').to_owned();
    std::fs::create_dir_all(&args.state_dir)
        .with_context(|| format!("creating {}", args.state_dir.display()))?;
    // One watcher per state directory; the lock goes with the process, so a killed watcher
    // leaves nothing to clean up.
    let lock_path = args.state_dir.join("watch.lock");
    let lock_file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .with_context(|| format!("opening {}", lock_path.display()))?;
    if lock_file.try_lock().is_err() {
        anyhow::bail!(
            "another mpr rebuild watch uses {}; stop it or give another --state-dir",
            args.state_dir.display()
        );
    }
    let mut state = State::load(&args.state_dir, &registry)?;
    let submitter = Submitter {
        registry: registry.clone(),
        token: read_token(&args.token_file)?,
        signer: args.signer.signer("rebuild reports")?,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async {
        let metrics = Arc::new(Mutex::new(Metrics::default()));
        lock(&metrics).count(&state);
        let listener = tokio::net::TcpListener::bind(args.metrics_listen)
            .await
            .with_context(|| {
                format!(
                    "serving /metrics on {} (choose another --metrics-listen)",
                    args.metrics_listen
                )
            })?;
        eprintln!(
            "mpr rebuild watch: following {registry}; metrics on http://{}/metrics",
            listener.local_addr()?
        );
        let served = Arc::clone(&metrics);
        let app = axum::Router::new().route(
            "/metrics",
            axum::routing::get(move || {
                let metrics = Arc::clone(&served);
                async move { lock(&metrics).render() }
            }),
        );
        tokio::spawn(async move { axum::serve(listener, app).await });
        loop {
            match releases(&registry).await {
                Ok(versions) => {
                    {
                        let mut metrics = lock(&metrics);
                        metrics.releases_seen = versions.len();
                        metrics.last_poll_unix = unix_now();
                    }
                    for version in versions {
                        let entry =
                            state
                                .releases
                                .entry(version.clone())
                                .or_insert_with(|| ReleaseState {
                                    status: "PENDING".to_owned(),
                                    ..ReleaseState::default()
                                });
                        if entry.finished() {
                            continue;
                        }
                        lock(&metrics).rebuilding = Some(version.clone());
                        let outcome = rebuild_one(args, &submitter, &version).await;
                        let entry = state.releases.get_mut(&version).expect("inserted above");
                        entry.attempts += 1;
                        match outcome {
                            Ok((status, report)) => {
                                eprintln!("mpr rebuild watch: {version}: reported {status}");
                                entry.status = status;
                                entry.report_sha256 = Some(report);
                                entry.last_error = None;
                            }
                            Err(error) => {
                                let error = format!("{error:#}");
                                eprintln!(
                                    "mpr rebuild watch: {version}: attempt {} failed: {error}",
                                    entry.attempts
                                );
                                lock(&metrics).failed_attempts += 1;
                                if entry.attempts >= args.attempts {
                                    entry.status = "GAVE-UP".to_owned();
                                }
                                entry.last_error = Some(error);
                            }
                        }
                        state.save(&args.state_dir)?;
                        let mut metrics = lock(&metrics);
                        metrics.rebuilding = None;
                        metrics.count(&state);
                    }
                }
                Err(error) => {
                    lock(&metrics).poll_errors += 1;
                    eprintln!("mpr rebuild watch: could not list the releases: {error:#}");
                }
            }
            if args.once {
                return Ok(());
            }
            tokio::select! {
                () = tokio::time::sleep(Duration::from_secs(args.interval)) => {}
                _ = tokio::signal::ctrl_c() => return Ok(()),
            }
        }
    })
}

fn lock(metrics: &Mutex<Metrics>) -> std::sync::MutexGuard<'_, Metrics> {
    // A panic while holding the lock leaves plain counters behind: still worth showing.
    metrics
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[derive(Deserialize)]
struct Page {
    releases: Vec<Listed>,
    next_cursor: Option<String>,
}

#[derive(Deserialize)]
struct Listed {
    version: String,
}

/// Every release the registry lists, oldest first.
async fn releases(registry: &str) -> anyhow::Result<Vec<String>> {
    let http = client()?;
    let mut versions = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let mut url = format!("{registry}/v1/releases?limit={PAGE}");
        if let Some(cursor) = &cursor {
            url.push_str(&format!("&before={cursor}"));
        }
        let page: Page = serde_json::from_slice(&get_bytes(&http, &url, 16 << 20).await?)
            .with_context(|| format!("{url} did not answer a page of releases"))?;
        versions.extend(page.releases.into_iter().map(|release| release.version));
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    for version in &versions {
        // Versions become directory names.
        if !version
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
            || version.starts_with('.')
        {
            anyhow::bail!("the registry lists a release named {version:?}, which is not a version");
        }
    }
    versions.reverse();
    Ok(versions)
}

#[derive(Deserialize)]
struct Detail {
    recipe: Option<String>,
}

/// Rebuilds one release with the registry's recipe and reports it; a rebuild whose report was
/// already accepted (the watcher was stopped before it saved its state) is not done again.
async fn rebuild_one(
    args: &WatchArgs,
    submitter: &Submitter,
    version: &str,
) -> anyhow::Result<(String, String)> {
    let out = args.state_dir.join("releases").join(version);
    if let Some(done) = already_reported(&out) {
        eprintln!("mpr rebuild watch: {version}: already reported; not rebuilding");
        return Ok(done);
    }
    let url = format!("{}/v1/releases/{version}", submitter.registry);
    let detail: Detail = serde_json::from_slice(&get_bytes(&client()?, &url, 16 << 20).await?)
        .with_context(|| format!("{url} did not answer a release"))?;
    let recipe_text = detail.recipe.with_context(|| {
        format!("the registry stores no recipe text for {version}, so it cannot be rebuilt from the registry alone")
    })?;
    let files = std::path::absolute(&args.files)
        .with_context(|| format!("resolving --files {}", args.files.display()))?;
    let buildable =
        builder::recipe::Recipe::from_canonical(&recipe_text, args.source.as_deref(), &files)?;
    let recipes = args.state_dir.join("recipes");
    std::fs::create_dir_all(&recipes)?;
    let recipe = recipes.join(format!("{version}.toml"));
    registry_api::signing::write_replacing(&recipe, buildable.to_toml().as_bytes(), 0o644)?;
    std::fs::create_dir_all(out.parent().expect("releases/VERSION has a parent"))?;
    let verdict = super::verify(&Rebuild {
        origin: Origin::Registry {
            url: submitter.registry.clone(),
            version: version.to_owned(),
            record: None,
        },
        recipe,
        policy: args.policy.clone(),
        keyring: Vec::new(),
        out,
        build: &args.build,
        submitter: Some(submitter),
    })
    .await?;
    let submitted = verdict
        .submitted
        .context("the rebuild finished without a report")?;
    Ok((verdict.status.to_owned(), submitted.report_sha256))
}

/// The verdict and report digest a previous run left, if its report was accepted.
fn already_reported(out: &Path) -> Option<(String, String)> {
    let bytes = std::fs::read(out.join(VERDICT_FILE)).ok()?;
    let verdict: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    Some((
        verdict["status"].as_str()?.to_owned(),
        verdict["submitted"]["report_sha256"].as_str()?.to_owned(),
    ))
}
