//! GET /ohttp-keys and POST /ohttp: the server's own Oblivious HTTP gateway (RFC 9458). A decrypted
//! request is dispatched in-process to the server's routes, all except /ohttp itself (no nesting),
//! and the answer goes back encrypted to the same client.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::MatchedPath;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use tower::ServiceExt;

use crate::app::AppState;
use crate::error::AppError;
use crate::ohttp::gateway::{decode_request, encode_response, encode_text_response};
use crate::ohttp::{
    OhttpError, OhttpKeys, KEYS_MEDIA_TYPE, REQUEST_MEDIA_TYPE, RESPONSE_MEDIA_TYPE,
};

pub async fn ohttp_keys(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, KEYS_MEDIA_TYPE)],
        state.ohttp.key_config_list().to_vec(),
    )
}

/// What the gateway needs: the keys and the router it forwards to (which has no /ohttp route).
#[derive(Clone)]
pub struct Gateway {
    pub keys: Arc<OhttpKeys>,
    pub inner: Router,
}

pub async fn gateway(
    State(gateway): State<Gateway>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    if content_type != REQUEST_MEDIA_TYPE {
        return Err(AppError::UnsupportedMediaType(format!(
            "POST /ohttp takes Content-Type: {REQUEST_MEDIA_TYPE} (an RFC 9458 encapsulated request), \
             not {content_type:?}"
        )));
    }
    // X25519 and one AEAD pass over at most the request limit: cheap enough for an async worker.
    let (inner_request, encryptor) = gateway
        .keys
        .decapsulate(&body)
        .map_err(|e| AppError::BadRequest(e.to_string()))?;
    drop(body);
    // From here on the client can decrypt our answers: refusals of the inner request go back encrypted,
    // so whatever relays the request learns nothing about it.
    let inner_answer = match decode_request(&inner_request) {
        Ok(request) => {
            drop(inner_request);
            let response = match gateway.inner.oneshot(request).await {
                Ok(response) => response,
                Err(never) => match never {},
            };
            let response = explain_unknown_route(response);
            encode_response(response).await
        }
        Err(error) => encode_text_response(error.status(), &error.to_string()),
    }
    .map_err(|e| AppError::Internal(e.to_string()))?;
    let encrypted = encryptor
        .encapsulate(&inner_answer)
        .map_err(|e| AppError::Internal(OhttpError::Encapsulate(e).to_string()))?;
    let mut response = Response::new(Body::from(encrypted));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(RESPONSE_MEDIA_TYPE),
    );
    Ok(response)
}

/// The router answers an unknown path with actix's bare 404; through the gateway, say why.
fn explain_unknown_route(response: Response) -> Response {
    if response.status() == StatusCode::NOT_FOUND
        && response.extensions().get::<MatchedPath>().is_none()
    {
        let text = "no such route on this server (through POST /ohttp: /k, /check, /prove, /prove-tx, \
                    /version, /health, /ready, /proof-versions, /attestation, /ohttp-keys; never /ohttp)";
        return (StatusCode::NOT_FOUND, text).into_response();
    }
    response
}
