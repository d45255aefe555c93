//! The Midnight-compatible proof server, built to run inside a TEE (issue 3, in progress).
//!
//! - [`config`]: the official server's flags and environment variables, plus `--listen` and `--tls`;
//! - [`listen`], [`server`]: TCP and AF_VSOCK listeners, TLS terminated in-process, graceful shutdown;
//! - [`jobs`]: the bounded job queue in front of the proving workers (429 when full, timeouts);
//! - [`tls`]: a TLS identity generated at start-up whose private key never leaves the process;
//! - [`attestation`]: platform evidence (AWS Nitro NSM, SEV-SNP or TDX through configfs-tsm) binding
//!   the wallet's nonce **and** that TLS key, so a relay cannot forward a genuine document while
//!   terminating TLS somewhere else;
//! - [`routes`]: the HTTP endpoints, with [`error::AppError`] mapping failures to status codes;
//! - [`compat`]: what the official server's framework answers (permissive CORS, 404 for a wrong
//!   method), reproduced in front of the routes.

pub mod app;
pub mod attestation;
pub mod compat;
pub mod config;
pub mod error;
pub mod jobs;
pub mod listen;
pub mod metrics;
pub mod proving;
pub mod routes;
pub mod server;
pub mod startup;
pub mod tls;
