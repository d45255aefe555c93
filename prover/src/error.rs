//! The one error type handlers return, mapped to the official server's status codes.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::jobs::JobError;
use crate::proving::ProvingError;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// Malformed, truncated or wrongly tagged input: the client must change its request.
    #[error("{0}")]
    BadRequest(String),
    /// Nothing here answers this request (404), e.g. a path parameter of the wrong type.
    #[error("{0}")]
    NotFound(String),
    /// The request's Content-Type is not what the route takes (415).
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// The job queue is full (429, as the official server answers).
    #[error("{0}")]
    TooManyRequests(String),
    /// The server cannot do this at all here (no TEE device, TLS off, parameters missing).
    #[error("{0}")]
    Unavailable(String),
    #[error("{0}")]
    Internal(String),
}

impl From<JobError> for AppError {
    fn from(error: JobError) -> Self {
        match error {
            JobError::QueueFull { .. } => AppError::TooManyRequests(error.to_string()),
            JobError::ShuttingDown => AppError::Unavailable(error.to_string()),
            JobError::TimedOut(_) | JobError::WorkerFailed(_) => {
                AppError::Internal(error.to_string())
            }
        }
    }
}

impl From<ProvingError> for AppError {
    fn from(error: ProvingError) -> Self {
        match error {
            ProvingError::BadInput(message) => AppError::BadRequest(message),
            ProvingError::Internal(message) => AppError::Internal(message),
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let status = match &self {
            AppError::BadRequest(_) => StatusCode::BAD_REQUEST,
            AppError::NotFound(_) => StatusCode::NOT_FOUND,
            AppError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            AppError::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            AppError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        // 503s (no TEE here, TLS off) are answers, not faults; the access log records them.
        if let AppError::Internal(_) = &self {
            tracing::warn!(%status, error = %self, "request failed");
        }
        (status, self.to_string()).into_response()
    }
}
