//! One HTTP/1.1 POST to a local attestation service: the Confidential Space launcher (a Unix
//! socket) or Azure's IMDS (a link-local address). Both are plain HTTP on a channel only this VM
//! reaches, so there is no TLS; what they answer is evidence the wallet verifies, never trusted here.
//!
//! Attestation is a blocking call (a device round trip), so the request runs on a thread and a
//! current-thread runtime of its own rather than borrowing the server's: it works the same from the
//! route's `spawn_blocking`, from start-up detection and from a plain test thread. An attestation is
//! asked once per session, so that thread and runtime are no cost worth sharing.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};

/// Where a service listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    Unix(PathBuf),
    Tcp { host: String, port: u16 },
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Unix(path) => write!(f, "{}", path.display()),
            Endpoint::Tcp { host, port } => write!(f, "{host}:{port}"),
        }
    }
}

/// One request: JSON `body` POSTed to `path` (with its query) at `endpoint`.
pub struct Post<'a> {
    pub endpoint: &'a Endpoint,
    pub path: &'a str,
    /// The Host header: the launcher ignores it, IMDS expects its address.
    pub host: &'a str,
    pub headers: &'a [(&'static str, &'static str)],
    pub body: Vec<u8>,
    /// For the whole exchange: connecting, sending, the service's work, reading the answer.
    pub timeout: Duration,
    /// The largest answer body read; a larger one is an error, not truncated.
    pub max_answer: usize,
}

/// The service's answer, whatever its status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    pub body: Vec<u8>,
}

impl Answer {
    /// The body as text for an error message: at most 512 characters, control characters escaped.
    pub fn excerpt(&self) -> String {
        let text = String::from_utf8_lossy(&self.body);
        let mut excerpt: String = text.trim().chars().take(512).collect();
        if text.trim().chars().count() > 512 {
            excerpt.push('…');
        }
        excerpt.escape_debug().to_string()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("cannot connect to {endpoint}: {source}")]
    Connect {
        endpoint: String,
        source: std::io::Error,
    },
    #[error("no complete answer within {} s", timeout.as_secs_f64())]
    Timeout { timeout: Duration },
    #[error("the answer is larger than {limit} bytes")]
    TooLarge { limit: usize },
    #[error("HTTP exchange failed: {0}")]
    Http(String),
    #[error("cannot start the I/O runtime: {0}")]
    Runtime(std::io::Error),
}

/// Sends `post` and reads the answer. Blocking: call it from a blocking thread.
pub fn post(post: Post<'_>) -> Result<Answer, ServiceError> {
    // On a thread of its own: a runtime cannot be entered from a thread already inside one, and a
    // caller on an async worker would otherwise panic rather than merely block.
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_io()
                    .enable_time()
                    .build()
                    .map_err(ServiceError::Runtime)?;
                let timeout = post.timeout;
                runtime.block_on(async move {
                    tokio::time::timeout(timeout, exchange(post))
                        .await
                        .map_err(|_| ServiceError::Timeout { timeout })?
                })
            })
            .join()
            .unwrap_or_else(|_| Err(ServiceError::Http("the request thread panicked".into())))
    })
}

async fn exchange(post: Post<'_>) -> Result<Answer, ServiceError> {
    let connect_error = |source| ServiceError::Connect {
        endpoint: post.endpoint.to_string(),
        source,
    };
    match post.endpoint {
        Endpoint::Unix(path) => {
            let stream = tokio::net::UnixStream::connect(path)
                .await
                .map_err(connect_error)?;
            send(stream, &post).await
        }
        Endpoint::Tcp { host, port } => {
            let stream = tokio::net::TcpStream::connect((host.as_str(), *port))
                .await
                .map_err(connect_error)?;
            send(stream, &post).await
        }
    }
}

async fn send<S>(stream: S, post: &Post<'_>) -> Result<Answer, ServiceError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let http = |e: &dyn fmt::Display| ServiceError::Http(e.to_string());
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| http(&e))?;
    // Drives the connection; it ends with the runtime when the answer has been read.
    tokio::spawn(connection);
    let mut request = hyper::Request::post(post.path)
        .header(hyper::header::HOST, post.host)
        .header(hyper::header::CONTENT_TYPE, "application/json");
    for (name, value) in post.headers {
        request = request.header(*name, *value);
    }
    let request = request
        .body(Full::new(Bytes::from(post.body.clone())))
        .map_err(|e| http(&e))?;
    let response = sender.send_request(request).await.map_err(|e| http(&e))?;
    let status = response.status().as_u16();
    let body = Limited::new(response.into_body(), post.max_answer)
        .collect()
        .await
        .map_err(|e| {
            if e.downcast_ref::<LengthLimitError>().is_some() {
                ServiceError::TooLarge {
                    limit: post.max_answer,
                }
            } else {
                ServiceError::Http(e.to_string())
            }
        })?
        .to_bytes();
    Ok(Answer {
        status,
        body: body.to_vec(),
    })
}
