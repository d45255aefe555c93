//! Reliability against a real PostgreSQL: the registry under load while its database is stopped or
//! killed and started again (it must answer 503 quickly meanwhile and recover by itself), and
//! releases recorded in one transaction or not at all.

mod load;
mod support;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use load::{
    client_loop, describe, serve, start_postgres, tally, wait_following, Answer, Kind, CLIENTS,
};
use registry_api::db::ACQUIRE_TIMEOUT;
use serde_json::Value;
use sqlx::PgPool;
use support::{release, TestRegistry};

/// The outage tests measure latencies: they run one at a time, whatever the test harness does.
static ONE_OUTAGE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// How long PostgreSQL stays away, and how long the load runs before and after.
const WARM_UP: Duration = Duration::from_secs(1);
const DOWN_FOR: Duration = Duration::from_secs(3);
const AFTER_RESTART: Duration = Duration::from_secs(3);
/// A request waits at most ACQUIRE_TIMEOUT for a connection; this is for everything else on two
/// busy cores.
const LATENCY_MARGIN: Duration = Duration::from_millis(1500);
/// Beyond this, whenever it happens, a request hung.
const HUNG: Duration = Duration::from_secs(10);
/// How soon after PostgreSQL accepts connections again the registry must be ready.
const RECOVERY_LIMIT: Duration = Duration::from_secs(5);
/// Answers that started this soon after the database went down may still come from the response
/// cache (its listener learns of the outage asynchronously) or from a connection being torn down.
const SETTLE: Duration = Duration::from_millis(500);

#[derive(Debug, Clone, Copy)]
enum Outage {
    /// A fast shutdown (SIGINT): clients are disconnected, a checkpoint is written.
    Stop,
    /// SIGKILL of the postmaster: the next start runs crash recovery.
    Kill,
}

fn versions(list: &Value) -> Vec<String> {
    list["releases"]
        .as_array()
        .map(|releases| {
            releases
                .iter()
                .filter_map(|r| r["version"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

async fn outage(kind: Outage) {
    let _serial = ONE_OUTAGE_AT_A_TIME.lock().await;
    let dir = support::traversable_tempdir();
    let data_dir = dir.path().join("pg");
    let postgres = start_postgres(data_dir.clone()).await;
    let database_url = support::fresh_database(postgres.database_url()).await;
    // A: the server under load. B: an idle server on the same database, whose cache must stay
    // coherent with A's writes after the outage (only notifications tell it).
    let a = serve(&database_url, "publisher-a").await;
    let b = serve(&database_url, "publisher-b").await;
    let registry = a.registry.clone();

    let (status, created) = registry.publish(&release("1.0.0", 1)).await;
    assert_eq!(status, 201, "{created}");
    let (status, baseline) = registry.get("/v1/releases/1.0.0/measurements").await;
    assert_eq!(status, 200, "{baseline}");
    assert!(
        wait_following(&a.registry, Duration::from_secs(5))
            .await
            .is_some(),
        "A follows changes before the outage"
    );
    assert!(
        wait_following(&b.registry, Duration::from_secs(5))
            .await
            .is_some(),
        "B follows changes before the outage"
    );

    let t0 = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let answers = Arc::new(Mutex::new(Vec::new()));
    let clients: Vec<_> = (0..CLIENTS.len() as u64)
        .map(|worker| {
            tokio::spawn(client_loop(
                registry.clone(),
                worker,
                t0,
                stop.clone(),
                answers.clone(),
            ))
        })
        .collect();

    tokio::time::sleep(WARM_UP).await;
    let down_begun = t0.elapsed();
    tokio::task::spawn_blocking(move || match kind {
        Outage::Stop => postgres.stop().expect("PostgreSQL stops"),
        Outage::Kill => postgres.kill(),
    })
    .await
    .expect("stop task");
    let down = t0.elapsed();
    tokio::time::sleep(DOWN_FOR).await;
    let up_begun = t0.elapsed();
    let postgres = start_postgres(data_dir.clone()).await;
    let up = t0.elapsed();
    assert_eq!(
        support::with_database(postgres.database_url(), "x"),
        support::with_database(&database_url, "x"),
        "the restarted cluster is reached at the same address"
    );
    // The registry is not told anything: it must find the database again by itself.
    let mut ready_at = None;
    while t0.elapsed() < up + RECOVERY_LIMIT {
        if registry.get("/readyz").await.0 == 200 {
            ready_at = Some(t0.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let ready_at = ready_at.unwrap_or_else(|| {
        panic!("/readyz not 200 within {RECOVERY_LIMIT:?} of PostgreSQL's restart")
    });
    let following_again = wait_following(&a.registry, Duration::from_secs(10)).await;
    tokio::time::sleep(AFTER_RESTART).await;
    stop.store(true, Ordering::Relaxed);
    for client in clients {
        tokio::time::timeout(Duration::from_secs(30), client)
            .await
            .expect("a client hung")
            .expect("client task");
    }
    let answers = answers.lock().expect("answers").clone();
    let all: Vec<&Answer> = answers.iter().collect();

    // The server never died and never dropped a connection.
    assert!(!a.task.is_finished(), "the server task ended");
    assert!(!b.task.is_finished(), "the idle server task ended");
    let unanswered: Vec<&Answer> = all.iter().copied().filter(|a| a.status == 0).collect();
    assert!(
        unanswered.is_empty(),
        "requests without an HTTP answer:\n{}",
        describe(&unanswered)
    );
    // Every failure is a 503 that says to retry, never a 500.
    let bad: Vec<&Answer> = all
        .iter()
        .copied()
        .filter(|a| !a.succeeded())
        .filter(|a| {
            a.status != 503 || a.code.as_deref() != Some("database_unavailable") || !a.retry_after
        })
        .collect();
    assert!(
        bad.is_empty(),
        "answers other than success or 503 database_unavailable with Retry-After:\n{}",
        describe(&bad)
    );
    // Nothing sent during the outage waited much longer than a connection's acquire timeout
    // (afterwards, a busy disk may slow a commit: only a hang is an error then).
    let limit = ACQUIRE_TIMEOUT + LATENCY_MARGIN;
    let slow: Vec<&Answer> = all
        .iter()
        .copied()
        .filter(|a| a.latency > limit && a.sent >= down_begun && a.sent < up)
        .collect();
    assert!(
        slow.is_empty(),
        "answers slower than {limit:?} during the outage:\n{}",
        describe(&slow)
    );
    let hung: Vec<&Answer> = all.iter().copied().filter(|a| a.latency > HUNG).collect();
    assert!(
        hung.is_empty(),
        "answers slower than {HUNG:?}:\n{}",
        describe(&hung)
    );

    let before: Vec<&Answer> = all
        .iter()
        .copied()
        .filter(|a| a.answered() < down_begun)
        .collect();
    let failed_before: Vec<&Answer> = before.iter().copied().filter(|a| !a.succeeded()).collect();
    assert!(
        failed_before.is_empty(),
        "failures before the outage:\n{}",
        describe(&failed_before)
    );
    assert!(
        before.iter().any(|a| a.kind == Kind::Publish),
        "publishes before the outage"
    );

    // While the database was away: 503 for everything that needs it, 200 for liveness. A request
    // waits up to ACQUIRE_TIMEOUT for a connection, so one sent late in the outage may instead be
    // answered with success once PostgreSQL is back; never before the restart began.
    let away: Vec<&Answer> = all
        .iter()
        .copied()
        .filter(|a| a.sent >= down + SETTLE && a.sent < up_begun)
        .collect();
    let wrong_away: Vec<&Answer> = away
        .iter()
        .copied()
        .filter(|a| match a.kind {
            Kind::Health => a.status != 200,
            _ => a.status != 503 && !(a.succeeded() && a.answered() > up_begun),
        })
        .collect();
    assert!(
        wrong_away.is_empty(),
        "answers while PostgreSQL was down:\n{}",
        describe(&wrong_away)
    );
    let during: Vec<&Answer> = all
        .iter()
        .copied()
        .filter(|a| a.sent >= down_begun && a.answered() <= up_begun)
        .collect();
    for kind in [Kind::Measurements, Kind::List, Kind::Ready, Kind::Publish] {
        assert!(
            during.iter().any(|a| a.kind == kind && a.status == 503),
            "no {kind:?} answered 503 while PostgreSQL was down"
        );
    }
    assert!(
        during
            .iter()
            .any(|a| a.kind == Kind::Health && a.status == 200),
        "no /healthz answered while PostgreSQL was down"
    );

    // Recovered by itself: everything sent a second after /readyz said so succeeds.
    let after: Vec<&Answer> = all
        .iter()
        .copied()
        .filter(|a| a.sent >= ready_at + Duration::from_secs(1))
        .collect();
    let failed_after: Vec<&Answer> = after.iter().copied().filter(|a| !a.succeeded()).collect();
    assert!(
        failed_after.is_empty(),
        "failures after recovery:\n{}",
        describe(&failed_after)
    );
    for kind in [Kind::Measurements, Kind::List, Kind::Ready, Kind::Publish] {
        assert!(
            after.iter().any(|a| a.kind == kind && a.succeeded()),
            "no successful {kind:?} after recovery"
        );
    }
    let first_success = |kind: Kind| {
        all.iter()
            .filter(|a| a.kind == kind && a.sent >= up && a.succeeded())
            .map(|a| a.answered().saturating_sub(up))
            .min()
    };
    let (status, measurements) = registry.get("/v1/releases/1.0.0/measurements").await;
    assert_eq!(status, 200);
    assert_eq!(measurements, baseline, "the same data after the restart");

    // The cache is coherent again: a write is visible to the next read on this server, and on
    // the other server once its listener, reconnected, hears of it.
    let following_b = wait_following(&b.registry, Duration::from_secs(10)).await;
    assert!(
        following_b.is_some(),
        "B's cache follows changes again after the restart"
    );
    let (status, list_b) = b.registry.get("/v1/releases").await;
    assert_eq!(status, 200);
    assert!(!versions(&list_b).contains(&"9.0.0".to_owned()));
    let (status, created) = registry.publish(&release("9.0.0", 900)).await;
    assert_eq!(status, 201, "{created}");
    let (status, list_a) = registry.get("/v1/releases").await;
    assert_eq!(status, 200);
    assert!(
        versions(&list_a).contains(&"9.0.0".to_owned()),
        "A's next read sees A's write"
    );
    let (status, _) = registry.get("/v1/releases/9.0.0/measurements").await;
    assert_eq!(status, 200);
    let written = Instant::now();
    let mut seen_by_b = None;
    while written.elapsed() < Duration::from_secs(5) {
        let (status, list) = b.registry.get("/v1/releases").await;
        if status == 200 && versions(&list).contains(&"9.0.0".to_owned()) {
            seen_by_b = Some(written.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        seen_by_b.is_some(),
        "B never saw A's write: its cache stayed stale after the outage"
    );

    // For the report: every request sent from the moment PostgreSQL began to go away until it
    // accepted connections again.
    let outage: Vec<&Answer> = all
        .iter()
        .copied()
        .filter(|a| a.sent >= down_begun && a.sent < up)
        .collect();
    let unavailable = outage.iter().filter(|a| a.status == 503).count();
    let max_outage = outage.iter().map(|a| a.latency).max().unwrap_or_default();
    let waited_for_restart = outage
        .iter()
        .filter(|a| a.kind != Kind::Health && a.succeeded() && a.sent >= down + SETTLE)
        .count();
    let publishes_after = after.iter().filter(|a| a.kind == Kind::Publish).count();
    eprintln!(
        "{kind:?}: {} answers; PostgreSQL going down {:?}..{:?}, restarting {:?}..{:?}\n  \
         sent during the outage: {} answers, {unavailable} of them 503 database_unavailable with Retry-After, \
         max latency {max_outage:?}, {waited_for_restart} waited for the restart and succeeded; {:?}\n  \
         overall max latency {:?}; /readyz 200 {:?} after PostgreSQL was back; first 200 measurements {:?}, \
         first 201 publish {:?}; cache following changes again {following_again:?} after /readyz\n  \
         after recovery: {} answers, all successful ({publishes_after} publishes); server B saw A's write after {seen_by_b:?}",
        all.len(),
        down_begun,
        down,
        up_begun,
        up,
        outage.len(),
        tally(&outage),
        all.iter().map(|a| a.latency).max().unwrap_or_default(),
        ready_at - up,
        first_success(Kind::Measurements),
        first_success(Kind::Publish),
        after.len(),
    );

    drop(b);
    drop(a);
    tokio::task::spawn_blocking(move || postgres.stop().expect("stop"))
        .await
        .expect("stop task");
    drop(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_registry_rides_out_a_postgresql_restart_under_load() {
    outage(Outage::Stop).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_registry_rides_out_a_postgresql_crash_under_load() {
    outage(Outage::Kill).await;
}

const TABLES: [&str; 9] = [
    "sources",
    "recipes",
    "releases",
    "builds",
    "artifacts",
    "measurement_sets",
    "measurements",
    "measurement_values",
    "statements",
];

async fn counts(pool: &PgPool) -> BTreeMap<&'static str, i64> {
    let mut counts = BTreeMap::new();
    for table in TABLES {
        let query = format!("SELECT count(*) FROM {table}");
        let count: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(query))
            .fetch_one(pool)
            .await
            .expect("count");
        counts.insert(table, count);
    }
    counts
}

/// The rows one release adds, from its JSON (its source and recipe being new).
fn rows_of(release: &Value) -> BTreeMap<&'static str, i64> {
    let rows = registry_api::testing::release_rows(release);
    BTreeMap::from([
        ("sources", 1),
        ("recipes", 1),
        ("releases", 1),
        ("builds", 1),
        ("artifacts", rows.artifacts),
        ("measurement_sets", rows.sets),
        ("measurements", rows.measurements),
        ("measurement_values", rows.values),
        ("statements", 1),
    ])
}

fn plus(
    a: &BTreeMap<&'static str, i64>,
    b: &BTreeMap<&'static str, i64>,
) -> BTreeMap<&'static str, i64> {
    a.iter()
        .map(|(table, count)| (*table, count + b.get(table).copied().unwrap_or(0)))
        .collect()
}

#[tokio::test]
async fn a_release_refused_as_a_duplicate_leaves_no_row_behind() {
    let registry = TestRegistry::start().await;
    let original = release("3.0.0", 1);
    let (status, created) = registry.publish(&original).await;
    assert_eq!(status, 201, "{created}");
    let before = counts(&registry.pool).await;
    assert_eq!(before, rows_of(&original));

    // Same version, another source, recipe, build and measurements: the source and recipe rows are
    // written before the version clashes, and must be rolled back with the rest.
    let clash = release("3.0.0", 500);
    let (status, refused) = registry.publish(&clash).await;
    assert_eq!(status, 409, "{refused}");
    assert_eq!(refused["error"]["code"], "conflict");
    assert_eq!(
        counts(&registry.pool).await,
        before,
        "a refused release left rows behind"
    );
    let stray: i64 = sqlx::query_scalar("SELECT count(*) FROM sources WHERE commit_sha = $1")
        .bind(clash["source"]["commit"].as_str().unwrap_or_default())
        .fetch_one(&registry.pool)
        .await
        .expect("count");
    assert_eq!(stray, 0, "the refused release's source was kept");
    let (status, detail) = registry.get("/v1/releases/3.0.0").await;
    assert_eq!(status, 200);
    assert_eq!(detail["commit"], original["source"]["commit"]);
    assert_eq!(detail["manifest"]["sha256"], created["manifest_sha256"]);

    // An invalid one changes nothing either, and a valid one afterwards adds exactly its rows.
    let mut invalid = release("3.0.1", 2);
    invalid["measurement_sets"][0]["measurements"][0]["registers"]["PCR0"] = Value::from("00");
    let (status, _) = registry.publish(&invalid).await;
    assert_eq!(status, 422);
    assert_eq!(counts(&registry.pool).await, before);
    let next = release("3.0.1", 2);
    let (status, _) = registry.publish(&next).await;
    assert_eq!(status, 201);
    assert_eq!(counts(&registry.pool).await, plus(&before, &rows_of(&next)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_publishes_of_one_version_record_it_exactly_once() {
    let registry = Arc::new(TestRegistry::start().await);
    let (status, _) = registry.publish(&release("4.0.0", 1)).await;
    assert_eq!(status, 201);
    for round in 0..5u64 {
        let version = format!("4.1.{round}");
        let before = counts(&registry.pool).await;
        let barrier = Arc::new(tokio::sync::Barrier::new(8));
        let publishers: Vec<_> = (0..8u64)
            .map(|task| {
                let registry = registry.clone();
                let barrier = barrier.clone();
                // Pairs share a source and recipe (the upserts wait on each other); pairs differ.
                let body = release(&version, 1_000 * (round + 1) + 100 * (task % 4));
                tokio::spawn(async move {
                    barrier.wait().await;
                    let (status, answer) = registry.publish(&body).await;
                    (body, status, answer)
                })
            })
            .collect();
        let mut outcomes = Vec::new();
        for publisher in publishers {
            outcomes.push(publisher.await.expect("publisher task"));
        }
        let created: Vec<_> = outcomes
            .iter()
            .filter(|(_, status, _)| *status == 201)
            .collect();
        assert_eq!(
            created.len(),
            1,
            "round {round}: {:?}",
            outcomes.iter().map(|o| o.1).collect::<Vec<_>>()
        );
        for (_, status, answer) in &outcomes {
            assert!(
                *status == 201 || (*status == 409 && answer["error"]["code"] == "conflict"),
                "{status} {answer}"
            );
        }
        let (winner, _, answer) = created[0];
        assert_eq!(
            counts(&registry.pool).await,
            plus(&before, &rows_of(winner)),
            "round {round}: not exactly one release's rows"
        );
        let (status, detail) = registry.get(&format!("/v1/releases/{version}")).await;
        assert_eq!(status, 200);
        assert_eq!(
            detail["commit"], winner["source"]["commit"],
            "the stored release is the one answered 201"
        );
        assert_eq!(detail["recipe_sha256"], winner["recipe"]["sha256"]);
        assert_eq!(detail["manifest"]["sha256"], answer["manifest_sha256"]);
    }
}
