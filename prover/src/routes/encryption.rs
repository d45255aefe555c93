//! `--require-encryption`: the routes that carry private data (circuits, witnesses, transactions)
//! answer only requests that came through the OHTTP gateway, so no plaintext copy of them crosses
//! anything outside the TEE.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::app::AppState;
use crate::ohttp::gateway::ViaGateway;

/// What a plaintext client is told: where the encrypted way in is.
pub const REQUIRE_ENCRYPTION_MESSAGE: &str = "this server requires encrypted proving requests \
     (--require-encryption): send this request as Oblivious HTTP (RFC 9458), a Binary HTTP request \
     encapsulated to the key config from GET /ohttp-keys, to POST /ohttp";

/// Route layer for the private routes: 403 for plaintext when encryption is required.
pub async fn private_route(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Response {
    if state.require_encryption && request.extensions().get::<ViaGateway>().is_none() {
        let body = json!({
            "error": REQUIRE_ENCRYPTION_MESSAGE,
            "ohttp_gateway": "POST /ohttp",
            "ohttp_keys": "GET /ohttp-keys",
        });
        return (StatusCode::FORBIDDEN, Json(body)).into_response();
    }
    next.run(request).await
}
