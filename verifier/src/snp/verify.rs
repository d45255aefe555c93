//! Putting it together: a report is accepted only if every check passes (fail closed).

use std::borrow::Cow;

use super::chain::{check_validity, verify_signed_certificate, Issuers};
use super::crl::check_revocation;
use super::leaf::{parse_leaf, AmdLeaf};
use crate::signature::VerifiedLinks;

use super::{
    parse_report, Product, SigningKeyKind, SnpCertificates, SnpError, SnpReport, SnpTrust, Tcb,
};

/// A report that passed every check, with the facts the checks established.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedSnpReport {
    pub report: SnpReport,
    pub product: Product,
    pub key_kind: SigningKeyKind,
    /// REPORTED_TCB, decoded for `product` (equal to the leaf certificate's TCB).
    pub tcb: Tcb,
    /// Whether revocation was checked against an AMD CRL (false only with `check_crl = false`).
    pub crl_checked: bool,
}

/// Verifies an SEV-SNP report the way a wallet must:
/// - the report signature (ECDSA P-384/SHA-384 over 0x000..0x29F) with the leaf's key;
/// - leaf → ASK (VCEK) or ASVK (VLEK) → ARK, all RSASSA-PSS SHA-384, the ARK self-signed and
///   its SHA-256 in `trust.ark_sha256`; a missing intermediate or ARK in `certs` is taken from
///   AMD's certificates built into this crate;
/// - the product from the leaf's productName, equal to the one the report's CPUID names
///   (version ≥ 3) and to the chain's;
/// - all three certificates valid at `at_unix_seconds`;
/// - REPORTED_TCB equal to the leaf's TCB extensions, the leaf's hwID equal to CHIP_ID (VCEK),
///   the signing-key kind named in the report equal to the leaf's;
/// - the debug policy bit (unless `allow_debug`), `min_tcb`, and revocation when `check_crl`.
pub fn verify_report(
    report: &[u8],
    certs: &SnpCertificates,
    trust: &SnpTrust,
    at_unix_seconds: u64,
) -> Result<VerifiedSnpReport, SnpError> {
    SnpVerifier::without_cache(trust.clone()).verify(report, certs, at_unix_seconds)
}

/// A verifier that checks AMD's built-in intermediates against their ARKs once, at
/// construction, instead of on every report: with them, each report costs one RSA and one
/// ECDSA verification. Certificates that differ from the built-in ones are checked in full.
///
/// It also remembers the leaf certificates it has seen signed (see [`VerifiedLinks`]), so a
/// report from a known chip costs one ECDSA verification; every other check runs each time.
pub struct SnpVerifier {
    trust: SnpTrust,
    verified_issuers: Vec<Issuers>,
    links: VerifiedLinks,
}

impl SnpVerifier {
    /// Pre-verifies every built-in (intermediate, ARK) pair whose ARK `trust` pins.
    pub fn new(trust: SnpTrust) -> Result<Self, SnpError> {
        let mut verified_issuers = Vec::new();
        for product in [Product::Milan, Product::Genoa, Product::Turin] {
            for kind in [SigningKeyKind::Vcek, SigningKeyKind::Vlek] {
                let (intermediate, ark) = Issuers::builtin_ders(product, kind)?;
                match Issuers::verify(&intermediate, &ark, product, kind, &trust) {
                    Ok(issuers) => verified_issuers.push(issuers),
                    // Not pinned: reports from that product will be rejected at verification.
                    Err(SnpError::RootNotPinned(_)) => {}
                    Err(other) => return Err(other),
                }
            }
        }
        Ok(SnpVerifier {
            trust,
            verified_issuers,
            links: VerifiedLinks::default(),
        })
    }

    pub(crate) fn without_cache(trust: SnpTrust) -> Self {
        SnpVerifier {
            trust,
            verified_issuers: Vec::new(),
            links: VerifiedLinks::disabled(),
        }
    }

    pub fn trust(&self) -> &SnpTrust {
        &self.trust
    }

    /// See [`verify_report`].
    pub fn verify(
        &self,
        report: &[u8],
        certs: &SnpCertificates,
        at_unix_seconds: u64,
    ) -> Result<VerifiedSnpReport, SnpError> {
        self.verify_with_links(report, certs, at_unix_seconds, &self.links)
    }

    /// [`Self::verify`] remembering leaf signatures in `links` instead of this verifier's own.
    pub(crate) fn verify_with_links(
        &self,
        report: &[u8],
        certs: &SnpCertificates,
        at_unix_seconds: u64,
        links: &VerifiedLinks,
    ) -> Result<VerifiedSnpReport, SnpError> {
        let trust = &self.trust;
        let report = parse_report(report)?;
        let leaf = parse_leaf(&certs.leaf)?;
        let product = leaf.product;
        if let Some((family, model, stepping)) = report.cpuid {
            match Product::from_cpuid(family, model) {
                Some(from_cpuid) if from_cpuid == product => {}
                named => {
                    return Err(SnpError::WrongProduct(format!(
                        "the report's CPUID {family:#x}/{model:#x}/{stepping:#x} names {:?} but the leaf certificate is for {}; supply the VCEK/VLEK of the machine that made the report",
                        named.map(Product::name),
                        product.name()
                    )))
                }
            }
        }
        let issuers = self.issuers(certs, product, leaf.kind)?;
        let intermediate_key = issuers
            .intermediate
            .cert
            .tbs_certificate
            .subject_public_key_info
            .subject_public_key
            .raw_bytes();
        links.verify(intermediate_key, &certs.leaf, || {
            verify_signed_certificate(
                &leaf.cert,
                &issuers.intermediate.key,
                leaf_name(leaf.kind),
                issuers.kind.intermediate_name(),
            )
        })?;
        if leaf.cert.tbs_certificate.issuer != *issuers.intermediate.subject() {
            return Err(SnpError::Chain(format!(
                "the {} was not issued by the {}",
                leaf_name(leaf.kind),
                leaf.kind.intermediate_name()
            )));
        }
        check_validity(&leaf.cert, leaf_name(leaf.kind), at_unix_seconds)?;
        check_validity(
            &issuers.intermediate.cert,
            leaf.kind.intermediate_name(),
            at_unix_seconds,
        )?;
        check_validity(&issuers.ark.cert, "ARK", at_unix_seconds)?;

        check_report_against_leaf(&report, &leaf)?;
        report.verify_signature(&leaf.key, leaf_name(leaf.kind))?;

        let tcb = Tcb::decode(report.reported_tcb, product);
        if report.debug_allowed() && !trust.allow_debug {
            return Err(SnpError::Debug);
        }
        if let Some(minimum) = &trust.min_tcb {
            if !tcb.meets(minimum) {
                return Err(SnpError::TcbTooLow {
                    reported: tcb.to_string(),
                    minimum: minimum.to_string(),
                });
            }
        }
        if trust.check_crl {
            let checked = [
                (leaf.kind.intermediate_name(), issuers.intermediate.serial()),
                (
                    leaf_name(leaf.kind),
                    &leaf.cert.tbs_certificate.serial_number,
                ),
            ];
            check_revocation(&trust.crls, &issuers, &checked, at_unix_seconds)?;
        }
        Ok(VerifiedSnpReport {
            report,
            product,
            key_kind: leaf.kind,
            tcb,
            crl_checked: trust.check_crl,
        })
    }

    /// The verified intermediate and ARK for this leaf: a cached pair when `certs` carries the
    /// same bytes (or none), else checked now.
    fn issuers(
        &self,
        certs: &SnpCertificates,
        product: Product,
        kind: SigningKeyKind,
    ) -> Result<Cow<'_, Issuers>, SnpError> {
        let cached = self.verified_issuers.iter().find(|issuers| {
            issuers.product == product
                && issuers.kind == kind
                && certs
                    .intermediate
                    .as_ref()
                    .is_none_or(|der| *der == issuers.intermediate.der)
                && certs.ark.as_ref().is_none_or(|der| *der == issuers.ark.der)
        });
        if let Some(issuers) = cached {
            return Ok(Cow::Borrowed(issuers));
        }
        let (builtin_intermediate, builtin_ark) = match (&certs.intermediate, &certs.ark) {
            (Some(intermediate), Some(ark)) => (intermediate.clone(), ark.clone()),
            _ => Issuers::builtin_ders(product, kind)?,
        };
        let intermediate = certs.intermediate.as_ref().unwrap_or(&builtin_intermediate);
        let ark = certs.ark.as_ref().unwrap_or(&builtin_ark);
        Issuers::verify(intermediate, ark, product, kind, &self.trust).map(Cow::Owned)
    }
}

/// The facts of the report the leaf certificate must vouch for.
fn check_report_against_leaf(report: &SnpReport, leaf: &AmdLeaf) -> Result<(), SnpError> {
    if report.signing_key != Some(leaf.kind) {
        return Err(SnpError::KeyKindMismatch {
            report: match report.signing_key {
                Some(kind) => leaf_name(kind).to_owned(),
                None => format!("signing key {} (none/unknown)", (report.flags >> 2) & 0b111),
            },
            certificate: leaf_name(leaf.kind),
        });
    }
    let reported = Tcb::decode(report.reported_tcb, leaf.product);
    if reported != leaf.tcb {
        return Err(SnpError::TcbMismatch {
            reported: reported.to_string(),
            certificate: leaf.tcb.to_string(),
        });
    }
    if let Some(hw_id) = &leaf.hw_id {
        let chip_id = report
            .chip_id
            .get(..hw_id.len())
            .ok_or(SnpError::ChipIdMismatch)?;
        if chip_id != hw_id.as_slice() {
            return Err(SnpError::ChipIdMismatch);
        }
    }
    Ok(())
}

fn leaf_name(kind: SigningKeyKind) -> &'static str {
    match kind {
        SigningKeyKind::Vcek => "VCEK",
        SigningKeyKind::Vlek => "VLEK",
    }
}
