//! One module per group of endpoints.

pub mod attestation;
pub mod encryption;
pub mod ohttp;
pub mod proving;
pub mod status;
