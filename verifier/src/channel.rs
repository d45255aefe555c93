//! The client side of the encrypted channel to an attested prover: Oblivious HTTP (RFC 9458) with
//! the prover as its own gateway. A request is written as Binary HTTP (RFC 9292) and sealed to the
//! HPKE key whose configuration the attestation bound, so it stays private through TLS-terminating
//! load balancers and proxies; only the enclave or confidential VM can open it.
//!
//! Encapsulation needs fresh randomness (the HPKE ephemeral key) from the operating system; it does
//! no I/O otherwise. The caller sends [`SealedRequest::body`] as `POST /ohttp` with content type
//! [`REQUEST_CONTENT_TYPE`] and opens the answer with [`SealedRequest::open`].

use std::io::Cursor;

pub const REQUEST_CONTENT_TYPE: &str = "message/ohttp-req";
pub const RESPONSE_CONTENT_TYPE: &str = "message/ohttp-res";
/// Largest answer opened: a proof or a proven transaction is far smaller.
pub const MAX_RESPONSE_BYTES: usize = 64 << 20;

#[derive(Debug, thiserror::Error)]
pub enum ChannelError {
    #[error("the OHTTP key configuration is not usable: {0} (it must be one RFC 9458 KeyConfig with an X25519 key and a supported suite)")]
    KeyConfig(String),
    #[error("cannot encrypt the request: {0}")]
    Seal(String),
    #[error("the encrypted answer does not open with this request's keys: {0} (a proxy altered it, or it answers another request)")]
    Open(String),
    #[error("the answer is {0} bytes, more than the {MAX_RESPONSE_BYTES} accepted")]
    TooLarge(usize),
    #[error("the decrypted answer is not a Binary HTTP response: {0}")]
    Malformed(String),
}

/// An inner HTTP request, before sealing.
#[derive(Debug, Clone)]
pub struct InnerRequest<'a> {
    pub method: &'a str,
    /// The prover's own route, e.g. `/prove`.
    pub path: &'a str,
    pub headers: Vec<(&'a str, &'a str)>,
    pub body: &'a [u8],
}

/// The decrypted answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InnerResponse {
    pub status: u16,
    pub headers: Vec<(String, Vec<u8>)>,
    pub body: Vec<u8>,
}

impl InnerResponse {
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
    }
}

/// A sealed request and the state needed to open its answer (single use).
pub struct SealedRequest {
    pub body: Vec<u8>,
    response: ohttp::ClientResponse,
}

/// Seals `request` to the server key described by `key_config` (one encoded RFC 9458 KeyConfig,
/// as bound in the attestation envelope).
pub fn seal(key_config: &[u8], request: &InnerRequest) -> Result<SealedRequest, ChannelError> {
    let client = ohttp::ClientRequest::from_encoded_config(key_config)
        .map_err(|e| ChannelError::KeyConfig(e.to_string()))?;
    let mut message = bhttp::Message::request(
        request.method.as_bytes().to_vec(),
        b"https".to_vec(),
        Vec::new(),
        request.path.as_bytes().to_vec(),
    );
    for (name, value) in &request.headers {
        message.put_header(name.as_bytes(), value.as_bytes());
    }
    message.write_content(request.body);
    let mut encoded = Vec::with_capacity(request.body.len() + 256);
    message
        .write_bhttp(bhttp::Mode::KnownLength, &mut encoded)
        .map_err(|e| ChannelError::Seal(e.to_string()))?;
    let (body, response) = client
        .encapsulate(&encoded)
        .map_err(|e| ChannelError::Seal(e.to_string()))?;
    Ok(SealedRequest { body, response })
}

impl SealedRequest {
    /// Opens the server's `message/ohttp-res` answer.
    pub fn open(self, sealed_answer: &[u8]) -> Result<InnerResponse, ChannelError> {
        if sealed_answer.len() > MAX_RESPONSE_BYTES {
            return Err(ChannelError::TooLarge(sealed_answer.len()));
        }
        let plain = self
            .response
            .decapsulate(sealed_answer)
            .map_err(|e| ChannelError::Open(e.to_string()))?;
        let message = bhttp::Message::read_bhttp(&mut Cursor::new(&plain[..]))
            .map_err(|e| ChannelError::Malformed(e.to_string()))?;
        let status = message
            .control()
            .status()
            .ok_or_else(|| {
                ChannelError::Malformed("a request where a response was expected".into())
            })?
            .code();
        Ok(InnerResponse {
            status,
            headers: message
                .header()
                .iter()
                .map(|field| {
                    (
                        String::from_utf8_lossy(field.name()).into_owned(),
                        field.value().to_vec(),
                    )
                })
                .collect(),
            body: message.content().to_vec(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server() -> ohttp::Server {
        let config = ohttp::KeyConfig::new(
            1,
            ohttp::hpke::Kem::X25519Sha256,
            vec![ohttp::SymmetricSuite::new(
                ohttp::hpke::Kdf::HkdfSha256,
                ohttp::hpke::Aead::Aes128Gcm,
            )],
        )
        .unwrap();
        ohttp::Server::new(config).unwrap()
    }

    #[test]
    fn a_sealed_request_opens_only_at_the_server_and_its_answer_only_here() {
        let server = server();
        let key_config = server.config().encode().unwrap();
        let sealed = seal(
            &key_config,
            &InnerRequest {
                method: "POST",
                path: "/prove",
                headers: vec![("content-type", "application/octet-stream")],
                body: b"private witness",
            },
        )
        .unwrap();
        assert!(!sealed
            .body
            .windows(b"private witness".len())
            .any(|w| w == b"private witness"));
        let (plain, answer_keys) = server.decapsulate(&sealed.body).unwrap();
        let request = bhttp::Message::read_bhttp(&mut Cursor::new(&plain[..])).unwrap();
        assert_eq!(request.control().method(), Some(&b"POST"[..]));
        assert_eq!(request.control().path(), Some(&b"/prove"[..]));
        assert_eq!(request.content(), b"private witness");

        let mut response = bhttp::Message::response(bhttp::StatusCode::try_from(200u16).unwrap());
        response.put_header("content-type", "application/octet-stream");
        response.write_content(b"proof bytes");
        let mut encoded = Vec::new();
        response
            .write_bhttp(bhttp::Mode::KnownLength, &mut encoded)
            .unwrap();
        let sealed_answer = answer_keys.encapsulate(&encoded).unwrap();
        let opened = sealed.open(&sealed_answer).unwrap();
        assert_eq!(opened.status, 200);
        assert_eq!(opened.body, b"proof bytes");
        assert_eq!(
            opened.header("Content-Type"),
            Some(&b"application/octet-stream"[..])
        );
    }

    #[test]
    fn a_tampered_answer_or_a_foreign_key_config_is_refused() {
        let server = server();
        let key_config = server.config().encode().unwrap();
        let request = InnerRequest {
            method: "GET",
            path: "/version",
            headers: vec![],
            body: b"",
        };
        let sealed = seal(&key_config, &request).unwrap();
        let (_, answer_keys) = server.decapsulate(&sealed.body).unwrap();
        let mut answer = answer_keys.encapsulate(b"\x01\x40\xc8\x00\x00").unwrap();
        let last = answer.len() - 1;
        answer[last] ^= 1;
        assert!(matches!(sealed.open(&answer), Err(ChannelError::Open(_))));
        assert!(matches!(
            seal(b"not a key config", &request),
            Err(ChannelError::KeyConfig(_))
        ));
    }
}
