//! Tokens over HTTP, for admins: list, create (the secret is in the answer, once) and revoke.
//! The first admin token is made with database access (`mpr registry token create --role admin`).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::{self, Admin, Role, TokenView};
use crate::error::{ApiError, ErrorBody};
use crate::respond::{Json, Path};
use crate::state::AppState;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    /// Who or what the token is for, e.g. `release-ci` or `rebuilder-alice`.
    pub name: String,
    pub role: Role,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedToken {
    pub name: String,
    pub role: Role,
    /// The secret: shown this once (only its SHA-256 is stored).
    pub token: String,
}

#[utoipa::path(get, path = "/v1/tokens", tag = "tokens",
    security(("publisher_token" = [])),
    responses((status = 200, body = Vec<TokenView>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list(State(state): State<AppState>, _admin: Admin) -> Result<Response, ApiError> {
    // Not through the public response cache: the answer is for admins only.
    Ok(axum::Json(auth::list_tokens(&state.pool).await?).into_response())
}

#[utoipa::path(post, path = "/v1/tokens", tag = "tokens", request_body = NewToken,
    security(("publisher_token" = [])),
    responses((status = 201, body = CreatedToken), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    admin: Admin,
    Json(new): Json<NewToken>,
) -> Result<Response, ApiError> {
    let token =
        auth::create_token_with_role(&state.pool, &new.name, new.role, Some(&admin.name)).await?;
    tracing::info!(name = %new.name, role = %new.role, admin = %admin.name, "token created");
    let created = CreatedToken {
        name: new.name,
        role: new.role,
        token,
    };
    Ok((StatusCode::CREATED, axum::Json(created)).into_response())
}

#[utoipa::path(post, path = "/v1/tokens/{name}/revoke", tag = "tokens",
    params(("name" = String, Path)),
    security(("publisher_token" = [])),
    responses((status = 200, body = Vec<TokenView>, description = "every token, the revoked one included"),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn revoke(
    State(state): State<AppState>,
    admin: Admin,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    if !auth::revoke_token(&state.pool, &name).await? {
        return Err(ApiError::NotFound(format!(
            "no active token named {name:?}; GET /v1/tokens lists them"
        )));
    }
    tracing::info!(%name, admin = %admin.name, "token revoked");
    Ok(axum::Json(auth::list_tokens(&state.pool).await?).into_response())
}
