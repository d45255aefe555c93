//! The SHA-256 signature schemes of TPM attestation keys and of the CAs that certify them:
//! RSASSA-PKCS1-v1_5 and RSASSA-PSS with SHA-256 (RSA AKs, Google's EK/AK CAs) and ECDSA P-256
//! with SHA-256 (ECC AKs). Same two backends as the P-384 and RSA-PSS-SHA-384 keys beside them.

use rsa::pkcs1::EncodeRsaPublicKey as _;
use x509_cert::der::asn1::ObjectIdentifier;
use x509_cert::spki::SubjectPublicKeyInfoOwned;

use super::{ec_point, verified, BadSignature, InvalidKey, RSA_MAX_BITS, RSA_MIN_BITS};

#[cfg(feature = "aws-lc")]
use aws_lc as backend;
#[cfg(not(feature = "aws-lc"))]
use rust_crypto as backend;

pub(crate) const SECP256R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");

/// Length of a fixed-size P-256 signature: R then S, 32 bytes each, big-endian.
pub const P256_FIXED_SIGNATURE_BYTES: usize = 64;

/// An RSA public key of 2048 to 4096 bits, for SHA-256 signatures (PKCS#1 v1.5 or PSS).
#[derive(Clone)]
pub struct RsaSha256Key {
    inner: backend::RsaSha256,
}

impl RsaSha256Key {
    /// A key from its modulus and public exponent, both big-endian (as a TPM or a JWK holds them).
    pub fn from_components(modulus: &[u8], exponent: &[u8]) -> Result<Self, InvalidKey> {
        let key = rsa::RsaPublicKey::new(
            rsa::BigUint::from_bytes_be(modulus),
            rsa::BigUint::from_bytes_be(exponent),
        )
        .map_err(|_| InvalidKey("an RSA key"))?;
        let bits = rsa::traits::PublicKeyParts::n(&key).bits();
        if !(RSA_MIN_BITS..=RSA_MAX_BITS).contains(&bits) {
            return Err(InvalidKey("an RSA key of 2048 to 4096 bits"));
        }
        let pkcs1 = key.to_pkcs1_der().map_err(|_| InvalidKey("an RSA key"))?;
        Ok(RsaSha256Key {
            inner: backend::RsaSha256::from_pkcs1(pkcs1.as_bytes())
                .ok_or(InvalidKey("an RSA key"))?,
        })
    }

    /// A certificate's key under rsaEncryption.
    pub fn from_spki(spki: &SubjectPublicKeyInfoOwned) -> Result<Self, InvalidKey> {
        if spki.algorithm.oid != RSA_ENCRYPTION {
            return Err(InvalidKey("an RSA key"));
        }
        use rsa::pkcs1::DecodeRsaPublicKey as _;
        let key = rsa::RsaPublicKey::from_pkcs1_der(spki.subject_public_key.raw_bytes())
            .map_err(|_| InvalidKey("an RSA key"))?;
        let parts = |f: fn(&rsa::RsaPublicKey) -> &rsa::BigUint| f(&key).to_bytes_be();
        Self::from_components(
            &parts(rsa::traits::PublicKeyParts::n),
            &parts(rsa::traits::PublicKeyParts::e),
        )
    }

    pub fn verify_pkcs1v15(&self, message: &[u8], signature: &[u8]) -> Result<(), BadSignature> {
        verified(self.inner.verify_pkcs1v15(message, signature))
    }

    pub fn verify_pss(&self, message: &[u8], signature: &[u8]) -> Result<(), BadSignature> {
        verified(self.inner.verify_pss(message, signature))
    }
}

/// An ECDSA P-256 public key, checked to be a point on the curve.
#[derive(Clone)]
pub struct EcdsaP256Key {
    inner: backend::EcdsaP256,
}

impl EcdsaP256Key {
    /// A SEC1-encoded point (uncompressed or compressed).
    pub fn from_sec1(point: &[u8]) -> Result<Self, InvalidKey> {
        Ok(EcdsaP256Key {
            inner: backend::EcdsaP256::from_sec1(point).ok_or(InvalidKey("a valid P-256 point"))?,
        })
    }

    /// A certificate's key: id-ecPublicKey on secp256r1.
    pub fn from_spki(spki: &SubjectPublicKeyInfoOwned) -> Result<Self, InvalidKey> {
        Self::from_sec1(ec_point(spki, SECP256R1, "an ECDSA P-256 key")?)
    }

    /// A DER `ECDSA-Sig-Value`, as X.509 certificates carry.
    pub fn verify_der(&self, message: &[u8], signature: &[u8]) -> Result<(), BadSignature> {
        verified(self.inner.verify_der(message, signature))
    }

    /// R ‖ S, 32 bytes each, big-endian, as a TPM's TPMS_SIGNATURE_ECDSA holds them.
    pub fn verify_fixed(
        &self,
        message: &[u8],
        signature: &[u8; P256_FIXED_SIGNATURE_BYTES],
    ) -> Result<(), BadSignature> {
        verified(self.inner.verify_fixed(message, signature))
    }
}

impl std::fmt::Debug for RsaSha256Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RsaSha256Key")
    }
}

impl std::fmt::Debug for EcdsaP256Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EcdsaP256Key")
    }
}

#[cfg_attr(feature = "aws-lc", allow(dead_code))]
mod rust_crypto {
    use p256::ecdsa::signature::Verifier as _;
    use rsa::pkcs1::DecodeRsaPublicKey as _;
    use sha2::Sha256;

    #[derive(Clone)]
    pub struct RsaSha256 {
        pkcs1v15: rsa::pkcs1v15::VerifyingKey<Sha256>,
        pss: rsa::pss::VerifyingKey<Sha256>,
    }

    impl RsaSha256 {
        pub fn from_pkcs1(der: &[u8]) -> Option<Self> {
            let key = rsa::RsaPublicKey::from_pkcs1_der(der).ok()?;
            Some(RsaSha256 {
                pkcs1v15: rsa::pkcs1v15::VerifyingKey::new(key.clone()),
                pss: rsa::pss::VerifyingKey::new(key),
            })
        }
        pub fn verify_pkcs1v15(&self, message: &[u8], signature: &[u8]) -> bool {
            rsa::pkcs1v15::Signature::try_from(signature)
                .is_ok_and(|signature| self.pkcs1v15.verify(message, &signature).is_ok())
        }
        pub fn verify_pss(&self, message: &[u8], signature: &[u8]) -> bool {
            rsa::pss::Signature::try_from(signature)
                .is_ok_and(|signature| self.pss.verify(message, &signature).is_ok())
        }
    }

    #[derive(Clone)]
    pub struct EcdsaP256(p256::ecdsa::VerifyingKey);

    impl EcdsaP256 {
        pub fn from_sec1(point: &[u8]) -> Option<Self> {
            p256::ecdsa::VerifyingKey::from_sec1_bytes(point)
                .ok()
                .map(EcdsaP256)
        }
        pub fn verify_der(&self, message: &[u8], signature: &[u8]) -> bool {
            p256::ecdsa::Signature::from_der(signature)
                .is_ok_and(|signature| self.0.verify(message, &signature).is_ok())
        }
        pub fn verify_fixed(&self, message: &[u8], signature: &[u8; 64]) -> bool {
            p256::ecdsa::Signature::from_slice(signature)
                .is_ok_and(|signature| self.0.verify(message, &signature).is_ok())
        }
    }
}

#[cfg(feature = "aws-lc")]
mod aws_lc {
    use aws_lc_rs::signature::{
        ParsedPublicKey, ECDSA_P256_SHA256_ASN1, ECDSA_P256_SHA256_FIXED,
        RSA_PKCS1_2048_8192_SHA256, RSA_PSS_2048_8192_SHA256,
    };

    #[derive(Clone)]
    pub struct RsaSha256 {
        pkcs1v15: ParsedPublicKey,
        pss: ParsedPublicKey,
    }

    impl RsaSha256 {
        pub fn from_pkcs1(der: &[u8]) -> Option<Self> {
            Some(RsaSha256 {
                pkcs1v15: ParsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, der).ok()?,
                pss: ParsedPublicKey::new(&RSA_PSS_2048_8192_SHA256, der).ok()?,
            })
        }
        pub fn verify_pkcs1v15(&self, message: &[u8], signature: &[u8]) -> bool {
            self.pkcs1v15.verify_sig(message, signature).is_ok()
        }
        pub fn verify_pss(&self, message: &[u8], signature: &[u8]) -> bool {
            self.pss.verify_sig(message, signature).is_ok()
        }
    }

    #[derive(Clone)]
    pub struct EcdsaP256 {
        der_signatures: ParsedPublicKey,
        fixed_signatures: ParsedPublicKey,
    }

    impl EcdsaP256 {
        pub fn from_sec1(point: &[u8]) -> Option<Self> {
            Some(EcdsaP256 {
                der_signatures: ParsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, point).ok()?,
                fixed_signatures: ParsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, point).ok()?,
            })
        }
        pub fn verify_der(&self, message: &[u8], signature: &[u8]) -> bool {
            self.der_signatures.verify_sig(message, signature).is_ok()
        }
        pub fn verify_fixed(&self, message: &[u8], signature: &[u8; 64]) -> bool {
            self.fixed_signatures.verify_sig(message, signature).is_ok()
        }
    }
}
