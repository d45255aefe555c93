//! What a verification trusts: the trust policy, and the signed release statements that say which
//! measurements are genuine — given as files, stapled to the evidence, or fetched from a registry
//! (whose every answer is checked: signatures against the policy's keys, log proofs against its log).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::Args;
use registry_api::openpgp::{self, PublicKey, MAX_SIGNATURE_BYTES};
use registry_api::signing;
use verifier::attestation::{Reason, SignedStatement, Staple, TrustedReleases};
use verifier::policy::{TrustPolicy, MAX_POLICY_BYTES};
use verifier::statement::MAX_STATEMENT_BYTES;
use verifier::tlog::proof_bundle::MAX_BUNDLE_BYTES;

use super::registry_fetch;

#[derive(Debug, Args)]
pub struct TrustArgs {
    /// The trust policy (TOML): release keys and threshold, the log, and the [attestation] checks.
    #[arg(long, value_name = "FILE")]
    pub policy: PathBuf,
    /// Fetch the release statements that match the evidence from this registry (every statement
    /// is checked against the policy; nothing the registry says unsigned is trusted).
    #[arg(long, value_name = "URL", conflicts_with = "statement")]
    pub registry: Option<String>,
    /// A signed release statement (offline check); with --signature, --proof and --keyring.
    #[arg(long, value_name = "FILE", requires_all = ["signature", "proof", "keyring"])]
    pub statement: Option<PathBuf>,
    /// A detached OpenPGP signature over --statement (repeat for k of n).
    #[arg(long, value_name = "FILE")]
    pub signature: Vec<PathBuf>,
    /// The statement's tlog-proof@v1 bundle (`GET /v1/log/bundle?index=` of the registry).
    #[arg(long, value_name = "FILE")]
    pub proof: Option<PathBuf>,
    /// OpenPGP certificates of the release keys (armored or binary; repeatable). With --registry
    /// or a stapled statement, the policy's keys are fetched from the registry when not given.
    #[arg(long, value_name = "FILE")]
    pub keyring: Vec<PathBuf>,
    /// Ad-hoc expectation instead of releases: `N=HEX` for Nitro PCR N, `MEASUREMENT=HEX` for
    /// SEV-SNP (repeatable; every one given must be present and equal).
    #[arg(long = "expect-pcr", value_name = "N=HEX")]
    pub expect: Vec<String>,
}

/// The policy and the releases it lets through, with the statements that were refused.
pub struct Trust {
    pub policy: TrustPolicy,
    pub releases: TrustedReleases,
    pub refused: Vec<Reason>,
    pub sources: Vec<String>,
}

impl TrustArgs {
    pub fn load_policy(&self) -> anyhow::Result<TrustPolicy> {
        let bytes = signing::read_limited(&self.policy, "a trust policy", MAX_POLICY_BYTES as u64)?;
        let text = String::from_utf8(bytes)
            .with_context(|| format!("{} is not UTF-8 text", self.policy.display()))?;
        TrustPolicy::parse(&text)
            .with_context(|| format!("reading the trust policy {}", self.policy.display()))
    }

    /// Gathers the trusted releases for evidence whose primary register (PCR0, MEASUREMENT) is
    /// `primary_register`, from every source given.
    pub async fn load(
        &self,
        policy: TrustPolicy,
        platform: &str,
        primary_register: Option<&[u8]>,
        staple: Option<&Staple>,
    ) -> anyhow::Result<Trust> {
        if !self.expect.is_empty() {
            let registers = parse_expectations(&self.expect)?;
            return Ok(Trust {
                policy,
                releases: TrustedReleases::ad_hoc(platform, registers),
                refused: Vec::new(),
                sources: vec!["--expect-pcr".into()],
            });
        }
        let mut keys = read_keyrings(&self.keyring)?;
        let mut statements = Vec::new();
        let mut sources = Vec::new();
        if let Some(path) = &self.statement {
            statements.push(read_signed_statement(
                &keys,
                path,
                &self.signature,
                self.proof.as_deref(),
            )?);
            sources.push(path.display().to_string());
        }
        if let Some(staple) = staple {
            if keys.is_empty() {
                if let Some(registry) = &self.registry {
                    keys = registry_fetch::policy_keys(registry, &policy).await?;
                }
            }
            statements.push(SignedStatement {
                bytes: staple.statement.clone(),
                signers: verified_signers(&keys, &staple.statement, &staple.signatures),
                proof: Some(staple.proof.clone()),
            });
            sources.push("the statement stapled to the evidence".into());
        }
        if let Some(registry) = &self.registry {
            let value = primary_register.context(
                "the evidence's measurement could not be read, so there is nothing to look up in the registry",
            )?;
            let fetched = registry_fetch::statements_for(registry, &policy, value).await?;
            sources.push(format!("{} statement(s) from {registry}", fetched.len()));
            statements.extend(fetched);
        }
        if statements.is_empty() {
            bail!(
                "nothing to verify the evidence against: give --registry URL, --statement/--signature/--proof/--keyring, \
                 --expect-pcr, or a prover deployed with a stapled statement"
            );
        }
        let (releases, refused) = TrustedReleases::from_statements(&policy, &statements);
        Ok(Trust {
            policy,
            releases,
            refused,
            sources,
        })
    }
}

/// `N=HEX` (Nitro PCR N) or `NAME=HEX` (a register by name, e.g. MEASUREMENT).
fn parse_expectations(items: &[String]) -> anyhow::Result<BTreeMap<String, Vec<u8>>> {
    let mut registers = BTreeMap::new();
    for item in items {
        let (name, value) = item.split_once('=').with_context(|| {
            format!("--expect-pcr {item:?}: write N=HEX (e.g. 0=8bb1...) or MEASUREMENT=HEX")
        })?;
        let name = if name.chars().all(|c| c.is_ascii_digit()) {
            format!("PCR{name}")
        } else {
            name.to_ascii_uppercase()
        };
        let value = hex::decode(value.trim())
            .with_context(|| format!("--expect-pcr {item:?}: the value is not hex"))?;
        if registers.insert(name.clone(), value).is_some() {
            bail!("--expect-pcr gives {name} twice");
        }
    }
    Ok(registers)
}

pub fn read_keyrings(paths: &[PathBuf]) -> anyhow::Result<Vec<PublicKey>> {
    let mut keys: Vec<PublicKey> = Vec::new();
    for path in paths {
        let bytes = signing::read_limited(path, "a keyring", openpgp::MAX_KEYRING_BYTES as u64)?;
        let parsed = openpgp::parse_keyring(&bytes)
            .with_context(|| format!("reading the keyring {}", path.display()))?;
        for key in parsed {
            if !keys.iter().any(|k| k.fingerprint == key.fingerprint) {
                keys.push(key);
            }
        }
    }
    Ok(keys)
}

/// The fingerprints of the keys whose signatures over `statement` verify; bad signatures count
/// for nothing (the threshold check then says how many were missing).
pub fn verified_signers(
    keys: &[PublicKey],
    statement: &[u8],
    signatures: &[String],
) -> Vec<String> {
    let mut signers: Vec<String> = signatures
        .iter()
        .filter_map(|sig| openpgp::verify_detached(keys, statement, sig.as_bytes()).ok())
        .map(|verified| verified.key_fingerprint)
        .collect();
    signers.sort_unstable();
    signers.dedup();
    signers
}

fn read_signed_statement(
    keys: &[PublicKey],
    path: &Path,
    signatures: &[PathBuf],
    proof: Option<&Path>,
) -> anyhow::Result<SignedStatement> {
    let bytes = signing::read_limited(path, "a statement", MAX_STATEMENT_BYTES as u64)?;
    let mut armored = Vec::new();
    for file in signatures {
        let sig = signing::read_limited(file, "a signature", MAX_SIGNATURE_BYTES as u64)?;
        armored.push(
            String::from_utf8(sig)
                .with_context(|| format!("{} is not an armored signature", file.display()))?,
        );
    }
    let proof = match proof {
        Some(file) => Some(
            String::from_utf8(signing::read_limited(
                file,
                "a proof bundle",
                MAX_BUNDLE_BYTES as u64,
            )?)
            .with_context(|| format!("{} is not UTF-8 text", file.display()))?,
        ),
        None => None,
    };
    Ok(SignedStatement {
        signers: verified_signers(keys, &bytes, &armored),
        bytes,
        proof,
    })
}
