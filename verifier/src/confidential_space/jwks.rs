//! The JSON Web Key Set whose keys sign Confidential Space OIDC tokens, pinned by the trust policy.
//!
//! Google rotates these keys (about every few weeks, announced at
//! https://confidentialcomputing.googleapis.com/.well-known/openid-configuration → `jwks_uri`), so
//! the built-in set is only a dated default: a policy meant to last names its own with
//! `[attestation] confidential_space_jwks`. Fetching the live set is the caller's business; this
//! crate does no I/O.

use jsonwebtoken::jwk::{AlgorithmParameters, JwkSet, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::DecodingKey;

/// Largest JWKS accepted (Google's holds two 2048-bit keys in about 1 KiB).
pub const MAX_JWKS_BYTES: usize = 64 << 10;
/// Keys a set may hold.
pub const MAX_JWKS_KEYS: usize = 16;

/// A snapshot of Google's Confidential Space JWKS (kids `1be6ff72…`, `bed6864e…`), taken with
/// the production token in the shared fixtures (2026-10-08). The default only so that a policy
/// without the key still verifies tokens of that period; it goes stale when Google rotates.
pub const GOOGLE_JWKS_SNAPSHOT: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/roots/gcp/confidential_space_jwks.json"
));

/// One RS256 verification key of the set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenKey {
    pub kid: String,
    /// Big-endian modulus and public exponent.
    pub modulus: Vec<u8>,
    pub exponent: Vec<u8>,
}

impl TokenKey {
    pub(super) fn decoding_key(&self) -> DecodingKey {
        DecodingKey::from_rsa_raw_components(&self.modulus, &self.exponent)
    }
}

/// The RSA signing keys of a JWKS, by key id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Jwks {
    pub keys: Vec<TokenKey>,
}

impl Jwks {
    /// Reads a JWKS document: every key must be an RSA key usable for RS256 signatures with a
    /// distinct `kid`; anything else is refused rather than skipped, so a pasted set means what
    /// it says.
    pub fn parse(json: &str) -> Result<Jwks, String> {
        if json.len() > MAX_JWKS_BYTES {
            return Err(format!(
                "the JWKS is {} bytes, more than the {MAX_JWKS_BYTES} accepted",
                json.len()
            ));
        }
        let set: JwkSet = serde_json::from_str(json).map_err(|error| {
            format!("not a JSON Web Key Set ({error}); paste the document jwks_uri serves")
        })?;
        if set.keys.is_empty() || set.keys.len() > MAX_JWKS_KEYS {
            return Err(format!(
                "the JWKS holds {} keys; 1 to {MAX_JWKS_KEYS} are accepted",
                set.keys.len()
            ));
        }
        let mut keys: Vec<TokenKey> = Vec::with_capacity(set.keys.len());
        for (index, jwk) in set.keys.iter().enumerate() {
            let kid = jwk
                .common
                .key_id
                .clone()
                .filter(|kid| !kid.is_empty())
                .ok_or_else(|| format!("key {index} of the JWKS has no kid"))?;
            let AlgorithmParameters::RSA(rsa) = &jwk.algorithm else {
                return Err(format!("key {kid:?} of the JWKS is not an RSA key"));
            };
            if !matches!(jwk.common.key_algorithm, None | Some(KeyAlgorithm::RS256)) {
                return Err(format!(
                    "key {kid:?} of the JWKS is for {:?}; Confidential Space tokens are RS256",
                    jwk.common.key_algorithm
                ));
            }
            if !matches!(
                jwk.common.public_key_use,
                None | Some(PublicKeyUse::Signature)
            ) {
                return Err(format!("key {kid:?} of the JWKS is not a signing key"));
            }
            let component = |name: &str, text: &str| {
                base64_url(text)
                    .filter(|bytes| !bytes.is_empty())
                    .ok_or_else(|| format!("key {kid:?} of the JWKS: {name} is not base64url"))
            };
            let key = TokenKey {
                modulus: component("n", &rsa.n)?,
                exponent: component("e", &rsa.e)?,
                kid,
            };
            if keys.iter().any(|other| other.kid == key.kid) {
                return Err(format!("the JWKS lists kid {:?} twice", key.kid));
            }
            keys.push(key);
        }
        Ok(Jwks { keys })
    }

    /// The built-in snapshot of Google's set ([`GOOGLE_JWKS_SNAPSHOT`]).
    pub fn google_snapshot() -> Jwks {
        // A constant of this crate, parsed by a unit test: not outside input.
        Jwks::parse(GOOGLE_JWKS_SNAPSHOT).expect("the built-in JWKS snapshot parses")
    }

    pub fn find(&self, kid: &str) -> Option<&TokenKey> {
        self.keys.iter().find(|key| key.kid == kid)
    }

    pub fn kids(&self) -> Vec<&str> {
        self.keys.iter().map(|key| key.kid.as_str()).collect()
    }
}

pub(super) fn base64_url(text: &str) -> Option<Vec<u8>> {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text.trim_end_matches('='))
        .ok()
}
