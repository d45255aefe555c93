//! Everything that can make a TDX quote fail, each with a stable code. dcap-qvl reports its
//! failures as text; [`TdxError::from_dcap`] sorts them into codes a wallet can branch on.

/// Why a TDX quote was rejected. [`code`](TdxError::code) is stable and kebab-case; the message
/// says what was found and what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TdxError {
    #[error("the TDX quote is {found} bytes, more than the {limit} a DCAP quote with its PCK chain can be")]
    QuoteTooLarge { found: usize, limit: usize },
    #[error("malformed TDX quote: {0}; pass the bytes configfs-tsm (or the TDX quote service) returned, unchanged")]
    QuoteMalformed(String),
    #[error("the TDX collateral is {found} bytes, more than the {limit} accepted: pass one QuoteCollateralV3 for this quote's FMSPC")]
    CollateralTooLarge { found: usize, limit: usize },
    #[error("malformed TDX collateral: {0}; pass dcap-qvl's QuoteCollateralV3 JSON (PCCS/PCS tcbInfo, qeIdentity, their issuer chains and signatures, the root and PCK CRLs)")]
    CollateralMalformed(String),
    #[error("no TDX collateral to verify the quote with: fetch it for the quote's FMSPC from Intel PCS or a PCCS (dcap-qvl's QuoteCollateralV3 JSON) and pass it, or let the prover carry it (tdx_collateral)")]
    CollateralMissing,
    #[error("the TDX collateral is not valid at {at} (Unix seconds): {reason}; fetch current collateral from Intel PCS or a PCCS")]
    CollateralExpired { at: u64, reason: String },
    #[error("the TDX collateral's signatures do not verify: {0}; the collateral was altered or is not Intel's")]
    CollateralSignatureInvalid(String),
    #[error("the TDX collateral is for another platform: {0}; fetch the collateral for the quote's FMSPC")]
    CollateralMismatch(String),
    #[error("no pinned Intel root: the collateral chains end in {offered}, the trust policy pins {pinned} (intel_roots)")]
    RootNotPinned { offered: String, pinned: String },
    #[error("a certificate chain of the quote or its collateral does not verify to the pinned Intel root: {0}")]
    ChainInvalid(String),
    #[error("a certificate of the quote's PCK chain or of the collateral is revoked: {0}")]
    Revoked(String),
    #[error("the quote's signature by its attestation key does not verify: the TD report or header was altered")]
    QuoteSignatureInvalid,
    #[error("the Quoting Enclave's report does not verify: {0}; the quote was altered or no genuine QE made it")]
    QeReportInvalid(String),
    #[error("the Quoting Enclave does not match Intel's QE identity: {0}")]
    QeIdentityMismatch(String),
    #[error("the TDX module does not match Intel's TCB info: {0}")]
    ModuleMismatch(String),
    #[error("the platform's TCB is {status}{advisories}, which the trust policy does not accept: update the host's microcode/firmware/TDX module, or list the status in tdx_allowed_tcb_statuses after reading the advisories")]
    TcbStatusNotAllowed { status: String, advisories: String },
    #[error("the platform's TCB matches no level of Intel's TCB info ({0}): its CPU, PCE or TDX module SVNs are older than every level Intel still rates; update the host's microcode, firmware and TDX module")]
    TcbLevelUnmatched(String),
    #[error(
        "the platform's TCB is revoked{0}: its keys may be compromised, no policy can accept it"
    )]
    TcbRevoked(String),
    #[error("the TD is debuggable or profiled ({0}): the host can read its memory; only allow_debug = true accepts it, never in production")]
    Debug(String),
    #[error("the TD's attributes are not accepted: {0}")]
    Attributes(String),
    #[error("the TDX quote does not verify: {0}")]
    Invalid(String),
}

impl TdxError {
    pub fn code(&self) -> &'static str {
        match self {
            TdxError::QuoteTooLarge { .. } => "tdx-quote-too-large",
            TdxError::QuoteMalformed(_) => "tdx-quote-malformed",
            TdxError::CollateralTooLarge { .. } => "tdx-collateral-too-large",
            TdxError::CollateralMalformed(_) => "tdx-collateral-malformed",
            TdxError::CollateralMissing => "tdx-collateral-missing",
            TdxError::CollateralExpired { .. } => "tdx-collateral-expired",
            TdxError::CollateralSignatureInvalid(_) => "tdx-collateral-signature-invalid",
            TdxError::CollateralMismatch(_) => "tdx-collateral-mismatch",
            TdxError::RootNotPinned { .. } => "tdx-root-not-pinned",
            TdxError::ChainInvalid(_) => "tdx-chain-invalid",
            TdxError::Revoked(_) => "tdx-certificate-revoked",
            TdxError::QuoteSignatureInvalid => "tdx-quote-signature-invalid",
            TdxError::QeReportInvalid(_) => "tdx-qe-report-invalid",
            TdxError::QeIdentityMismatch(_) => "tdx-qe-identity-mismatch",
            TdxError::ModuleMismatch(_) => "tdx-module-mismatch",
            TdxError::TcbStatusNotAllowed { .. } => "tdx-tcb-status-not-allowed",
            TdxError::TcbLevelUnmatched(_) => "tdx-tcb-level-unmatched",
            TdxError::TcbRevoked(_) => "tdx-tcb-revoked",
            TdxError::Debug(_) => "tdx-debug",
            TdxError::Attributes(_) => "tdx-td-attributes",
            TdxError::Invalid(_) => "tdx-quote-invalid",
        }
    }

    /// Sorts a dcap-qvl failure (its text, context first) into a code. dcap-qvl is pinned
    /// (=0.7.1) so these phrases are known; anything unrecognised stays a plain rejection.
    pub(super) fn from_dcap(error: &impl std::fmt::Display, at: u64) -> TdxError {
        let text = format!("{error:#}");
        let has = |needle: &str| text.contains(needle);
        if has("Revoked") && has("TCB status") {
            TdxError::TcbRevoked(String::new())
        } else if has("CertRevoked") || has("IssuerNotCrlSigner") {
            TdxError::Revoked(text)
        } else if has("expired")
            || has("Expired")
            || has("in the future")
            || has("NotValidYet")
            || has("CrlExpired")
        {
            TdxError::CollateralExpired { at, reason: text }
        } else if has("Signature is invalid for tcb_info")
            || has("Signature is invalid for qe_identity")
            || has("Failed to parse root CA CRL")
            || has("Failed to decode TcbInfo")
            || has("Failed to decode QeIdentity")
        {
            TdxError::CollateralSignatureInvalid(text)
        } else if has("ISV enclave report signature is invalid") {
            TdxError::QuoteSignatureInvalid
        } else if has("qe_report") || has("QE report") {
            TdxError::QeReportInvalid(text)
        } else if has("No matching TCB level") || has("is below minimum") {
            TdxError::TcbLevelUnmatched(text)
        } else if has("Fmspc mismatch") || has("non-TDX TCB info") || has("QE Identity id/version")
        {
            TdxError::CollateralMismatch(text)
        } else if has("MRSIGNER") || has("ISVPRODID") || has("QE") && has("mismatch") {
            TdxError::QeIdentityMismatch(text)
        } else if has("TDX module") || has("SEAMATTRIBUTES") {
            TdxError::ModuleMismatch(text)
        } else if has("Debug mode") || has("profiling") {
            TdxError::Debug(text)
        } else if has("TD attributes")
            || has("migration")
            || has("SERVTD")
            || has("SEPT_VE")
            || has("MR service TD")
        {
            TdxError::Attributes(text)
        } else if has("certificate chain") || has("UnknownIssuer") || has("certificate") {
            TdxError::ChainInvalid(text)
        } else if has("decode quote") || has("quote version") || has("TEE type") {
            TdxError::QuoteMalformed(text)
        } else {
            TdxError::Invalid(text)
        }
    }
}
