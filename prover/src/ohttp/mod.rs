//! The server as its own Oblivious HTTP gateway (RFC 9458): a wallet encrypts a whole proving request
//! (Binary HTTP, RFC 9292) to this process's HPKE key, so whatever relays or terminates the connection
//! outside the TEE (a load balancer, the Nitro parent's vsock proxy, a CDN) sees only ciphertext.
//! The key config is bound into the attestation evidence (see [`crate::attestation::binding`]), so the
//! wallet knows the key lives in the measured process.
//!
//! - [`OhttpKeys`]: the X25519 key pair made at start-up, never written anywhere;
//! - [`gateway`]: decoding the inner request and encoding the inner answer, with their limits.

pub mod gateway;

use std::fmt;

use ::ohttp::hpke::{Aead, Kdf, Kem};
use ::ohttp::{KeyConfig, Server, ServerResponse, SymmetricSuite};

/// The one key id this server uses (a new process is a new key, not a rotation).
pub const KEY_ID: u8 = 1;

/// `GET /ohttp-keys` media type (RFC 9458 §9.1).
pub const KEYS_MEDIA_TYPE: &str = "application/ohttp-keys";
/// `POST /ohttp` request and answer media types (RFC 9458 §9.2, §9.3).
pub const REQUEST_MEDIA_TYPE: &str = "message/ohttp-req";
pub const RESPONSE_MEDIA_TYPE: &str = "message/ohttp-res";

#[derive(Debug, thiserror::Error)]
pub enum OhttpError {
    #[error("cannot create the OHTTP key pair: {0}")]
    Generate(::ohttp::Error),
    #[error("cannot encode the OHTTP key config: {0}")]
    Encode(::ohttp::Error),
    #[error(
        "cannot decrypt the request ({0}): encapsulate it to the key config from GET /ohttp-keys \
         (key id {KEY_ID}, DHKEM X25519 HKDF-SHA256, HKDF-SHA256 with AES-128-GCM or ChaCha20Poly1305); \
         a restarted server has a new key"
    )]
    Decapsulate(::ohttp::Error),
    #[error("cannot encrypt the answer: {0}")]
    Encapsulate(::ohttp::Error),
}

/// The gateway's HPKE key pair and its encodings.
pub struct OhttpKeys {
    server: Server,
    key_config: Vec<u8>,
    key_config_list: Vec<u8>,
}

impl OhttpKeys {
    /// A fresh X25519 key (KEM 0x0020) with suites HKDF-SHA256 + AES-128-GCM and HKDF-SHA256 +
    /// ChaCha20Poly1305, key id [`KEY_ID`].
    pub fn generate() -> Result<OhttpKeys, OhttpError> {
        let config = KeyConfig::new(
            KEY_ID,
            Kem::X25519Sha256,
            vec![
                SymmetricSuite::new(Kdf::HkdfSha256, Aead::Aes128Gcm),
                SymmetricSuite::new(Kdf::HkdfSha256, Aead::ChaCha20Poly1305),
            ],
        )
        .map_err(OhttpError::Generate)?;
        let key_config = config.encode().map_err(OhttpError::Encode)?;
        let key_config_list = KeyConfig::encode_list(&[&config]).map_err(OhttpError::Encode)?;
        let server = Server::new(config).map_err(OhttpError::Generate)?;
        Ok(OhttpKeys {
            server,
            key_config,
            key_config_list,
        })
    }

    /// One encoded KeyConfig (RFC 9458 §3.1): what the attestation binding covers.
    pub fn key_config(&self) -> &[u8] {
        &self.key_config
    }

    /// The `application/ohttp-keys` body (RFC 9458 §3.2): the key config with its length prefix.
    pub fn key_config_list(&self) -> &[u8] {
        &self.key_config_list
    }

    /// The Binary HTTP request inside an encapsulated request, and what encrypts the answer.
    pub fn decapsulate(&self, request: &[u8]) -> Result<(Vec<u8>, ServerResponse), OhttpError> {
        self.server
            .decapsulate(request)
            .map_err(OhttpError::Decapsulate)
    }
}

/// Never prints the private key (logs must hold no secrets).
impl fmt::Debug for OhttpKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OhttpKeys")
            .field("key_config", &hex::encode(&self.key_config))
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_config_has_the_contract_suites_and_a_fresh_key() {
        let keys = OhttpKeys::generate().unwrap();
        let config = keys.key_config();
        // key id, KEM 0x0020, 32-byte X25519 key, 8 bytes of suites: (1, 1) and (1, 3).
        assert_eq!(config.len(), 1 + 2 + 32 + 2 + 8);
        assert_eq!(config[..3], [KEY_ID, 0x00, 0x20]);
        assert_eq!(config[35..], [0, 8, 0, 1, 0, 1, 0, 1, 0, 3]);
        let list = keys.key_config_list();
        assert_eq!(list[..2], [0, 45]);
        assert_eq!(&list[2..], config);
        let other = OhttpKeys::generate().unwrap();
        assert_ne!(other.key_config(), config);
        assert!(!format!("{keys:?}").is_empty());
    }

    #[test]
    fn garbage_is_refused_with_directions() {
        let keys = OhttpKeys::generate().unwrap();
        for garbage in [
            &b""[..],
            &[1u8; 8][..],
            &[1, 0, 0x20, 0, 1, 0, 1][..],
            &[0u8; 200][..],
        ] {
            let error = keys.decapsulate(garbage).unwrap_err().to_string();
            assert!(error.contains("GET /ohttp-keys"), "{error}");
        }
    }
}
