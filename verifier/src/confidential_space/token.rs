//! The JWS layer: size and shape, the header's algorithm, the key (pinned JWKS or pinned-root
//! certificate chain), then the RS256 signature and the claims, by `jsonwebtoken`.

use base64::Engine as _;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{decode, decode_header, Algorithm, DecodingKey, Validation};

use super::claims::Claims;
use super::jwks::{base64_url, Jwks};
use super::{TokenError, MAX_TOKEN_BYTES, MAX_X5C_CERTIFICATES};
use crate::tpm::ak_certificate::verify_ak_certificate;
use crate::tpm::public::AkKey;

/// What vouched for the token's signing key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenSigner {
    /// A key of the pinned JWKS.
    Jwks { kid: String },
    /// The leaf of an `x5c` chain ending at a pinned root.
    Certificate { root_sha256: [u8; 32] },
}

impl TokenSigner {
    pub fn describe(&self) -> String {
        match self {
            TokenSigner::Jwks { kid } => format!("the pinned JWKS key {kid}"),
            TokenSigner::Certificate { root_sha256 } => format!(
                "the x5c leaf certificate chained to the pinned root {}",
                hex::encode(root_sha256)
            ),
        }
    }
}

/// A token whose signature verified; its claims are not judged yet.
#[derive(Debug, Clone, PartialEq)]
pub struct SignedToken {
    pub signer: TokenSigner,
    pub claims: Claims,
}

/// Checks the token's form, algorithm, key and signature at `now_unix_seconds` (the time only
/// matters for a PKI token's certificates), and reads its claims.
pub fn verify_signature(
    token: &[u8],
    jwks: &Jwks,
    roots_sha256: &[[u8; 32]],
    now_unix_seconds: u64,
) -> Result<SignedToken, TokenError> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(TokenError::TooLarge(token.len()));
    }
    // A token saved to a file usually ends with a newline; nothing else may surround it.
    let text = std::str::from_utf8(token)
        .ok()
        .map(str::trim)
        .filter(|text| text.is_ascii())
        .ok_or_else(|| TokenError::Malformed("it is not ASCII text".into()))?;
    let parts = text.split('.').count();
    if parts != 3 {
        return Err(TokenError::Malformed(format!(
            "{parts} dot-separated parts, not header.payload.signature"
        )));
    }
    let header = decode_header(text).map_err(|error| header_error(text, error))?;
    if header.alg != Algorithm::RS256 {
        return Err(TokenError::Algorithm(format!("{:?}", header.alg)));
    }
    let (key, signer) = match (&header.x5c, &header.kid) {
        (Some(chain), _) => certificate_key(chain, roots_sha256, now_unix_seconds)?,
        (None, Some(kid)) => {
            let key = jwks.find(kid).ok_or_else(|| TokenError::UnknownKey {
                kid: kid.clone(),
                known: jwks.kids().into_iter().map(str::to_owned).collect(),
            })?;
            (key.decoding_key(), TokenSigner::Jwks { kid: kid.clone() })
        }
        (None, None) => return Err(TokenError::NoKey),
    };
    // Pin the RustCrypto backend explicitly: if feature unification ever also enabled
    // jsonwebtoken's aws-lc backend, its automatic choice would refuse to pick one (a panic).
    // Already installed (by us or the embedding program) is fine: any provider verifies RS256.
    let _ = jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER.install_default();
    let mut validation = Validation::new(Algorithm::RS256);
    // Its time checks read the system clock; ours take the given time (Claims::check_time).
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    let data = decode::<Claims>(text, &key, &validation).map_err(|error| match error.kind() {
        ErrorKind::InvalidSignature => TokenError::Signature(signer.describe()),
        ErrorKind::InvalidRsaKey(_) | ErrorKind::InvalidKeyFormat => {
            TokenError::Signature(format!("{} ({error})", signer.describe()))
        }
        _ => TokenError::Malformed(error.to_string()),
    })?;
    Ok(SignedToken {
        signer,
        claims: data.claims,
    })
}

/// `jsonwebtoken` refuses algorithms it does not know (`none`) while reading the header; name
/// the algorithm when the header is otherwise JSON, so the refusal says why.
fn header_error(text: &str, error: jsonwebtoken::errors::Error) -> TokenError {
    let alg = text
        .split('.')
        .next()
        .and_then(base64_url)
        .and_then(|json| serde_json::from_slice::<serde_json::Value>(&json).ok())
        .and_then(|header| header.get("alg")?.as_str().map(str::to_owned));
    match alg {
        Some(alg) if alg != "RS256" => TokenError::Algorithm(format!("{alg:?}")),
        _ => TokenError::Malformed(format!("its header: {error}")),
    }
}

fn certificate_key(
    chain: &[String],
    roots_sha256: &[[u8; 32]],
    now_unix_seconds: u64,
) -> Result<(DecodingKey, TokenSigner), TokenError> {
    if roots_sha256.is_empty() {
        return Err(TokenError::Chain(
            "no Confidential Space root is pinned: add the SHA-256 of Google's root certificate (https://confidentialcomputing.googleapis.com/.well-known/attestation-pki-root) to [attestation] confidential_space_roots".into(),
        ));
    }
    if chain.is_empty() || chain.len() > MAX_X5C_CERTIFICATES {
        return Err(TokenError::Chain(format!(
            "{} certificates; 1 to {MAX_X5C_CERTIFICATES} are accepted",
            chain.len()
        )));
    }
    let ders = chain
        .iter()
        .enumerate()
        .map(|(index, text)| {
            base64::engine::general_purpose::STANDARD
                .decode(text)
                .map_err(|error| TokenError::Chain(format!("x5c[{index}] is not base64 ({error})")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let verified = verify_ak_certificate(&ders[0], &ders[1..], roots_sha256, now_unix_seconds)
        .map_err(|error| TokenError::Chain(error.to_string()))?;
    let AkKey::Rsa { modulus, exponent } = verified.key else {
        return Err(TokenError::Chain(
            "the leaf certificate's key is not RSA, so it cannot have made an RS256 signature"
                .into(),
        ));
    };
    Ok((
        DecodingKey::from_rsa_raw_components(&modulus, &exponent.to_be_bytes()),
        TokenSigner::Certificate {
            root_sha256: verified.anchor_sha256,
        },
    ))
}
