//! The server's TLS identity: a key pair generated when the process starts, kept only in its memory,
//! and a self-signed certificate for it. Wallets do not trust the certificate through a CA: they trust
//! the attestation, which binds this key's SubjectPublicKeyInfo (see [`crate::attestation`]).

use std::fmt;

use std::sync::Arc;

use rcgen::{CertificateParams, KeyPair, PKCS_ECDSA_P256_SHA256};
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::rustls::{self, ServerConfig};

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot create the TLS key and certificate: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("cannot configure TLS: {0}")]
    Configure(#[from] rustls::Error),
}

/// The process's TLS key and certificate.
pub struct TlsIdentity {
    certificate_der: Vec<u8>,
    private_key_der: Vec<u8>,
    spki_der: Vec<u8>,
}

impl TlsIdentity {
    /// A fresh P-256 key and a self-signed certificate naming `hostnames`.
    pub fn generate(hostnames: &[String]) -> Result<TlsIdentity, TlsError> {
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
        let certificate = CertificateParams::new(hostnames.to_vec())?.self_signed(&key)?;
        Ok(TlsIdentity {
            certificate_der: certificate.der().to_vec(),
            private_key_der: key.serialize_der(),
            spki_der: key.public_key_der(),
        })
    }

    /// DER SubjectPublicKeyInfo of the key: what attestation evidence binds.
    pub fn spki_der(&self) -> &[u8] {
        &self.spki_der
    }

    pub fn certificate_der(&self) -> &[u8] {
        &self.certificate_der
    }

    /// PKCS#8 DER, for the TLS server configuration only.
    pub fn private_key_der(&self) -> &[u8] {
        &self.private_key_der
    }

    /// A rustls server configuration (TLS 1.2 and 1.3, HTTP/2 and HTTP/1.1) presenting this identity.
    pub fn server_config(&self) -> Result<Arc<ServerConfig>, TlsError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(
                vec![CertificateDer::from(self.certificate_der.clone())],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.private_key_der.clone())),
            )?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }
}

/// Never prints the private key (logs must hold no secrets).
impl fmt::Debug for TlsIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsIdentity")
            .field("spki_der", &hex::encode(&self.spki_der))
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use x509_cert::der::{Decode, Encode};

    #[test]
    fn the_certificate_carries_the_key_that_attestation_binds() {
        let identity = TlsIdentity::generate(&["localhost".to_string()]).unwrap();
        let certificate = x509_cert::Certificate::from_der(identity.certificate_der()).unwrap();
        let spki = certificate
            .tbs_certificate
            .subject_public_key_info
            .to_der()
            .unwrap();
        assert_eq!(spki, identity.spki_der());
        assert!(!format!("{identity:?}").contains(&hex::encode(identity.private_key_der())));
    }

    #[test]
    fn every_start_gets_a_new_key() {
        let a = TlsIdentity::generate(&["localhost".to_string()]).unwrap();
        let b = TlsIdentity::generate(&["localhost".to_string()]).unwrap();
        assert_ne!(a.spki_der(), b.spki_der());
    }
}
