//! `mpr registry publish`: turns a build record into a release submission and records it.

use std::path::{Path, PathBuf};

use anyhow::Context;
use builder::record::BuildRecord;
use clap::Args;
use registry_api::signing::{self, DetachedSignature};
use registry_api::submission::{
    ArtifactSubmission, BuildSubmission, MeasurementSetSubmission, MeasurementSubmission,
    RecipeSubmission, ReleaseSubmission, SourceSubmission, OFFICIAL_BUILDER,
};
use registry_api::Platform;
use serde_json::{Map, Value};

use crate::commands::http::read_body;
use crate::commands::key::{Signer, SignerArgs};

#[derive(Debug, Args)]
pub struct PublishArgs {
    /// The build's record.
    #[arg(long, default_value = "mpr-out/build-record.json")]
    record: PathBuf,
    /// The recipe the build used; its text is stored with the release for rebuilders (it must
    /// have the record's recipe digest).
    #[arg(long)]
    recipe: Option<PathBuf>,
    /// Publish this release submission (the JSON body of POST /v1/releases, e.g. from
    /// `--dry-run`) instead of one made from a build record.
    #[arg(long, conflicts_with_all = ["record", "recipe", "set"])]
    submission: Option<PathBuf>,
    /// The registry.
    #[arg(
        long,
        env = "MPR_REGISTRY_URL",
        default_value = "http://127.0.0.1:8080"
    )]
    registry: String,
    /// A file holding the publisher token (see `mpr serve --token-file`, `mpr registry token create`).
    #[arg(long, env = "MPR_PUBLISHER_TOKEN_FILE")]
    token_file: PathBuf,
    /// The measurement set's name.
    #[arg(long, default_value = "default")]
    set: String,
    /// Print the submission instead of signing and sending it.
    #[arg(long)]
    dry_run: bool,
    /// The release key that signs the release statement (registered at the registry by an
    /// admin); the statement and its signature are written beside the record (or submission).
    #[command(flatten)]
    signer: SignerArgs,
}

pub fn run(args: PublishArgs, json: bool) -> anyhow::Result<()> {
    let (mut submission, input) = match &args.submission {
        Some(path) => (read_submission(path)?, path),
        None => (submission_of_record(&args)?, &args.record),
    };
    if args.dry_run {
        return crate::commands::print_json(&submission);
    }
    let signer = args.signer.signer("the release statement")?;
    let out = input.parent().unwrap_or(Path::new("."));
    let statement_path = out.join(STATEMENT_FILE);
    let signature = sign_statement(&signer, &submission, &statement_path)?;
    let signature_path = out.join(SIGNATURE_FILE);
    signing::write_replacing(&signature_path, signature.armored.as_bytes(), 0o644)?;
    submission.signatures = vec![signature.armored.clone()];
    let token = std::fs::read_to_string(&args.token_file).with_context(|| {
        format!(
            "reading the publisher token from {}",
            args.token_file.display()
        )
    })?;
    let base = args.registry.trim_end_matches('/').to_owned();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let client = reqwest::Client::new();
    let token = token.trim();
    let recorded = runtime.block_on(record_release(&client, &base, token, &submission))?;
    match recorded {
        Recorded::Existing { statement_sha256 } => {
            let stored = runtime.block_on(add_signature_if_missing(
                &client,
                &base,
                token,
                &submission.version,
                &signature,
            ))?;
            let signed = match stored {
                SignatureStored::Now => "its statement now carries this key's signature too",
                SignatureStored::Before => "its statement carries this key's signature",
            };
            outln!(
                "release {} is already recorded with this content (statement sha256 {statement_sha256}); {signed}",
                submission.version
            )?
        }
        Recorded::New { answer, .. } if json => crate::commands::print_json(&answer)?,
        Recorded::New {
            statement_sha256, ..
        } => outln!(
            "recorded release {} (statement sha256 {statement_sha256})",
            submission.version
        )?,
    }
    Ok(())
}

/// The release a build record describes (with the recipe's canonical text, if given), checked.
fn submission_of_record(args: &PublishArgs) -> anyhow::Result<ReleaseSubmission> {
    let record_text = std::fs::read(&args.record)
        .with_context(|| format!("reading {}", args.record.display()))?;
    let record: BuildRecord = serde_json::from_slice(&record_text)
        .with_context(|| format!("{} is not an mpr build record", args.record.display()))?;
    // The registry stores the recipe as the record digests it: its canonical text, which names
    // pinned files by file name and the source by its canonical URL.
    let recipe_body = match &args.recipe {
        Some(path) => Some(
            builder::recipe::Recipe::load(path)
                .with_context(|| format!("reading the recipe {}", path.display()))?
                .canonical_text(&record.inputs.repository),
        ),
        None => None,
    };
    let record_sha256 = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&record_text));
    let submission = submission_from_record(&record, &record_sha256, recipe_body, &args.set)?;
    submission.validate().map_err(|problem| {
        anyhow::anyhow!("the record does not make a valid release: {problem}")
    })?;
    Ok(submission)
}

/// A release submission file, checked by the registry's own rules; signatures in it are dropped
/// (this command signs the statement itself).
fn read_submission(path: &Path) -> anyhow::Result<ReleaseSubmission> {
    let limit = registry_api::submission::MAX_BODY_BYTES as u64;
    let bytes = signing::read_limited(path, "a release submission", limit)?;
    let mut submission = registry_api::submission::parse_release(&bytes).map_err(|problem| {
        anyhow::anyhow!(
            "{} is not a release submission: {problem}; `mpr registry publish --dry-run` prints one",
            path.display()
        )
    })?;
    submission.signatures.clear();
    Ok(submission)
}

/// The release statement and its detached signature, as `mpr release` and `mpr registry
/// publish` write them.
pub const STATEMENT_FILE: &str = "statement.json";
pub const SIGNATURE_FILE: &str = "statement.json.asc";

/// Renders the release statement the registry will record for `submission`, writes it to
/// `statement_path` and signs that file: what a publisher sends with the submission.
pub fn sign_statement(
    signer: &Signer,
    submission: &ReleaseSubmission,
    statement_path: &Path,
) -> anyhow::Result<DetachedSignature> {
    let statement = registry_api::statement::render(submission);
    signing::write_replacing(statement_path, &statement, 0o644)?;
    signer
        .sign(statement_path)
        .context("signing the release statement")
}

/// Whether the registry holds a signature of the release statement by a key.
pub enum SignatureStored {
    /// It did not; this one was sent and verified now.
    Now,
    /// It held one already.
    Before,
}

/// Adds `signature` to a recorded release's statement unless its key signed it there already:
/// a re-run repeats nothing, and a second release key holder co-signs with the same command.
pub async fn add_signature_if_missing(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    version: &str,
    signature: &DetachedSignature,
) -> anyhow::Result<SignatureStored> {
    let url = format!("{base}/v1/releases/{version}/statement/signatures");
    let listed: Vec<Value> = serde_json::from_slice(
        &crate::commands::http::get_bytes(client, &url, MAX_ANSWER_BYTES).await?,
    )
    .with_context(|| format!("{url} did not answer a list of signatures"))?;
    let fingerprint = &signature.verified.key_fingerprint;
    if listed
        .iter()
        .any(|listed| listed["key_fingerprint"].as_str() == Some(fingerprint))
    {
        return Ok(SignatureStored::Before);
    }
    let response = client
        .post(&url)
        .bearer_auth(token)
        .header(reqwest::header::CONTENT_TYPE, "application/pgp-signature")
        .body(signature.armored.clone())
        .send()
        .await
        .with_context(|| format!("sending the signature to {url}"))?;
    let status = response.status();
    if status == reqwest::StatusCode::CONFLICT {
        // A concurrent run stored a signature by this key first.
        return Ok(SignatureStored::Before);
    }
    let sent = read_body(response, &url, MAX_ANSWER_BYTES).await;
    sent.map_err(|error| {
        error.context(format!(
            "the registry refused the signature{}",
            unregistered_key_hint(status, &format!("key {fingerprint}"), base)
        ))
    })?;
    Ok(SignatureStored::Now)
}

/// Answers are small; the registry limits what it sends.
pub(crate) const MAX_ANSWER_BYTES: u64 = 4 << 20;

/// What to do when the registry refuses a signature as unverifiable (422).
fn unregistered_key_hint(status: reqwest::StatusCode, key: &str, base: &str) -> String {
    if status != reqwest::StatusCode::UNPROCESSABLE_ENTITY {
        return String::new();
    }
    format!(
        "\nis {key} registered as a release key? An admin registers it with `curl -H \"Authorization: Bearer $ADMIN_TOKEN\" --data-binary @KEY.pub.asc {base}/v1/keys?role=release`"
    )
}

/// What recording a release did.
pub enum Recorded {
    /// The registry recorded it now; `answer` is its JSON reply.
    New {
        statement_sha256: String,
        answer: Value,
    },
    /// It was recorded before with exactly this content (a re-run pipeline).
    Existing { statement_sha256: String },
}

/// Sends a release to the registry. Releases are immutable: recording the same release again is
/// success (`Recorded::Existing`), different content under a recorded version is an error.
pub async fn record_release(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    submission: &ReleaseSubmission,
) -> anyhow::Result<Recorded> {
    let url = format!("{base}/v1/releases");
    let response = client
        .post(&url)
        .bearer_auth(token)
        .json(submission)
        .send()
        .await
        .with_context(|| format!("sending the release to {url}"))?;
    let status = response.status();
    let body: Value = response
        .json()
        .await
        .with_context(|| format!("reading the answer of {url}"))?;
    let ours = registry_api::statement::sha256(&registry_api::statement::render(submission));
    if status == reqwest::StatusCode::CONFLICT {
        let recorded = recorded_manifest_sha256(client, base, &submission.version).await?;
        if recorded != ours {
            anyhow::bail!(
                "release {} is already recorded with different content (statement sha256 {recorded}, this build's {ours}); publish a new version",
                submission.version
            );
        }
        return Ok(Recorded::Existing {
            statement_sha256: ours,
        });
    }
    if !status.is_success() {
        let message = body
            .pointer("/error/message")
            .and_then(Value::as_str)
            .unwrap_or("no message");
        anyhow::bail!(
            "the registry refused the release ({status}): {message}{}",
            unregistered_key_hint(status, "the signing key", base)
        );
    }
    let answered = body.get("manifest_sha256").and_then(Value::as_str);
    if answered != Some(ours.as_str()) {
        anyhow::bail!(
            "the registry recorded release {} with statement sha256 {}, but this build's statement has {ours}: the registry runs another statement format; upgrade mpr or the registry so that they match",
            submission.version,
            answered.unwrap_or("(none)")
        );
    }
    Ok(Recorded::New {
        statement_sha256: ours,
        answer: body,
    })
}

/// The statement digest of a recorded release, or `None` when the registry does not have it.
pub async fn recorded_statement_sha256(
    client: &reqwest::Client,
    base: &str,
    version: &str,
) -> anyhow::Result<Option<String>> {
    let url = format!("{base}/v1/releases/{version}");
    let response = client
        .get(&url)
        .send()
        .await
        .with_context(|| format!("fetching {url}"))?;
    if response.status() == reqwest::StatusCode::NOT_FOUND {
        return Ok(None);
    }
    let release: Value = response.error_for_status()?.json().await?;
    release
        .pointer("/manifest/sha256")
        .and_then(Value::as_str)
        .map(|digest| Some(digest.to_owned()))
        .with_context(|| format!("{url} has no release statement digest"))
}

async fn recorded_manifest_sha256(
    client: &reqwest::Client,
    base: &str,
    version: &str,
) -> anyhow::Result<String> {
    recorded_statement_sha256(client, base, version)
        .await?
        .with_context(|| {
            format!("the registry answered 409 for release {version} but does not have it")
        })
}

fn artifact(
    name: &str,
    digests: &builder::hashing::BlobDigests,
) -> anyhow::Result<ArtifactSubmission> {
    Ok(ArtifactSubmission {
        name: name.to_owned(),
        size: i64::try_from(digests.size).context("artifact size")?,
        sha256: digests.sha256.clone(),
        sha384: digests.sha384.clone(),
    })
}

/// GCP Confidential Space runs the OCI image itself and its token names the image's manifest
/// digest; the arguments and environment go with it, so a wallet can refuse a launch that
/// overrode them. Records made before mpr recorded the launch publish no such set: a digest
/// without its launch would vouch for whatever command an operator chose.
fn confidential_space_measurement(
    image: &builder::record::ImageRecord,
) -> anyhow::Result<Option<MeasurementSubmission>> {
    if image.launch.args.is_empty() {
        return Ok(None);
    }
    let digest = image
        .manifest_digest
        .strip_prefix("sha256:")
        .with_context(|| {
            format!(
                "the record's image manifest digest {:?} is not sha256:<hex>",
                image.manifest_digest
            )
        })?;
    let mut parameters = Map::new();
    parameters.insert(
        "args".into(),
        serde_json::to_string(&image.launch.args)?.into(),
    );
    parameters.insert(
        "env".into(),
        serde_json::to_string(&image.launch.env)?.into(),
    );
    let mut registers = Map::new();
    registers.insert("IMAGE_DIGEST".into(), digest.into());
    Ok(Some(MeasurementSubmission {
        platform: Platform::GcpConfidentialSpace,
        parameters,
        registers,
    }))
}

/// The release a build record describes: every output as an artifact, and one measurement set with
/// the image digest (Confidential Space), the Nitro PCRs, every SEV-SNP launch digest and the
/// UKI's vTPM PCRs the build computed.
pub fn submission_from_record(
    record: &BuildRecord,
    record_sha256: &str,
    recipe_body: Option<String>,
    set: &str,
) -> anyhow::Result<ReleaseSubmission> {
    let outputs = &record.outputs;
    let mut artifacts = vec![
        artifact(&outputs.binary.path, &outputs.binary.digests)?,
        artifact("image.tar", &outputs.image.archive)?,
        artifact("image-layer.tar", &outputs.image.layer)?,
    ];
    for library in &outputs.libraries {
        artifact(&library.path, &library.digests).map(|a| artifacts.push(a))?;
    }
    let mut measurements = Vec::new();
    if let Some(set) = confidential_space_measurement(&outputs.image)? {
        measurements.push(set);
    }
    if let Some(eif) = &outputs.eif {
        artifacts.push(artifact(&eif.file, &eif.eif)?);
        artifacts.push(artifact("bootstrap-ramdisk.cpio", &eif.bootstrap_ramdisk)?);
        artifacts.push(artifact("customer-ramdisk.cpio", &eif.customer_ramdisk)?);
        let mut registers = Map::new();
        registers.insert("PCR0".into(), eif.pcrs.pcr0.to_hex().into());
        registers.insert("PCR1".into(), eif.pcrs.pcr1.to_hex().into());
        registers.insert("PCR2".into(), eif.pcrs.pcr2.to_hex().into());
        if let Some(pcr8) = &eif.pcrs.pcr8 {
            registers.insert("PCR8".into(), pcr8.to_hex().into());
        }
        measurements.push(MeasurementSubmission {
            platform: Platform::AwsNitro,
            parameters: Map::new(),
            registers,
        });
    }
    if let Some(cvm) = &outputs.cvm {
        artifacts.push(artifact("vmlinuz", &cvm.kernel)?);
        artifacts.push(artifact("initrd.img", &cvm.initrd)?);
        for snp in &cvm.snp {
            let mut parameters = Map::new();
            parameters.insert("vcpus".into(), Value::from(snp.vcpus));
            parameters.insert("vmm".into(), snp.vmm.to_string().into());
            parameters.insert("firmware_sha256".into(), snp.firmware_sha256.clone().into());
            parameters.insert(
                "guest_features".into(),
                snp.guest_features.to_string().into(),
            );
            if let Some(vcpu_type) = snp.vcpu_type {
                parameters.insert("vcpu_type".into(), vcpu_type.to_string().into());
            }
            let mut registers = Map::new();
            registers.insert("MEASUREMENT".into(), snp.digest.to_hex().into());
            measurements.push(MeasurementSubmission {
                platform: Platform::SevSnp,
                parameters,
                registers,
            });
        }
    }
    if let Some(uki) = &outputs.uki {
        artifacts.push(artifact(builder::uki::UKI_FILE, &uki.uki)?);
        artifacts.push(artifact(builder::uki::GCP_IMAGE_FILE, &uki.gcp_image)?);
        artifacts.push(artifact(builder::uki::AZURE_VHD_FILE, &uki.azure_vhd)?);
        // One UKI, one boot chain: the same vTPM PCRs on both clouds, published per platform so a
        // wallet filters by where its prover runs.
        for platform in [Platform::GcpCvm, Platform::AzureCvm] {
            let mut parameters = Map::new();
            parameters.insert("uki_sha256".into(), uki.uki.sha256.clone().into());
            parameters.insert("stub".into(), uki.stub.clone().into());
            let registers = uki
                .vtpm
                .registers()
                .into_iter()
                .map(|(name, value)| (name.to_owned(), Value::from(value)))
                .collect();
            measurements.push(MeasurementSubmission {
                platform,
                parameters,
                registers,
            });
        }
    }
    if measurements.is_empty() {
        anyhow::bail!("the record has no measurements (no EIF, no SEV-SNP configuration, no UKI): nothing for wallets to check");
    }
    let inputs = &record.inputs;
    Ok(ReleaseSubmission {
        version: record.release.version.clone(),
        package: inputs.package.clone(),
        source: SourceSubmission {
            repository: inputs.repository.clone(),
            commit: inputs.commit.clone(),
        },
        recipe: RecipeSubmission {
            sha256: inputs.recipe_sha256.clone(),
            body: recipe_body,
        },
        source_date_epoch: i64::try_from(inputs.source_date_epoch).context("SOURCE_DATE_EPOCH")?,
        build: BuildSubmission {
            builder: OFFICIAL_BUILDER.to_owned(),
            record_sha256: Some(record_sha256.to_owned()),
            builder_image: Some(inputs.builder_image.clone()),
            artifacts,
        },
        measurement_sets: vec![MeasurementSetSubmission {
            name: set.to_owned(),
            measurements,
        }],
        signatures: Vec::new(),
    })
}
