//! Turning loaded data into answers: JSON with an ETag, served from the response cache when the
//! same URL was answered since the last change.

use std::future::Future;

use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::cache::CachedAnswer;
use crate::error::ApiError;
use crate::state::AppState;

/// Wallets must see a deprecation at once, so clients revalidate every time (cheap: 304s).
const CACHE_CONTROL: &str = "no-cache";

/// Answers a public GET from the cache, or loads, serialises and caches it.
pub async fn cached_json<T, F>(
    state: &AppState,
    uri: &Uri,
    headers: &HeaderMap,
    load: F,
) -> Result<Response, ApiError>
where
    T: Serialize,
    F: Future<Output = Result<T, ApiError>>,
{
    let key = uri
        .path_and_query()
        .map_or_else(|| uri.path(), |pq| pq.as_str());
    if let Some(answer) = state.cache.get(key) {
        return Ok(json_answer(answer, headers));
    }
    let generation = state.cache.generation();
    let value = load.await?;
    let body = Bytes::from(serde_json::to_vec(&value).map_err(ApiError::internal)?);
    let answer = CachedAnswer {
        etag: etag_of(&body),
        body,
    };
    state
        .cache
        .insert(key.to_owned(), answer.clone(), generation);
    Ok(json_answer(answer, headers))
}

fn etag_of(body: &[u8]) -> HeaderValue {
    let tag = format!("\"{}\"", hex::encode(&Sha256::digest(body)[..12]));
    HeaderValue::from_str(&tag).expect("quoted hex is a valid header value")
}

fn json_answer(answer: CachedAnswer, headers: &HeaderMap) -> Response {
    let etag = answer.etag;
    let matches = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| {
            value
                .split(',')
                .any(|tag| tag.trim().as_bytes() == etag.as_bytes() || tag.trim() == "*")
        });
    let cache_control = HeaderValue::from_static(CACHE_CONTROL);
    if matches {
        return (
            StatusCode::NOT_MODIFIED,
            [(header::ETAG, etag), (header::CACHE_CONTROL, cache_control)],
        )
            .into_response();
    }
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            ),
            (header::ETAG, etag),
            (header::CACHE_CONTROL, cache_control),
        ],
        answer.body,
    )
        .into_response()
}

/// A request body of at most [`crate::submission::MAX_BODY_BYTES`], refused with a JSON error (413)
/// that names the limit instead of axum's plain-text rejection.
pub struct RawBody(pub Bytes);

impl<S: Send + Sync> axum::extract::FromRequest<S> for RawBody {
    type Rejection = ApiError;

    async fn from_request(
        request: axum::extract::Request,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        match Bytes::from_request(request, state).await {
            Ok(bytes) => Ok(RawBody(bytes)),
            Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                Err(ApiError::PayloadTooLarge(crate::submission::MAX_BODY_BYTES))
            }
            Err(rejection) => Err(ApiError::invalid(format!(
                "could not read the request body: {rejection}"
            ))),
        }
    }
}
