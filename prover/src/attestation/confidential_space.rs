//! GCP Confidential Space: an attestation token from the launcher, per request.
//!
//! A Confidential Space workload is a container on Google's hardened image; it has no TPM or
//! configfs-tsm of its own. The launcher (google/go-tpm-tools `launcher/teeserver`) serves
//! `/run/container_launcher/teeserver.sock` into the container: `POST /v1/token` with
//! `{"audience", "nonces", "token_type"}` makes it quote the vTPM and exchange the quote at Google's
//! attestation service for a signed token, whose claims hold the image digest and the nonces as
//! `eat_nonce`. The answer body is the token itself; errors are 400 (bad options, or the service
//! refused them) and 500 (the launcher or the service failed), with the reason as text.
//!
//! The nonce is the lowercase hex of SHA-256(binding), 64 characters: the service takes nonces of
//! 10 to 74 bytes, too few for the 128 hex characters of the binding itself. The wallet recomputes
//! the binding, hashes it and finds it in `eat_nonce`.

use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::service::{self, Endpoint, Post, ServiceError};
use super::AttestationError;

/// Where the launcher serves its socket inside the workload container.
pub const DEFAULT_LAUNCHER_SOCKET: &str = "/run/container_launcher/teeserver.sock";
/// The `aud` claim asked for; wallets check it, so it names what the token is for.
pub const DEFAULT_AUDIENCE: &str = "mpr-attestation";
/// An OIDC token is ~1.5 KiB; a PKI token carries its certificate chain in `x5c`, a few KiB.
pub const MAX_TOKEN_LEN: usize = 64 * 1024;
/// The launcher's custom-token endpoint.
pub const TOKEN_PATH: &str = "/v1/token";

/// Which token the attestation service signs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum TokenType {
    /// A JWT signed with a key published at the issuer's OIDC JWKS.
    #[default]
    Oidc,
    /// A JWT whose `x5c` header chains to Google's Confidential Space root CA.
    Pki,
}

impl TokenType {
    /// The launcher's spelling.
    pub fn wire_name(self) -> &'static str {
        match self {
            TokenType::Oidc => "OIDC",
            TokenType::Pki => "PKI",
        }
    }
}

/// The launcher and what to ask it for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Launcher {
    pub socket: PathBuf,
    pub audience: String,
    pub token_type: TokenType,
    /// The launcher quotes the vTPM and calls Google's attestation service: seconds, not millis.
    pub timeout: Duration,
}

impl Default for Launcher {
    fn default() -> Self {
        Launcher {
            socket: PathBuf::from(DEFAULT_LAUNCHER_SOCKET),
            audience: DEFAULT_AUDIENCE.to_owned(),
            token_type: TokenType::Oidc,
            timeout: super::DEFAULT_SERVICE_TIMEOUT,
        }
    }
}

/// The launcher's `TokenOptions` (go-tpm-tools `verifier/models`), which it decodes refusing
/// unknown fields.
#[derive(Serialize)]
struct TokenRequest<'a> {
    audience: &'a str,
    nonces: [String; 1],
    token_type: &'static str,
}

/// The `eat_nonce` the token carries for `binding`: lowercase hex of its SHA-256.
pub fn eat_nonce(binding: &[u8; 64]) -> String {
    hex::encode(Sha256::digest(binding))
}

impl Launcher {
    /// A token whose `eat_nonce` is [`eat_nonce`]`(binding)`, as its ASCII bytes. Blocking.
    pub fn token(&self, binding: &[u8; 64]) -> Result<Vec<u8>, AttestationError> {
        let body = serde_json::to_vec(&TokenRequest {
            audience: &self.audience,
            nonces: [eat_nonce(binding)],
            token_type: self.token_type.wire_name(),
        })
        .map_err(|e| self.error(format!("cannot encode the token request: {e}")))?;
        let endpoint = Endpoint::Unix(self.socket.clone());
        let answer = service::post(Post {
            endpoint: &endpoint,
            path: TOKEN_PATH,
            host: "localhost",
            headers: &[],
            body,
            timeout: self.timeout,
            max_answer: MAX_TOKEN_LEN,
        })
        .map_err(|e| self.error(explain(&e)))?;
        match answer.status {
            200 => {}
            400 => {
                return Err(self.error(format!(
                    "the launcher refused the token request (HTTP 400: {}); check \
                     --token-audience and --token-type",
                    answer.excerpt()
                )))
            }
            status => {
                return Err(self.error(format!(
                    "the launcher could not get a token (HTTP {status}: {}); it reaches Google's \
                     attestation service for each token, retry later",
                    answer.excerpt()
                )))
            }
        }
        let token = answer.body;
        if !is_compact_jws(&token) {
            return Err(self.error(format!(
                "the launcher answered 200 but not a token ({} bytes that are not a compact JWS)",
                token.len()
            )));
        }
        Ok(token)
    }

    fn error(&self, problem: String) -> AttestationError {
        AttestationError::Launcher {
            socket: self.socket.clone(),
            problem,
        }
    }
}

/// What to do about a failed exchange.
fn explain(error: &ServiceError) -> String {
    match error {
        ServiceError::Connect { .. } => format!(
            "{error}; the Confidential Space launcher serves this socket inside the workload \
             container (pass --launcher-socket if it is mounted elsewhere)"
        ),
        ServiceError::TooLarge { .. } => format!("{error}: not a token"),
        _ => error.to_string(),
    }
}

/// Three base64url segments joined by dots: the only shape a token has.
fn is_compact_jws(token: &[u8]) -> bool {
    let segments: Vec<&[u8]> = token.split(|&b| b == b'.').collect();
    segments.len() == 3
        && segments[..2].iter().all(|s| !s.is_empty())
        && segments.iter().all(|s| {
            s.iter()
                .all(|&b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_nonce_is_the_hex_sha256_of_the_binding_and_fits_the_services_limits() {
        let nonce = eat_nonce(&[0x42; 64]);
        assert_eq!(nonce, hex::encode(Sha256::digest([0x42; 64])));
        assert_eq!(nonce.len(), 64);
        assert!((10..=74).contains(&nonce.len()));
        assert_eq!(nonce, nonce.to_lowercase());
    }

    #[test]
    fn only_compact_jws_is_a_token() {
        assert!(is_compact_jws(b"eyJhbGciOiJSUzI1NiJ9.eyJhIjoxfQ.c2ln"));
        assert!(!is_compact_jws(b""));
        assert!(!is_compact_jws(b"not a token"));
        assert!(!is_compact_jws(b"a.b"));
        assert!(!is_compact_jws(b"a.b.c.d"));
        assert!(!is_compact_jws(b".b.c"));
        assert!(!is_compact_jws(b"a.b.c\n"));
        assert!(!is_compact_jws(b"a+/.b.c"));
    }

    #[test]
    fn the_request_is_the_launchers_token_options() {
        let body = serde_json::to_value(TokenRequest {
            audience: DEFAULT_AUDIENCE,
            nonces: [eat_nonce(&[0; 64])],
            token_type: TokenType::Pki.wire_name(),
        })
        .unwrap();
        assert_eq!(
            body,
            serde_json::json!({
                "audience": "mpr-attestation",
                "nonces": [eat_nonce(&[0; 64])],
                "token_type": "PKI",
            })
        );
    }
}
