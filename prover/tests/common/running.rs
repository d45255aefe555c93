//! A proof server on a real TCP socket for the HTTP tests, and a client for it.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use prover::app::{router, AppState};
use prover::attestation::{Attester, DevicePaths, Launcher};
use prover::config::Config;
use prover::jobs::JobQueue;
use prover::listen::{ListenAddr, Listener};
use prover::metrics::Metrics;
use prover::proving::{ParamsConfig, Prover, PublicParams};
use prover::startup::BoundServer;
use tokio::sync::oneshot;

pub struct Running {
    pub port: u16,
    pub client: reqwest::Client,
    pub scheme: &'static str,
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
    pub spki: Option<Vec<u8>>,
}

impl Running {
    pub fn url(&self, path: &str) -> String {
        let host = if self.scheme == "https" {
            "localhost"
        } else {
            "127.0.0.1"
        };
        format!("{}://{host}:{}{path}", self.scheme, self.port)
    }

    pub async fn get_text(&self, path: &str) -> String {
        let response = self.client.get(self.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
        response.text().await.unwrap()
    }

    pub async fn get_json(&self, path: &str) -> serde_json::Value {
        let response = self.client.get(self.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
        response.json().await.unwrap()
    }

    pub async fn stop(self) {
        let _ = self.stop.send(());
        tokio::time::timeout(Duration::from_secs(10), self.task)
            .await
            .expect("server stops within 10 s")
            .unwrap();
    }
}

/// A binary field of the envelope, base64.
pub fn base64_field(envelope: &serde_json::Value, field: &str) -> Vec<u8> {
    use base64::Engine as _;
    let text = envelope[field]
        .as_str()
        .unwrap_or_else(|| panic!("{field} missing from {envelope}"));
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .unwrap()
}

/// The binding a wallet computes for the envelope: its nonce `nonce_hex`, the TLS key it saw
/// (`spki`, None without TLS) and the key config it encrypts to; checked against `binding`.
pub fn expected_binding(
    envelope: &serde_json::Value,
    nonce_hex: &str,
    spki: Option<&[u8]>,
) -> [u8; 64] {
    let key_config = hex::decode(envelope["ohttp_key_config"].as_str().unwrap()).unwrap();
    let nonce = prover::attestation::Nonce::from_hex(nonce_hex).unwrap();
    let expected =
        prover::attestation::binding(&nonce, spki.unwrap_or_default(), &key_config).unwrap();
    assert_eq!(envelope["binding"], hex::encode(expected));
    expected
}

/// Devices that do not exist, so tests behave the same inside and outside a TEE.
pub fn no_tee(dir: &Path) -> DevicePaths {
    DevicePaths {
        nsm: dir.join("nsm"),
        tsm_reports: dir.join("tsm/report"),
        tpm: dir.join("tpmrm0"),
        launcher: no_launcher(dir),
        ..DevicePaths::default()
    }
}

/// A Confidential Space launcher socket path in `dir` that nothing serves.
pub fn no_launcher(dir: &Path) -> Launcher {
    Launcher {
        socket: dir.join("teeserver.sock"),
        ..Launcher::default()
    }
}

/// A configfs-tsm report directory in `dir` whose entries `create_entry` makes (a fake device).
pub fn fake_tee(dir: &Path, create_entry: prover::attestation::CreateReportEntry) -> DevicePaths {
    let tsm_reports = dir.join("tsm/report");
    std::fs::create_dir_all(&tsm_reports).unwrap();
    DevicePaths {
        nsm: dir.join("nsm"),
        tsm_reports,
        tsm_create_entry: create_entry,
        tpm: dir.join("tpmrm0"),
        launcher: no_launcher(dir),
        ..DevicePaths::default()
    }
}

/// The server as `proof-server --listen tcp:127.0.0.1:0 --no-fetch-params EXTRA…` starts it.
pub async fn start(extra: &[&str], devices: DevicePaths) -> Running {
    start_with(extra, |_| devices).await
}

/// The server whose devices `devices` makes from the flags' own (`Config::devices`), for tests of
/// the attestation flags.
pub async fn start_with(
    extra: &[&str],
    devices: impl FnOnce(DevicePaths) -> DevicePaths,
) -> Running {
    let mut args = vec![
        "proof-server",
        "--listen",
        "tcp:127.0.0.1:0",
        "--no-fetch-params",
    ];
    args.extend_from_slice(extra);
    let config = Config::try_parse_from(args).unwrap();
    let devices = devices(config.devices());
    let server = BoundServer::bind(&config, &devices).await.unwrap();
    let port = match server.local_addrs()[0] {
        ListenAddr::Tcp(addr) => addr.port(),
        other => panic!("unexpected listener {other}"),
    };
    let identity = server.tls_identity();
    let mut client = reqwest::Client::builder().timeout(Duration::from_secs(10));
    if let Some(identity) = &identity {
        let root = reqwest::Certificate::from_der(identity.certificate_der()).unwrap();
        client = client.add_root_certificate(root).use_rustls_tls();
    }
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(server.serve(async {
        let _ = stopped.await;
    }));
    Running {
        port,
        client: client.build().unwrap(),
        scheme: if identity.is_some() { "https" } else { "http" },
        stop,
        task,
        spki: identity.map(|i| i.spki_der().to_vec()),
    }
}

/// The server with fetching on (so `/fetch-params/{k}` is routed) over `params_dir`, without the
/// start-up downloads, which need Midnight's parameter server: the same router and serving loop as
/// `BoundServer`, on plain HTTP.
pub async fn start_fetching(params_dir: &Path, devices: DevicePaths) -> Running {
    let params = PublicParams::new(&ParamsConfig {
        dir: Some(params_dir.to_owned()),
        fetch: true,
    })
    .unwrap();
    let state = Arc::new(AppState {
        jobs: JobQueue::new(2, 0, Duration::from_secs(60)),
        metrics: Metrics::default(),
        prover: Prover::new(Arc::new(params)),
        tls: None,
        attester: Attester::detect(&devices),
        ohttp: Arc::new(prover::ohttp::OhttpKeys::generate().unwrap()),
        require_encryption: false,
        staple: None,
        snp_crls: Default::default(),
    });
    let listener = Listener::bind(ListenAddr::Tcp(([127, 0, 0, 1], 0).into()))
        .await
        .unwrap();
    let port = match listener.local_addr().unwrap() {
        ListenAddr::Tcp(addr) => addr.port(),
        other => panic!("unexpected listener {other}"),
    };
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(prover::server::serve(
        vec![listener],
        None,
        router(state),
        async {
            let _ = stopped.await;
        },
        Duration::from_secs(5),
    ));
    Running {
        port,
        client: reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap(),
        scheme: "http",
        stop,
        task,
        spki: None,
    }
}
