//! Proving latency and throughput through the server (HTTP, job queue, 2 workers) against calling the
//! proving code directly, in the same run, on the official zswap output circuit (k = 14) with the
//! official parameters. Prints a Markdown table for BENCHMARKS.md.
//!
//! `cargo bench -p prover --bench proving` (env MPR_BENCH_PROOFS: proofs per measurement, default 4)

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
        .unwrap_or(4);
    let dir = tempfile::tempdir().expect("temp dir");
    let params_dir = dir.path().join("params");
    common::test_params_dir(&params_dir, true);
    let body = common::read("requests/prove-zswap-output-builtin.req");

    // Direct: the same decode + prove the server's workers run, without HTTP or the queue.
    let prover = Prover::new(Arc::new(
        PublicParams::new(&ParamsConfig {
            dir: Some(params_dir.clone()),
            fetch: false,
        })
        .expect("params"),
    ));
    prover.prove(&body).expect("warm-up proof"); // loads and caches the prover key
    let direct_latency = mean(proofs, || {
        prover.prove(&body).expect("proof");
    });
    let direct_throughput = throughput(proofs, 2, || {
        prover.prove(&body).expect("proof");
    });

    // Server: 2 workers, plain HTTP on loopback.
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
    post(); // warm-up
    let server_latency = mean(proofs, post);
    let server_throughput = throughput(proofs, 2, post);
    let _ = stop.send(());
    let _ = runtime.block_on(serving);

    println!("| k = 14 (zswap output), {proofs} proofs each | direct (Prover::prove) | server (HTTP, queue, 2 workers) | server / direct |");
    println!("|---|---|---|---|");
    println!(
        "| latency, one client (s/proof) | {:.3} | {:.3} | {:.3} |",
        direct_latency.as_secs_f64(),
        server_latency.as_secs_f64(),
        server_latency.as_secs_f64() / direct_latency.as_secs_f64()
    );
    println!(
        "| throughput, 2 concurrent clients (proofs/min) | {:.2} | {:.2} | {:.3} |",
        direct_throughput,
        server_throughput,
        server_throughput / direct_throughput
    );
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
fn throughput(total: usize, clients: usize, call: impl Fn() + Sync) -> f64 {
    let started = Instant::now();
    std::thread::scope(|scope| {
        for client in 0..clients {
            let call = &call;
            scope.spawn(move || {
                for _ in (client..total).step_by(clients) {
                    call();
                }
            });
        }
    });
    total as f64 * 60.0 / started.elapsed().as_secs_f64()
}
