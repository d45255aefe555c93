//! What the official server answers because of its framework rather than its handlers: it is an
//! actix-web app wrapped in actix-cors 0.7 `Cors::permissive()`, and clients (browser dApps above
//! all) see that framework in every answer. This middleware runs before routing, as actix-cors does.
//!
//! - CORS, exactly as `Cors::permissive()`: a preflight (an `OPTIONS` with a valid
//!   `Access-Control-Request-Method`, on any path) is answered here with 200, the request's origin
//!   echoed, every standard method, the requested headers echoed, credentials and a max-age of one
//!   hour; every other answer echoes the origin, exposes its own header names and allows credentials.
//! - Routing, as actix's method guards do it: a path served only for other methods is not found
//!   (404, empty body, never 405 with `Allow`), and `HEAD` is not `GET`.
//!
//! tower-http's `CorsLayer` was not used: it takes every `OPTIONS` for a preflight, cannot validate
//! the requested method, cannot expose a response's own header names while allowing credentials
//! (its `*` panics then) and writes `Vary` in lower case; each is visible to a client.

use axum::body::Body;
use axum::extract::Request;
use axum::http::header::{self, HeaderMap, HeaderValue};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;

/// actix-cors' `ALL_METHODS_SET`, the methods `Cors::permissive()` allows. actix-cors lists them in
/// hash order (different in every process), so no client can depend on an order.
const ALLOWED_METHODS: [Method; 9] = [
    Method::GET,
    Method::POST,
    Method::PUT,
    Method::DELETE,
    Method::HEAD,
    Method::OPTIONS,
    Method::CONNECT,
    Method::PATCH,
    Method::TRACE,
];
const ALLOWED_METHODS_VALUE: &str = "GET, POST, PUT, DELETE, HEAD, OPTIONS, CONNECT, PATCH, TRACE";
/// `Cors::permissive()`'s max-age, in seconds.
const MAX_AGE: &str = "3600";
/// Spelled as actix-cors spells it.
const VARY: &str = "Origin, Access-Control-Request-Method, Access-Control-Request-Headers";
/// actix-cors' answer to a preflight for a method outside [`ALLOWED_METHODS`] (400, no CORS headers).
const METHOD_NOT_ALLOWED_TEXT: &str = "Requested method is not allowed";

pub async fn like_actix(request: Request, next: Next) -> Response {
    let origin = request.headers().get(header::ORIGIN).cloned();
    if request.method() == Method::OPTIONS {
        if let Some(method) = requested_method(request.headers()) {
            let requested_headers = request
                .headers()
                .get(header::ACCESS_CONTROL_REQUEST_HEADERS)
                .cloned();
            return preflight(origin, &method, requested_headers);
        }
    }
    let mut response = if request.method() == Method::HEAD {
        // actix states the empty length even for HEAD; hyper leaves it out unless told.
        let mut response = not_found();
        response
            .headers_mut()
            .insert(header::CONTENT_LENGTH, HeaderValue::from_static("0"));
        response
    } else {
        let response = next.run(request).await;
        // No handler answers 405 itself: this is axum's answer for a path served for other methods.
        if response.status() == StatusCode::METHOD_NOT_ALLOWED {
            not_found()
        } else {
            response
        }
    };
    actual_request_headers(response.headers_mut(), origin);
    response
}

/// actix's answer when no resource matches: 404 with no body and no headers.
fn not_found() -> Response {
    status_only(StatusCode::NOT_FOUND)
}

fn status_only(status: StatusCode) -> Response {
    let mut response = Response::new(Body::empty());
    *response.status_mut() = status;
    response
}

/// actix-cors counts an `OPTIONS` as a preflight only when this header names a method.
fn requested_method(headers: &HeaderMap) -> Option<Method> {
    let value = headers.get(header::ACCESS_CONTROL_REQUEST_METHOD)?;
    Method::from_bytes(value.as_bytes()).ok()
}

fn preflight(
    origin: Option<HeaderValue>,
    method: &Method,
    requested_headers: Option<HeaderValue>,
) -> Response {
    if !ALLOWED_METHODS.contains(method) {
        let mut response = Response::new(Body::from(METHOD_NOT_ALLOWED_TEXT));
        *response.status_mut() = StatusCode::BAD_REQUEST;
        return response;
    }
    let mut response = status_only(StatusCode::OK);
    let headers = response.headers_mut();
    if let Some(origin) = origin {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    }
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static(ALLOWED_METHODS_VALUE),
    );
    // Any header is allowed: the requested ones are echoed.
    if let Some(requested) = requested_headers {
        headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, requested);
    }
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
        HeaderValue::from_static("true"),
    );
    headers.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static(MAX_AGE),
    );
    add_vary(headers);
    response
}

/// The headers actix-cors adds to every answer that is not a preflight, with or without an `Origin`.
fn actual_request_headers(headers: &mut HeaderMap, origin: Option<HeaderValue>) {
    if let Some(origin) = origin {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    }
    // "Expose any header" with credentials: the names of the answer's own headers, as they stand
    // in actix at that point, i.e. without the Content-Length its encoder adds later (axum's
    // router has already added it here).
    let exposed: Vec<&str> = headers
        .keys()
        .filter(|name| *name != header::CONTENT_LENGTH)
        .map(|name| name.as_str())
        .collect();
    if !exposed.is_empty() {
        // Header names joined by ", " always form a valid value.
        if let Ok(exposed) = HeaderValue::from_str(&exposed.join(", ")) {
            headers.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, exposed);
        }
    }
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
        HeaderValue::from_static("true"),
    );
    add_vary(headers);
}

/// Appends to an existing `Vary` rather than replacing it, as actix-cors does.
fn add_vary(headers: &mut HeaderMap) {
    let value = match headers.get(header::VARY) {
        Some(existing) => {
            let mut value = existing.as_bytes().to_vec();
            value.extend_from_slice(b", ");
            value.extend_from_slice(VARY.as_bytes());
            // A valid value extended with header names stays valid.
            HeaderValue::from_bytes(&value).unwrap_or_else(|_| HeaderValue::from_static(VARY))
        }
        None => HeaderValue::from_static(VARY),
    };
    headers.insert(header::VARY, value);
}
