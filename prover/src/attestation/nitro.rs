//! AWS Nitro attestation documents from the Nitro Secure Module (`/dev/nsm`).

use std::path::Path;

use aws_nitro_enclaves_nsm_api::api::{Request, Response};
use aws_nitro_enclaves_nsm_api::driver::{nsm_exit, nsm_init, nsm_process_request};
use serde_bytes::ByteBuf;

use super::{AttestationError, Nonce};

/// NSM refuses larger public keys; a P-256 or P-384 SubjectPublicKeyInfo is about 100 bytes.
pub const MAX_PUBLIC_KEY_LEN: usize = 1024;

/// A COSE_Sign1 attestation document with `nonce`, the TLS key's SPKI in `public_key` (absent
/// without TLS) and the channel binding in `user_data`.
pub fn request_document(
    device: &Path,
    nonce: &Nonce,
    tls_spki: Option<&[u8]>,
    binding: &[u8; 64],
) -> Result<Vec<u8>, AttestationError> {
    let spki_len = tls_spki.map_or(0, <[u8]>::len);
    if spki_len > MAX_PUBLIC_KEY_LEN {
        return Err(AttestationError::Device {
            path: device.to_owned(),
            problem: format!(
                "the TLS public key is {spki_len} bytes; NSM accepts at most {MAX_PUBLIC_KEY_LEN}"
            ),
        });
    }
    // The NSM driver opens the fixed path /dev/nsm itself; `device` is what detection found there.
    let fd = nsm_init();
    if fd < 0 {
        return Err(AttestationError::Device {
            path: device.to_owned(),
            problem: "cannot open the Nitro Secure Module".into(),
        });
    }
    let response = nsm_process_request(
        fd,
        Request::Attestation {
            user_data: Some(ByteBuf::from(binding.to_vec())),
            nonce: Some(ByteBuf::from(nonce.as_bytes().to_vec())),
            public_key: tls_spki.map(|spki| ByteBuf::from(spki.to_vec())),
        },
    );
    nsm_exit(fd);
    match response {
        Response::Attestation { document } => Ok(document),
        Response::Error(code) => Err(AttestationError::Device {
            path: device.to_owned(),
            problem: format!("the Nitro Secure Module refused the request: {code:?}"),
        }),
        other => Err(AttestationError::Device {
            path: device.to_owned(),
            problem: format!("unexpected answer from the Nitro Secure Module: {other:?}"),
        }),
    }
}
