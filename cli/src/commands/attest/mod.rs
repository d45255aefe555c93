//! `mpr verify-attestation`, `mpr attest` and `mpr prove --attested`: the wallet's side. Evidence
//! is judged by the verifier crate against the trust policy and signed releases; these commands
//! read files, fetch from provers and registries, and print the verdict.

mod output;
mod prover_client;
pub(crate) mod registry_fetch;
mod trust;

use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::Args;
use verifier::attestation::{verify, EvidenceInput, Verdict, VerifyOptions, MAX_ENVELOPE_BYTES};

pub use trust::TrustArgs;

#[derive(Debug, Args)]
pub struct VerifyAttestationArgs {
    /// The evidence: an envelope saved by `mpr attest --save`, or a bare Nitro attestation
    /// document or SEV-SNP report.
    pub evidence: PathBuf,
    /// The nonce the request sent (hex). Required for an envelope.
    #[arg(long, value_name = "HEX")]
    pub nonce: Option<String>,
    /// Judge as of this time (RFC 3339, or @UNIX-SECONDS); default now. Recorded documents verify
    /// only at their own time.
    #[arg(long, value_name = "TIME")]
    pub at: Option<String>,
    /// Accept bare evidence that is bound to no channel (offline checks of recorded documents).
    #[arg(long)]
    pub allow_unbound: bool,
    #[command(flatten)]
    pub snp: SnpArgs,
    #[command(flatten)]
    pub trust: TrustArgs,
}

#[derive(Debug, Args)]
pub struct SnpArgs {
    /// SEV-SNP: the VCEK or VLEK (DER) when the evidence has no certificate table; fetch it from
    /// https://kdsintf.amd.com/vcek/v1/<product>/<chip id>?blSPL=..&teeSPL=..&snpSPL=..&ucodeSPL=..
    #[arg(long, value_name = "FILE")]
    pub snp_vcek: Option<PathBuf>,
    /// SEV-SNP: AMD's CRL for the product (DER; https://kdsintf.amd.com/vcek/v1/<product>/crl).
    /// One is required unless the policy sets snp_check_crl = false; it may also come from the
    /// evidence (the prover's --snp-crl) or the policy (snp_crls). Repeatable.
    #[arg(long, value_name = "FILE")]
    pub snp_crl: Vec<PathBuf>,
    /// TDX: Intel's collateral for the quote's platform (TCB info, QE identity, both CRLs and their
    /// issuer chains) as one JSON file in dcap-qvl's QuoteCollateralV3 form, fetched from Intel's
    /// PCS or a PCCS for the quote's FMSPC; needed unless the envelope carries it.
    #[arg(long, value_name = "FILE")]
    pub tdx_collateral: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct AttestArgs {
    /// The prover's base URL (https://host:6300 or, behind a TLS-terminating proxy, its URL).
    pub url: String,
    /// Save the envelope the prover answered (for `mpr verify-attestation` later).
    #[arg(long, value_name = "FILE")]
    pub save: Option<PathBuf>,
    #[command(flatten)]
    pub snp: SnpArgs,
    #[command(flatten)]
    pub trust: TrustArgs,
}

#[derive(Debug, Args)]
pub struct ProveArgs {
    /// Verify the prover at this URL first, then send the request end-to-end encrypted to the key
    /// its attestation binds (Oblivious HTTP, RFC 9458).
    #[arg(long, value_name = "URL")]
    pub attested: String,
    /// The request body (a serialized proving request).
    pub body: PathBuf,
    /// The prover route to call.
    #[arg(long, default_value = "/prove")]
    pub route: String,
    /// Write the answer here instead of standard output.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub snp: SnpArgs,
    #[command(flatten)]
    pub trust: TrustArgs,
}

pub fn verify_attestation(args: VerifyAttestationArgs, json: bool) -> anyhow::Result<()> {
    let bytes =
        registry_api::signing::read_limited(&args.evidence, "evidence", MAX_ENVELOPE_BYTES as u64)?;
    let evidence = EvidenceInput::detect(&bytes)
        .map_err(anyhow::Error::msg)
        .with_context(|| format!("reading {}", args.evidence.display()))?;
    let nonce = args
        .nonce
        .as_deref()
        .map(|text| hex::decode(text).context("--nonce is not hex"))
        .transpose()?;
    let now_unix_ms = match &args.at {
        Some(text) => parse_time(text)?,
        None => now_unix_ms(),
    };
    let verdict = runtime()?.block_on(judge(
        &evidence,
        nonce.as_deref(),
        now_unix_ms,
        args.allow_unbound,
        &args.snp,
        &args.trust,
    ))?;
    output::print(&verdict, json)
}

pub fn attest(args: AttestArgs, json: bool) -> anyhow::Result<()> {
    let verdict = runtime()?.block_on(async {
        let fetched = prover_client::fetch_evidence(&args.url).await?;
        if let Some(path) = &args.save {
            registry_api::signing::write_replacing(path, &fetched.raw, 0o644)
                .with_context(|| format!("saving the envelope to {}", path.display()))?;
        }
        let mut verdict = judge(
            &EvidenceInput::Envelope(Box::new(fetched.envelope.clone())),
            Some(&fetched.nonce),
            now_unix_ms(),
            false,
            &args.snp,
            &args.trust,
        )
        .await?;
        fetched.check_tls(&mut verdict);
        anyhow::Ok(verdict)
    })?;
    output::print(&verdict, json)
}

pub fn prove(args: ProveArgs, json: bool) -> anyhow::Result<()> {
    let body = registry_api::signing::read_limited(
        &args.body,
        "a proving request",
        prover_client::MAX_REQUEST_BYTES,
    )?;
    runtime()?.block_on(async {
        let fetched = prover_client::fetch_evidence(&args.attested).await?;
        let mut verdict = judge(
            &EvidenceInput::Envelope(Box::new(fetched.envelope.clone())),
            Some(&fetched.nonce),
            now_unix_ms(),
            false,
            &args.snp,
            &args.trust,
        )
        .await?;
        fetched.check_tls(&mut verdict);
        if !verdict.accepted {
            // Prints the reasons and fails: nothing is sent to a prover that is not trusted.
            return output::print(&verdict, json);
        }
        let matched = verdict
            .matched
            .as_ref()
            .map(output::describe_match)
            .unwrap_or_default();
        eprintln!("attested: {matched}; sending the request encrypted to the enclave's key");
        let answer = prover_client::send_sealed(
            &args.attested,
            &fetched.envelope.ohttp_key_config,
            &args.route,
            &body,
        )
        .await?;
        if !(200..300).contains(&answer.status) {
            bail!(
                "the prover answered {} to {}: {}",
                answer.status,
                args.route,
                String::from_utf8_lossy(&answer.body).trim()
            );
        }
        match &args.out {
            Some(path) => registry_api::signing::write_replacing(path, &answer.body, 0o644)
                .with_context(|| format!("writing {}", path.display()))?,
            None => {
                use std::io::Write as _;
                std::io::stdout()
                    .lock()
                    .write_all(&answer.body)
                    .map_err(crate::StdoutError::wrap)?;
            }
        }
        anyhow::Ok(())
    })
}

async fn judge(
    evidence: &EvidenceInput,
    nonce: Option<&[u8]>,
    now_unix_ms: u64,
    allow_unbound: bool,
    snp: &SnpArgs,
    trust_args: &TrustArgs,
) -> anyhow::Result<Verdict> {
    let policy = trust_args.load_policy()?;
    // Only a registry lookup needs it, and reading a Nitro document's PCR0 verifies its chain.
    let primary = trust_args
        .registry
        .as_ref()
        .and_then(|_| evidence.primary_register(&policy.attestation, now_unix_ms));
    let staple = match evidence {
        EvidenceInput::Envelope(envelope) => envelope.staple.as_ref(),
        _ => None,
    };
    let trust = trust_args
        .load(
            policy,
            evidence.platform().as_str(),
            primary.as_deref(),
            staple,
        )
        .await?;
    let snp_leaf_certificate = snp
        .snp_vcek
        .as_ref()
        .map(|path| registry_api::signing::read_limited(path, "a VCEK certificate", 64 << 10))
        .transpose()?;
    let snp_crls = snp
        .snp_crl
        .iter()
        .map(|path| registry_api::signing::read_limited(path, "a CRL", 4 << 20))
        .collect::<Result<Vec<_>, _>>()?;
    let tdx_collateral = snp
        .tdx_collateral
        .as_ref()
        .map(|path| -> anyhow::Result<_> {
            let bytes = registry_api::signing::read_limited(
                path,
                "TDX collateral",
                verifier::tdx::MAX_COLLATERAL_BYTES as u64,
            )?;
            verifier::tdx::TdxCollateral::from_json(&bytes)
                .with_context(|| format!("reading the TDX collateral {}", path.display()))
        })
        .transpose()?;
    let options = VerifyOptions {
        expected_nonce: nonce,
        now_unix_ms,
        settings: &trust.policy.attestation,
        releases: &trust.releases,
        snp_leaf_certificate,
        snp_crls,
        tdx_collateral,
        allow_unbound,
        verified_links: None,
    };
    let mut verdict = verify(evidence, &options);
    for source in &trust.sources {
        verdict.checks.insert(
            0,
            verifier::attestation::Check {
                name: "releases".into(),
                passed: true,
                detail: format!("trusted statements from {source}"),
            },
        );
    }
    // A refused statement matters only when nothing trusted matched: then it is part of why.
    if !verdict.accepted {
        verdict.reasons.extend(trust.refused);
    }
    Ok(verdict)
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

fn now_unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// RFC 3339 (`2025-01-06T16:07:05Z`) or `@<unix seconds>`.
fn parse_time(text: &str) -> anyhow::Result<u64> {
    if let Some(seconds) = text.strip_prefix('@') {
        let seconds: u64 = seconds
            .parse()
            .with_context(|| format!("--at {text:?}: after @ come Unix seconds"))?;
        return Ok(seconds * 1000);
    }
    let time = chrono::DateTime::parse_from_rfc3339(text).with_context(|| {
        format!("--at {text:?}: write an RFC 3339 time (2025-01-06T16:07:05Z) or @UNIX-SECONDS")
    })?;
    u64::try_from(time.timestamp_millis()).context("--at is before 1970")
}
