//! Everything that can make an SEV-SNP report fail verification, with stable codes.

/// Why an SEV-SNP report (or its certificates) was rejected. Each variant has a stable
/// kebab-case [`code`](SnpError::code) for machines; the message names the problem and the fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SnpError {
    #[error("malformed SEV-SNP report: {0}; pass the raw report exactly as the AMD firmware returned it (configfs-tsm `outblob`)")]
    MalformedReport(String),
    #[error("SEV-SNP report version {0} is not supported (accepted: 2 to 5); update the verifier to one that knows this report layout")]
    UnsupportedVersion(u32),
    #[error("SEV-SNP report signature algorithm {0} is not supported (only 1, ECDSA P-384 with SHA-384)")]
    UnsupportedSignatureAlgorithm(u32),
    #[error("SEV-SNP report signature does not verify with the leaf certificate's key: the report was altered or the {0} is not the one that signed it; fetch the VCEK/VLEK for this chip and TCB")]
    Signature(&'static str),
    #[error("SEV-SNP certificate chain broken: {0}")]
    Chain(String),
    #[error("the AMD root certificate (ARK, SHA-256 {0}) is not pinned in the trust settings; add its fingerprint to `ark_sha256` only if it really is AMD's")]
    RootNotPinned(String),
    #[error("the {which} certificate is not valid at {at} (valid from {not_before} to {not_after}, Unix seconds); fetch a current certificate from AMD KDS or verify at a time inside its validity")]
    CertificateExpired {
        which: &'static str,
        at: u64,
        not_before: u64,
        not_after: u64,
    },
    #[error("wrong AMD product: {0}")]
    WrongProduct(String),
    #[error("REPORTED_TCB {reported} does not equal the TCB in the leaf certificate {certificate}: the VCEK is for another TCB; fetch the VCEK for the report's REPORTED_TCB")]
    TcbMismatch {
        reported: String,
        certificate: String,
    },
    #[error("CHIP_ID of the report does not match the VCEK's hwID: the VCEK belongs to another chip; fetch the VCEK for this chip")]
    ChipIdMismatch,
    #[error("the report's signing-key field says {report} but the leaf certificate is a {certificate}; supply the certificate the report names")]
    KeyKindMismatch {
        report: String,
        certificate: &'static str,
    },
    #[error("the guest policy allows debugging (policy bit 19), so the host can read and change guest memory; launch the guest without debug, or set `allow_debug = true` only for testing")]
    Debug,
    #[error("the reported TCB {reported} is below the required minimum {minimum}; the host must update its AMD firmware/microcode, or lower `min_tcb`")]
    TcbTooLow { reported: String, minimum: String },
    #[error("no certificate revocation list for {product} signed by its ARK was given; download it from https://kdsintf.amd.com/{kind}/v1/{product}/crl and pass it in `crls`, or set `check_crl = false` to skip revocation checking")]
    CrlMissing {
        product: &'static str,
        kind: &'static str,
    },
    #[error("invalid certificate revocation list: {0}; pass the DER CRL exactly as AMD KDS serves it, and a current one")]
    CrlInvalid(String),
    #[error("the {0} certificate is revoked by AMD's CRL; do not trust reports from it")]
    Revoked(&'static str),
    #[error("reserved bytes at offset {0:#x} of the SEV-SNP report are not zero (they are outside the signature, so something added them); pass the report unmodified")]
    ReservedNonZero(usize),
    #[error("malformed SEV-SNP certificate table: {0}; pass the `auxblob` of configfs-tsm (GHCB extended-report table) unmodified")]
    MalformedCertificateTable(String),
    #[error("malformed certificate: {0}; pass DER certificates as AMD KDS serves them")]
    MalformedCertificate(String),
}

impl SnpError {
    /// A stable, kebab-case identifier for this kind of failure.
    pub fn code(&self) -> &'static str {
        match self {
            SnpError::MalformedReport(_) => "snp-malformed-report",
            SnpError::UnsupportedVersion(_) => "snp-unsupported-version",
            SnpError::UnsupportedSignatureAlgorithm(_) => "snp-unsupported-signature-algorithm",
            SnpError::Signature(_) => "snp-signature",
            SnpError::Chain(_) => "snp-chain",
            SnpError::RootNotPinned(_) => "snp-root-not-pinned",
            SnpError::CertificateExpired { .. } => "snp-certificate-expired",
            SnpError::WrongProduct(_) => "snp-wrong-product",
            SnpError::TcbMismatch { .. } => "snp-tcb-mismatch",
            SnpError::ChipIdMismatch => "snp-chip-id-mismatch",
            SnpError::KeyKindMismatch { .. } => "snp-key-kind-mismatch",
            SnpError::Debug => "snp-debug",
            SnpError::TcbTooLow { .. } => "snp-tcb-too-low",
            SnpError::CrlMissing { .. } => "snp-crl-missing",
            SnpError::CrlInvalid(_) => "snp-crl-invalid",
            SnpError::Revoked(_) => "snp-revoked",
            SnpError::ReservedNonZero(_) => "snp-reserved-nonzero",
            SnpError::MalformedCertificateTable(_) => "snp-malformed-certificate-table",
            SnpError::MalformedCertificate(_) => "snp-malformed-certificate",
        }
    }
}
