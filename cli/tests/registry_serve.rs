//! `mpr serve` as a process: on its embedded PostgreSQL from start to SIGTERM and back (the data
//! and the publisher token persist), and SIGKILLed while publishers write large releases (no
//! release is ever half-stored).

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use registry_api::embedded_postgres::{EmbeddedPostgres, EmbeddedPostgresConfig};
use serde_json::{json, Value};

/// A private directory the `postgres` user can traverse (tempdirs are 0700, owned by root).
fn traversable_tempdir() -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("mpr-serve-")
        .tempdir_in("/tmp")
        .expect("temp dir in /tmp");
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).expect("chmod temp dir");
    dir
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("address").port()
}

/// PIDs of processes working in `data_dir`: postgres and all its children chdir there.
fn processes_in(data_dir: &Path) -> Vec<i32> {
    let Ok(data_dir) = fs::canonicalize(data_dir) else {
        return Vec::new();
    };
    fs::read_dir("/proc")
        .expect("/proc")
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| fs::read_link(format!("/proc/{pid}/cwd")).is_ok_and(|cwd| cwd == data_dir))
        .collect()
}

fn tail(path: &Path) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

/// A running `mpr serve`, SIGKILLed and reaped if the test ends without stopping it.
struct Server {
    child: Option<Child>,
    base: String,
    log: PathBuf,
}

impl Server {
    /// `mpr serve` on its embedded PostgreSQL in `data_dir`. DATABASE_URL (set for sqlx's checks
    /// when building) must not reach it.
    fn embedded(data_dir: &Path, token_file: &Path, log: &Path) -> Server {
        Self::spawn(
            &["--data-dir".as_ref(), data_dir.as_os_str()],
            token_file,
            log,
        )
    }

    fn on_database(database_url: &str, token_file: &Path, log: &Path) -> Server {
        Self::spawn(
            &["--database-url".as_ref(), database_url.as_ref()],
            token_file,
            log,
        )
    }

    fn spawn(database: &[&std::ffi::OsStr], token_file: &Path, log: &Path) -> Server {
        let listen = format!("127.0.0.1:{}", free_port());
        let output = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_mpr"))
            .arg("serve")
            .args(["--listen", &listen])
            .args(database)
            .arg("--token-file")
            .arg(token_file)
            .env_remove("DATABASE_URL")
            .env_remove("MPR_DATA_DIR")
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(output.try_clone().expect("log file"))
            .stderr(output)
            .spawn()
            .expect("mpr serve starts");
        Server {
            child: Some(child),
            base: format!("http://{listen}"),
            log: log.to_owned(),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn child(&mut self) -> &mut Child {
        self.child.as_mut().expect("the server runs")
    }

    /// Polls /readyz until 200; fails with the server's log if it exits or takes too long.
    async fn wait_ready(&mut self, limit: Duration) -> Duration {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()
            .expect("client");
        let begun = Instant::now();
        loop {
            if let Some(status) = self.child().try_wait().expect("try_wait") {
                panic!(
                    "mpr serve exited with {status} before it was ready:\n{}",
                    tail(&self.log)
                );
            }
            if let Ok(response) = client.get(self.url("/readyz")).send().await {
                if response.status() == 200 {
                    return begun.elapsed();
                }
            }
            assert!(
                begun.elapsed() < limit,
                "mpr serve not ready within {limit:?}:\n{}",
                tail(&self.log)
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGTERM, then waits for the exit (SIGKILL after `limit`, failing the test).
    fn terminate(&mut self, limit: Duration) -> (ExitStatus, Duration) {
        let mut child = self.child.take().expect("the server runs");
        let pid = i32::try_from(child.id()).expect("pid");
        // SAFETY: kill(2) with a PID we spawned and have not reaped, so it is still ours.
        assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0, "SIGTERM");
        let begun = Instant::now();
        loop {
            if let Some(status) = child.try_wait().expect("try_wait") {
                return (status, begun.elapsed());
            }
            if begun.elapsed() > limit {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "mpr serve still running {limit:?} after SIGTERM:\n{}",
                    tail(&self.log)
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL, as a crash or the OOM killer would.
    fn kill(&mut self) {
        let mut child = self.child.take().expect("the server runs");
        child.kill().expect("SIGKILL");
        child.wait().expect("reap");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn hex32(seed: u64) -> String {
    format!("{seed:016x}").repeat(4)
}

fn hex48(seed: u64) -> String {
    format!("{seed:016x}").repeat(6)
}

fn snp(vcpus: u64, seed: u64) -> Value {
    json!({"platform": "sev-snp",
           "parameters": {"vcpus": vcpus, "vmm": "qemu", "vcpu_type": "EPYC-Milan-v2", "firmware_sha256": hex32(seed), "guest_features": "0x1"},
           "registers": {"MEASUREMENT": hex48(seed + vcpus)}})
}

fn release_with(version: &str, seed: u64, sets: u64, per_set: u64) -> Value {
    let measurement_sets: Vec<Value> = (0..sets)
        .map(|set| {
            let base = seed * 100_000 + set * 100;
            let mut measurements = vec![json!({"platform": "aws-nitro",
                "registers": {"PCR0": hex48(base), "PCR1": hex48(base + 1), "PCR2": hex48(base + 2)}})];
            measurements.extend((1..per_set).map(|vcpus| snp(vcpus, base + 10)));
            json!({"name": format!("set-{set}"), "measurements": measurements})
        })
        .collect();
    json!({
        "version": version,
        "package": "prover",
        "source": {"repository": "https://github.com/mpr-dev/mpr", "commit": format!("{seed:040x}")},
        "recipe": {"sha256": hex32(seed)},
        "source_date_epoch": 1_700_000_000 + seed as i64,
        "build": {
            "builder": "official",
            "record_sha256": hex32(seed + 1),
            "artifacts": [
                {"name": "proof-server", "size": 22522312, "sha256": hex32(seed + 2), "sha384": hex48(seed + 2)},
                {"name": "image.tar", "size": 31000000, "sha256": hex32(seed + 3)},
                {"name": "prover.eif", "size": 61000000, "sha256": hex32(seed + 4)}
            ]
        },
        "measurement_sets": measurement_sets
    })
}

/// The rows a release is stored as, counted from its JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Rows {
    artifacts: i64,
    sets: i64,
    measurements: i64,
    values: i64,
}

fn rows_of(release: &Value) -> Rows {
    let sets = release["measurement_sets"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let measurements: Vec<Value> = sets
        .iter()
        .flat_map(|set| set["measurements"].as_array().cloned().unwrap_or_default())
        .collect();
    Rows {
        artifacts: release["build"]["artifacts"].as_array().map_or(0, Vec::len) as i64,
        sets: sets.len() as i64,
        measurements: measurements.len() as i64,
        values: measurements
            .iter()
            .map(|m| m["registers"].as_object().map_or(0, |r| r.len() as i64))
            .sum(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mpr_serve_runs_on_its_embedded_postgresql_stops_on_sigterm_and_keeps_its_data() {
    let dir = traversable_tempdir();
    let data_dir = dir.path().join("pg");
    let token_file = dir.path().join("token");
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client");

    let mut server = Server::embedded(&data_dir, &token_file, &dir.path().join("serve-1.log"));
    let first_ready = server.wait_ready(Duration::from_secs(90)).await;
    let mode = fs::metadata(&token_file)
        .expect("the token file was written")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "token file mode {mode:o}");
    let token_text = fs::read_to_string(&token_file).expect("token");
    let token = token_text.trim();
    assert!(token.starts_with("mpr_"), "{token:?}");

    let release = release_with("1.0.0", 1, 2, 3);
    let response = client
        .post(server.url("/v1/releases"))
        .bearer_auth(token)
        .json(&release)
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status(), 201, "{:?}", response.text().await);
    let created: Value = response.json().await.expect("JSON");
    let response = client
        .get(server.url("/v1/releases/1.0.0"))
        .send()
        .await
        .expect("GET");
    assert_eq!(response.status(), 200);
    let detail: Value = response.json().await.expect("JSON");
    assert_eq!(detail["commit"], release["source"]["commit"]);
    assert_eq!(detail["manifest"]["sha256"], created["manifest_sha256"]);
    assert_eq!(detail["measurement_sets"].as_array().map(Vec::len), Some(2));

    // The client's keep-alive connection stays open: a graceful shutdown must not wait for it.
    let (status, first_stop) = server.terminate(Duration::from_secs(30));
    assert!(
        status.success(),
        "mpr serve exited with {status} after SIGTERM:\n{}",
        tail(&server.log)
    );
    assert!(
        first_stop < Duration::from_secs(10),
        "stopping took {first_stop:?}"
    );
    let left = processes_in(&data_dir);
    assert!(
        left.is_empty(),
        "PostgreSQL processes left in the data dir: {left:?}"
    );

    // Started again on the same directory: same cluster, same data, same token.
    let mut server = Server::embedded(&data_dir, &token_file, &dir.path().join("serve-2.log"));
    let second_ready = server.wait_ready(Duration::from_secs(60)).await;
    assert_eq!(
        fs::read_to_string(&token_file).expect("token"),
        token_text,
        "the token file was rewritten"
    );
    assert!(
        !fs::read_to_string(&server.log)
            .unwrap_or_default()
            .contains("written to"),
        "a second token was made"
    );
    let response = client
        .get(server.url("/v1/releases/1.0.0"))
        .send()
        .await
        .expect("GET");
    assert_eq!(
        response.status(),
        200,
        "the release did not survive the restart"
    );
    let again: Value = response.json().await.expect("JSON");
    assert_eq!(again["manifest"]["sha256"], created["manifest_sha256"]);
    assert_eq!(again["measurement_sets"], detail["measurement_sets"]);
    let next = release_with("1.0.1", 2, 1, 2);
    let response = client
        .post(server.url("/v1/releases"))
        .bearer_auth(token)
        .json(&next)
        .send()
        .await
        .expect("POST");
    assert_eq!(
        response.status(),
        201,
        "the first token still publishes: {:?}",
        response.text().await
    );

    let (status, second_stop) = server.terminate(Duration::from_secs(30));
    assert!(
        status.success(),
        "mpr serve exited with {status} after SIGTERM:\n{}",
        tail(&server.log)
    );
    let left = processes_in(&data_dir);
    assert!(
        left.is_empty(),
        "PostgreSQL processes left in the data dir: {left:?}"
    );
    eprintln!(
        "embedded: first start ready in {first_ready:?} (initdb), stopped in {first_stop:?}; \
         second start ready in {second_ready:?}, stopped in {second_stop:?}"
    );
}

/// What a publisher learned of one POST.
#[derive(Debug)]
enum Outcome {
    /// An HTTP answer; the manifest digest with a 201.
    Answered {
        version: String,
        status: u16,
        manifest_sha256: Option<String>,
    },
    /// Sent, and the connection died before the whole answer came: in flight when killed.
    CutOff { version: String },
    /// The server was already gone.
    Refused,
}

struct Round {
    killed_after: Duration,
    outcomes: Vec<Outcome>,
}

/// Posts large releases back to back until the server dies or `stop` is set.
async fn publish_until_killed(
    client: reqwest::Client,
    url: String,
    token: String,
    name: String,
    stop: Arc<AtomicBool>,
    seeds: Arc<AtomicU64>,
    expected: Arc<Mutex<HashMap<String, Rows>>>,
) -> Vec<Outcome> {
    let mut outcomes = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        let seed = seeds.fetch_add(1, Ordering::Relaxed);
        let version = format!("{name}.{seed}");
        let body = release_with(&version, seed, 40, 8);
        expected
            .lock()
            .expect("expected")
            .insert(version.clone(), rows_of(&body));
        let outcome = match client
            .post(&url)
            .bearer_auth(&token)
            .json(&body)
            .send()
            .await
        {
            Ok(response) => {
                let status = response.status().as_u16();
                match response.json::<Value>().await {
                    Ok(answer) => Outcome::Answered {
                        version,
                        status,
                        manifest_sha256: answer["manifest_sha256"].as_str().map(str::to_owned),
                    },
                    Err(_) => Outcome::CutOff { version },
                }
            }
            Err(error) if error.is_connect() => Outcome::Refused,
            Err(_) => Outcome::CutOff { version },
        };
        let over = !matches!(outcome, Outcome::Answered { .. });
        outcomes.push(outcome);
        if over {
            break;
        }
    }
    outcomes
}

/// A release as stored: version, manifest digest, then the counts of its manifests, official builds,
/// builds, artifacts, measurement sets, measurements and values.
type StoredRelease = (String, String, i64, i64, i64, i64, i64, i64, i64);

/// A small xorshift generator: the kill moments vary between runs, and the seed is printed.
fn next_random(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killing_mpr_serve_mid_write_leaves_no_partial_release() {
    const ROUNDS: usize = 5;
    const PUBLISHERS: usize = 6;
    let dir = traversable_tempdir();
    let data_dir = dir.path().join("pg");
    let token_file = dir.path().join("token");
    // PostgreSQL is the test's own, so that it outlives every `mpr serve` killed on it.
    let postgres = tokio::task::spawn_blocking(move || {
        EmbeddedPostgres::start(EmbeddedPostgresConfig::new(data_dir))
    })
    .await
    .expect("start task")
    .expect("the embedded PostgreSQL starts");
    let database_url = postgres.database_url().to_owned();

    let mut random = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("time")
        .as_nanos() as u64
        | 1;
    eprintln!("kill moments from seed {random}");
    let seeds = Arc::new(AtomicU64::new(1));
    let expected = Arc::new(Mutex::new(HashMap::new()));
    let mut rounds = Vec::new();
    for round in 0..ROUNDS {
        let mut server = Server::on_database(
            &database_url,
            &token_file,
            &dir.path().join(format!("serve-{round}.log")),
        );
        server.wait_ready(Duration::from_secs(30)).await;
        let token = fs::read_to_string(&token_file)
            .expect("token")
            .trim()
            .to_owned();
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .expect("client");
        let stop = Arc::new(AtomicBool::new(false));
        let publishers: Vec<_> = (0..PUBLISHERS)
            .map(|publisher| {
                tokio::spawn(publish_until_killed(
                    client.clone(),
                    server.url("/v1/releases"),
                    token.clone(),
                    format!("{round}.{publisher}"),
                    stop.clone(),
                    seeds.clone(),
                    expected.clone(),
                ))
            })
            .collect();
        let killed_after = Duration::from_millis(200 + next_random(&mut random) % 1300);
        tokio::time::sleep(killed_after).await;
        stop.store(true, Ordering::Relaxed);
        server.kill();
        let mut outcomes = Vec::new();
        for publisher in publishers {
            let finished = tokio::time::timeout(Duration::from_secs(30), publisher).await;
            outcomes.extend(
                finished
                    .expect("a publisher hung after the kill")
                    .expect("publisher task"),
            );
        }
        rounds.push(Round {
            killed_after,
            outcomes,
        });
    }

    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .connect(&database_url)
        .await
        .expect("connect");
    // Every release that exists is whole.
    let stored: Vec<StoredRelease> = sqlx::query_as(
        r#"SELECT r.version,
                  coalesce((SELECT m.sha256 FROM manifests m WHERE m.release_id = r.id), ''),
                  (SELECT count(*) FROM manifests m WHERE m.release_id = r.id),
                  (SELECT count(*) FROM builds b WHERE b.release_id = r.id AND b.builder_kind = 'official'),
                  (SELECT count(*) FROM builds b WHERE b.release_id = r.id),
                  (SELECT count(*) FROM artifacts a JOIN builds b ON b.id = a.build_id WHERE b.release_id = r.id),
                  (SELECT count(*) FROM measurement_sets s WHERE s.release_id = r.id),
                  (SELECT count(*) FROM measurements x JOIN measurement_sets s ON s.id = x.set_id WHERE s.release_id = r.id),
                  (SELECT count(*) FROM measurement_values v JOIN measurements x ON x.id = v.measurement_id
                     JOIN measurement_sets s ON s.id = x.set_id WHERE s.release_id = r.id)
           FROM releases r"#,
    )
    .fetch_all(&pool)
    .await
    .expect("releases");
    let expected = expected.lock().expect("expected").clone();
    let mut stored_manifests = BTreeMap::new();
    for (version, sha256, manifests, official, builds, artifacts, sets, measurements, values) in
        &stored
    {
        let want = expected
            .get(version)
            .unwrap_or_else(|| panic!("release {version} was never posted"));
        assert_eq!(
            (*manifests, *official, *builds),
            (1, 1, 1),
            "release {version}: manifests, official builds, builds"
        );
        let got = Rows {
            artifacts: *artifacts,
            sets: *sets,
            measurements: *measurements,
            values: *values,
        };
        assert_eq!(&got, want, "release {version} is incomplete");
        stored_manifests.insert(version.clone(), sha256.clone());
    }
    // No rows of a rolled-back release anywhere: each release has its own source and recipe.
    let totals: (i64, i64, i64, i64, i64, i64, i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM releases), (SELECT count(*) FROM sources), (SELECT count(*) FROM recipes),
                (SELECT count(*) FROM builds), (SELECT count(*) FROM artifacts), (SELECT count(*) FROM measurement_sets),
                (SELECT count(*) FROM measurements), (SELECT count(*) FROM measurement_values), (SELECT count(*) FROM manifests)",
    )
    .fetch_one(&pool)
    .await
    .expect("totals");
    let sum = |field: fn(&Rows) -> i64| {
        stored
            .iter()
            .map(|row| field(&expected[&row.0]))
            .sum::<i64>()
    };
    let releases = stored.len() as i64;
    assert_eq!(
        totals,
        (
            releases,
            releases,
            releases,
            releases,
            sum(|r| r.artifacts),
            sum(|r| r.sets),
            sum(|r| r.measurements),
            sum(|r| r.values),
            releases
        ),
        "rows outside complete releases (releases, sources, recipes, builds, artifacts, sets, measurements, values, manifests)"
    );

    let mut cut_total = 0;
    let mut report = Vec::new();
    for (
        round,
        Round {
            killed_after,
            outcomes,
        },
    ) in rounds.iter().enumerate()
    {
        let mut created = 0;
        let mut cut = 0;
        let mut cut_but_committed = 0;
        let mut refused = 0;
        for outcome in outcomes {
            match outcome {
                Outcome::Answered {
                    version,
                    status,
                    manifest_sha256,
                } => {
                    assert_eq!(*status, 201, "round {round}: {version} answered {status}");
                    created += 1;
                    assert_eq!(
                        stored_manifests.get(version),
                        manifest_sha256.as_ref(),
                        "round {round}: {version} was answered 201 but is not stored as answered"
                    );
                }
                Outcome::CutOff { version } => {
                    cut += 1;
                    cut_but_committed += usize::from(stored_manifests.contains_key(version));
                }
                Outcome::Refused => refused += 1,
            }
        }
        cut_total += cut;
        report.push(format!(
            "round {round}: killed after {killed_after:?}: {created} recorded (201), {cut} in flight \
             ({cut_but_committed} of them committed before the kill), {refused} refused after it"
        ));
    }
    eprintln!(
        "{}\n{} releases stored, all complete",
        report.join("\n"),
        stored.len()
    );
    assert!(
        cut_total > 0,
        "no POST was in flight at any kill: the test tested nothing\n{}",
        report.join("\n")
    );
    pool.close().await;

    // A server started afterwards serves a complete release.
    let mut server = Server::on_database(
        &database_url,
        &token_file,
        &dir.path().join("serve-last.log"),
    );
    server.wait_ready(Duration::from_secs(30)).await;
    if let Some(version) = stored_manifests.keys().next() {
        let response = reqwest::get(server.url(&format!("/v1/releases/{version}")))
            .await
            .expect("GET");
        assert_eq!(response.status(), 200);
        let detail: Value = response.json().await.expect("JSON");
        let sets = detail["measurement_sets"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert_eq!(sets.len(), 40);
        assert!(sets
            .iter()
            .all(|set| set["measurements"].as_array().map(Vec::len) == Some(8)));
    }
    let (status, _) = server.terminate(Duration::from_secs(30));
    assert!(
        status.success(),
        "mpr serve exited with {status} after SIGTERM:\n{}",
        tail(&server.log)
    );
    tokio::task::spawn_blocking(move || postgres.stop().expect("PostgreSQL stops"))
        .await
        .expect("stop task");
}
