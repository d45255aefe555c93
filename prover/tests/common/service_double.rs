//! Local HTTP servers speaking the protocols of the attestation services that cannot run here: the
//! Confidential Space launcher's token endpoint (on a Unix socket, as go-tpm-tools'
//! `launcher/teeserver` serves it) and Azure IMDS's TD quote endpoint (on TCP). Each runs on a
//! thread and runtime of its own, so it answers whether the prover calls it from a blocking test
//! thread or from its own server; dropping it stops it, hung requests included.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use base64::Engine as _;
use serde::Deserialize;
use tokio::sync::oneshot;

/// How the double answers.
#[derive(Debug, Clone)]
pub enum Behaviour {
    /// 200 with this body (after the request passed the service's own checks).
    Answer(Vec<u8>),
    /// This status and text, as the service answers its errors.
    Fail(u16, &'static str),
    /// Never answers.
    Hang,
}

/// A running double and every request body it accepted.
pub struct Double {
    pub seen: Arc<Mutex<Vec<serde_json::Value>>>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Double {
    pub fn requests(&self) -> Vec<serde_json::Value> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for Double {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[derive(Clone)]
struct Shared {
    behaviour: Behaviour,
    seen: Arc<Mutex<Vec<serde_json::Value>>>,
}

fn text(status: u16, body: impl Into<String>) -> (StatusCode, String) {
    (StatusCode::from_u16(status).unwrap(), body.into())
}

/// go-tpm-tools `verifier/models.TokenOptions`, decoded as the launcher does (unknown fields
/// refused).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenOptions {
    #[serde(default)]
    audience: String,
    #[serde(default)]
    nonces: Vec<String>,
    #[serde(default)]
    token_type: String,
    #[serde(default)]
    #[allow(dead_code)]
    aws_principal_tag_options: Option<serde_json::Value>,
}

/// The launcher's POST /v1/token: its own checks (body, audience, token_type), then the attestation
/// service's (token type known, at most 6 nonces of 10 to 74 bytes), each answered 400 as it does.
async fn launcher_token(State(shared): State<Shared>, body: Bytes) -> (StatusCode, Vec<u8>) {
    let refuse = |message: String| (StatusCode::BAD_REQUEST, message.into_bytes());
    let options: TokenOptions = match serde_json::from_slice(&body) {
        Ok(options) => options,
        Err(e) => return refuse(format!("failed to parse POST body as TokenOptions: {e}")),
    };
    if options.audience.is_empty() {
        return refuse("use GET request for the default identity token".into());
    }
    if options.token_type.is_empty() {
        return refuse("token_type is a required parameter".into());
    }
    if !["OIDC", "PKI", "AWS_PRINCIPALTAGS"].contains(&options.token_type.as_str()) {
        return refuse(format!("unknown token type {}", options.token_type));
    }
    if options.nonces.len() > 6 || options.nonces.iter().any(|n| !(10..=74).contains(&n.len())) {
        return refuse("nonces: at most 6, each 10 to 74 bytes".into());
    }
    shared
        .seen
        .lock()
        .unwrap()
        .push(serde_json::from_slice(&body).unwrap());
    behave(&shared.behaviour).await
}

async fn behave(behaviour: &Behaviour) -> (StatusCode, Vec<u8>) {
    match behaviour {
        Behaviour::Answer(body) => (StatusCode::OK, body.clone()),
        Behaviour::Fail(status, message) => {
            let (status, message) = text(*status, *message);
            (status, message.into_bytes())
        }
        Behaviour::Hang => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            (StatusCode::OK, Vec::new())
        }
    }
}

/// The launcher, on a Unix socket at `socket`.
pub fn launcher(socket: &Path, behaviour: Behaviour) -> Double {
    let listener = std::os::unix::net::UnixListener::bind(socket).unwrap();
    listener.set_nonblocking(true).unwrap();
    run(
        behaviour,
        move |router| async move {
            let listener = tokio::net::UnixListener::from_std(listener).unwrap();
            axum::serve(listener, router).await.unwrap();
        },
        Router::new().route("/v1/token", post(launcher_token)),
    )
}

/// IMDS's POST /acc/tdquote: `Metadata: true`, JSON `{"report": base64url TDREPORT}`. It answers
/// `quote` (base64url, unpadded as Azure writes it) when the report is `expected_report`.
pub fn imds(
    expected_report: Vec<u8>,
    quote: Vec<u8>,
    behaviour_on_match: Option<Behaviour>,
) -> (Double, std::net::SocketAddr) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    listener.set_nonblocking(true).unwrap();
    let answer = serde_json::to_vec(&serde_json::json!({
        "quote": base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&quote)
    }))
    .unwrap();
    let behaviour = behaviour_on_match.unwrap_or(Behaviour::Answer(answer));
    let route = post(
        move |State(shared): State<Shared>, headers: HeaderMap, body: Bytes| {
            let expected_report = expected_report.clone();
            async move {
                if headers.get("metadata").map(|v| v.as_bytes()) != Some(b"true") {
                    return (
                        StatusCode::BAD_REQUEST,
                        b"Required metadata header not specified".to_vec(),
                    );
                }
                let Ok(request) = serde_json::from_slice::<serde_json::Value>(&body) else {
                    return (StatusCode::BAD_REQUEST, b"not JSON".to_vec());
                };
                let report = request["report"].as_str().and_then(|r| {
                    base64::engine::general_purpose::URL_SAFE_NO_PAD
                        .decode(r)
                        .ok()
                });
                if report.as_deref() != Some(&expected_report[..]) {
                    return (
                        StatusCode::BAD_REQUEST,
                        b"not the expected TDREPORT".to_vec(),
                    );
                }
                shared.seen.lock().unwrap().push(request);
                behave(&shared.behaviour).await
            }
        },
    );
    let double = run(
        behaviour,
        move |router| async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            axum::serve(listener, router).await.unwrap();
        },
        Router::new().route("/acc/tdquote", route),
    );
    (double, addr)
}

fn run<F, Fut>(behaviour: Behaviour, serve: F, router: Router<Shared>) -> Double
where
    F: FnOnce(Router) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()>,
{
    let seen = Arc::new(Mutex::new(Vec::new()));
    let router = router.with_state(Shared {
        behaviour,
        seen: Arc::clone(&seen),
    });
    let (stop, stopped) = oneshot::channel::<()>();
    let thread = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        // Dropping the runtime afterwards cancels the hung handlers too.
        runtime.block_on(async move {
            tokio::select! {
                _ = serve(router) => {}
                _ = stopped => {}
            }
        });
    });
    Double {
        seen,
        stop: Some(stop),
        thread: Some(thread),
    }
}
