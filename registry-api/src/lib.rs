//! mpr's registry: records releases, builds, artifacts and measurements in PostgreSQL and serves
//! them to wallets (JSON under /v1) and people (HTML pages).
//!
//! One module per resource, each with its handlers and queries side by side: `releases`,
//! `measurements`, `builds`, `keys`, `manifests` (a release's statement), `statements` (signed
//! status changes and addenda; `statement` renders them); `health` for operations. Requests are checked in
//! `submission` (shared with the fuzz target), rendered to JSON through `respond`'s cache, and every
//! failure is an [`error::ApiError`].

pub mod attestations;
pub mod auth;
pub mod builds;
pub mod cache;
pub mod db;
pub mod embedded_postgres;
pub mod error;
pub mod github;
pub mod health;
pub mod keys;
pub mod log;
pub mod manifests;
pub mod measurements;
pub mod openpgp;
pub mod platform;
pub mod releases;
pub mod respond;
pub mod server;
pub mod signing;
pub mod state;
pub mod statement;
pub mod statements;
pub mod submission;
pub mod testing;
pub mod tokens;
mod web;

pub use error::ApiError;
pub use platform::Platform;
pub use state::AppState;
