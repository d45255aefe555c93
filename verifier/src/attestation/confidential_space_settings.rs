//! The trust policy's `confidential_space_*` keys (documented in super::settings), read into
//! what crate::confidential_space judges tokens by.

use crate::confidential_space::{
    Jwks, SupportLevel, TokenPolicy, DEFAULT_AUDIENCE, DEFAULT_HWMODELS,
};

/// Longest audience Google's launcher accepts.
const MAX_AUDIENCE_BYTES: usize = 512;

/// How Confidential Space tokens are judged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfidentialSpaceSettings {
    /// Keys OIDC tokens may be signed with (default: the built-in snapshot of Google's set).
    pub jwks: Jwks,
    /// SHA-256 of roots a PKI token's chain may end at (default: none).
    pub roots: Vec<[u8; 32]>,
    /// The audience the prover asks the launcher for (default `mpr-attestation`).
    pub audience: String,
    pub min_support: SupportLevel,
    pub hwmodels: Vec<String>,
}

impl Default for ConfidentialSpaceSettings {
    fn default() -> Self {
        ConfidentialSpaceSettings {
            jwks: Jwks::google_snapshot(),
            roots: Vec::new(),
            audience: DEFAULT_AUDIENCE.to_owned(),
            min_support: SupportLevel::Stable,
            hwmodels: DEFAULT_HWMODELS.iter().map(|m| (*m).to_owned()).collect(),
        }
    }
}

/// The raw TOML values, each `None` when the policy leaves the key out.
pub(super) struct RawConfidentialSpace {
    pub jwks: Option<String>,
    pub roots: Option<Vec<[u8; 32]>>,
    pub audience: Option<String>,
    pub min_support: Option<String>,
    pub hwmodels: Option<Vec<String>>,
}

impl ConfidentialSpaceSettings {
    pub(super) fn from_raw(raw: RawConfidentialSpace) -> Result<Self, String> {
        let defaults = ConfidentialSpaceSettings::default();
        let jwks = match raw.jwks {
            Some(json) => Jwks::parse(&json)
                .map_err(|error| format!("[attestation] confidential_space_jwks: {error}"))?,
            None => defaults.jwks,
        };
        let audience = raw.audience.unwrap_or(defaults.audience);
        if audience.is_empty() || audience.len() > MAX_AUDIENCE_BYTES {
            return Err(format!(
                "[attestation] confidential_space_audience must be 1 to {MAX_AUDIENCE_BYTES} bytes: the audience the prover asks the launcher for (default {DEFAULT_AUDIENCE:?})"
            ));
        }
        let min_support = match raw.min_support {
            Some(text) => SupportLevel::parse(&text).ok_or_else(|| {
                format!("[attestation] confidential_space_min_support = {text:?}: use \"USABLE\", \"STABLE\" (the default) or \"LATEST\"")
            })?,
            None => defaults.min_support,
        };
        let hwmodels = raw.hwmodels.unwrap_or(defaults.hwmodels);
        if hwmodels.is_empty() {
            return Err(format!(
                "[attestation] confidential_space_hwmodels is empty: leave it out for {DEFAULT_HWMODELS:?}, or list the hwmodel values to accept"
            ));
        }
        Ok(ConfidentialSpaceSettings {
            jwks,
            roots: raw.roots.unwrap_or_default(),
            audience,
            min_support,
            hwmodels,
        })
    }

    pub fn token_policy(&self, allow_debug: bool, max_future_skew_seconds: u64) -> TokenPolicy<'_> {
        TokenPolicy {
            jwks: &self.jwks,
            roots_sha256: &self.roots,
            audience: &self.audience,
            min_support: self.min_support,
            hwmodels: &self.hwmodels,
            allow_debug,
            max_future_skew_seconds,
        }
    }
}
