//! One module per group of endpoints.

pub mod attestation;
pub mod proving;
pub mod status;
