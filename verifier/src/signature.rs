//! The two signature schemes attestation evidence uses, behind one small interface:
//! ECDSA P-384 with SHA-384 (Nitro documents and their certificates, SEV-SNP reports) and
//! RSASSA-PSS with SHA-384 (AMD's certificates and CRLs). Two backends implement it:
//! - RustCrypto (`p384`, `rsa`), the default: pure Rust, so the crate builds for every target a
//!   wallet needs, browsers included;
//! - AWS-LC (`aws-lc-rs`, feature `aws-lc`), for native verifiers such as `mpr` and the
//!   registry: P-384 verification is about six times faster on x86_64 (BENCHMARKS.md), which is
//!   most of what a Nitro document costs.
//!
//! The crate's tests run on each (`cargo test -p verifier` on RustCrypto, the workspace's tests on
//! AWS-LC), and the AWS-LC build checks that both give the same answer on thousands of mutated
//! keys and signatures.

mod sha256_keys;
mod verified_links;

#[cfg(any(test, feature = "test-keys"))]
pub(crate) use sha256_keys::SECP256R1;
pub use sha256_keys::{EcdsaP256Key, RsaSha256Key, P256_FIXED_SIGNATURE_BYTES};

pub use verified_links::{VerifiedLinks, DEFAULT_CAPACITY as VERIFIED_LINKS_CAPACITY};

use x509_cert::der::asn1::ObjectIdentifier;
use x509_cert::der::Decode as _;
use x509_cert::spki::SubjectPublicKeyInfoOwned;

pub(crate) const EC_PUBLIC_KEY: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
pub(crate) const SECP384R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");
const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const RSASSA_PSS: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.10");

/// Length of a fixed-size (IEEE P1363, COSE) P-384 signature: R then S, big-endian.
pub const P384_FIXED_SIGNATURE_BYTES: usize = 96;

/// Which implementation verifies signatures in this build.
pub const BACKEND: &str = if cfg!(feature = "aws-lc") {
    "aws-lc-rs"
} else {
    "RustCrypto"
};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the public key is not {0}")]
pub struct InvalidKey(&'static str);

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the signature does not verify")]
pub struct BadSignature;

/// An ECDSA P-384 public key, checked to be a point on the curve.
#[derive(Clone)]
pub struct EcdsaP384Key {
    inner: backend::EcdsaP384,
}

impl EcdsaP384Key {
    /// A SEC1-encoded point (uncompressed or compressed).
    pub fn from_sec1(point: &[u8]) -> Result<Self, InvalidKey> {
        Ok(EcdsaP384Key {
            inner: backend::EcdsaP384::from_sec1(point).ok_or(InvalidKey("a valid P-384 point"))?,
        })
    }

    /// A certificate's key: id-ecPublicKey on secp384r1, nothing else.
    pub fn from_spki(spki: &SubjectPublicKeyInfoOwned) -> Result<Self, InvalidKey> {
        Self::from_sec1(ec_point(spki, SECP384R1, "an ECDSA P-384 key")?)
    }

    /// A DER `ECDSA-Sig-Value`, as X.509 certificates carry.
    pub fn verify_der(&self, message: &[u8], signature: &[u8]) -> Result<(), BadSignature> {
        verified(self.inner.verify_der(message, signature))
    }

    /// R ‖ S, 48 bytes each, big-endian, as COSE (and, byte-reversed, SEV-SNP) carry.
    pub fn verify_fixed(
        &self,
        message: &[u8],
        signature: &[u8; P384_FIXED_SIGNATURE_BYTES],
    ) -> Result<(), BadSignature> {
        verified(self.inner.verify_fixed(message, signature))
    }
}

/// An RSA public key for RSASSA-PSS with SHA-384, MGF1-SHA-384 and a 48-byte salt (the only
/// parameters AMD uses; callers check the certificate's parameters say so).
#[derive(Clone)]
pub struct RsaPssSha384Key {
    inner: backend::RsaPss,
}

impl RsaPssSha384Key {
    /// A certificate's key, under rsaEncryption or id-RSASSA-PSS, of 2048 to 4096 bits.
    pub fn from_spki(spki: &SubjectPublicKeyInfoOwned) -> Result<Self, InvalidKey> {
        if spki.algorithm.oid != RSA_ENCRYPTION && spki.algorithm.oid != RSASSA_PSS {
            return Err(InvalidKey("an RSA key"));
        }
        let pkcs1 = spki.subject_public_key.raw_bytes();
        let bits = rsa::pkcs1::RsaPublicKey::from_der(pkcs1)
            .map_err(|_| InvalidKey("an RSA key"))?
            .modulus
            .as_bytes()
            .len()
            * 8;
        // Bits counted from the modulus's length: DER leaves no leading zero bytes, and AMD's
        // moduli (and any RSA key generator's) use their top byte's high bit.
        if !(RSA_MIN_BITS..=RSA_MAX_BITS).contains(&bits) {
            return Err(InvalidKey("an RSA key of 2048 to 4096 bits"));
        }
        Ok(RsaPssSha384Key {
            inner: backend::RsaPss::from_pkcs1(pkcs1).ok_or(InvalidKey("an RSA key"))?,
        })
    }

    pub fn verify(&self, message: &[u8], signature: &[u8]) -> Result<(), BadSignature> {
        verified(self.inner.verify(message, signature))
    }
}

impl std::fmt::Debug for EcdsaP384Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EcdsaP384Key")
    }
}

impl std::fmt::Debug for RsaPssSha384Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RsaPssSha384Key")
    }
}

/// The SEC1 point of a certificate's id-ecPublicKey key on `curve`; `what` names the key expected.
pub(crate) fn ec_point<'a>(
    spki: &'a SubjectPublicKeyInfoOwned,
    curve: ObjectIdentifier,
    what: &'static str,
) -> Result<&'a [u8], InvalidKey> {
    let named = spki
        .algorithm
        .parameters
        .as_ref()
        .and_then(|parameters| parameters.decode_as::<ObjectIdentifier>().ok());
    if spki.algorithm.oid != EC_PUBLIC_KEY || named != Some(curve) {
        return Err(InvalidKey(what));
    }
    Ok(spki.subject_public_key.raw_bytes())
}

/// A backend's yes or no as a result.
pub(crate) fn verified(valid: bool) -> Result<(), BadSignature> {
    valid.then_some(()).ok_or(BadSignature)
}

/// RSA sizes accepted: AMD's keys are 4096 bits, and RustCrypto reads none larger.
const RSA_MIN_BITS: usize = 2048;
const RSA_MAX_BITS: usize = 4096;

#[cfg(feature = "aws-lc")]
use aws_lc as backend;
#[cfg(not(feature = "aws-lc"))]
use rust_crypto as backend;

// Compiled in every build, so the AWS-LC build can test itself against it (tests/differential).
#[cfg_attr(feature = "aws-lc", allow(dead_code))]
mod rust_crypto {
    use p384::ecdsa::signature::Verifier as _;
    use rsa::pkcs1::DecodeRsaPublicKey as _;
    use sha2::Sha384;

    #[derive(Clone)]
    pub struct EcdsaP384(p384::ecdsa::VerifyingKey);

    impl EcdsaP384 {
        pub fn from_sec1(point: &[u8]) -> Option<Self> {
            p384::ecdsa::VerifyingKey::from_sec1_bytes(point)
                .ok()
                .map(EcdsaP384)
        }
        pub fn verify_der(&self, message: &[u8], signature: &[u8]) -> bool {
            p384::ecdsa::Signature::from_der(signature)
                .is_ok_and(|signature| self.0.verify(message, &signature).is_ok())
        }
        pub fn verify_fixed(&self, message: &[u8], signature: &[u8; 96]) -> bool {
            p384::ecdsa::Signature::from_slice(signature)
                .is_ok_and(|signature| self.0.verify(message, &signature).is_ok())
        }
    }

    #[derive(Clone)]
    pub struct RsaPss(rsa::pss::VerifyingKey<Sha384>);

    impl RsaPss {
        pub fn from_pkcs1(der: &[u8]) -> Option<Self> {
            rsa::RsaPublicKey::from_pkcs1_der(der)
                .ok()
                .map(|key| RsaPss(rsa::pss::VerifyingKey::new(key)))
        }
        pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
            rsa::pss::Signature::try_from(signature)
                .is_ok_and(|signature| self.0.verify(message, &signature).is_ok())
        }
    }
}

#[cfg(feature = "aws-lc")]
mod aws_lc {
    use aws_lc_rs::signature::{
        ParsedPublicKey, ECDSA_P384_SHA384_ASN1, ECDSA_P384_SHA384_FIXED, RSA_PSS_2048_8192_SHA384,
    };

    /// One parsed key per signature encoding: AWS-LC binds the encoding to the key object.
    #[derive(Clone)]
    pub struct EcdsaP384 {
        der_signatures: ParsedPublicKey,
        fixed_signatures: ParsedPublicKey,
    }

    impl EcdsaP384 {
        pub fn from_sec1(point: &[u8]) -> Option<Self> {
            Some(EcdsaP384 {
                der_signatures: ParsedPublicKey::new(&ECDSA_P384_SHA384_ASN1, point).ok()?,
                fixed_signatures: ParsedPublicKey::new(&ECDSA_P384_SHA384_FIXED, point).ok()?,
            })
        }
        pub fn verify_der(&self, message: &[u8], signature: &[u8]) -> bool {
            self.der_signatures.verify_sig(message, signature).is_ok()
        }
        pub fn verify_fixed(&self, message: &[u8], signature: &[u8; 96]) -> bool {
            self.fixed_signatures.verify_sig(message, signature).is_ok()
        }
    }

    #[derive(Clone)]
    pub struct RsaPss(ParsedPublicKey);

    impl RsaPss {
        pub fn from_pkcs1(der: &[u8]) -> Option<Self> {
            ParsedPublicKey::new(&RSA_PSS_2048_8192_SHA384, der)
                .ok()
                .map(RsaPss)
        }
        pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
            self.0.verify_sig(message, signature).is_ok()
        }
    }
}

#[cfg(test)]
mod tests;
