//! GCP Confidential Space attestation tokens: the OIDC JWT Google's attestation service signs
//! after checking a Confidential Space VM's vTPM quote and event log. The token, not the quote,
//! is the evidence: it names the hardware (`hwmodel`), the image (`swname`, `swversion`,
//! `dbgstat`, `support_attributes`), the container (`submods.container.image_digest`) and echoes
//! the nonce the workload asked for (`eat_nonce`).
//!
//! Two ways a token is trusted:
//! - an OIDC token (header `kid`): RS256 by a key of the JWKS the trust policy pins (by default a
//!   dated snapshot of Google's, [`Jwks::google_snapshot`]);
//! - a PKI token (header `x5c`): RS256 by the leaf certificate of a chain that ends at a root whose
//!   SHA-256 the policy pins. No root is pinned by default: Google's is served at
//!   https://confidentialcomputing.googleapis.com/.well-known/attestation-pki-root and a policy
//!   adds its fingerprint to `confidential_space_roots`. A token with `x5c` is judged by its chain
//!   only, never by the JWKS.
//!
//! JWS parsing and the RS256 check are the `jsonwebtoken` crate's (RustCrypto backend), with its
//! clock-based checks off: times are inputs here, as everywhere in this crate.

mod claims;
mod jwks;
mod launch;
mod token;

#[cfg(any(test, feature = "test-keys"))]
pub mod testing;

pub use claims::{
    Claims, ContainerClaims, OneOrMany, SupportLevel, DBGSTAT_PRODUCTION, DEFAULT_HWMODELS, ISSUER,
    SWNAME,
};
pub use jwks::{Jwks, TokenKey, GOOGLE_JWKS_SNAPSHOT, MAX_JWKS_BYTES, MAX_JWKS_KEYS};
pub use launch::check_launch;
pub use token::{verify_signature, SignedToken, TokenSigner};

/// Largest token accepted: Google's OIDC tokens are under 4 KiB, PKI tokens carry three
/// certificates more.
pub const MAX_TOKEN_BYTES: usize = 32 << 10;
/// Certificates an `x5c` header may carry (leaf, intermediates, root).
pub const MAX_X5C_CERTIFICATES: usize = 5;
/// The audience the prover asks the launcher for unless configured otherwise.
pub const DEFAULT_AUDIENCE: &str = "mpr-attestation";

/// Why a token was refused. [`TokenError::code`] is stable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the Confidential Space token is {0} bytes, more than the {MAX_TOKEN_BYTES} accepted")]
    TooLarge(usize),
    #[error("the Confidential Space token is not a JWS in compact form: {0}")]
    Malformed(String),
    #[error("the token is signed with {0}; Confidential Space tokens are RS256, nothing else is accepted")]
    Algorithm(String),
    #[error("the token's key id {kid:?} is not in the pinned JWKS (kids {known:?}): Google rotated its keys, or the token is not Google's; put the current set (the jwks_uri of https://confidentialcomputing.googleapis.com/.well-known/openid-configuration) in [attestation] confidential_space_jwks")]
    UnknownKey { kid: String, known: Vec<String> },
    #[error("the token names neither a key id (kid) nor a certificate chain (x5c)")]
    NoKey,
    #[error("the token's RS256 signature does not verify under {0}: the token was altered or signed by someone else")]
    Signature(String),
    #[error("the token's x5c certificate chain: {0}")]
    Chain(String),
    #[error("the token claims {0} is missing")]
    MissingClaim(&'static str),
    #[error("the token was issued by {0:?}, not {ISSUER}")]
    Issuer(String),
    #[error("the token's audience is {found}, not {expected:?}: it was requested for someone else (set [attestation] confidential_space_audience to the prover's configured audience)")]
    Audience { found: String, expected: String },
    #[error("the token expired at {exp} (unix seconds), before the verification time {now}: ask the prover for a new one")]
    Expired { exp: u64, now: u64 },
    #[error("the token's {claim} {value} is after the verification time {now} beyond the tolerated clock skew: check the clock")]
    NotYetValid {
        claim: &'static str,
        value: u64,
        now: u64,
    },
    #[error("the token's swname is {0:?}, not {SWNAME}: not a Confidential Space image")]
    Software(String),
    #[error("the token's dbgstat is {0:?}, not {DBGSTAT_PRODUCTION}: a debug Confidential Space image, which its operator can log into")]
    Debug(String),
    #[error("the image's support_attributes are {listed:?}, without the {minimum} the trust policy requires: the prover runs an outdated Confidential Space image")]
    Support {
        listed: Vec<String>,
        minimum: &'static str,
    },
    #[error("the token's hwmodel is {found:?}, not one of {allowed:?} (trust policy confidential_space_hwmodels)")]
    HwModel { found: String, allowed: Vec<String> },
    #[error("the token's eat_nonce is {found}, not {expected} (hex of SHA-256 of the channel binding): a replayed token, or one requested for another connection")]
    NonceMismatch { found: String, expected: String },
    #[error("the token's submods.container.image_digest {0:?} is not sha256:<64 hex digits>")]
    ImageDigest(String),
}

impl TokenError {
    pub fn code(&self) -> &'static str {
        match self {
            TokenError::TooLarge(_) => "cs-token-too-large",
            TokenError::Malformed(_) => "cs-token-malformed",
            TokenError::Algorithm(_) => "cs-token-algorithm",
            TokenError::UnknownKey { .. } | TokenError::NoKey => "cs-token-unknown-key",
            TokenError::Signature(_) => "cs-token-signature",
            TokenError::Chain(_) => "cs-token-chain-untrusted",
            TokenError::MissingClaim(_) => "cs-token-claim-missing",
            TokenError::Issuer(_) => "cs-token-issuer",
            TokenError::Audience { .. } => "cs-token-audience",
            TokenError::Expired { .. } => "cs-token-expired",
            TokenError::NotYetValid { .. } => "cs-token-not-yet-valid",
            TokenError::Software(_) => "cs-token-software",
            TokenError::Debug(_) => "cs-token-debug",
            TokenError::Support { .. } => "cs-token-support",
            TokenError::HwModel { .. } => "cs-token-hwmodel",
            TokenError::NonceMismatch { .. } => "cs-token-nonce-mismatch",
            TokenError::ImageDigest(_) => "cs-token-image-digest",
        }
    }
}

/// What a token is judged against (the trust policy's `confidential_space_*` keys).
#[derive(Debug, Clone, Copy)]
pub struct TokenPolicy<'a> {
    pub jwks: &'a Jwks,
    /// SHA-256 of root certificates a PKI token's chain may end at.
    pub roots_sha256: &'a [[u8; 32]],
    pub audience: &'a str,
    pub min_support: SupportLevel,
    pub hwmodels: &'a [String],
    pub allow_debug: bool,
    pub max_future_skew_seconds: u64,
}

impl SignedToken {
    /// Every claim check besides the nonce and the image digest (which depend on the channel and
    /// on the releases), named, in order: what the attestation flow records one by one.
    pub fn claim_checks(
        &self,
        policy: &TokenPolicy,
        now_unix_seconds: u64,
    ) -> [(&'static str, Result<String, TokenError>); 7] {
        let claims = &self.claims;
        [
            ("issuer", claims.check_issuer()),
            ("audience", claims.check_audience(policy.audience)),
            (
                "validity",
                claims.check_time(now_unix_seconds, policy.max_future_skew_seconds),
            ),
            ("software", claims.check_software()),
            ("debug", claims.check_debug(policy.allow_debug)),
            ("support", claims.check_support(policy.min_support)),
            ("hardware", claims.check_hwmodel(policy.hwmodels)),
        ]
    }
}

/// The signature, then every claim check of [`SignedToken::claim_checks`]; the first failure
/// is returned. The nonce and the image digest are left to the caller.
pub fn verify_token(
    token: &[u8],
    policy: &TokenPolicy,
    now_unix_seconds: u64,
) -> Result<SignedToken, TokenError> {
    let signed = verify_signature(token, policy.jwks, policy.roots_sha256, now_unix_seconds)?;
    for (_, outcome) in signed.claim_checks(policy, now_unix_seconds) {
        outcome?;
    }
    Ok(signed)
}

/// The container image digest a token claims, read WITHOUT checking its signature: only to
/// choose which release statements to fetch, never to trust.
pub fn unverified_image_digest(token: &[u8]) -> Option<[u8; 32]> {
    if token.len() > MAX_TOKEN_BYTES {
        return None;
    }
    let text = std::str::from_utf8(token).ok()?.trim();
    jsonwebtoken::dangerous::insecure_decode::<Claims>(text)
        .ok()?
        .claims
        .image_digest()
        .ok()
}

#[cfg(test)]
mod tests;
