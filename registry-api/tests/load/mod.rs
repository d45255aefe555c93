//! Load on a registry and what it answered: clients that keep sending every kind of request, each
//! answer recorded with when it was sent and how long it took, and ways to summarise the answers.

mod served;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{release, TestRegistry};

pub use served::{serve, start_postgres, wait_following};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Measurements,
    List,
    Ready,
    Health,
    Publish,
}

#[derive(Debug, Clone)]
pub struct Answer {
    pub kind: Kind,
    /// When the request was sent, since the start of the test.
    pub sent: Duration,
    pub latency: Duration,
    /// 0 when no HTTP answer came (connection refused, reset, timeout).
    pub status: u16,
    pub code: Option<String>,
    pub retry_after: bool,
    pub detail: String,
}

impl Answer {
    pub fn answered(&self) -> Duration {
        self.sent + self.latency
    }

    pub fn succeeded(&self) -> bool {
        match self.kind {
            Kind::Publish => self.status == 201,
            _ => self.status == 200,
        }
    }
}

async fn send(
    registry: &TestRegistry,
    kind: Kind,
    version: &str,
    seed: u64,
    t0: Instant,
) -> Answer {
    let client = &registry.client;
    // Signed before the clock starts: the client's signing is not the registry's latency.
    let signed = match kind {
        Kind::Publish => Some(
            registry_api::testing::sign_release(
                &release(version, seed),
                registry.release_key().await,
            )
            .expect("a sample release"),
        ),
        _ => None,
    };
    let request = match kind {
        Kind::Measurements => client.get(registry.url("/v1/releases/1.0.0/measurements")),
        Kind::List => client.get(registry.url("/v1/releases")),
        Kind::Ready => client.get(registry.url("/readyz")),
        Kind::Health => client.get(registry.url("/healthz")),
        Kind::Publish => client
            .post(registry.url("/v1/releases"))
            .bearer_auth(&registry.token)
            .json(&signed),
    };
    let sent = t0.elapsed();
    let begun = Instant::now();
    let (status, code, retry_after, detail) = match request.send().await {
        Ok(response) => {
            let status = response.status().as_u16();
            let retry_after = response
                .headers()
                .contains_key(reqwest::header::RETRY_AFTER);
            match response.bytes().await {
                Ok(body) => {
                    let json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                    let code = json
                        .pointer("/error/code")
                        .and_then(Value::as_str)
                        .map(str::to_owned);
                    let excerpt =
                        String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
                    (status, code, retry_after, excerpt)
                }
                Err(error) => (
                    0,
                    None,
                    retry_after,
                    format!("reading the body after {status}: {error}"),
                ),
            }
        }
        Err(error) => (0, None, false, format!("{error:?}")),
    };
    Answer {
        kind,
        sent,
        latency: begun.elapsed(),
        status,
        code,
        retry_after,
        detail,
    }
}

/// What each of the load's clients does, over and over: every kind of request keeps being sent
/// throughout the outage, however long each takes.
pub const CLIENTS: [Kind; 8] = [
    Kind::Measurements,
    Kind::Measurements,
    Kind::List,
    Kind::List,
    Kind::Ready,
    Kind::Health,
    Kind::Publish,
    Kind::Publish,
];

/// One client, until told to stop.
pub async fn client_loop(
    registry: Arc<TestRegistry>,
    worker: u64,
    t0: Instant,
    stop: Arc<AtomicBool>,
    answers: Arc<Mutex<Vec<Answer>>>,
) {
    let kind = CLIENTS[worker as usize];
    let mut i = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let version = format!("2.{worker}.{i}");
        let answer = send(
            &registry,
            kind,
            &version,
            1_000 + worker * 100_000 + i * 100,
            t0,
        )
        .await;
        answers.lock().expect("answers").push(answer);
        i += 1;
        // Without a pause, 503s answered at once during the outage would spin the two cores.
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// The first ten of `answers`, one a line, for an assertion's message.
pub fn describe(answers: &[&Answer]) -> String {
    answers
        .iter()
        .take(10)
        .map(|a| {
            format!(
                "{:?} at {:?} after {:?}: {} {:?} {}",
                a.kind, a.sent, a.latency, a.status, a.code, a.detail
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// How many answers of each kind came with each status.
pub fn tally(answers: &[&Answer]) -> BTreeMap<(String, u16), usize> {
    let mut counts = BTreeMap::new();
    for answer in answers {
        *counts
            .entry((format!("{:?}", answer.kind), answer.status))
            .or_insert(0) += 1;
    }
    counts
}
