//! `mpr registry set-status` and `mpr registry addendum`: later changes to a release are signed
//! statements, never edits. Run once to render the statement against the registry's current state
//! (with the registry's own renderer) into a file; sign that file (`gpg --armor --detach-sign`, or
//! `mpr manifest sign`); run again with `--signature` to submit the file and its signatures. The
//! second run submits the file as it was signed, so re-running it is harmless (the registry answers
//! a statement it has with the existing record).

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Args, ValueEnum};
use registry_api::submission::MeasurementSetSubmission;
use serde_json::{json, Value};
use verifier::statement::{self as shape, SetStatus};

#[derive(Debug, Args)]
pub struct Connection {
    /// The registry.
    #[arg(
        long,
        env = "MPR_REGISTRY_URL",
        default_value = "http://127.0.0.1:8080"
    )]
    registry: String,
    /// A file holding the publisher token (needed with --signature).
    #[arg(long, env = "MPR_PUBLISHER_TOKEN_FILE")]
    token_file: Option<PathBuf>,
    /// Where the statement is written, and read back from when submitting.
    #[arg(long)]
    out: Option<PathBuf>,
    /// A detached ASCII-armored signature of the statement file; repeat for several signers.
    /// Given: submit the statement file with them. Absent: render the statement file.
    #[arg(long = "signature")]
    signatures: Vec<PathBuf>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum StatusArg {
    Active,
    Deprecated,
}

#[derive(Debug, Args)]
pub struct SetStatusArgs {
    /// The release, e.g. 8.1.0.
    #[arg(long)]
    version: String,
    /// The measurement set's name.
    #[arg(long)]
    set: String,
    #[arg(long, value_enum)]
    status: StatusArg,
    /// Why, for wallets and auditors (1 to 1024 bytes).
    #[arg(long)]
    reason: String,
    #[command(flatten)]
    connection: Connection,
}

#[derive(Debug, Args)]
pub struct AddendumArgs {
    /// The release, e.g. 8.1.0.
    #[arg(long)]
    version: String,
    /// The new measurement set as JSON: {"name": ..., "measurements": [{"platform", "parameters", "registers"}]}.
    #[arg(long)]
    set_file: PathBuf,
    #[command(flatten)]
    connection: Connection,
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

fn base(connection: &Connection) -> String {
    connection.registry.trim_end_matches('/').to_owned()
}

/// The release's statement digest and each set's status sequence, as the registry has them now.
fn release_detail(connection: &Connection, version: &str) -> anyhow::Result<Value> {
    let url = format!("{}/v1/releases/{version}", base(connection));
    runtime()?.block_on(async {
        let response = reqwest::get(&url)
            .await
            .with_context(|| format!("reading {url}"))?;
        let status = response.status();
        let body: Value = response
            .json()
            .await
            .with_context(|| format!("reading the answer of {url}"))?;
        if !status.is_success() {
            anyhow::bail!("{url} answered {status}: {}", error_message(&body));
        }
        Ok(body)
    })
}

fn error_message(body: &Value) -> &str {
    body.pointer("/error/message")
        .and_then(Value::as_str)
        .unwrap_or("no message")
}

fn release_sha256(detail: &Value) -> anyhow::Result<String> {
    detail
        .pointer("/manifest/sha256")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .context("the registry's release has no statement digest")
}

/// Writes `bytes` to `path` whole (temporary file, then rename); a different file already there
/// is left alone and refused.
fn write_statement(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    match std::fs::read(path) {
        Ok(existing) if existing == bytes => return Ok(()),
        Ok(_) => anyhow::bail!(
            "{} exists with other content; submit it with --signature, or choose another --out",
            path.display()
        ),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(error) => return Err(error).with_context(|| format!("reading {}", path.display())),
    }
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(".partial");
    let temporary = PathBuf::from(temporary);
    std::fs::write(&temporary, bytes)
        .with_context(|| format!("writing {}", temporary.display()))?;
    std::fs::rename(&temporary, path).with_context(|| format!("writing {}", path.display()))
}

fn rendered(path: &Path, bytes: &[u8], json: bool) -> anyhow::Result<()> {
    write_statement(path, bytes)?;
    let sha256 = shape::sha256_hex(bytes);
    if json {
        return crate::commands::print_json(&json!({"statement": path, "sha256": sha256}));
    }
    outln!("wrote {} (sha256 {sha256})", path.display())?;
    outln!(
        "sign it (gpg --armor --detach-sign {0}, or mpr manifest sign), then run this command again with --signature {0}.asc",
        path.display()
    )?;
    Ok(())
}

/// POSTs the statement and its signatures; prints what the registry recorded.
fn submit(connection: &Connection, bytes: &[u8], json: bool) -> anyhow::Result<()> {
    let token_file = connection.token_file.as_ref().context(
        "submitting needs --token-file (or MPR_PUBLISHER_TOKEN_FILE) with a publisher token",
    )?;
    let token = std::fs::read_to_string(token_file)
        .with_context(|| format!("reading the publisher token from {}", token_file.display()))?;
    let signatures = connection
        .signatures
        .iter()
        .map(|path| {
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
        })
        .collect::<anyhow::Result<Vec<String>>>()?;
    let statement = std::str::from_utf8(bytes).context("the statement is not UTF-8")?;
    let url = format!("{}/v1/statements", base(connection));
    let (status, body) = runtime()?.block_on(async {
        let response = reqwest::Client::new()
            .post(&url)
            .bearer_auth(token.trim())
            .json(&json!({"statement": statement, "signatures": signatures}))
            .send()
            .await
            .with_context(|| format!("sending the statement to {url}"))?;
        let status = response.status();
        let body: Value = response
            .json()
            .await
            .with_context(|| format!("reading the answer of {url}"))?;
        anyhow::Ok((status, body))
    })?;
    if !status.is_success() {
        anyhow::bail!(
            "the registry refused the statement ({status}): {}",
            error_message(&body)
        );
    }
    if json {
        return crate::commands::print_json(&body);
    }
    let sha256 = body["sha256"].as_str().unwrap_or("?");
    if status == reqwest::StatusCode::CREATED {
        outln!("recorded statement {sha256}")?;
    } else {
        outln!("the registry already has statement {sha256}")?;
    }
    Ok(())
}

fn read_statement(path: &Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| {
        format!(
            "reading {} (run once without --signature to render it)",
            path.display()
        )
    })
}

pub fn set_status(args: SetStatusArgs, json: bool) -> anyhow::Result<()> {
    let status = match args.status {
        StatusArg::Active => SetStatus::Active,
        StatusArg::Deprecated => SetStatus::Deprecated,
    };
    let connection = &args.connection;
    if !connection.signatures.is_empty() {
        let path = connection
            .out
            .as_ref()
            .context("--signature needs --out: the statement file that was signed")?;
        let bytes = read_statement(path)?;
        let statement = shape::parse_set_status_statement(&bytes)
            .with_context(|| format!("{} is not a status statement", path.display()))?;
        let says = &statement.predicate;
        if (
            says.version.as_str(),
            says.measurement_set.as_str(),
            says.status,
            says.reason.as_str(),
        ) != (
            args.version.as_str(),
            args.set.as_str(),
            status,
            args.reason.as_str(),
        ) {
            anyhow::bail!(
                "{} says release {} set {} becomes {} ({}), not what the arguments say",
                path.display(),
                says.version,
                says.measurement_set,
                says.status.as_str(),
                says.reason
            );
        }
        return submit(connection, &bytes, json);
    }
    let detail = release_detail(connection, &args.version)?;
    let set = detail["measurement_sets"]
        .as_array()
        .and_then(|sets| sets.iter().find(|set| set["name"] == args.set.as_str()))
        .with_context(|| {
            format!(
                "release {} has no measurement set {:?}",
                args.version, args.set
            )
        })?;
    let sequence = set["status_sequence"].as_u64().unwrap_or(0) + 1;
    let statement = registry_api::statement::set_status_statement(
        &args.version,
        &release_sha256(&detail)?,
        &args.set,
        u32::try_from(sequence).context("status sequence")?,
        status,
        &args.reason,
    );
    let bytes = statement.to_bytes();
    // The registry's own parser: a statement it would refuse is not written.
    shape::parse_set_status_statement(&bytes)?;
    let path = connection.out.clone().unwrap_or_else(|| {
        PathBuf::from(format!(
            "set-status-{}-{}-{sequence}.intoto.json",
            args.version, args.set
        ))
    });
    rendered(&path, &bytes, json)
}

pub fn addendum(args: AddendumArgs, json: bool) -> anyhow::Result<()> {
    let text = std::fs::read(&args.set_file)
        .with_context(|| format!("reading {}", args.set_file.display()))?;
    let set: MeasurementSetSubmission = serde_json::from_slice(&text)
        .with_context(|| format!("{} is not a measurement set", args.set_file.display()))?;
    registry_api::submission::check_measurement_set(&set)
        .map_err(|problem| anyhow::anyhow!("{}: {problem}", args.set_file.display()))?;
    let connection = &args.connection;
    if !connection.signatures.is_empty() {
        let path = connection
            .out
            .as_ref()
            .context("--signature needs --out: the statement file that was signed")?;
        let bytes = read_statement(path)?;
        let statement = shape::parse_set_addendum_statement(&bytes)
            .with_context(|| format!("{} is not an addendum", path.display()))?;
        let mut expected = registry_api::statement::set_addendum_statement(
            &args.version,
            statement.release_statement_sha256(),
            &set,
        );
        expected.subject = statement.subject.clone();
        if expected.to_bytes() != bytes {
            anyhow::bail!(
                "{} is not the addendum of {} to release {}",
                path.display(),
                args.set_file.display(),
                args.version
            );
        }
        return submit(connection, &bytes, json);
    }
    let detail = release_detail(connection, &args.version)?;
    let bytes = registry_api::statement::set_addendum_statement(
        &args.version,
        &release_sha256(&detail)?,
        &set,
    )
    .to_bytes();
    shape::parse_set_addendum_statement(&bytes)?;
    let path = connection.out.clone().unwrap_or_else(|| {
        PathBuf::from(format!(
            "addendum-{}-{}.intoto.json",
            args.version, set.name
        ))
    });
    rendered(&path, &bytes, json)
}
