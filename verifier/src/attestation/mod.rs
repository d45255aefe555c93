//! Attestation evidence checked against signed releases: "is this a genuine TEE, debug off, fresh,
//! running a release I trust, and am I talking to it?". Every check fails closed and a rejection
//! lists every reason under a stable code ([`Verdict`]).
//!
//! Inputs: the evidence (an [`Envelope`] from a prover's `/attestation`, or a raw Nitro document or
//! SEV-SNP report for ad-hoc checks), the nonce the wallet sent, the time, the trust policy's
//! [`AttestationSettings`] and the [`TrustedReleases`] built from signed, logged statements.
//!
//! What is checked, per platform:
//! - AWS Nitro: COSE_Sign1/ES384, the chain to a pinned root, every certificate valid at the time,
//!   freshness, debug off (PCR0/1/2 zero), nonce, `user_data` = binding, `public_key` = TLS key,
//!   and every register of one complete active measurement set present and equal.
//! - SEV-SNP: the report signature by its VCEK/VLEK, the chain to a pinned ARK of the product,
//!   the CRL (on by default), TCB and chip id against the certificate, the debug policy bit,
//!   minimum TCB, REPORT_DATA = binding and MEASUREMENT equal to an active set's.
//! - vTPM (GCP, Azure confidential VMs): the AK's signature over the quote, its restricted-signing
//!   attributes, extraData = SHA-256(binding), pcrDigest over the PCR values given, the event log
//!   replayed against them, a trust path for the AK (an Azure HCL report with its verified SEV-SNP
//!   report, a Google AK certificate, or a CA the policy pins), and every PCR of one active
//!   `gcp-cvm` / `azure-cvm` set quoted and equal.
//! - TDX: the DCAP quote (v4/v5) with supplied collateral through crate::tdx (signatures, PCK and
//!   collateral chains to a pinned Intel root, CRLs, QE and module identity, TCB status against
//!   the policy, debug off), REPORT_DATA = binding, and MRTD/RTMR0-3 equal to an active `tdx`
//!   set's. An Azure TDX vTPM's AK is trusted through its HCL report's TDREPORT and that
//!   TDREPORT's TD quote, checked the same way.
//! - GCP Confidential Space: the attestation token's RS256 signature by a pinned JWKS key (or an
//!   x5c chain to a pinned root), issuer, audience, validity at the given time, image name, debug
//!   status, support level and hardware model, `eat_nonce` = hex(SHA-256(binding)), and the
//!   container's image digest equal to an active `gcp-confidential-space` set's IMAGE_DIGEST.

mod binding;
mod confidential_space_flow;
mod confidential_space_settings;
mod envelope;
mod nitro_flow;
mod releases;
mod settings;
mod snp_flow;
mod tdx_flow;
mod tdx_settings;
mod verdict;
mod vtpm_envelope;
mod vtpm_flow;

pub use crate::signature::VerifiedLinks;
pub use binding::{binding_v1, BINDING_LABEL};
pub use confidential_space_settings::ConfidentialSpaceSettings;
pub use envelope::{
    Envelope, EnvelopeError, EvidencePlatform, Staple, ENVELOPE_FORMAT, MAX_ENVELOPE_BYTES,
    MAX_NONCE_BYTES, MIN_NONCE_BYTES,
};
pub use releases::{Candidate, SignedStatement, TrustedReleases};
pub(crate) use settings::RawAttestationSettings;
pub use settings::{AttestationSettings, DEFAULT_MAX_AGE_SECONDS, DEFAULT_MAX_FUTURE_SKEW_SECONDS};
pub use tdx_settings::TdxSettings;
pub use verdict::{Check, Matched, Reason, Verdict};
pub use vtpm_envelope::TpmEvidence;

/// The evidence to judge.
#[derive(Debug, Clone)]
pub enum EvidenceInput {
    /// A prover's `mpr-attestation/v1` answer: evidence bound to a nonce and the server's keys.
    Envelope(Box<Envelope>),
    /// A bare Nitro attestation document (COSE_Sign1), e.g. a recorded one.
    NitroDocument(Vec<u8>),
    /// A bare SEV-SNP report, with the configfs-tsm certificate table when there is one.
    SnpReport {
        report: Vec<u8>,
        certificate_table: Option<Vec<u8>>,
    },
    /// A bare Confidential Space attestation token (the JWT's ASCII bytes).
    ConfidentialSpaceToken(Vec<u8>),
    /// A bare Intel TDX DCAP quote (v4 or v5); its collateral comes from the caller or the policy.
    TdxQuote(Vec<u8>),
}

impl EvidenceInput {
    /// Tells an envelope (JSON), a Nitro document (CBOR array, tagged or not), a TDX quote (its
    /// header) and an SEV-SNP report (1184 bytes) apart by their first bytes.
    pub fn detect(bytes: &[u8]) -> Result<EvidenceInput, String> {
        let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
        match first {
            Some(b'{') => Envelope::parse(bytes)
                .map(|envelope| EvidenceInput::Envelope(Box::new(envelope)))
                .map_err(|e| e.to_string()),
            Some(0x84) | Some(0xd2) => Ok(EvidenceInput::NitroDocument(bytes.to_vec())),
            // `{"` in base64url: a JWS header, which only Confidential Space evidence is.
            Some(b'e') if bytes.trim_ascii_start().starts_with(b"eyJ") => {
                Ok(EvidenceInput::ConfidentialSpaceToken(bytes.to_vec()))
            }
            // A DCAP quote header: version 4 or 5 (u16 LE), ECDSA P-256 key (2), TEE type 0x81.
            Some(4 | 5) if bytes.get(1..8) == Some(&[0, 2, 0, 0x81, 0, 0, 0]) => {
                Ok(EvidenceInput::TdxQuote(bytes.to_vec()))
            }
            _ if bytes.len() == crate::snp::REPORT_BYTES => Ok(EvidenceInput::SnpReport {
                report: bytes.to_vec(),
                certificate_table: None,
            }),
            _ => Err(format!(
                "the evidence ({} bytes) is neither an {ENVELOPE_FORMAT} envelope (JSON), a Nitro attestation document (CBOR COSE_Sign1), an SEV-SNP report ({} bytes), a Confidential Space token (a JWT, eyJ...) nor a TDX DCAP quote (version 4 or 5, TEE type 0x81)",
                bytes.len(),
                crate::snp::REPORT_BYTES
            )),
        }
    }

    /// The value registries index a release by (Nitro PCR0, SEV-SNP MEASUREMENT, Confidential
    /// Space IMAGE_DIGEST), read only to know which statements to fetch: it is trusted for nothing
    /// until [`verify`] says so.
    pub fn primary_register(
        &self,
        settings: &AttestationSettings,
        now_unix_ms: u64,
    ) -> Option<Vec<u8>> {
        let (platform, document) = match self {
            // The first register every vTPM set names; the quote is not read here.
            EvidenceInput::Envelope(envelope) if envelope.platform == EvidencePlatform::Vtpm => {
                let pcrs = envelope
                    .tpm
                    .as_ref()?
                    .pcrs
                    .get(&crate::tpm::HashAlg::Sha256)?;
                return pcrs.get(&4).cloned();
            }
            EvidenceInput::Envelope(envelope) => (envelope.platform, envelope.evidence.as_slice()),
            EvidenceInput::NitroDocument(document) => {
                (EvidencePlatform::AwsNitro, document.as_slice())
            }
            EvidenceInput::SnpReport { report, .. } => {
                (EvidencePlatform::SevSnp, report.as_slice())
            }
            EvidenceInput::ConfidentialSpaceToken(token) => {
                (EvidencePlatform::GcpConfidentialSpace, token.as_slice())
            }
            EvidenceInput::TdxQuote(quote) => (EvidencePlatform::Tdx, quote.as_slice()),
        };
        match platform {
            EvidencePlatform::AwsNitro => {
                crate::nitro::verify_document(document, &settings.nitro_trust(), now_unix_ms / 1000)
                    .ok()
                    .and_then(|doc| doc.pcrs.get(&0).cloned())
            }
            EvidencePlatform::SevSnp => crate::snp::parse_report(document)
                .ok()
                .map(|report| report.measurement.to_vec()),
            // The image digest, read without checking the signature.
            EvidencePlatform::GcpConfidentialSpace => {
                crate::confidential_space::unverified_image_digest(document).map(Vec::from)
            }
            EvidencePlatform::Tdx => crate::tdx::parse_quote(document)
                .ok()
                .map(|body| body.mr_td.to_vec()),
            EvidencePlatform::Vtpm => None,
        }
    }

    pub fn platform(&self) -> EvidencePlatform {
        match self {
            EvidenceInput::Envelope(envelope) => envelope.platform,
            EvidenceInput::NitroDocument(_) => EvidencePlatform::AwsNitro,
            EvidenceInput::SnpReport { .. } => EvidencePlatform::SevSnp,
            EvidenceInput::ConfidentialSpaceToken(_) => EvidencePlatform::GcpConfidentialSpace,
            EvidenceInput::TdxQuote(_) => EvidencePlatform::Tdx,
        }
    }
}

/// Everything besides the evidence that a verification depends on.
#[derive(Debug, Clone)]
pub struct VerifyOptions<'a> {
    /// The nonce the wallet sent. Required for an envelope; for a bare Nitro document it is
    /// compared with the document's `nonce` when given.
    pub expected_nonce: Option<&'a [u8]>,
    pub now_unix_ms: u64,
    pub settings: &'a AttestationSettings,
    pub releases: &'a TrustedReleases,
    /// An SEV-SNP VCEK or VLEK (DER) the wallet fetched from AMD's KDS, for hosts that give no
    /// certificate table.
    pub snp_leaf_certificate: Option<Vec<u8>>,
    /// AMD CRLs (DER) the wallet fetched (KDS `/vcek/v1/{product}/crl`).
    pub snp_crls: Vec<Vec<u8>>,
    /// Intel TDX collateral the wallet fetched for the quote's FMSPC (PCS or a PCCS); preferred
    /// to the evidence's and the policy's.
    pub tdx_collateral: Option<crate::tdx::TdxCollateral>,
    /// Bare evidence carries no channel binding; accepting it anyway must be asked for.
    pub allow_unbound: bool,
    /// Certificate signatures already verified, for a caller that judges much evidence (the
    /// registry); `None` verifies every signature.
    pub verified_links: Option<&'a VerifiedLinks>,
}

impl<'a> VerifyOptions<'a> {
    /// The strict starting point: no nonce, nothing fetched by the caller, bound evidence
    /// required, every signature verified. Callers set the rest with struct update syntax.
    pub fn new(
        now_unix_ms: u64,
        settings: &'a AttestationSettings,
        releases: &'a TrustedReleases,
    ) -> Self {
        VerifyOptions {
            expected_nonce: None,
            now_unix_ms,
            settings,
            releases,
            snp_leaf_certificate: None,
            snp_crls: Vec::new(),
            tdx_collateral: None,
            allow_unbound: false,
            verified_links: None,
        }
    }
}

/// What the evidence must be bound to, recomputed from the envelope.
pub(crate) struct Channel<'a> {
    pub nonce: &'a [u8],
    pub tls_public_key: Option<&'a [u8]>,
    pub binding: [u8; 64],
}

impl Channel<'_> {
    /// A hardware report's REPORT_DATA must be the binding (SEV-SNP, TDX).
    pub(crate) fn check_report_data(&self, report_data: &[u8; 64], verdict: &mut Verdict) {
        if *report_data == self.binding {
            verdict.pass(
                "binding",
                "REPORT_DATA is the binding of the nonce, TLS key and OHTTP key configuration",
            );
        } else {
            verdict.fail(
                "binding",
                "binding-mismatch",
                format!(
                    "REPORT_DATA {} is not the binding of this request's nonce and the server's keys: the evidence was made for another request or another server",
                    hex::encode(report_data)
                ),
            );
        }
    }
}

/// Judges `evidence`; never panics, never accepts on a check it could not run.
pub fn verify(evidence: &EvidenceInput, options: &VerifyOptions) -> Verdict {
    let platform = evidence.platform();
    let mut verdict = Verdict::new(platform.as_str());
    let channel = match evidence {
        EvidenceInput::Envelope(envelope) => check_envelope(envelope, options, &mut verdict),
        _ => {
            if options.allow_unbound {
                verdict.pass(
                    "binding",
                    "not checked: bare evidence carries no channel, and the caller allowed that",
                );
            } else {
                verdict.fail(
                    "binding",
                    "binding-unavailable",
                    "bare evidence is not bound to any channel: fetch an envelope from the prover's /attestation with a fresh nonce (mpr attest), or allow unbound evidence for an offline check",
                );
            }
            None
        }
    };
    match (evidence, platform) {
        (EvidenceInput::Envelope(envelope), EvidencePlatform::AwsNitro) => {
            nitro_flow::verify(&envelope.evidence, channel.as_ref(), options, &mut verdict)
        }
        (EvidenceInput::NitroDocument(document), _) => {
            nitro_flow::verify(document, None, options, &mut verdict)
        }
        (EvidenceInput::Envelope(envelope), EvidencePlatform::SevSnp) => snp_flow::verify(
            &envelope.evidence,
            envelope.snp_certificate_table.as_deref(),
            &envelope.snp_crls,
            channel.as_ref(),
            options,
            &mut verdict,
        ),
        (
            EvidenceInput::SnpReport {
                report,
                certificate_table,
            },
            _,
        ) => snp_flow::verify(
            report,
            certificate_table.as_deref(),
            &[],
            None,
            options,
            &mut verdict,
        ),
        (EvidenceInput::Envelope(envelope), EvidencePlatform::Vtpm) => {
            vtpm_flow::verify(envelope, channel.as_ref(), options, &mut verdict)
        }
        (EvidenceInput::Envelope(envelope), EvidencePlatform::GcpConfidentialSpace) => {
            confidential_space_flow::verify(
                &envelope.evidence,
                channel.as_ref(),
                options,
                &mut verdict,
            )
        }
        (EvidenceInput::ConfidentialSpaceToken(token), _) => {
            confidential_space_flow::verify(token, None, options, &mut verdict)
        }
        (EvidenceInput::Envelope(envelope), EvidencePlatform::Tdx) => tdx_flow::verify(
            &envelope.evidence,
            envelope.tdx_collateral.as_ref(),
            channel.as_ref(),
            options,
            &mut verdict,
        ),
        (EvidenceInput::TdxQuote(quote), _) => {
            tdx_flow::verify(quote, None, None, options, &mut verdict)
        }
    }
    verdict.finish()
}

fn check_envelope<'a>(
    envelope: &'a Envelope,
    options: &VerifyOptions,
    verdict: &mut Verdict,
) -> Option<Channel<'a>> {
    match options.expected_nonce {
        Some(nonce) if nonce == envelope.nonce.as_slice() => {
            verdict.pass("nonce", format!("the envelope answers nonce {}", hex::encode(nonce)))
        }
        Some(nonce) => verdict.fail(
            "nonce",
            "nonce-mismatch",
            format!(
                "the envelope answers nonce {}, not the {} this request sent: a replayed or misrouted answer",
                hex::encode(&envelope.nonce),
                hex::encode(nonce)
            ),
        ),
        None => verdict.fail(
            "nonce",
            "nonce-missing",
            "no nonce to check the envelope against: send a fresh random nonce with every request",
        ),
    }
    let binding = binding_v1(
        &envelope.nonce,
        envelope.tls_public_key.as_deref().unwrap_or_default(),
        &envelope.ohttp_key_config,
    );
    if binding != envelope.binding {
        verdict.fail(
            "binding",
            "binding-mismatch",
            "the envelope's binding is not SHA-512 of its nonce, TLS key and OHTTP key configuration (mpr-attestation-binding/v1)",
        );
    }
    Some(Channel {
        nonce: &envelope.nonce,
        tls_public_key: envelope.tls_public_key.as_deref(),
        binding,
    })
}

#[cfg(test)]
mod confidential_space_tests;
#[cfg(test)]
mod tdx_tests;
#[cfg(test)]
mod tests;
