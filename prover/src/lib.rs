//! The Midnight-compatible proof server, built to run inside a TEE (issue 3, in progress).
//!
//! - [`config`]: the official server's flags and environment variables, plus `--listen` and `--tls`;
//! - [`listen`], [`server`]: TCP and AF_VSOCK listeners, TLS terminated in-process, graceful shutdown;
//! - [`jobs`]: the bounded job queue in front of the proving workers (429 when full, timeouts);
//! - [`tls`]: a TLS identity generated at start-up whose private key never leaves the process;
//! - [`attestation`]: platform evidence (AWS Nitro NSM, SEV-SNP or TDX through configfs-tsm, a vTPM
//!   quote on GCP/Azure confidential VMs, a GCP Confidential Space token) binding
//!   the wallet's nonce, that TLS key **and** the OHTTP key config, so a relay cannot forward a genuine document while
//!   terminating TLS somewhere else;
//! - [`ohttp`]: the server as its own Oblivious HTTP gateway, so proving requests cross the untrusted
//!   host encrypted to a key that lives in the TEE (and `--require-encryption` to insist on it);
//! - [`staple`]: the deploy-time release statement, signatures and log proof returned with evidence;
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
pub mod ohttp;
pub mod proving;
pub mod routes;
pub mod server;
pub mod staple;
pub mod startup;
pub mod tls;
