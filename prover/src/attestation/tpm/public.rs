//! The attestation key's public area (TPMT_PUBLIC, Part 2, 12.2.4): just enough of it to choose the
//! Quote's signature scheme, plus the standard AK template for a TPM without a provisioned one.

use super::wire::{Reader, WireError, Writer};

pub const TPM_ALG_RSA: u16 = 0x0001;
pub const TPM_ALG_SHA256: u16 = 0x000B;
pub const TPM_ALG_NULL: u16 = 0x0010;
pub const TPM_ALG_RSASSA: u16 = 0x0014;
pub const TPM_ALG_ECDSA: u16 = 0x0018;
pub const TPM_ALG_ECC: u16 = 0x0023;
const TPM_ALG_ECDAA: u16 = 0x001A;

/// TPMA_OBJECT bits: fixedTPM, fixedParent, sensitiveDataOrigin, userWithAuth, restricted, sign.
/// A restricted signing key only signs what the TPM itself produced (quotes, certifications), so
/// a quote it signs cannot be forged by asking it to sign arbitrary bytes.
const FIXED_TPM: u32 = 1 << 1;
const FIXED_PARENT: u32 = 1 << 4;
const SENSITIVE_DATA_ORIGIN: u32 = 1 << 5;
const USER_WITH_AUTH: u32 = 1 << 6;
pub const RESTRICTED: u32 = 1 << 16;
pub const SIGN: u32 = 1 << 18;

/// TCG's RSA AK template as go-tpm-tools' `AKTemplateRSA`: restricted RSA-2048 signing key,
/// RSASSA-PKCS1-v1_5 with SHA-256, name algorithm SHA-256, no policy, empty unique.
pub fn ak_template_rsa() -> Vec<u8> {
    let mut template = Writer::new();
    template
        .u16(TPM_ALG_RSA)
        .u16(TPM_ALG_SHA256)
        .u32(FIXED_TPM | FIXED_PARENT | SENSITIVE_DATA_ORIGIN | USER_WITH_AUTH | RESTRICTED | SIGN)
        .u16(0) // authPolicy: empty
        .u16(TPM_ALG_NULL) // symmetric: none (a signing key)
        .u16(TPM_ALG_RSASSA)
        .u16(TPM_ALG_SHA256)
        .u16(2048)
        .u32(0) // exponent: the default 65537
        .u16(0); // unique: empty
    template.into_bytes()
}

/// What the attester needs to know about a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyInfo {
    /// TPM_ALG_RSA or TPM_ALG_ECC.
    pub key_type: u16,
    pub attributes: u32,
    /// The key's own signing scheme and its hash, or TPM_ALG_NULL.
    pub scheme: u16,
    pub scheme_hash: u16,
}

impl KeyInfo {
    /// TPMT_SIG_SCHEME for Quote: NULL lets a key with a scheme use its own (a restricted key
    /// accepts nothing else); a key without one gets the usual SHA-256 scheme for its type.
    pub fn quote_scheme(&self) -> (u16, Option<u16>) {
        if self.scheme != TPM_ALG_NULL {
            (TPM_ALG_NULL, None)
        } else if self.key_type == TPM_ALG_RSA {
            (TPM_ALG_RSASSA, Some(TPM_ALG_SHA256))
        } else {
            (TPM_ALG_ECDSA, Some(TPM_ALG_SHA256))
        }
    }

    pub fn is_signing_key(&self) -> bool {
        self.attributes & SIGN != 0
    }
}

/// Parses a TPMT_PUBLIC of an RSA or ECC key, refusing trailing bytes.
pub fn parse_public(bytes: &[u8]) -> Result<KeyInfo, WireError> {
    let mut reader = Reader::new(bytes);
    let key_type = reader.u16("type")?;
    reader.u16("nameAlg")?;
    let attributes = reader.u32("objectAttributes")?;
    reader.tpm2b("authPolicy")?;
    let symmetric = reader.u16("symmetric algorithm")?;
    if symmetric != TPM_ALG_NULL {
        reader.u16("symmetric key bits")?;
        reader.u16("symmetric mode")?;
    }
    let scheme = reader.u16("scheme")?;
    let mut scheme_hash = TPM_ALG_NULL;
    if scheme != TPM_ALG_NULL {
        scheme_hash = reader.u16("scheme hash")?;
        if scheme == TPM_ALG_ECDAA {
            reader.u16("ECDAA count")?;
        }
    }
    match key_type {
        TPM_ALG_RSA => {
            reader.u16("keyBits")?;
            reader.u32("exponent")?;
            reader.tpm2b("RSA modulus")?;
        }
        TPM_ALG_ECC => {
            reader.u16("curveID")?;
            if reader.u16("kdf")? != TPM_ALG_NULL {
                reader.u16("kdf hash")?;
            }
            reader.tpm2b("ECC point x")?;
            reader.tpm2b("ECC point y")?;
        }
        other => {
            return Err(WireError(format!(
                "key type {other:#06x} is neither RSA nor ECC: it cannot sign a quote"
            )))
        }
    }
    reader.finish("TPMT_PUBLIC")?;
    Ok(KeyInfo {
        key_type,
        attributes,
        scheme,
        scheme_hash,
    })
}

/// A template as read from NV: TPMT_PUBLIC (what go-tpm-tools writes), or the same inside a
/// TPM2B_PUBLIC, recognised by a size prefix equal to the rest's length.
pub fn template_from_nv(bytes: &[u8]) -> &[u8] {
    if bytes.len() >= 2 && usize::from(u16::from_be_bytes([bytes[0], bytes[1]])) == bytes.len() - 2
    {
        &bytes[2..]
    } else {
        bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_standard_template_is_a_restricted_rsassa_sha256_signing_key() {
        let template = ak_template_rsa();
        // As go-tpm-tools encodes AKTemplateRSA().
        assert_eq!(
            hex::encode(&template),
            "0001000b00050072000000100014000b0800000000000000"
        );
        let info = parse_public(&template).unwrap();
        assert_eq!(info.key_type, TPM_ALG_RSA);
        assert_eq!(
            (info.scheme, info.scheme_hash),
            (TPM_ALG_RSASSA, TPM_ALG_SHA256)
        );
        assert!(info.is_signing_key() && info.attributes & RESTRICTED != 0);
        assert_eq!(info.quote_scheme(), (TPM_ALG_NULL, None));
        let mut wrapped = vec![0, template.len() as u8];
        wrapped.extend_from_slice(&template);
        assert_eq!(template_from_nv(&wrapped), &template[..]);
        assert_eq!(template_from_nv(&template), &template[..]);
        assert!(parse_public(&template[..template.len() - 1]).is_err());
    }
}
