//! `mpr serve` as a process: on its embedded PostgreSQL from start to SIGTERM and back (the data
//! and the publisher token persist), and SIGKILLed while publishers write large releases (no
//! release is ever half-stored).

mod registry_support;

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use registry_api::embedded_postgres::{EmbeddedPostgres, EmbeddedPostgresConfig};
use registry_api::signing::SecretKey;
use registry_support::{
    processes_in, release_with, rows_of, signed, tail, traversable_tempdir, Rows, Server,
};
use serde_json::Value;

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

    let key = server.register_release_key().await;
    let release = release_with("1.0.0", 1, 2, 3);
    let response = client
        .post(server.url("/v1/releases"))
        .bearer_auth(token)
        .json(&signed(&release, &key))
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
        .json(&signed(&next, &key))
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

/// Who publishes: the publisher token and the release key that signs.
#[derive(Clone)]
struct Publisher {
    token: String,
    key: Arc<SecretKey>,
}

/// Posts large releases back to back until the server dies or `stop` is set.
async fn publish_until_killed(
    client: reqwest::Client,
    url: String,
    publisher: Publisher,
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
            .bearer_auth(&publisher.token)
            .json(&signed(&body, &publisher.key))
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
    let mut key: Option<Arc<SecretKey>> = None;
    for round in 0..ROUNDS {
        let mut server = Server::on_database(
            &database_url,
            &token_file,
            &dir.path().join(format!("serve-{round}.log")),
        );
        server.wait_ready(Duration::from_secs(30)).await;
        // Registered once: the key outlives every server on this database.
        let key = match &key {
            Some(key) => Arc::clone(key),
            None => key
                .insert(Arc::new(server.register_release_key().await))
                .clone(),
        };
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
                    Publisher {
                        token: token.clone(),
                        key: key.clone(),
                    },
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
                  coalesce((SELECT m.sha256 FROM statements m WHERE m.release_id = r.id AND m.kind = 'release'), ''),
                  (SELECT count(*) FROM statements m WHERE m.release_id = r.id AND m.kind = 'release'),
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
                (SELECT count(*) FROM measurements), (SELECT count(*) FROM measurement_values), (SELECT count(*) FROM statements)",
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
