//! Turning loaded data into answers: JSON with an ETag, served from the response cache when the
//! same URL was answered since the last change; and the extractors every handler uses for its
//! inputs (body, query string, path), which answer malformed input with the registry's JSON error.

use std::future::Future;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde::Serialize;
use sha2::{Digest, Sha256};
use utoipa::IntoParams;

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

/// The query string as `T`, or a JSON error (400, `malformed_request`) that names the parameter,
/// the value sent and the form every parameter expects, instead of axum's plain-text rejection.
#[derive(Debug, Clone, Copy, Default)]
pub struct Query<T>(pub T);

impl<T, S> FromRequestParts<S> for Query<T>
where
    T: DeserializeOwned + IntoParams,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parse_query(parts.uri.query().unwrap_or_default()).map(Query)
    }
}

/// Decodes a query string (without the `?`) into `T`; see [`Query`].
pub fn parse_query<T: DeserializeOwned + IntoParams>(query: &str) -> Result<T, ApiError> {
    let pairs = form_urlencoded::parse(query.as_bytes());
    let deserializer = serde_urlencoded::Deserializer::new(pairs);
    serde_path_to_error::deserialize(deserializer).map_err(|error| {
        let parameter = error.path().to_string();
        let problem = error.inner().to_string();
        let sent = form_urlencoded::parse(query.as_bytes())
            .find(|(name, _)| *name == parameter)
            .map(|(_, value)| value.into_owned());
        let what = match sent {
            Some(value) => format!("parameter {parameter}={value:?}: {problem}"),
            None if parameter == "." => problem,
            None => format!("parameter {parameter}: {problem}"),
        };
        ApiError::MalformedRequest(format!(
            "malformed query string: {what}; expected {}",
            expected_parameters::<T>()
        ))
    })
}

/// `name=<type> (description), ...` from the parameters' OpenAPI description.
fn expected_parameters<T: IntoParams>() -> String {
    use utoipa::openapi::schema::{Schema, SchemaType, Type};
    use utoipa::openapi::RefOr;
    let parameters = T::into_params(|| Some(utoipa::openapi::path::ParameterIn::Query));
    if parameters.is_empty() {
        return "no parameters".to_owned();
    }
    parameters
        .iter()
        .map(|parameter| {
            let kind = match &parameter.schema {
                Some(RefOr::T(Schema::Object(object))) => match &object.schema_type {
                    SchemaType::Type(kind) => Some(kind),
                    SchemaType::Array(kinds) => kinds.iter().find(|k| **k != Type::Null),
                    SchemaType::AnyValue => None,
                },
                _ => None,
            };
            let kind = match (kind, &parameter.schema) {
                (_, Some(RefOr::T(Schema::Object(object)))) if object.enum_values.is_some() => {
                    let values: Vec<String> = object
                        .enum_values
                        .iter()
                        .flatten()
                        .map(|value| {
                            value
                                .as_str()
                                .map_or_else(|| value.to_string(), str::to_owned)
                        })
                        .collect();
                    values.join("|")
                }
                (Some(Type::Integer), _) => "integer".to_owned(),
                (Some(Type::Number), _) => "number".to_owned(),
                (Some(Type::Boolean), _) => "true|false".to_owned(),
                _ => "text".to_owned(),
            };
            let description = parameter
                .description
                .as_deref()
                .map(|text| format!(" ({})", text.trim().trim_end_matches('.')))
                .unwrap_or_default();
            format!("{}=<{kind}>{description}", parameter.name)
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// A JSON body as `T`, read with [`RawBody`]'s size limit; a body that does not decode is a
/// JSON error (422, `invalid_input`) naming the field, instead of axum's plain-text rejection.
/// No Content-Type is required (`curl --data-binary` sends none that says JSON).
#[derive(Debug, Clone, Copy, Default)]
pub struct Json<T>(pub T);

impl<T, S> axum::extract::FromRequest<S> for Json<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(
        request: axum::extract::Request,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        let RawBody(body) = RawBody::from_request(request, state).await?;
        parse_json(&body).map(Json)
    }
}

/// Decodes a JSON body into `T`; see [`Json`].
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let path = error.path().to_string();
        let problem = error.inner().to_string();
        if path == "." {
            ApiError::invalid(format!(
                "the body is not the JSON this endpoint takes: {problem}"
            ))
        } else {
            ApiError::invalid(format!(
                "the body is not the JSON this endpoint takes: at {path}: {problem}"
            ))
        }
    })?;
    deserializer.end().map_err(|error| {
        ApiError::invalid(format!(
            "the body has more than one JSON value: {error}; send exactly one"
        ))
    })?;
    Ok(value)
}

/// Path parameters as `T`, or a JSON error (400, `malformed_request`) naming the parameter and
/// the expected type, instead of axum's plain-text rejection.
#[derive(Debug, Clone, Copy, Default)]
pub struct Path<T>(pub T);

impl<T, S> FromRequestParts<S> for Path<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        use axum::extract::path::ErrorKind;
        use axum::extract::rejection::PathRejection;
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(Path(value)),
            Err(PathRejection::FailedToDeserializePathParams(error)) => {
                let message = match error.kind() {
                    ErrorKind::ParseErrorAtKey {
                        key,
                        value,
                        expected_type,
                    } => format!("path parameter {key}={value:?} is not a valid {expected_type}"),
                    ErrorKind::InvalidUtf8InPathParam { key } => {
                        format!("path parameter {key} is not UTF-8 once percent-decoded")
                    }
                    _ => format!("malformed path: {}", error.body_text()),
                };
                Err(ApiError::MalformedRequest(message))
            }
            Err(rejection) => Err(ApiError::internal(std::io::Error::other(
                rejection.body_text(),
            ))),
        }
    }
}
