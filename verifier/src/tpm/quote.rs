//! The checks on a quote itself: the AK's signature over the TPMS_ATTEST bytes, the qualifying
//! data, and the pcrDigest against the PCR values supplied beside the quote. Each check stands
//! alone so a caller can report every failure, not only the first; [`verify_quote`] runs them all.

use super::attest::{parse_attest, Attest, TpmSignature, TPM_ALG_RSAPSS, TPM_ALG_RSASSA};
use super::public::AkKey;
use super::{HashAlg, PcrBanks, TpmError};
use crate::signature::{EcdsaP256Key, RsaSha256Key};

/// Verifies `signature` over the exact `attest` bytes with `key`. Only SHA-256 schemes are
/// accepted: the AKs of GCP and Azure vTPMs and of swtpm sign with it, and SHA-1 is forgeable.
pub fn verify_signature(
    attest: &[u8],
    signature: &TpmSignature,
    key: &AkKey,
) -> Result<(), TpmError> {
    if signature.hash_id() != HashAlg::Sha256.id() {
        return Err(TpmError::SignatureUnsupported(format!(
            "{} with hash algorithm {:#06x}; only SHA-256 (0x000b) is accepted",
            signature.scheme_name(),
            signature.hash_id()
        )));
    }
    let verified = match (signature, key) {
        (TpmSignature::RsaSsa { signature, .. }, AkKey::Rsa { modulus, exponent }) => {
            rsa_key(modulus, *exponent)?.verify_pkcs1v15(attest, signature)
        }
        (TpmSignature::RsaPss { signature, .. }, AkKey::Rsa { modulus, exponent }) => {
            rsa_key(modulus, *exponent)?.verify_pss(attest, signature)
        }
        (TpmSignature::Ecdsa { r, s, .. }, AkKey::P256 { x, y }) => {
            let point = [&[0x04][..], x, y].concat();
            let key = EcdsaP256Key::from_sec1(&point)
                .map_err(|e| TpmError::AkPublicMalformed(e.to_string()))?;
            let fixed = fixed_p256_signature(r, s)?;
            key.verify_fixed(attest, &fixed)
        }
        (signature, key) => {
            return Err(TpmError::SignatureUnsupported(format!(
                "an {} signature cannot come from an {} key",
                signature.scheme_name(),
                key.describe()
            )))
        }
    };
    verified.map_err(|_| TpmError::SignatureInvalid)
}

/// The quote's scheme must be the one the key is fixed to, when the key fixes one.
pub fn check_scheme(
    signature: &TpmSignature,
    key_scheme: u16,
    key_hash: Option<u16>,
) -> Result<(), TpmError> {
    let scheme = match signature {
        TpmSignature::RsaSsa { .. } => TPM_ALG_RSASSA,
        TpmSignature::RsaPss { .. } => TPM_ALG_RSAPSS,
        TpmSignature::Ecdsa { .. } => super::attest::TPM_ALG_ECDSA,
    };
    match key_hash {
        Some(hash) if scheme != key_scheme || hash != signature.hash_id() => {
            Err(TpmError::SignatureUnsupported(format!(
                "the signature is {} with hash {:#06x} but the key is fixed to scheme {key_scheme:#06x} with hash {hash:#06x}",
                signature.scheme_name(),
                signature.hash_id()
            )))
        }
        _ => Ok(()),
    }
}

fn rsa_key(modulus: &[u8], exponent: u32) -> Result<RsaSha256Key, TpmError> {
    RsaSha256Key::from_components(modulus, &exponent.to_be_bytes())
        .map_err(|e| TpmError::AkPublicMalformed(e.to_string()))
}

fn fixed_p256_signature(r: &[u8], s: &[u8]) -> Result<[u8; 64], TpmError> {
    let mut fixed = [0u8; 64];
    for (half, value) in [r, s].into_iter().enumerate() {
        // TPMs may send a 33-byte value with a leading zero, or a shorter one.
        let value = &value[value.iter().position(|b| *b != 0).unwrap_or(value.len())..];
        if value.len() > 32 {
            return Err(TpmError::SignatureMalformed(
                "an ECDSA P-256 component is longer than 32 bytes".into(),
            ));
        }
        let end = 32 * (half + 1);
        fixed[end - value.len()..end].copy_from_slice(value);
    }
    Ok(fixed)
}

/// extraData must be exactly what the verifier asked the TPM to include.
pub fn check_qualifying_data(attest: &Attest, expected: &[u8]) -> Result<(), TpmError> {
    if attest.extra_data == expected {
        Ok(())
    } else {
        Err(TpmError::QualifyingDataMismatch {
            expected: hex::encode(expected),
            found: hex::encode(&attest.extra_data),
        })
    }
}

/// pcrDigest must be H(the selected PCR values, in selection order), H being the signature's
/// hash; every selected PCR must be supplied with a value of its bank's size.
pub fn check_pcr_digest(attest: &Attest, hash: HashAlg, pcrs: &PcrBanks) -> Result<(), TpmError> {
    let mut values: Vec<&[u8]> = Vec::new();
    for selection in &attest.selections {
        for index in &selection.pcrs {
            let value = pcrs
                .get(&selection.bank)
                .and_then(|bank| bank.get(index))
                .ok_or_else(|| {
                    TpmError::PcrValuesMalformed(format!(
                        "the quote selects {} PCR {index} but no value for it was given",
                        selection.bank.name()
                    ))
                })?;
            values.push(value);
        }
    }
    let digest = hash.digest(&values);
    if digest == attest.pcr_digest {
        Ok(())
    } else {
        Err(TpmError::PcrDigestMismatch(format!(
            "{} of the {} given values is {}, the quote says {}",
            hash.name(),
            values.len(),
            hex::encode(digest),
            hex::encode(&attest.pcr_digest)
        )))
    }
}

/// A quote that passed [`verify_quote`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedQuote {
    pub attest: Attest,
}

/// Every check of a quote by `key`: signature, qualifying data, pcrDigest. Returns every failure.
pub fn verify_quote(
    attest_bytes: &[u8],
    signature: &TpmSignature,
    key: &AkKey,
    qualifying_data: &[u8],
    pcrs: &PcrBanks,
) -> Result<VerifiedQuote, Vec<TpmError>> {
    let attest = parse_attest(attest_bytes).map_err(|e| vec![e])?;
    let mut errors = Vec::new();
    if let Err(error) = verify_signature(attest_bytes, signature, key) {
        errors.push(error);
    }
    if let Err(error) = check_qualifying_data(&attest, qualifying_data) {
        errors.push(error);
    }
    // The signature check has refused any hash but SHA-256 already.
    if let Err(error) = check_pcr_digest(&attest, HashAlg::Sha256, pcrs) {
        errors.push(error);
    }
    if errors.is_empty() {
        Ok(VerifiedQuote { attest })
    } else {
        Err(errors)
    }
}
