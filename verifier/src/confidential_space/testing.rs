//! Confidential Space tokens signed with TEST keys, for tests only (this crate's, and other
//! crates' through the `test-keys` feature): an RS256 key with its JWKS, claims shaped like
//! Google's, and PKI tokens whose x5c chain ends at a test CA.

use base64::Engine as _;
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use rand_core::OsRng;
use rsa::pkcs1::EncodeRsaPrivateKey as _;
use rsa::traits::PublicKeyParts as _;
use rsa::RsaPrivateKey;
use serde_json::{json, Value};

use super::claims::{DBGSTAT_PRODUCTION, ISSUER, SWNAME};
use crate::tpm::public::AkKey;
use crate::tpm::testing::TestAkCa;

/// A test RS256 signer standing in for Google's attestation service.
pub struct TestTokenSigner {
    pub kid: String,
    key: RsaPrivateKey,
}

impl TestTokenSigner {
    /// A fresh 2048-bit key (random: tokens differ between runs, their checks do not).
    pub fn new(kid: &str) -> Self {
        TestTokenSigner {
            kid: kid.to_owned(),
            key: RsaPrivateKey::new(&mut OsRng, 2048).expect("RSA key generation"),
        }
    }

    /// One signer per process (kid `mpr-test-key`): RSA key generation is the slow part of a test.
    pub fn shared() -> &'static TestTokenSigner {
        static SHARED: std::sync::OnceLock<TestTokenSigner> = std::sync::OnceLock::new();
        SHARED.get_or_init(|| TestTokenSigner::new("mpr-test-key"))
    }

    /// A JWKS document holding this key, as a policy's `confidential_space_jwks` would.
    pub fn jwks_json(&self) -> String {
        let b64 = |bytes: Vec<u8>| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        json!({"keys": [{
            "kty": "RSA", "alg": "RS256", "use": "sig", "kid": self.kid,
            "n": b64(self.key.n().to_bytes_be()), "e": b64(self.key.e().to_bytes_be()),
        }]})
        .to_string()
    }

    /// The key as a certificate subject (for [`TestTokenSigner::pki_token`]).
    pub fn public_key(&self) -> AkKey {
        AkKey::Rsa {
            modulus: self.key.n().to_bytes_be(),
            exponent: (self.key.e().to_bytes_be().iter())
                .fold(0u32, |value, byte| (value << 8) | u32::from(*byte)),
        }
    }

    /// `claims` signed under `header` (whatever it says: tests forge headers too).
    pub fn sign_with_header(&self, header: &Header, claims: &Value) -> String {
        let _ = jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER.install_default();
        let der = self.key.to_pkcs1_der().expect("encodes");
        encode(header, claims, &EncodingKey::from_rsa_der(der.as_bytes())).expect("signs")
    }

    /// An OIDC token: RS256 with this signer's kid.
    pub fn sign(&self, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(self.kid.clone());
        self.sign_with_header(&header, claims)
    }

    /// A PKI token: RS256, with `x5c` = [leaf certificate for this key issued by `ca`, `ca`].
    pub fn pki_token(&self, ca: &TestAkCa, claims: &Value) -> String {
        let b64 = |der: &[u8]| base64::engine::general_purpose::STANDARD.encode(der);
        let mut header = Header::new(Algorithm::RS256);
        header.x5c = Some(vec![b64(&ca.issue(&self.public_key())), b64(&ca.root)]);
        self.sign_with_header(&header, claims)
    }
}

/// Claims shaped like a production Confidential Space token (the fixture's), issued at `iat`
/// for an hour, with the given audience, nonce and container image digest (64 hex digits).
pub fn claims(audience: &str, eat_nonce: &str, image_digest_hex: &str, iat: u64) -> Value {
    json!({
        "aud": audience,
        "exp": iat + 3600,
        "iat": iat,
        "nbf": iat,
        "iss": ISSUER,
        "sub": "https://www.googleapis.com/compute/v1/projects/test/zones/us-central1-c/instances/prover",
        "eat_nonce": eat_nonce,
        "secboot": true,
        "oemid": 11129,
        "hwmodel": "GCP_AMD_SEV",
        "swname": SWNAME,
        "swversion": ["260900"],
        "dbgstat": DBGSTAT_PRODUCTION,
        "submods": {
            "confidential_space": {"support_attributes": ["LATEST", "STABLE", "USABLE"]},
            "container": {
                "image_reference": "us-docker.pkg.dev/test/prover:latest",
                "image_digest": format!("sha256:{image_digest_hex}"),
                "restart_policy": "Never",
                "args": ["/prover"],
            },
        },
    })
}
