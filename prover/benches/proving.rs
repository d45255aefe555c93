//! Proving latency and throughput through the server (HTTP, job queue, 2 workers) against calling the
//! proving code directly, in the same run, on the official zswap output circuit (k = 14) with the
//! official parameters, and on a test circuit at k = 10 and k = 14; and what sealing the same requests
//! to the server's OHTTP key (RFC 9458, as `mpr prove --attested` does) adds. Plain and encrypted
//! requests are interleaved (alternating which goes first) so drift on a shared VM hits both alike, and
//! the encryption work alone (client seal, gateway open, gateway seal of the real answer, client open)
//! is timed in the same run. Prints Markdown tables for BENCHMARKS.md.
//!
//! `cargo bench -p prover --bench proving` (env MPR_BENCH_PROOFS: proofs per measurement, default 6)

#[path = "../tests/common/mod.rs"]
mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use prover::attestation::DevicePaths;
use prover::config::Config;
use prover::listen::ListenAddr;
use prover::proving::{ParamsConfig, Prover, PublicParams};
use prover::startup::BoundServer;

fn main() {
    let proofs: usize = std::env::var("MPR_BENCH_PROOFS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(6);
    let dir = tempfile::tempdir().expect("temp dir");
    let params_dir = dir.path().join("params");
    common::test_params_dir(&params_dir, true);
    let mut circuits = Vec::new();
    for squarings in [1000, 16000] {
        let (body, k) = common::square_chain_prove_request(&params_dir, squarings);
        circuits.push((
            format!("test circuit, {squarings} squarings (k = {k}), own keys"),
            body,
        ));
    }
    circuits.push((
        "zswap output (k = 14), built-in key".to_string(),
        common::read("requests/prove-zswap-output-builtin.req"),
    ));

    let prover = Prover::new(Arc::new(
        PublicParams::new(&ParamsConfig {
            dir: Some(params_dir.clone()),
            fetch: false,
        })
        .expect("params"),
    ));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let config = Config::try_parse_from([
        "proof-server",
        "--listen",
        "tcp:127.0.0.1:0",
        "--no-fetch-params",
        "--num-workers",
        "2",
        "--params-dir",
        params_dir.to_str().unwrap(),
    ])
    .unwrap();
    let no_tee = DevicePaths {
        nsm: dir.path().join("nsm"),
        tsm_reports: dir.path().join("tsm"),
        tpm: dir.path().join("tpmrm0"),
        ..DevicePaths::default()
    };
    let server = runtime
        .block_on(BoundServer::bind(&config, &no_tee))
        .expect("server");
    let ListenAddr::Tcp(addr) = server.local_addrs()[0] else {
        panic!("tcp expected")
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = runtime.spawn(server.serve(async {
        let _ = stopped.await;
    }));
    let url = format!("http://{addr}/prove");
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(600))
        .build()
        .unwrap();

    println!("{proofs} proofs per cell, after one warm-up proof each way; 2 server workers");
    println!();
    let keys_url = format!("http://{addr}/ohttp-keys");
    let gateway = format!("http://{addr}/ohttp");
    let key_config_list = runtime.block_on(async {
        client
            .get(&keys_url)
            .send()
            .await
            .expect("keys")
            .bytes()
            .await
            .expect("keys body")
    });
    println!(
        "| circuit | measure | direct (Prover::prove) | server (HTTP, queue) | server / direct | server, OHTTP-encrypted | encrypted / plain server |"
    );
    println!("|---|---|---|---|---|---|---|");
    let mut encryption_work = Vec::new();
    for (name, body) in &circuits {
        let direct = || {
            prover.prove(body).expect("proof");
        };
        let post = || {
            runtime.block_on(async {
                let response = client
                    .post(&url)
                    .body(body.clone())
                    .send()
                    .await
                    .expect("request");
                assert_eq!(response.status(), 200);
                response.bytes().await.expect("body");
            })
        };
        // The same request sealed to the server's key (RFC 9458), as `mpr prove --attested` sends it.
        let sealed = || {
            let client_request = ohttp::ClientRequest::from_encoded_config_list(&key_config_list)
                .expect("key config");
            let mut inner = bhttp::Message::request(
                b"POST".to_vec(),
                b"https".to_vec(),
                Vec::new(),
                b"/prove".to_vec(),
            );
            inner.write_content(body);
            let mut encoded = Vec::new();
            inner
                .write_bhttp(bhttp::Mode::KnownLength, &mut encoded)
                .expect("bhttp");
            let (request, opener) = client_request.encapsulate(&encoded).expect("seal");
            runtime.block_on(async {
                let response = client
                    .post(&gateway)
                    .header("content-type", "message/ohttp-req")
                    .body(request)
                    .send()
                    .await
                    .expect("request");
                assert_eq!(response.status(), 200);
                let answer = opener
                    .decapsulate(&response.bytes().await.expect("body"))
                    .expect("open");
                let message = bhttp::Message::read_bhttp(&mut std::io::Cursor::new(&answer[..]))
                    .expect("inner answer");
                assert_eq!(message.control().status().map(|s| s.code()), Some(200));
            })
        };
        direct();
        post();
        sealed();
        let direct_latency = mean(proofs, direct).as_secs_f64();
        let (server_latency, sealed_latency) = interleaved_means(proofs, post, sealed);
        let direct_throughput = throughput(proofs, 2, &direct);
        let (server_throughput, sealed_throughput) =
            interleaved_throughputs(THROUGHPUT_ROUNDS, proofs, post, sealed);
        println!(
            "| {name} | latency, 1 client (s/proof) | {direct_latency:.3} | {server_latency:.3} | {:.3} | {sealed_latency:.3} | {:.3} |",
            server_latency / direct_latency,
            sealed_latency / server_latency
        );
        println!(
            "| {name} | throughput, 2 clients (proofs/min, median of {THROUGHPUT_ROUNDS}) | {direct_throughput:.2} | {server_throughput:.2} | {:.3} | {sealed_throughput:.2} | {:.3} |",
            server_throughput / direct_throughput,
            sealed_throughput / server_throughput
        );
        let answer_bytes = runtime.block_on(async {
            client
                .post(&url)
                .body(body.clone())
                .send()
                .await
                .expect("request")
                .bytes()
                .await
                .expect("body")
                .len()
        });
        encryption_work.push((name.clone(), body.len(), answer_bytes, server_latency));
    }
    println!();
    println!(
        "Encryption work per request, timed alone in this run ({ENCRYPTION_ROUNDS} rounds): client seal, gateway open, gateway seal of an answer of the real size, client open"
    );
    println!();
    println!("| circuit | request bytes | answer bytes | encryption work (ms) | share of the plain server latency |");
    println!("|---|---|---|---|---|");
    for (name, request_bytes, answer_bytes, server_latency) in encryption_work {
        let work = encryption_round_trip(request_bytes, answer_bytes).as_secs_f64();
        println!(
            "| {name} | {request_bytes} | {answer_bytes} | {:.3} | {:.3}% |",
            work * 1e3,
            100.0 * work / server_latency
        );
    }
    let _ = stop.send(());
    let _ = runtime.block_on(serving);
}

const THROUGHPUT_ROUNDS: usize = 3;
const ENCRYPTION_ROUNDS: u32 = 200;

/// Mean wall times of `runs` calls of `a` and of `b`, interleaved a b, b a, a b, ...
fn interleaved_means(runs: usize, mut a: impl FnMut(), mut b: impl FnMut()) -> (f64, f64) {
    let (mut total_a, mut total_b) = (Duration::ZERO, Duration::ZERO);
    for round in 0..runs {
        let mut time_a = || {
            let started = Instant::now();
            a();
            total_a += started.elapsed();
        };
        if round % 2 == 0 {
            time_a();
            let started = Instant::now();
            b();
            total_b += started.elapsed();
        } else {
            let started = Instant::now();
            b();
            total_b += started.elapsed();
            time_a();
        }
    }
    (
        total_a.as_secs_f64() / runs as f64,
        total_b.as_secs_f64() / runs as f64,
    )
}

/// Median throughputs of `a` and `b` over `rounds` alternating rounds.
fn interleaved_throughputs(
    rounds: usize,
    total: usize,
    a: impl Fn() + Sync,
    b: impl Fn() + Sync,
) -> (f64, f64) {
    let (mut of_a, mut of_b) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        if round % 2 == 0 {
            of_a.push(throughput(total, 2, &a));
            of_b.push(throughput(total, 2, &b));
        } else {
            of_b.push(throughput(total, 2, &b));
            of_a.push(throughput(total, 2, &a));
        }
    }
    (median(of_a), median(of_b))
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// Mean time of the four cryptographic steps encryption adds to one request, with the server's own
/// gateway code for its two.
fn encryption_round_trip(request_bytes: usize, answer_bytes: usize) -> Duration {
    let keys = prover::ohttp::OhttpKeys::generate().expect("keys");
    let config_list = keys.key_config_list().to_vec();
    let request = vec![0x5a; request_bytes];
    let answer = vec![0xa5; answer_bytes];
    let started = Instant::now();
    for _ in 0..ENCRYPTION_ROUNDS {
        let client = ohttp::ClientRequest::from_encoded_config_list(&config_list).expect("config");
        let (sealed, opener) = client.encapsulate(&request).expect("seal");
        let (opened, encryptor) = keys.decapsulate(&sealed).expect("open");
        assert_eq!(opened.len(), request_bytes);
        let sealed_answer = encryptor.encapsulate(&answer).expect("seal answer");
        let opened_answer = opener.decapsulate(&sealed_answer).expect("open answer");
        assert_eq!(opened_answer.len(), answer_bytes);
    }
    started.elapsed() / ENCRYPTION_ROUNDS
}

/// Mean wall time of `runs` sequential calls.
fn mean(runs: usize, mut call: impl FnMut()) -> Duration {
    let started = Instant::now();
    for _ in 0..runs {
        call();
    }
    started.elapsed() / runs as u32
}

/// Proofs per minute with `clients` threads sharing `total` calls.
fn throughput(total: usize, clients: usize, call: &(impl Fn() + Sync)) -> f64 {
    let started = Instant::now();
    std::thread::scope(|scope| {
        for client in 0..clients {
            scope.spawn(move || {
                for _ in (client..total).step_by(clients) {
                    call();
                }
            });
        }
    });
    total as f64 * 60.0 / started.elapsed().as_secs_f64()
}
