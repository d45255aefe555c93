//! Everything that can make TPM quote evidence fail, each with a stable code.

/// Why TPM evidence was rejected. [`code`](TpmError::code) is stable and kebab-case; the message
/// says what was found and what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TpmError {
    #[error("malformed TPMS_ATTEST (the quote): {0}; pass the TPM2B_ATTEST contents TPM2_Quote returned, unchanged")]
    QuoteMalformed(String),
    #[error("malformed TPMT_SIGNATURE: {0}")]
    SignatureMalformed(String),
    #[error("the quote's signature scheme is not accepted: {0}")]
    SignatureUnsupported(String),
    #[error("the quote's signature does not verify with the attestation key: the quote was altered or another key signed it")]
    SignatureInvalid,
    #[error("malformed TPMT_PUBLIC (the attestation key): {0}")]
    AkPublicMalformed(String),
    #[error("the attestation key is not a restricted signing key made inside the TPM ({0}); a key without these attributes can sign forged TPMS_ATTEST bytes")]
    AkNotRestricted(String),
    #[error("the quote's qualifying data (extraData) is {found}, not {expected}: the quote answers another request")]
    QualifyingDataMismatch { expected: String, found: String },
    #[error("the PCR values given do not hash to the quote's pcrDigest ({0})")]
    PcrDigestMismatch(String),
    #[error("PCR values: {0}")]
    PcrValuesMalformed(String),
    #[error("the quote does not select {0}")]
    PcrNotQuoted(String),
    #[error("malformed TCG event log: {0}")]
    EventLogMalformed(String),
    #[error("the event log does not replay to the quoted PCRs: {0}")]
    EventLogReplayMismatch(String),
    #[error("malformed Azure HCL report: {0}")]
    HclMalformed(String),
    #[error("the HCL report's runtime data is not what its hardware report signs: SHA-256 of the runtime data is {runtime_sha256}, report_data[0..32] is {report_data}")]
    HclBindingMismatch {
        runtime_sha256: String,
        report_data: String,
    },
    #[error("the HCL report's HCLAkPub is not the quote's attestation key: the HCL report comes from another VM")]
    HclAkMismatch,
    #[error("the HCL report is a TDX one but no TD quote of its TDREPORT came with it: send azure_td_quote (the paravisor's DCAP quote of the TDREPORT)")]
    AzureTdQuoteMissing,
    #[error("the TD quote is not a quote of the HCL report's TDREPORT: {0}")]
    AzureTdQuoteMismatch(String),
    /// The HCL report's TD quote failed crate::tdx's checks; the code is crate::tdx's.
    #[error("the HCL report's TD quote: {0}")]
    HclTdx(String, &'static str),
    /// The HCL report's SEV-SNP report failed crate::snp's checks; the code is crate::snp's.
    #[error("the HCL report's SEV-SNP report: {0}")]
    HclSnp(String, &'static str),
    #[error("malformed AK certificate: {0}")]
    AkCertificateMalformed(String),
    #[error("the AK certificate chain is not valid at {at} (Unix seconds): {reason}")]
    AkCertificateExpired { at: u64, reason: String },
    #[error("the attestation key is not trusted: {0}")]
    AkUntrusted(String),
    #[error("the AK certificate's key is not the quote's attestation key")]
    AkCertificateMismatch,
}

impl TpmError {
    pub fn code(&self) -> &'static str {
        match self {
            TpmError::QuoteMalformed(_) => "tpm-quote-malformed",
            TpmError::SignatureMalformed(_) => "tpm-signature-malformed",
            TpmError::SignatureUnsupported(_) => "tpm-signature-unsupported",
            TpmError::SignatureInvalid => "tpm-signature-invalid",
            TpmError::AkPublicMalformed(_) => "tpm-ak-public-malformed",
            TpmError::AkNotRestricted(_) => "tpm-ak-not-restricted",
            TpmError::QualifyingDataMismatch { .. } => "tpm-qualifying-data-mismatch",
            TpmError::PcrDigestMismatch(_) => "tpm-pcr-digest-mismatch",
            TpmError::PcrValuesMalformed(_) => "tpm-pcrs-malformed",
            TpmError::PcrNotQuoted(_) => "tpm-pcr-not-quoted",
            TpmError::EventLogMalformed(_) => "tpm-event-log-malformed",
            TpmError::EventLogReplayMismatch(_) => "tpm-event-log-replay-mismatch",
            TpmError::HclMalformed(_) => "azure-hcl-malformed",
            TpmError::HclBindingMismatch { .. } => "azure-hcl-binding-mismatch",
            TpmError::HclAkMismatch => "azure-hcl-ak-mismatch",
            TpmError::AzureTdQuoteMissing => "azure-td-quote-missing",
            TpmError::AzureTdQuoteMismatch(_) => "azure-td-quote-mismatch",
            TpmError::HclTdx(_, code) => code,
            TpmError::HclSnp(_, code) => code,
            TpmError::AkCertificateMalformed(_) => "tpm-ak-certificate-malformed",
            TpmError::AkCertificateExpired { .. } => "tpm-ak-certificate-expired",
            TpmError::AkUntrusted(_) => "tpm-ak-untrusted",
            TpmError::AkCertificateMismatch => "tpm-ak-certificate-mismatch",
        }
    }
}
