//! The VCEK/VLEK leaf certificate and AMD's extensions in it (OIDs under 1.3.6.1.4.1.3704.1).

use x509_cert::der::asn1::{Ia5StringRef, ObjectIdentifier};
use x509_cert::der::Decode;
use x509_cert::Certificate;

use super::chain::{common_name, MAX_CERTIFICATE_BYTES};
use super::{Product, SigningKeyKind, SnpError, Tcb};
use crate::signature::EcdsaP384Key;

const PRODUCT_NAME: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.3704.1.2");
const BL_SPL: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.3704.1.3.1");
const TEE_SPL: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.3704.1.3.2");
const SNP_SPL: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.3704.1.3.3");
const UCODE_SPL: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.3704.1.3.8");
const FMC_SPL: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.3704.1.3.9");
const HW_ID: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.3704.1.4");

/// A parsed VCEK or VLEK with the facts the report is checked against.
pub(crate) struct AmdLeaf {
    pub cert: Certificate,
    pub product: Product,
    pub kind: SigningKeyKind,
    pub key: EcdsaP384Key,
    pub tcb: Tcb,
    /// The chip id the VCEK is for (64 bytes Milan/Genoa, 8 on Turin); a VLEK has none.
    pub hw_id: Option<Vec<u8>>,
}

pub(crate) fn parse_leaf(der: &[u8]) -> Result<AmdLeaf, SnpError> {
    let malformed = |m: String| SnpError::MalformedCertificate(format!("VCEK/VLEK: {m}"));
    if der.len() > MAX_CERTIFICATE_BYTES {
        return Err(malformed(format!(
            "{} bytes, more than the {MAX_CERTIFICATE_BYTES} accepted",
            der.len()
        )));
    }
    let cert = Certificate::from_der(der).map_err(|e| malformed(e.to_string()))?;
    let kind = match common_name(&cert.tbs_certificate.subject).as_deref() {
        Some("SEV-VCEK") => SigningKeyKind::Vcek,
        Some("SEV-VLEK") => SigningKeyKind::Vlek,
        other => {
            return Err(malformed(format!(
                "subject CN {other:?} is neither SEV-VCEK nor SEV-VLEK"
            )))
        }
    };
    let key = EcdsaP384Key::from_spki(&cert.tbs_certificate.subject_public_key_info)
        .map_err(|_| malformed("the key is not an ECDSA P-384 key".into()))?;

    let mut product_name = None;
    let (mut bl, mut tee, mut snp, mut ucode, mut fmc, mut hw_id) =
        (None, None, None, None, None, None);
    for extension in cert.tbs_certificate.extensions.iter().flatten() {
        let value = extension.extn_value.as_bytes();
        let spl = || {
            u8::from_der(value).map_err(|_| {
                malformed(format!(
                    "extension {} is not an INTEGER 0..255",
                    extension.extn_id
                ))
            })
        };
        match extension.extn_id {
            PRODUCT_NAME => {
                let name = Ia5StringRef::from_der(value)
                    .map_err(|_| malformed("productName is not an IA5String".into()))?;
                product_name = Some(name.as_str().to_owned());
            }
            BL_SPL => bl = Some(spl()?),
            TEE_SPL => tee = Some(spl()?),
            SNP_SPL => snp = Some(spl()?),
            UCODE_SPL => ucode = Some(spl()?),
            FMC_SPL => fmc = Some(spl()?),
            // Not DER-wrapped: the extension value is the raw chip id.
            HW_ID => hw_id = Some(value.to_vec()),
            _ => {}
        }
    }
    let product_name = product_name.ok_or_else(|| malformed("no productName extension".into()))?;
    let product = Product::from_product_name(&product_name).ok_or_else(|| {
        SnpError::WrongProduct(format!(
            "the leaf's productName {product_name:?} is not Milan, Genoa or Turin"
        ))
    })?;
    let missing = |name: &str| malformed(format!("no {name} extension"));
    let tcb = Tcb {
        fmc: match product {
            Product::Turin => Some(fmc.ok_or_else(|| missing("fmcSPL"))?),
            Product::Milan | Product::Genoa => None,
        },
        bootloader: bl.ok_or_else(|| missing("blSPL"))?,
        tee: tee.ok_or_else(|| missing("teeSPL"))?,
        snp: snp.ok_or_else(|| missing("snpSPL"))?,
        microcode: ucode.ok_or_else(|| missing("ucodeSPL"))?,
    };
    if kind == SigningKeyKind::Vcek {
        let expected = match product {
            Product::Milan | Product::Genoa => 64,
            Product::Turin => 8,
        };
        match &hw_id {
            Some(id) if id.len() == expected => {}
            Some(id) => {
                return Err(malformed(format!(
                    "hwID is {} bytes, a {} VCEK has {expected}",
                    id.len(),
                    product.name()
                )))
            }
            None => return Err(missing("hwID")),
        }
    }
    Ok(AmdLeaf {
        cert,
        product,
        kind,
        key,
        tcb,
        hw_id,
    })
}
