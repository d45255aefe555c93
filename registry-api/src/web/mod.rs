//! Server-rendered pages for people: the releases, and one release with its measurements per
//! platform, signature status and rebuild agreement. Plain HTML with one inline script for the copy
//! buttons, so there is no JavaScript build chain.

mod layout;
mod pages;

use axum::extract::{Path, Query, State};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use crate::error::ApiError;
use crate::releases::PageQuery;
use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(releases_page))
        .route("/releases/{version}", get(release_page))
        .route("/keys", get(keys_page))
}

/// Errors on pages are pages too, with the same message the API would give.
fn error_page(error: ApiError) -> Response {
    let status = error.status();
    if status.is_server_error() {
        tracing::warn!(%error, "page failed");
    }
    (
        status,
        Html(layout::page("Error", pages::error(status, &error.to_string())).into_string()),
    )
        .into_response()
}

async fn releases_page(State(state): State<AppState>, Query(query): Query<PageQuery>) -> Response {
    match crate::releases::list_page(&state.pool, &query).await {
        Ok(page) => {
            Html(layout::page("Releases", pages::releases(&page, query.limit)).into_string())
                .into_response()
        }
        Err(error) => error_page(error),
    }
}

async fn release_page(State(state): State<AppState>, Path(version): Path<String>) -> Response {
    match crate::releases::detail(&state.pool, &version).await {
        Ok(release) => {
            let title = format!("{} {}", release.summary.package, release.summary.version);
            Html(layout::page(&title, pages::release(&release)).into_string()).into_response()
        }
        Err(error) => error_page(error),
    }
}

async fn keys_page(State(state): State<AppState>) -> Response {
    match crate::keys::all(&state.pool).await {
        Ok(keys) => {
            Html(layout::page("Signing keys", pages::keys(&keys)).into_string()).into_response()
        }
        Err(error) => error_page(error.into()),
    }
}
