//! `mpr log`: the transparency log's keys and a witness.
//!
//! `mpr log key generate` writes a signed-note secret key (the log's, or a witness's) and prints
//! its verifier key. `mpr log witness` follows a registry's log: it checks each new checkpoint's
//! signature and its consistency with the last checkpoint it saw, cosigns it (C2SP
//! tlog-cosignature) and sends the cosignature back, so that a registry showing different
//! histories to different wallets needs its witnesses to collude.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};
use base64::Engine as _;
use clap::{Args, Subcommand};
use serde::{Deserialize, Serialize};
use verifier::tlog::{self as tlog, Checkpoint, KeyKind, NoteSigner, NoteVerifier, TrustedLog};

use super::http::get_text;
use super::serve::write_secret;

#[derive(Debug, Subcommand)]
pub enum LogCommand {
    /// Manage signed-note keys for a log or a witness.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Follow a log, check every new checkpoint's consistency and cosign it.
    Witness(WitnessArgs),
}

#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Write a new Ed25519 secret key (mode 0600) and print its verifier key.
    Generate(GenerateArgs),
}

#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// The key's name: for a log, its checkpoint origin (e.g. registry.example.org/log); for a
    /// witness, the witness's name.
    #[arg(long)]
    origin: String,
    /// Where to write the secret key; an existing file is never overwritten.
    #[arg(long)]
    out: PathBuf,
    /// A witness's cosigning key (C2SP tlog-cosignature, type 0x04) instead of a log key.
    #[arg(long)]
    witness: bool,
}

#[derive(Debug, Args)]
pub struct WitnessArgs {
    /// The registry's base URL (e.g. https://registry.example.org).
    #[arg(long)]
    log: String,
    /// The log's verifier key (name+id+key), as printed by `mpr log key generate` or `mpr serve`.
    #[arg(long)]
    log_key: String,
    /// The witness's secret key file (`mpr log key generate --witness`).
    #[arg(long)]
    key: PathBuf,
    /// Where the last checkpoint this witness accepted is kept between runs.
    #[arg(long)]
    state: PathBuf,
    /// Check and cosign once, then exit (non-zero when the checkpoint is refused).
    #[arg(long)]
    once: bool,
    /// Seconds between checks when following.
    #[arg(long, default_value_t = 10)]
    interval: u64,
}

pub fn run(command: LogCommand, json: bool) -> anyhow::Result<()> {
    match command {
        LogCommand::Key(KeyCommand::Generate(args)) => generate(&args, json),
        LogCommand::Witness(args) => witness(&args, json),
    }
}

fn generate(args: &GenerateArgs, json: bool) -> anyhow::Result<()> {
    let kind = if args.witness {
        KeyKind::CosignatureV1
    } else {
        KeyKind::Ed25519
    };
    let key = NoteSigner::generate(&args.origin, kind, &mut rand::rngs::OsRng)
        .with_context(|| format!("a key named {:?}", args.origin))?;
    write_new_secret(&args.out, &key.secret_key)?;
    let vkey = key.verifier_key;
    if json {
        super::print_json(&serde_json::json!({"verifier_key": vkey, "secret_key_file": args.out}))
    } else {
        outln!("{vkey}")?;
        Ok(())
    }
}

/// Writes a secret (mode 0600) to a new file: written in full under a temporary name, then linked
/// into place, which fails rather than replace a key that already exists (even one created
/// meanwhile by another process).
pub fn write_new_secret(file: &Path, secret: &str) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let exists = || {
        anyhow::anyhow!(
            "{} already exists; a key is never overwritten (choose another file or remove it yourself)",
            file.display()
        )
    };
    if file.exists() {
        return Err(exists());
    }
    let dir = file
        .parent()
        .filter(|dir| !dir.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let temporary = dir.join(format!(".key-{}.tmp", std::process::id()));
    let mut out = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&temporary)
        .with_context(|| format!("creating {}", temporary.display()))?;
    let written = (|| -> anyhow::Result<()> {
        out.write_all(format!("{secret}\n").as_bytes())?;
        out.sync_all()?;
        match std::fs::hard_link(&temporary, file) {
            Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => Err(exists()),
            other => other.with_context(|| format!("writing {}", file.display())),
        }
    })();
    // The temporary name is ours (created with create_new above).
    let _ = std::fs::remove_file(&temporary);
    written
}

/// What a witness remembers of a log: the last checkpoint it accepted.
#[derive(Debug, Serialize, Deserialize)]
struct WitnessState {
    origin: String,
    size: u64,
    root: String,
    checkpoint: String,
}

#[derive(Debug, Serialize)]
struct Cosigned {
    origin: String,
    size: u64,
    root: String,
    previous_size: Option<u64>,
}

fn witness(args: &WitnessArgs, json: bool) -> anyhow::Result<()> {
    let log_key = NoteVerifier::from_vkey(&args.log_key)
        .with_context(|| format!("--log-key {:?} is not a log verifier key", args.log_key))?;
    let log = TrustedLog {
        origin: log_key.name().to_owned(),
        log_key,
        witnesses: Vec::new(),
        witness_threshold: 0,
    };
    let secret = std::fs::read_to_string(&args.key)
        .with_context(|| format!("reading the witness key {}", args.key.display()))?;
    let signer = NoteSigner::from_secret_key_text(secret.trim())
        .with_context(|| format!("{} is not a witness secret key", args.key.display()))?;
    if signer.kind() != KeyKind::CosignatureV1 {
        bail!(
            "{} is a log key; a witness cosigns with a cosignature key (`mpr log key generate --witness`)",
            args.key.display()
        );
    }
    let client = super::http::client()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let base = args.log.trim_end_matches('/');
    loop {
        match runtime.block_on(witness_once(&client, base, &log, &signer, &args.state)) {
            Ok(cosigned) => {
                if json {
                    super::print_json(&cosigned)?;
                } else {
                    outln!(
                        "cosigned {} at size {} (root {})",
                        cosigned.origin,
                        cosigned.size,
                        cosigned.root
                    )?;
                }
            }
            Err(error) if args.once => return Err(error),
            Err(error) => eprintln!("mpr log witness: {error:#}"),
        }
        if args.once {
            return Ok(());
        }
        std::thread::sleep(Duration::from_secs(args.interval));
    }
}

async fn witness_once(
    client: &reqwest::Client,
    base: &str,
    log: &TrustedLog,
    signer: &NoteSigner,
    state_file: &Path,
) -> anyhow::Result<Cosigned> {
    let note = get_text(client, &format!("{base}/log/checkpoint")).await?;
    let verified = log
        .verify_checkpoint(&note)
        .with_context(|| format!("the checkpoint from {base} is refused"))?;
    let (checkpoint, text) = (verified.checkpoint, verified.text);
    let root = b64(&checkpoint.root);
    let previous = read_state(state_file)?;
    if let Some(previous) = &previous {
        check_consistency(client, base, previous, &checkpoint).await?;
    }
    save_state(
        state_file,
        &WitnessState {
            origin: checkpoint.origin.clone(),
            size: checkpoint.size,
            root: root.clone(),
            checkpoint: text.clone(),
        },
    )?;
    let line = signer.cosign(&text, now()?)?.line();
    let response = client
        .post(format!("{base}/v1/log/cosignatures"))
        .json(&serde_json::json!({"size": checkpoint.size, "cosignature": line}))
        .send()
        .await
        .with_context(|| format!("sending the cosignature to {base}"))?;
    let status = response.status();
    if !status.is_success() {
        let body = response.text().await.unwrap_or_default();
        bail!("{base} refused the cosignature ({status}): {body}");
    }
    Ok(Cosigned {
        origin: checkpoint.origin,
        size: checkpoint.size,
        root,
        previous_size: previous.map(|previous| previous.size),
    })
}

/// The new checkpoint must extend the last one this witness accepted.
async fn check_consistency(
    client: &reqwest::Client,
    base: &str,
    previous: &WitnessState,
    checkpoint: &Checkpoint,
) -> anyhow::Result<()> {
    let old_root = decode_hash(&previous.root).context("the witness state file's root")?;
    let refuse = |why: &str| {
        anyhow::anyhow!(
            "INCONSISTENT CHECKPOINT from {base}, refusing to cosign: {why}\n  last accepted: size {} root {}\n  now served:    size {} root {}",
            previous.size,
            previous.root,
            checkpoint.size,
            b64(&checkpoint.root)
        )
    };
    if previous.origin != checkpoint.origin {
        return Err(refuse(&format!(
            "the origin changed from {:?} to {:?}",
            previous.origin, checkpoint.origin
        )));
    }
    if checkpoint.size < previous.size {
        return Err(refuse("the log shrank"));
    }
    if checkpoint.size == previous.size {
        if checkpoint.root != old_root {
            return Err(refuse("the same size has a different root"));
        }
        return Ok(());
    }
    let url = format!(
        "{base}/v1/log/proof/consistency?from={}&to={}",
        previous.size, checkpoint.size
    );
    let body = get_text(client, &url).await?;
    let proof: ConsistencyAnswer = serde_json::from_str(&body)
        .with_context(|| format!("the consistency proof from {url} is not the expected JSON"))?;
    let hashes = proof
        .proof
        .iter()
        .map(|hash| decode_hash(hash))
        .collect::<anyhow::Result<Vec<_>>>()
        .with_context(|| format!("the consistency proof from {url}"))?;
    tlog::verify_consistency(
        previous.size,
        checkpoint.size,
        &old_root,
        &checkpoint.root,
        &hashes,
    )
    .map_err(|error| refuse(&format!("its consistency proof does not verify: {error}")))
}

#[derive(Debug, Deserialize)]
struct ConsistencyAnswer {
    proof: Vec<String>,
}

fn read_state(file: &Path) -> anyhow::Result<Option<WitnessState>> {
    match std::fs::read_to_string(file) {
        Ok(text) => serde_json::from_str(&text)
            .map(Some)
            .with_context(|| format!("{} is not a witness state file", file.display())),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(error).with_context(|| format!("reading {}", file.display())),
    }
}

fn save_state(file: &Path, state: &WitnessState) -> anyhow::Result<()> {
    write_secret(file, &serde_json::to_string_pretty(state)?)
}

fn decode_hash(text: &str) -> anyhow::Result<tlog::Hash> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text)
        .with_context(|| format!("{text:?} is not base64"))?;
    bytes
        .as_slice()
        .try_into()
        .map_err(|_| anyhow::anyhow!("{text:?} is {} bytes, not a 32-byte hash", bytes.len()))
}

fn b64(hash: &tlog::Hash) -> String {
    base64::engine::general_purpose::STANDARD.encode(hash)
}

fn now() -> anyhow::Result<u64> {
    Ok(std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .context("the clock is before 1970")?
        .as_secs())
}

/// The log `mpr serve` runs: its key from --log-key, or the default key file beside the data
/// directory (generated on first start, with a message saying where and what its verifier key is).
pub fn server_config(
    args: &super::serve::LogArgs,
    data_dir: &Path,
) -> anyhow::Result<registry_api::log::LogConfig> {
    let signer = match &args.log_key {
        Some(file) => read_log_key(file)?,
        None => {
            let file = data_dir.parent().unwrap_or(Path::new(".")).join("log-key");
            if file.exists() {
                read_log_key(&file)?
            } else {
                let origin = match &args.log_origin {
                    Some(origin) => origin.clone(),
                    None => format!("{}/mpr-log", host_name()),
                };
                let key = NoteSigner::generate(&origin, KeyKind::Ed25519, &mut rand::rngs::OsRng)
                    .with_context(|| {
                    format!("a log key named {origin:?} (choose another with --log-origin)")
                })?;
                write_new_secret(&file, &key.secret_key)?;
                eprintln!(
                    "transparency-log key generated in {}; its verifier key (give it to wallets and witnesses): {}",
                    file.display(),
                    key.verifier_key
                );
                NoteSigner::from_secret_key_text(&key.secret_key)?
            }
        }
    };
    if let Some(origin) = &args.log_origin {
        if origin != signer.name() {
            bail!(
                "--log-origin {origin:?} differs from the log key's name {:?}: the origin is the key's name (generate a key with `mpr log key generate --origin {origin}`)",
                signer.name()
            );
        }
    }
    let witnesses = args
        .witness_keys
        .iter()
        .map(|vkey| {
            let witness = NoteVerifier::from_vkey(vkey)
                .with_context(|| format!("--witness-key {vkey:?} is not a witness verifier key"))?;
            if witness.kind() != KeyKind::CosignatureV1 {
                bail!("--witness-key {vkey:?} is a log (type 0x01) key; witnesses cosign with cosignature (type 0x04) keys (`mpr log key generate --witness`)");
            }
            Ok(witness)
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    eprintln!(
        "transparency log {} (verifier key {}), {} witness(es)",
        signer.name(),
        signer.verifier().vkey(),
        witnesses.len()
    );
    Ok(registry_api::log::LogConfig {
        origin: signer.name().to_owned(),
        signer,
        witnesses,
    })
}

fn read_log_key(file: &Path) -> anyhow::Result<NoteSigner> {
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("reading the log key {}", file.display()))?;
    let signer = NoteSigner::from_secret_key_text(text.trim()).with_context(|| {
        format!(
            "{} is not a log secret key (`mpr log key generate` writes one)",
            file.display()
        )
    })?;
    if signer.kind() != KeyKind::Ed25519 {
        bail!("{} is a witness key; a log signs with a log key (`mpr log key generate` without --witness)", file.display());
    }
    Ok(signer)
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "localhost".to_owned())
}
