//! Nitro PCRs.
