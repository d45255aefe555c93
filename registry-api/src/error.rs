//! The one error type every handler returns, mapped to an HTTP status and a JSON body
//! `{"error": {"code": "...", "message": "..."}}`. Codes are stable for clients; messages are for
//! people and say what to do.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    InvalidInput(String),
    #[error("{0}")]
    NotFound(String),
    #[error("no route {0}; the API is documented at /openapi.json")]
    NoSuchRoute(String),
    #[error("{0}")]
    Conflict(String),
    #[error("the request body is larger than {0} bytes")]
    PayloadTooLarge(usize),
    #[error("{0}")]
    Unauthorized(&'static str),
    /// Authenticated, but the token's role may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// A query string or path parameter that does not parse (bodies that do not parse are
    /// InvalidInput, as they always were).
    #[error("{0}")]
    MalformedRequest(String),
    #[error("{0}")]
    SignatureRejected(String),
    #[error("the database is unavailable; retry shortly")]
    DatabaseUnavailable(#[source] sqlx::Error),
    #[error("internal error; the server log has the details")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// The JSON body of every error answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable, machine-readable: invalid_input, malformed_request, not_found, no_such_route,
    /// conflict, payload_too_large, unauthorized, forbidden, signature_rejected,
    /// database_unavailable, internal.
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::InvalidInput(_) => "invalid_input",
            ApiError::NotFound(_) => "not_found",
            ApiError::NoSuchRoute(_) => "no_such_route",
            ApiError::Conflict(_) => "conflict",
            ApiError::PayloadTooLarge(_) => "payload_too_large",
            ApiError::Unauthorized(_) => "unauthorized",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::MalformedRequest(_) => "malformed_request",
            ApiError::SignatureRejected(_) => "signature_rejected",
            ApiError::DatabaseUnavailable(_) => "database_unavailable",
            ApiError::Internal(_) => "internal",
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::InvalidInput(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::NotFound(_) | ApiError::NoSuchRoute(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::MalformedRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::SignatureRejected(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::DatabaseUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        ApiError::InvalidInput(message.into())
    }

    pub fn internal(error: impl std::error::Error + Send + Sync + 'static) -> Self {
        ApiError::Internal(Box::new(error))
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(error: sqlx::Error) -> Self {
        match &error {
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::Protocol(_)
            | sqlx::Error::WorkerCrashed => ApiError::DatabaseUnavailable(error),
            // The server is shutting down or restarting (admin_shutdown, crash_shutdown,
            // cannot_connect_now): the same as unreachable for our callers.
            sqlx::Error::Database(db) if db.code().is_some_and(|code| code.starts_with("57P")) => {
                ApiError::DatabaseUnavailable(error)
            }
            _ => ApiError::Internal(Box::new(error)),
        }
    }
}

impl From<crate::openpgp::OpenPgpError> for ApiError {
    fn from(error: crate::openpgp::OpenPgpError) -> Self {
        use crate::openpgp::ErrorKind;
        match error.kind() {
            ErrorKind::InvalidInput => ApiError::InvalidInput(error.to_string()),
            ErrorKind::KeyUnusable | ErrorKind::UnknownKey | ErrorKind::BadSignature => {
                ApiError::SignatureRejected(error.to_string())
            }
            ErrorKind::Internal => ApiError::Internal(Box::new(error)),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        match &self {
            ApiError::Internal(source) => tracing::error!(error = %source, "internal error"),
            ApiError::DatabaseUnavailable(source) => {
                tracing::warn!(error = %source, "database unavailable")
            }
            _ => {}
        }
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code(),
                message: self.to_string(),
            },
        };
        let mut response = (status, axum::Json(body)).into_response();
        if matches!(self, ApiError::DatabaseUnavailable(_)) {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        if matches!(self, ApiError::Unauthorized(_)) {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"mpr\""),
            );
        }
        response
    }
}
