//! `mpr eif describe` and `mpr eif build`.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use measurer::eif::{
    self, Arch, BuildMetadata, EifDescription, EifMetadata, EifSpec, SignatureStatus,
    SigningMaterial,
};
use serde::Serialize;

use super::print_json;
use crate::nitro_json::{print_pcrs, MeasurementsDocument};
use crate::progress::bytes_bar;

mod document;

use document::{metadata_is_foreign, DescribeDocument};

#[derive(Debug, Subcommand)]
pub enum EifCommand {
    /// Validate an EIF (magic, version, sections, sizes, CRC, signature) and print its header, sections,
    /// metadata and measurements. `--json` uses nitro-cli describe-eif's keys. What AWS's reader ignores
    /// and no PCR depends on (non-zero unused header fields or section flags, foreign metadata) is
    /// reported as a warning, not refused.
    Describe {
        /// The EIF file.
        file: PathBuf,
    },
    /// Write a byte-deterministic EIF from a kernel, a cmdline and ramdisks (nitro-cli's section order).
    Build(Box<BuildArgs>),
}

#[derive(Debug, Args)]
pub struct BuildArgs {
    /// Kernel image (bzImage on x86_64, Image on aarch64).
    #[arg(long)]
    kernel: PathBuf,
    /// Kernel command line, measured exactly as given (nitro-cli trims its cmdline file; trim it yourself).
    #[arg(long)]
    cmdline: String,
    /// Ramdisk, in boot order; repeat for each. The first feeds PCR1, the others PCR2.
    #[arg(long = "ramdisk", required = true)]
    ramdisks: Vec<PathBuf>,
    /// Where to write the EIF (written to a temporary file first, then renamed).
    #[arg(long)]
    output: PathBuf,
    /// Target architecture (header flag bit 0).
    #[arg(long, default_value = "x86_64")]
    arch: Arch,
    /// ImageName in the metadata section (default: the output file's stem).
    #[arg(long)]
    name: Option<String>,
    /// ImageVersion in the metadata section.
    #[arg(long = "image-version", default_value = "0.0.0")]
    image_version: String,
    /// JSON file stored as CustomMetadata (not measured).
    #[arg(long)]
    metadata: Option<PathBuf>,
    /// JSON file stored as DockerInfo (not measured), e.g. `docker image inspect` output.
    #[arg(long)]
    docker_info: Option<PathBuf>,
    /// Kernel .config whose third line gives OperatingSystem and KernelVersion, as nitro-cli reads
    /// `<kernel>.config` (default: that file when it exists).
    #[arg(long)]
    kernel_config: Option<PathBuf>,
    /// BuildTime as Unix seconds. Without it the build is only byte-reproducible if set.
    #[arg(long, env = "SOURCE_DATE_EPOCH")]
    source_date_epoch: Option<u64>,
    /// P-384 private key (PEM, SEC1 or PKCS#8) to sign PCR0 with; needs --signing-certificate.
    #[arg(long, requires = "signing_certificate")]
    private_key: Option<PathBuf>,
    /// Certificate (PEM) of the signing key; its DER gives PCR8.
    #[arg(long, requires = "private_key")]
    signing_certificate: Option<PathBuf>,
}

pub fn run(command: EifCommand, json: bool) -> Result<()> {
    match command {
        EifCommand::Describe { file } => describe(&file, json),
        EifCommand::Build(args) => build(*args, json),
    }
}

fn describe(file: &Path, json: bool) -> Result<()> {
    let size = std::fs::metadata(file)
        .with_context(|| format!("cannot read {}", file.display()))?
        .len();
    let bar = bytes_bar(size, "reading");
    let description = eif::describe_with_progress(file, &|done| bar.set_position(done))
        .with_context(|| format!("{} is not a valid EIF", file.display()))?;
    bar.finish_and_clear();
    if json {
        print_json(&DescribeDocument::from(&description))
    } else {
        Ok(print_description(&description)?)
    }
}

fn print_description(d: &EifDescription) -> std::io::Result<()> {
    outln!(
        "EIF version {}, {}, {} bytes, CRC-32 {:#010x} (valid)",
        d.version,
        arch_name(d.arch),
        d.file_size,
        d.crc32
    )?;
    outln!(
        "Defaults (unused by the hypervisor): {} MiB memory, {} vCPUs",
        d.default_mem >> 20,
        d.default_cpus
    )?;
    outln!("Sections:")?;
    outln!(
        "  {:>2}  {:<9} {:>12} {:>12}",
        "#",
        "kind",
        "offset",
        "size"
    )?;
    for s in &d.sections {
        outln!(
            "  {:>2}  {:<9} {:>12} {:>12}",
            s.index,
            s.kind.to_string(),
            s.offset,
            s.size
        )?;
    }
    outln!("Cmdline: {}", d.cmdline)?;
    if let Some(section) = &d.metadata {
        if let Some(m) = &section.identity {
            outln!("Image: {} {}", m.image_name, m.image_version)?;
            outln!(
                "Built: {} by {} {} (kernel {} {})",
                m.build.build_time,
                m.build.build_tool,
                m.build.build_tool_version,
                m.build.operating_system,
                m.build.kernel_version
            )?;
        }
        if metadata_is_foreign(d) {
            outln!("Metadata (as stored): {}", section.json.as_str())?;
        }
    }
    match &d.signature {
        None => outln!("Signature: none")?,
        Some(sig) => {
            let status = match &sig.status {
                SignatureStatus::Valid => "valid".to_string(),
                SignatureStatus::Invalid(why) => format!("INVALID: {why}"),
            };
            outln!("Signature: {status}")?;
            outln!("  subject {}", sig.subject)?;
            outln!("  issuer  {}", sig.issuer)?;
            outln!("  valid   {} .. {}", sig.not_before, sig.not_after)?;
        }
    }
    for warning in &d.warnings {
        outln!("Warning: {warning}")?;
    }
    outln!("Measurements (SHA-384):")?;
    print_pcrs(&d.pcrs)
}

fn arch_name(arch: Arch) -> &'static str {
    match arch {
        Arch::X86_64 => "x86_64",
        Arch::Aarch64 => "aarch64",
    }
}

fn build(args: BuildArgs, json: bool) -> Result<()> {
    let metadata = build_metadata(&args)?;
    let signing = match (&args.private_key, &args.signing_certificate) {
        (Some(key), Some(cert)) => Some(
            SigningMaterial::from_pem(&read_small(key)?, &read_small(cert)?)
                .context("cannot sign with this key and certificate")?,
        ),
        _ => None,
    };
    let spec = EifSpec {
        kernel: args.kernel,
        cmdline: args.cmdline,
        ramdisks: args.ramdisks,
        arch: args.arch,
        metadata,
        signing,
    };
    let mut total = std::fs::metadata(&spec.kernel).map_or(0, |m| m.len());
    for ramdisk in &spec.ramdisks {
        total += std::fs::metadata(ramdisk).map_or(0, |m| m.len());
    }
    let bar = bytes_bar(total, "writing");
    let written = eif::write_eif_with_progress(&spec, &args.output, &|done| bar.set_position(done))
        .with_context(|| format!("cannot write {}", args.output.display()))?;
    bar.finish_and_clear();
    if json {
        #[derive(Serialize)]
        struct BuildDocument<'a> {
            #[serde(flatten)]
            measurements: MeasurementsDocument,
            #[serde(rename = "Output")]
            output: &'a Path,
            #[serde(rename = "FileSize")]
            size: u64,
            #[serde(rename = "Crc32")]
            crc32: String,
        }
        print_json(&BuildDocument {
            measurements: (&written.pcrs).into(),
            output: &args.output,
            size: written.size,
            crc32: format!("{:#010x}", written.crc32),
        })
    } else {
        outln!("Wrote {} ({} bytes)", args.output.display(), written.size)?;
        Ok(print_pcrs(&written.pcrs)?)
    }
}

/// Small side files (keys, certificates, JSON): read whole, with a limit so a wrong path to a
/// multi-gigabyte file fails fast.
fn read_small(path: &Path) -> Result<Vec<u8>> {
    const LIMIT: u64 = 4 << 20;
    let size = std::fs::metadata(path)
        .with_context(|| format!("cannot read {}", path.display()))?
        .len();
    if size > LIMIT {
        bail!(
            "{} is {size} bytes; at most {LIMIT} expected here",
            path.display()
        );
    }
    std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}

fn read_json(path: &Path) -> Result<serde_json::Value> {
    serde_json::from_slice(&read_small(path)?)
        .with_context(|| format!("{} is not valid JSON", path.display()))
}

fn build_metadata(args: &BuildArgs) -> Result<EifMetadata> {
    let image_name = match &args.name {
        Some(name) => name.clone(),
        None => args
            .output
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "enclave".to_string()),
    };
    let build_time = match args.source_date_epoch {
        Some(epoch) => epoch,
        None => {
            tracing::warn!(
                "SOURCE_DATE_EPOCH is not set: BuildTime is now, so the EIF bytes (not its PCRs) differ per build"
            );
            SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs()
        }
    };
    let (operating_system, kernel_version) = kernel_identity(args)?;
    Ok(EifMetadata {
        image_name,
        image_version: args.image_version.clone(),
        build: BuildMetadata {
            build_time: eif::rfc3339_from_unix(build_time),
            build_tool: env!("CARGO_PKG_NAME").to_string(),
            build_tool_version: env!("CARGO_PKG_VERSION").to_string(),
            operating_system,
            kernel_version,
        },
        docker_info: match &args.docker_info {
            Some(path) => read_json(path)?,
            None => serde_json::Value::Null,
        },
        custom: match &args.metadata {
            Some(path) => read_json(path)?,
            None => serde_json::Value::Null,
        },
    })
}

/// nitro-cli takes OperatingSystem and KernelVersion from words 1 and 3 of the third line of the kernel's
/// .config ("# Linux/x86 4.14.256 Kernel Configuration"), split on ' ', '/' and '-'.
fn kernel_identity(args: &BuildArgs) -> Result<(String, String)> {
    let default_config = {
        let mut name = args.kernel.clone().into_os_string();
        name.push(".config");
        PathBuf::from(name)
    };
    let config = match &args.kernel_config {
        Some(path) => path.clone(),
        None if default_config.is_file() => default_config,
        None => return Ok(("unknown".to_string(), "unknown".to_string())),
    };
    let text = String::from_utf8_lossy(&read_small(&config)?).into_owned();
    let line = text.lines().nth(2).with_context(|| {
        format!(
            "{} has fewer than 3 lines; is it a kernel .config?",
            config.display()
        )
    })?;
    let words: Vec<&str> = line.split([' ', '/', '-']).collect();
    match (words.get(1), words.get(3)) {
        (Some(os), Some(version)) => Ok((os.to_string(), version.to_string())),
        _ => bail!(
            "line 3 of {} is {line:?}, not \"# Linux/<arch> <version> Kernel Configuration\"",
            config.display()
        ),
    }
}
