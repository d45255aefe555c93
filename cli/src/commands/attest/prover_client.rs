//! Talking to a prover: fetching fresh evidence for a random nonce, and sending a request sealed
//! to the HPKE key that evidence binds.

use std::time::Duration;

use anyhow::{bail, Context};
use rand::RngCore;
use verifier::attestation::{Envelope, Reason, Verdict, MAX_ENVELOPE_BYTES};
use verifier::channel::{
    self, InnerRequest, InnerResponse, MAX_RESPONSE_BYTES, REQUEST_CONTENT_TYPE,
};
use x509_cert::der::{Decode, Encode};

use crate::commands::http::read_body;

/// Largest proving request sent.
pub const MAX_REQUEST_BYTES: u64 = 64 << 20;
/// Proofs of large circuits take minutes on a prover.
const PROVING_TIMEOUT: Duration = Duration::from_secs(1800);

pub struct FetchedEvidence {
    /// The envelope's bytes as received.
    pub raw: Vec<u8>,
    pub envelope: Envelope,
    pub nonce: Vec<u8>,
    /// The SubjectPublicKeyInfo of the TLS certificate the connection presented (https only).
    peer_spki: Option<Vec<u8>>,
    https: bool,
}

/// A client for provers. Certificate validation is off on purpose: a prover's TLS certificate is
/// made inside the enclave and vouched for by no CA; what makes it trustworthy is that the
/// attestation binds its key, which [`FetchedEvidence::check_tls`] compares.
fn prover_client(timeout: Duration) -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .timeout(timeout)
        .danger_accept_invalid_certs(true)
        .tls_info(true)
        .build()?)
}

pub async fn fetch_evidence(url: &str) -> anyhow::Result<FetchedEvidence> {
    let base = url.trim_end_matches('/');
    let mut nonce = vec![0u8; 32];
    rand::thread_rng().fill_bytes(&mut nonce);
    let request_url = format!("{base}/attestation?nonce={}", hex::encode(&nonce));
    let response = prover_client(Duration::from_secs(60))?
        .get(&request_url)
        .send()
        .await
        .with_context(|| format!("fetching evidence from {request_url}"))?;
    let peer_spki = match response.extensions().get::<reqwest::tls::TlsInfo>() {
        Some(info) => match info.peer_certificate() {
            Some(der) => Some(spki_of(der)?),
            None => None,
        },
        None => None,
    };
    let raw = read_body(response, &request_url, MAX_ENVELOPE_BYTES as u64).await?;
    let envelope =
        Envelope::parse(&raw).with_context(|| format!("reading the answer of {request_url}"))?;
    Ok(FetchedEvidence {
        raw,
        envelope,
        nonce,
        peer_spki,
        https: base.starts_with("https://"),
    })
}

fn spki_of(certificate_der: &[u8]) -> anyhow::Result<Vec<u8>> {
    let certificate = x509_cert::Certificate::from_der(certificate_der)
        .context("the prover's TLS certificate is not valid DER")?;
    Ok(certificate
        .tbs_certificate
        .subject_public_key_info
        .to_der()?)
}

impl FetchedEvidence {
    /// Folds the TLS check into the verdict: over https, the key the connection presented must be
    /// the one the evidence binds; otherwise someone in between terminates TLS.
    pub fn check_tls(&self, verdict: &mut Verdict) {
        let outcome = match (&self.envelope.tls_public_key, &self.peer_spki) {
            (Some(bound), Some(seen)) if bound == seen => {
                Ok("the TLS connection ends at the attested server (its key is the one bound)".to_string())
            }
            (Some(_), Some(_)) => Err(Reason::new(
                "tls-key-mismatch",
                "the TLS connection presented another key than the one the evidence binds: something between \
                 this client and the prover terminates TLS. If that is your load balancer, run the prover \
                 without --tls so its evidence says so; requests stay private through OHTTP",
            )),
            (Some(_), None) if self.https => Err(Reason::new(
                "tls-key-unseen",
                "the TLS connection's certificate could not be read to compare with the bound key",
            )),
            (Some(_), None) => Ok(
                "plain HTTP to a prover that binds a TLS key: the transport is unprotected, requests are sealed with OHTTP"
                    .to_string(),
            ),
            (None, _) => Ok(
                "the prover terminates no TLS itself (behind a proxy): requests are sealed to its attested OHTTP key"
                    .to_string(),
            ),
        };
        verdict.record("tls channel", outcome);
    }
}

/// Seals `body` for `route` to the attested key configuration and POSTs it to the prover's
/// gateway; returns the decrypted answer.
pub async fn send_sealed(
    url: &str,
    key_config: &[u8],
    route: &str,
    body: &[u8],
) -> anyhow::Result<InnerResponse> {
    let base = url.trim_end_matches('/');
    let sealed = channel::seal(
        key_config,
        &InnerRequest {
            method: "POST",
            path: route,
            headers: vec![("content-type", "application/octet-stream")],
            body,
        },
    )?;
    let gateway = format!("{base}/ohttp");
    let response = prover_client(PROVING_TIMEOUT)?
        .post(&gateway)
        .header(reqwest::header::CONTENT_TYPE, REQUEST_CONTENT_TYPE)
        .body(sealed.body.clone())
        .send()
        .await
        .with_context(|| format!("sending the sealed request to {gateway}"))?;
    let answer = read_body(response, &gateway, MAX_RESPONSE_BYTES as u64).await?;
    if answer.is_empty() {
        bail!("{gateway} answered an empty body");
    }
    Ok(sealed.open(&answer)?)
}
