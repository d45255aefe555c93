//! Revocation: AMD KDS CRLs, signed by the product's ARK, listing revoked ASKs/ASVKs (and, in
//! principle, leaves).

use x509_cert::crl::CertificateList;
use x509_cert::der::{Decode, Encode};
use x509_cert::serial_number::SerialNumber;

use super::chain::{verify_pss, Issuers};
use super::SnpError;

/// Largest CRL accepted (AMD's are a few KiB).
pub const MAX_CRL_BYTES: usize = 1024 * 1024;

/// Fails unless at least one of `crls` is issued and signed by `issuers.ark` and current at
/// `at`, and none of those lists a serial in `checked`. CRLs from other issuers (e.g. another
/// product's ARK) are skipped, so one list of all products' CRLs can be passed.
pub(crate) fn check_revocation(
    crls: &[Vec<u8>],
    issuers: &Issuers,
    checked: &[(&'static str, &SerialNumber)],
    at: u64,
) -> Result<(), SnpError> {
    let mut applicable = 0usize;
    for der in crls {
        if der.len() > MAX_CRL_BYTES {
            return Err(SnpError::CrlInvalid(format!(
                "{} bytes, more than the {MAX_CRL_BYTES} accepted",
                der.len()
            )));
        }
        let crl = CertificateList::from_der(der)
            .map_err(|e| SnpError::CrlInvalid(format!("not a DER CRL ({e})")))?;
        let tbs = &crl.tbs_cert_list;
        if tbs.issuer != *issuers.ark.subject() {
            continue;
        }
        if tbs.signature != crl.signature_algorithm {
            return Err(SnpError::CrlInvalid(
                "its two signature algorithm fields differ".into(),
            ));
        }
        let signed = tbs
            .to_der()
            .map_err(|e| SnpError::CrlInvalid(e.to_string()))?;
        verify_pss(
            &signed,
            &crl.signature_algorithm,
            &crl.signature,
            &issuers.ark.key,
        )
        .map_err(|why| {
            SnpError::CrlInvalid(format!(
                "it names ARK-{} as issuer but is not signed by it ({why})",
                issuers.product.name()
            ))
        })?;
        let this_update = tbs.this_update.to_unix_duration().as_secs();
        if at < this_update {
            return Err(SnpError::CrlInvalid(format!(
                "it is issued at {this_update}, after the verification time {at}"
            )));
        }
        if let Some(next_update) = &tbs.next_update {
            let next_update = next_update.to_unix_duration().as_secs();
            if at > next_update {
                return Err(SnpError::CrlInvalid(format!(
                    "it expired at {next_update} (nextUpdate), before the verification time {at}; download a fresh one"
                )));
            }
        }
        for revoked in tbs.revoked_certificates.iter().flatten() {
            if let Some((which, _)) = checked
                .iter()
                .find(|(_, serial)| **serial == revoked.serial_number)
            {
                return Err(SnpError::Revoked(which));
            }
        }
        applicable += 1;
    }
    if applicable == 0 {
        return Err(SnpError::CrlMissing {
            product: issuers.product.name(),
            kind: match issuers.kind {
                super::SigningKeyKind::Vcek => "vcek",
                super::SigningKeyKind::Vlek => "vlek",
            },
        });
    }
    Ok(())
}
