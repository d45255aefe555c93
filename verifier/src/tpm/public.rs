//! TPMT_PUBLIC of an attestation key (TPM 2.0 Part 2, §12.2.4): RSA and ECC (NIST P-256) keys,
//! their object attributes, and their TPM Name (nameAlg ‖ H_nameAlg(TPMT_PUBLIC)).
//!
//! ```text
//! TPMT_PUBLIC: u16 type, u16 nameAlg, u32 objectAttributes, TPM2B_DIGEST authPolicy,
//!   RSA: TPMT_SYM_DEF_OBJECT symmetric, TPMT_RSA_SCHEME scheme, u16 keyBits, u32 exponent,
//!        TPM2B_PUBLIC_KEY_RSA unique (the modulus)
//!   ECC: TPMT_SYM_DEF_OBJECT symmetric, TPMT_ECC_SCHEME scheme, u16 curveID, TPMT_KDF_SCHEME kdf,
//!        TPMS_ECC_POINT unique { TPM2B x, TPM2B y }
//! ```

use super::reader::Reader;
use super::{HashAlg, TpmError};

pub const TPM_ALG_RSA: u16 = 0x0001;
pub const TPM_ALG_ECC: u16 = 0x0023;
pub const TPM_ALG_NULL: u16 = 0x0010;
pub const TPM_ECC_NIST_P256: u16 = 0x0003;
/// A TPMT_PUBLIC of an RSA-4096 key with a SHA-512 policy is under 700 bytes.
pub const MAX_PUBLIC_BYTES: usize = 1024;
/// RSA exponent 0 in TPMT_PUBLIC means the default, 2^16 + 1.
const DEFAULT_RSA_EXPONENT: u32 = 65_537;

/// TPMA_OBJECT bits (Part 2, §8.3).
pub mod attributes {
    pub const FIXED_TPM: u32 = 1 << 1;
    pub const FIXED_PARENT: u32 = 1 << 4;
    pub const SENSITIVE_DATA_ORIGIN: u32 = 1 << 5;
    pub const RESTRICTED: u32 = 1 << 16;
    pub const DECRYPT: u32 = 1 << 17;
    pub const SIGN: u32 = 1 << 18;
}

/// The public key of an attestation key, whatever vouches for it (TPMT_PUBLIC, a certificate,
/// Azure's HCLAkPub JWK): equal keys compare equal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AkKey {
    /// Modulus (big-endian, no leading zeros) and public exponent.
    Rsa { modulus: Vec<u8>, exponent: u32 },
    /// A NIST P-256 point.
    P256 { x: [u8; 32], y: [u8; 32] },
}

impl AkKey {
    /// An RSA key from big-endian modulus and exponent bytes, normalised for comparison.
    pub fn rsa(modulus: &[u8], exponent: &[u8]) -> Result<AkKey, String> {
        let modulus = strip_zeros(modulus);
        let exponent = strip_zeros(exponent);
        if modulus.is_empty() || exponent.len() > 4 || exponent.is_empty() {
            return Err("the RSA modulus is empty or the exponent does not fit 32 bits".into());
        }
        let exponent = exponent
            .iter()
            .fold(0u32, |acc, byte| (acc << 8) | u32::from(*byte));
        Ok(AkKey::Rsa {
            modulus: modulus.to_vec(),
            exponent,
        })
    }

    pub fn describe(&self) -> String {
        match self {
            AkKey::Rsa { modulus, .. } => format!("RSA-{}", modulus.len() * 8),
            AkKey::P256 { .. } => "ECC P-256".into(),
        }
    }
}

fn strip_zeros(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    &bytes[start..]
}

/// A parsed TPMT_PUBLIC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AkPublic {
    pub key: AkKey,
    pub name_alg: HashAlg,
    pub attributes: u32,
    /// The signing scheme fixed in the key (TPM_ALG_NULL when the quote chooses), and its hash.
    pub scheme: u16,
    pub scheme_hash: Option<u16>,
    /// The TPM Name: nameAlg (big-endian) ‖ H_nameAlg(the TPMT_PUBLIC bytes).
    pub name: Vec<u8>,
}

impl AkPublic {
    /// Checks what makes a key an attestation key: created in and bound to this TPM
    /// (fixedTPM, fixedParent, sensitiveDataOrigin), and restricted to signing TPM-made data
    /// (restricted, sign, not decrypt), so it cannot sign forged TPMS_ATTEST bytes.
    pub fn check_restricted_signing(&self) -> Result<(), TpmError> {
        use attributes::*;
        let required = [
            (FIXED_TPM, "fixedTPM"),
            (FIXED_PARENT, "fixedParent"),
            (SENSITIVE_DATA_ORIGIN, "sensitiveDataOrigin"),
            (RESTRICTED, "restricted"),
            (SIGN, "sign"),
        ];
        let mut problems: Vec<String> = required
            .iter()
            .filter(|(bit, _)| self.attributes & bit == 0)
            .map(|(_, name)| format!("{name} is clear"))
            .collect();
        if self.attributes & DECRYPT != 0 {
            problems.push("decrypt is set".into());
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(TpmError::AkNotRestricted(format!(
                "objectAttributes {:#010x}: {}",
                self.attributes,
                problems.join(", ")
            )))
        }
    }
}

pub fn parse_public(bytes: &[u8]) -> Result<AkPublic, TpmError> {
    read_public(bytes).map_err(TpmError::AkPublicMalformed)
}

fn read_public(bytes: &[u8]) -> Result<AkPublic, String> {
    let mut r = Reader::limited(bytes, MAX_PUBLIC_BYTES)?;
    let kind = r.u16_be("type")?;
    let name_alg_id = r.u16_be("nameAlg")?;
    let name_alg = HashAlg::from_id(name_alg_id)
        .filter(|alg| *alg != HashAlg::Sha1)
        .ok_or_else(|| format!("nameAlg {name_alg_id:#06x} is not SHA-256 or SHA-384"))?;
    let attributes = r.u32_be("objectAttributes")?;
    r.sized(64, "authPolicy")?;
    let symmetric = r.u16_be("symmetric")?;
    if symmetric != TPM_ALG_NULL {
        // An attestation key is a signing key: a symmetric algorithm belongs to storage keys.
        return Err(format!(
            "symmetric algorithm {symmetric:#06x} is set; a signing key has TPM_ALG_NULL"
        ));
    }
    let (scheme, scheme_hash) = read_scheme(&mut r)?;
    let key = match kind {
        TPM_ALG_RSA => {
            let bits = r.u16_be("keyBits")?;
            let exponent = match r.u32_be("exponent")? {
                0 => DEFAULT_RSA_EXPONENT,
                other => other,
            };
            let modulus = r.sized(512, "RSA modulus")?;
            if modulus.len() * 8 != usize::from(bits) {
                return Err(format!(
                    "the modulus is {} bits but keyBits says {bits}",
                    modulus.len() * 8
                ));
            }
            AkKey::rsa(modulus, &exponent.to_be_bytes())?
        }
        TPM_ALG_ECC => {
            let curve = r.u16_be("curveID")?;
            if curve != TPM_ECC_NIST_P256 {
                return Err(format!("ECC curve {curve:#06x} is not NIST P-256"));
            }
            let kdf = r.u16_be("kdf")?;
            if kdf != TPM_ALG_NULL {
                return Err(format!("kdf {kdf:#06x} is set; a signing key has none"));
            }
            let x = coordinate(r.sized(32, "ECC x")?);
            let y = coordinate(r.sized(32, "ECC y")?);
            AkKey::P256 { x, y }
        }
        other => return Err(format!("key type {other:#06x} is neither RSA nor ECC")),
    };
    r.finish("public area")?;
    let name = [&name_alg.id().to_be_bytes()[..], &name_alg.digest(&[bytes])].concat();
    Ok(AkPublic {
        key,
        name_alg,
        attributes,
        scheme,
        scheme_hash,
        name,
    })
}

/// TPMT_RSA_SCHEME / TPMT_ECC_SCHEME: a scheme, then its hash unless the scheme is NULL
/// (ECDAA also carries a count, and is refused: it is not a quote-signing scheme here).
fn read_scheme(r: &mut Reader) -> Result<(u16, Option<u16>), String> {
    let scheme = r.u16_be("scheme")?;
    if scheme == TPM_ALG_NULL {
        return Ok((scheme, None));
    }
    use super::attest::{TPM_ALG_ECDSA, TPM_ALG_RSAPSS, TPM_ALG_RSASSA};
    if ![TPM_ALG_RSASSA, TPM_ALG_RSAPSS, TPM_ALG_ECDSA].contains(&scheme) {
        return Err(format!(
            "signing scheme {scheme:#06x} is not RSASSA, RSAPSS or ECDSA"
        ));
    }
    Ok((scheme, Some(r.u16_be("scheme hash")?)))
}

/// A P-256 coordinate, left-padded: TPMs may drop leading zero bytes.
/// `bytes` is at most 32 long (the reader's limit).
fn coordinate(bytes: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out[32 - bytes.len()..].copy_from_slice(bytes);
    out
}
