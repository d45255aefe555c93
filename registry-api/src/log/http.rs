//! The log over HTTP: C2SP tlog-tiles (checkpoint, hash tiles, entry bundles: static paths that
//! caches can keep, full tiles for ever) and a JSON API for proofs, lookups and proof bundles.
//!
//! Everything is answered from the published checkpoint and the in-memory tree, never beyond the
//! checkpoint's size; only entry bundles read the database.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde::Serialize;
use utoipa::ToSchema;
use verifier::tlog::{self as tlog, Hash, Note, Tile};

use super::storage::{self, LoggedStatement};
use super::{Log, Published};
use crate::error::{ApiError, ErrorBody, ErrorDetail};
use crate::state::AppState;

/// Full tiles and full entry bundles never change.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// The checkpoint and partial tiles change as the log grows.
const SHORT_LIVED: &str = "public, max-age=1";
const NOT_STORED: &str = "no-cache";

/// Failures of log requests, in the registry's JSON error shape. Bad query values are 400s that
/// name the parameter; a log still loading is a 503.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("query parameter `{name}`: {problem}")]
    BadParameter { name: &'static str, problem: String },
    #[error("{0}")]
    BadRequest(String),
    #[error("the transparency log is loading; retry shortly")]
    NotReady,
    #[error(transparent)]
    Api(#[from] ApiError),
}

impl From<sqlx::Error> for LogError {
    fn from(error: sqlx::Error) -> Self {
        LogError::Api(error.into())
    }
}

impl IntoResponse for LogError {
    fn into_response(self) -> Response {
        let (status, code) = match &self {
            LogError::Api(_) => {
                let LogError::Api(error) = self else {
                    unreachable!("matched just above")
                };
                return error.into_response();
            }
            LogError::BadParameter { .. } | LogError::BadRequest(_) => {
                (StatusCode::BAD_REQUEST, "invalid_input")
            }
            LogError::NotReady => (StatusCode::SERVICE_UNAVAILABLE, "log_unavailable"),
        };
        let body = ErrorBody {
            error: ErrorDetail {
                code,
                message: self.to_string(),
            },
        };
        let mut response = (status, axum::Json(body)).into_response();
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}

/// The routes outside the OpenAPI document: the static tlog-tiles layout.
pub fn routes() -> axum::Router<AppState> {
    axum::Router::new()
        .route("/log/checkpoint", axum::routing::get(checkpoint))
        .route("/log/tile/{*path}", axum::routing::get(tile))
}

pub(crate) fn log_of(state: &AppState) -> Result<&Arc<Log>, LogError> {
    state.log.as_ref().ok_or_else(|| {
        LogError::Api(ApiError::NotFound(
            "this registry runs no transparency log (start it with `mpr serve`, which enables the log)"
                .to_owned(),
        ))
    })
}

fn published(log: &Log) -> Result<Arc<Published>, LogError> {
    log.published().ok_or(LogError::NotReady)
}

fn text(body: String, cache: &'static str) -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static(cache)),
        ],
        body,
    )
        .into_response()
}

fn binary(body: Vec<u8>, cache: &'static str) -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/octet-stream"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static(cache)),
        ],
        body,
    )
        .into_response()
}

/// GET /log/checkpoint: the latest checkpoint with the witnesses' cosignatures appended.
pub async fn checkpoint(State(state): State<AppState>) -> Result<Response, LogError> {
    let log = log_of(&state)?;
    Ok(text(published(log)?.served.clone(), SHORT_LIVED))
}

/// GET /log/tile/<L>/<N>[.p/<W>] and /log/tile/entries/<N>[.p/<W>].
pub async fn tile(
    State(state): State<AppState>,
    Path(path): Path<String>,
) -> Result<Response, LogError> {
    let log = log_of(&state)?;
    let size = published(log)?.size;
    let tile = Tile::parse_path(&format!("tile/{path}")).map_err(|error| {
        LogError::Api(ApiError::NotFound(format!(
            "no tile /log/tile/{path}: {error}"
        )))
    })?;
    // A partial tile narrower than what the tree has is still exact: its hashes never change.
    let available = Tile::at_size(tile.level, tile.index, size).map_or(0, |have| have.width);
    if tile.width > available {
        return Err(LogError::Api(ApiError::NotFound(format!(
            "tile /log/tile/{path} is beyond the log's checkpoint of {size} entries"
        ))));
    }
    let cache = if tile.is_partial() {
        SHORT_LIVED
    } else {
        IMMUTABLE
    };
    if tile.level.is_none() {
        let start = tile
            .start_leaf()
            .ok_or_else(|| ApiError::invalid("tile index too large"))?;
        let entries = storage::entries(log.pool(), start, start + u64::from(tile.width)).await?;
        let bundle = tlog::tile::encode_bundle(&entries).map_err(ApiError::internal)?;
        return Ok(binary(bundle, cache));
    }
    let tree = log.read_tree();
    let bytes = tlog::tile::tile_bytes(&*tree, &tile).map_err(ApiError::internal)?;
    Ok(binary(bytes, cache))
}

fn b64(hash: &Hash) -> String {
    base64::engine::general_purpose::STANDARD.encode(hash)
}

/// A non-negative integer query parameter.
fn number(query: &HashMap<String, String>, name: &'static str) -> Result<Option<u64>, LogError> {
    query
        .get(name)
        .map(|value| {
            value.parse::<u64>().map_err(|_| LogError::BadParameter {
                name,
                problem: format!("`{value}` is not a non-negative integer"),
            })
        })
        .transpose()
}

fn required(value: Option<u64>, name: &'static str) -> Result<u64, LogError> {
    value.ok_or(LogError::BadParameter {
        name,
        problem: "missing; give it as a non-negative integer".to_owned(),
    })
}

fn query_of(
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<HashMap<String, String>, LogError> {
    query
        .map(|Query(query)| query)
        .map_err(|rejection| LogError::BadRequest(format!("malformed query string: {rejection}")))
}

/// A tree size no larger than the published checkpoint.
fn within(size: u64, name: &'static str, published: u64) -> Result<u64, LogError> {
    if size > published {
        return Err(LogError::BadParameter {
            name,
            problem: format!("{size} is beyond the log's checkpoint of {published} entries"),
        });
    }
    Ok(size)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct InclusionProof {
    pub index: u64,
    pub size: u64,
    /// Base64 (standard, padded) like every hash here, as in C2SP formats.
    pub leaf_hash: String,
    pub root: String,
    pub proof: Vec<String>,
}

#[utoipa::path(get, path = "/v1/log/proof/inclusion", tag = "log",
    params(("index" = u64, Query, description = "leaf index"),
           ("size" = Option<u64>, Query, description = "tree size, at most the checkpoint's (default: the checkpoint's)")),
    responses((status = 200, body = InclusionProof), (status = 400, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn inclusion(
    State(state): State<AppState>,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<Response, LogError> {
    let query = query_of(query)?;
    let log = log_of(&state)?;
    let published = published(log)?.size;
    let index = required(number(&query, "index")?, "index")?;
    let size = within(
        number(&query, "size")?.unwrap_or(published),
        "size",
        published,
    )?;
    if index >= size {
        return Err(LogError::BadParameter {
            name: "index",
            problem: format!("{index} is not below the tree size {size}"),
        });
    }
    let tree = log.read_tree();
    let proof = tlog::inclusion_proof(&*tree, index, size).map_err(ApiError::internal)?;
    let root = tree.root_at(size).map_err(ApiError::internal)?;
    let leaf = tree
        .leaf_hash(index)
        .ok_or_else(|| ApiError::invalid("no such leaf"))?;
    drop(tree);
    Ok(no_store_json(&InclusionProof {
        index,
        size,
        leaf_hash: b64(&leaf),
        root: b64(&root),
        proof: proof.iter().map(b64).collect(),
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ConsistencyProof {
    pub from: u64,
    pub to: u64,
    pub from_root: String,
    pub to_root: String,
    pub proof: Vec<String>,
}

#[utoipa::path(get, path = "/v1/log/proof/consistency", tag = "log",
    params(("from" = u64, Query, description = "the older tree size"),
           ("to" = Option<u64>, Query, description = "the newer tree size, at most the checkpoint's (default: the checkpoint's)")),
    responses((status = 200, body = ConsistencyProof), (status = 400, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn consistency(
    State(state): State<AppState>,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<Response, LogError> {
    let query = query_of(query)?;
    let log = log_of(&state)?;
    let published = published(log)?.size;
    let from = required(number(&query, "from")?, "from")?;
    let to = within(number(&query, "to")?.unwrap_or(published), "to", published)?;
    if from > to {
        return Err(LogError::BadParameter {
            name: "from",
            problem: format!("{from} is larger than `to` ({to})"),
        });
    }
    let tree = log.read_tree();
    let proof = tlog::consistency_proof(&*tree, from, to).map_err(ApiError::internal)?;
    let from_root = tree.root_at(from).map_err(ApiError::internal)?;
    let to_root = tree.root_at(to).map_err(ApiError::internal)?;
    drop(tree);
    Ok(no_store_json(&ConsistencyProof {
        from,
        to,
        from_root: b64(&from_root),
        to_root: b64(&to_root),
        proof: proof.iter().map(b64).collect(),
    }))
}

fn no_store_json(value: &impl Serialize) -> Response {
    (
        [(header::CACHE_CONTROL, HeaderValue::from_static(NOT_STORED))],
        axum::Json(value),
    )
        .into_response()
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StatementEntries {
    pub statement: String,
    pub entries: Vec<LoggedStatement>,
}

#[utoipa::path(get, path = "/v1/log/entries", tag = "log",
    params(("statement" = String, Query, description = "sha256:<64 lowercase hex> of the statement's bytes")),
    responses((status = 200, body = StatementEntries), (status = 400, body = ErrorBody)))]
pub async fn entries(
    State(state): State<AppState>,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<Response, LogError> {
    let query = query_of(query)?;
    let log = log_of(&state)?;
    let statement = query.get("statement").ok_or(LogError::BadParameter {
        name: "statement",
        problem: "missing; give sha256:<64 lowercase hex>".to_owned(),
    })?;
    let digest = statement
        .strip_prefix("sha256:")
        .filter(|hex| {
            hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        })
        .ok_or_else(|| LogError::BadParameter {
            name: "statement",
            problem: format!("`{statement}` is not sha256:<64 lowercase hex>"),
        })?;
    let found = storage::entries_of_statement(log.pool(), digest).await?;
    // Entries appended after the served checkpoint are not provable yet: leave them out.
    let size = log.published().map_or(0, |published| published.size);
    let entries = found
        .into_iter()
        .filter(|entry| entry.index < size)
        .collect();
    Ok(no_store_json(&StatementEntries {
        statement: statement.clone(),
        entries,
    }))
}

#[utoipa::path(get, path = "/v1/log/bundle", tag = "log",
    params(("index" = u64, Query, description = "leaf index")),
    responses((status = 200, description = "c2sp.org/tlog-proof@v1 text against the newest cosigned checkpoint (the newest checkpoint when the registry has no witnesses)", content_type = "text/plain"),
              (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn bundle(
    State(state): State<AppState>,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<Response, LogError> {
    let query = query_of(query)?;
    let log = log_of(&state)?;
    let index = required(number(&query, "index")?, "index")?;
    let checkpoint = if log.witnesses().is_empty() {
        published(log)?
    } else {
        log.cosigned().ok_or_else(|| {
            ApiError::NotFound(
                "no checkpoint is cosigned by a witness yet; retry once the witnesses have run"
                    .to_owned(),
            )
        })?
    };
    if index >= checkpoint.size {
        return Err(LogError::Api(ApiError::NotFound(format!(
            "entry {index} is not in the newest cosigned checkpoint ({} entries) yet; retry once the witnesses have cosigned a newer one",
            checkpoint.size
        ))));
    }
    let tree = log.read_tree();
    let proof =
        tlog::inclusion_proof(&*tree, index, checkpoint.size).map_err(ApiError::internal)?;
    drop(tree);
    let bundle = tlog::ProofBundle {
        extra: None,
        index,
        proof,
        checkpoint: Note::parse(&checkpoint.served).map_err(ApiError::internal)?,
    };
    Ok(text(bundle.format(), NOT_STORED))
}
