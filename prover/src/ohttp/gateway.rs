//! The requests inside `POST /ohttp`: Binary HTTP (RFC 9292) to an in-process request for one of the
//! server's own routes, and its answer back to Binary HTTP. Pure conversions with explicit limits, so
//! they can be fuzzed without keys or a router.

use std::io::Cursor;

use axum::body::Body;
use axum::http::header::{self, HeaderName, HeaderValue};
use axum::http::{Method, Request, Response, StatusCode, Uri};
use bhttp::{ControlData, Message, Mode};

use crate::routes::proving::MAX_BODY_BYTES;

/// The inner request's body may be as large as a plaintext proving request; headers, the Binary HTTP
/// framing and the HPKE encapsulation (7-byte header, 32-byte key share, 16-byte tag) fit in the rest.
pub const MAX_ENCAPSULATED_REQUEST_BYTES: usize = MAX_BODY_BYTES + (64 << 10);
/// A wallet sends a handful of headers; more is not a proving request.
pub const MAX_INNER_HEADER_FIELDS: usize = 64;
/// Proofs and transactions with proofs are far smaller; an answer beyond this is a server fault.
pub const MAX_INNER_RESPONSE_BYTES: usize = 64 << 20;

/// Set on requests that arrived encrypted through the gateway. Only this module can make one: a client
/// cannot forge it the way it could a header.
#[derive(Debug, Clone, Copy)]
pub struct ViaGateway(());

/// Why an inner request was refused; answered (encrypted) with [`Self::status`].
#[derive(Debug, thiserror::Error)]
pub enum InnerRequestError {
    #[error("the decrypted request is not valid Binary HTTP (RFC 9292): {0}")]
    Decode(bhttp::Error),
    #[error("the decrypted message is a response; send a Binary HTTP request")]
    NotARequest,
    #[error("the request method {0:?} is not an HTTP method")]
    Method(String),
    #[error(
        "the request targets authority {0:?}: send a relative target (empty authority, path such as \
         /prove); this gateway forwards only to this server's own routes"
    )]
    AbsoluteTarget(String),
    #[error("the request path {0:?} is not an origin-form path such as /prove or /k")]
    Path(String),
    #[error("the request has {0} header fields; at most {MAX_INNER_HEADER_FIELDS} are accepted")]
    TooManyHeaders(usize),
    #[error("header field {0:?} is not a valid HTTP field")]
    Header(String),
    #[error("the request body is {0} bytes; at most {MAX_BODY_BYTES} are accepted")]
    BodyTooLarge(usize),
}

impl InnerRequestError {
    pub fn status(&self) -> StatusCode {
        match self {
            InnerRequestError::TooManyHeaders(_) => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            InnerRequestError::BodyTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            _ => StatusCode::BAD_REQUEST,
        }
    }
}

/// Fields that describe the outer connection or the framing, which Binary HTTP replaces.
const CONNECTION_FIELDS: [HeaderName; 6] = [
    header::HOST,
    header::CONNECTION,
    header::CONTENT_LENGTH,
    header::TRANSFER_ENCODING,
    header::TE,
    header::UPGRADE,
];

/// The in-process request a decrypted Binary HTTP request stands for, marked [`ViaGateway`].
pub fn decode_request(bytes: &[u8]) -> Result<Request<Body>, InnerRequestError> {
    let message =
        Message::read_bhttp(&mut Cursor::new(bytes)).map_err(InnerRequestError::Decode)?;
    let ControlData::Request {
        method,
        authority,
        path,
        ..
    } = message.control()
    else {
        return Err(InnerRequestError::NotARequest);
    };
    let method = Method::from_bytes(method)
        .map_err(|_| InnerRequestError::Method(String::from_utf8_lossy(method).into_owned()))?;
    if !authority.is_empty() {
        return Err(InnerRequestError::AbsoluteTarget(
            String::from_utf8_lossy(authority).into_owned(),
        ));
    }
    let path_error = || InnerRequestError::Path(String::from_utf8_lossy(path).into_owned());
    // "//host/…" would parse as an authority; anything not starting with "/" is not origin-form.
    if !path.starts_with(b"/") || path.starts_with(b"//") {
        return Err(path_error());
    }
    let uri = Uri::try_from(path.as_slice()).map_err(|_| path_error())?;
    if uri.scheme().is_some() || uri.authority().is_some() {
        return Err(path_error());
    }
    let fields = message.header().fields();
    if fields.len() > MAX_INNER_HEADER_FIELDS {
        return Err(InnerRequestError::TooManyHeaders(fields.len()));
    }
    let content = message.content();
    if content.len() > MAX_BODY_BYTES {
        return Err(InnerRequestError::BodyTooLarge(content.len()));
    }
    let mut request = Request::new(Body::from(content.to_vec()));
    *request.method_mut() = method;
    *request.uri_mut() = uri;
    for field in fields {
        let header_error =
            || InnerRequestError::Header(String::from_utf8_lossy(field.name()).into_owned());
        let name = HeaderName::from_bytes(field.name()).map_err(|_| header_error())?;
        let value = HeaderValue::from_bytes(field.value()).map_err(|_| header_error())?;
        if !CONNECTION_FIELDS.contains(&name) {
            request.headers_mut().append(name, value);
        }
    }
    request.extensions_mut().insert(ViaGateway(()));
    Ok(request)
}

#[derive(Debug, thiserror::Error)]
pub enum InnerResponseError {
    #[error("cannot read the answer: {0}")]
    Body(String),
    #[error("cannot encode the answer as Binary HTTP: {0}")]
    Encode(bhttp::Error),
}

/// The Binary HTTP (known-length) encoding of an answer from the router.
pub async fn encode_response(response: Response<Body>) -> Result<Vec<u8>, InnerResponseError> {
    let (parts, body) = response.into_parts();
    let content = axum::body::to_bytes(body, MAX_INNER_RESPONSE_BYTES)
        .await
        .map_err(|e| InnerResponseError::Body(e.to_string()))?;
    let status =
        bhttp::StatusCode::try_from(parts.status.as_u16()).map_err(InnerResponseError::Encode)?;
    let mut message = Message::response(status);
    for (name, value) in &parts.headers {
        if !CONNECTION_FIELDS.contains(name) {
            message.put_header(name.as_str(), value.as_bytes());
        }
    }
    message.write_content(&content);
    let mut encoded = Vec::with_capacity(content.len() + 256);
    message
        .write_bhttp(Mode::KnownLength, &mut encoded)
        .map_err(InnerResponseError::Encode)?;
    Ok(encoded)
}

/// A plain-text inner answer (the gateway's own refusals), encoded like any other.
pub fn encode_text_response(status: StatusCode, text: &str) -> Result<Vec<u8>, InnerResponseError> {
    let status =
        bhttp::StatusCode::try_from(status.as_u16()).map_err(InnerResponseError::Encode)?;
    let mut message = Message::response(status);
    message.put_header("content-type", "text/plain; charset=utf-8");
    message.write_content(text.as_bytes());
    let mut encoded = Vec::new();
    message
        .write_bhttp(Mode::KnownLength, &mut encoded)
        .map_err(InnerResponseError::Encode)?;
    Ok(encoded)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(message: &Message) -> Vec<u8> {
        let mut bytes = Vec::new();
        message.write_bhttp(Mode::KnownLength, &mut bytes).unwrap();
        bytes
    }

    fn request(method: &str, authority: &str, path: &str) -> Message {
        Message::request(
            method.as_bytes().to_vec(),
            b"https".to_vec(),
            authority.as_bytes().to_vec(),
            path.as_bytes().to_vec(),
        )
    }

    #[test]
    fn a_relative_request_becomes_an_in_process_request_marked_as_via_the_gateway() {
        let mut message = request("POST", "", "/k?x=1");
        message.put_header("content-type", "application/octet-stream");
        message.put_header("content-length", "999");
        message.put_header("host", "elsewhere.example");
        message.write_content(b"circuit");
        let request = decode_request(&encode(&message)).unwrap();
        assert_eq!(request.method(), Method::POST);
        assert_eq!(request.uri(), "/k?x=1");
        assert_eq!(
            request.headers()[header::CONTENT_TYPE],
            "application/octet-stream"
        );
        // Framing and connection fields of the inner message are not trusted.
        assert!(request.headers().get(header::CONTENT_LENGTH).is_none());
        assert!(request.headers().get(header::HOST).is_none());
        assert!(request.extensions().get::<ViaGateway>().is_some());
    }

    #[test]
    fn absolute_and_malformed_targets_and_oversized_requests_are_refused() {
        let cases: [(Message, &str); 5] = [
            (request("GET", "evil.example", "/k"), "relative target"),
            (request("GET", "", "k"), "origin-form"),
            (request("GET", "", "//evil.example/k"), "origin-form"),
            (request("GET", "", "/a b"), "origin-form"),
            (request("G E T", "", "/k"), "not an HTTP method"),
        ];
        for (message, needle) in cases {
            let error = decode_request(&encode(&message)).unwrap_err();
            assert_eq!(error.status(), StatusCode::BAD_REQUEST);
            assert!(error.to_string().contains(needle), "{error}");
        }
        let mut crowded = request("GET", "", "/version");
        for i in 0..=MAX_INNER_HEADER_FIELDS {
            crowded.put_header(format!("x-{i}"), "1");
        }
        let error = decode_request(&encode(&crowded)).unwrap_err();
        assert_eq!(error.status(), StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
        let mut bad_header = request("GET", "", "/version");
        bad_header.put_header("bad name", "1");
        assert!(matches!(
            decode_request(&encode(&bad_header)),
            Err(InnerRequestError::Header(_))
        ));
        let response = Message::response(bhttp::StatusCode::OK);
        assert!(matches!(
            decode_request(&encode(&response)),
            Err(InnerRequestError::NotARequest)
        ));
        for garbage in [&b""[..], &[0x00, 0x05, b'G'][..], &[0x3f; 40][..]] {
            assert!(matches!(
                decode_request(garbage),
                Err(InnerRequestError::Decode(_))
            ));
        }
    }

    #[test]
    fn a_body_over_the_proving_limit_is_413() {
        let mut message = request("POST", "", "/prove");
        message.write_content(vec![0u8; MAX_BODY_BYTES + 1]);
        let error = decode_request(&encode(&message)).unwrap_err();
        assert_eq!(error.status(), StatusCode::PAYLOAD_TOO_LARGE);
    }

    #[tokio::test]
    async fn answers_round_trip_through_binary_http() {
        let mut response = Response::new(Body::from("14"));
        *response.status_mut() = StatusCode::ACCEPTED;
        response
            .headers_mut()
            .insert("x-answer", HeaderValue::from_static("yes"));
        let encoded = encode_response(response).await.unwrap();
        let decoded = Message::read_bhttp(&mut Cursor::new(&encoded[..])).unwrap();
        assert_eq!(decoded.control().status().map(|s| s.code()), Some(202));
        assert_eq!(decoded.header().get(b"x-answer"), Some(&b"yes"[..]));
        assert_eq!(decoded.content(), b"14");
        let text = encode_text_response(StatusCode::NOT_FOUND, "no such route").unwrap();
        let decoded = Message::read_bhttp(&mut Cursor::new(&text[..])).unwrap();
        assert_eq!(decoded.control().status().map(|s| s.code()), Some(404));
        assert_eq!(decoded.content(), b"no such route");
    }
}
