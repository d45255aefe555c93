//! `mpr eif describe` and `mpr eif build`.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use measurer::eif::{
    self, Arch, BuildMetadata, EifDescription, EifMetadata, EifSpec, SignatureStatus,
    SigningMaterial, StoredJson,
};
use serde::Serialize;

use super::print_json;
use crate::nitro_json::{print_pcrs, Measurements, MeasurementsDocument};
use crate::progress::bytes_bar;

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

/// Whether the metadata is anything but exactly nitro-cli's identity metadata, and so is shown as stored.
fn metadata_is_foreign(d: &EifDescription) -> bool {
    d.warnings
        .iter()
        .any(|w| matches!(w, eif::EifWarning::ForeignMetadata { .. }))
}

fn arch_name(arch: Arch) -> &'static str {
    match arch {
        Arch::X86_64 => "x86_64",
        Arch::Aarch64 => "aarch64",
    }
}

/// nitro-cli describe-eif's document (same keys, same order), then mpr's extra keys (arch, CRC value,
/// size, cmdline, sections).
#[derive(Debug, Serialize)]
struct DescribeDocument {
    #[serde(rename = "EifVersion")]
    eif_version: u16,
    #[serde(rename = "Measurements")]
    measurements: Measurements,
    #[serde(rename = "IsSigned")]
    is_signed: bool,
    #[serde(rename = "SigningCertificate", skip_serializing_if = "Option::is_none")]
    signing_certificate: Option<CertificateDocument>,
    /// Always true: describe fails on a CRC mismatch, so a printed document has a good one.
    #[serde(rename = "CheckCRC")]
    check_crc: bool,
    #[serde(rename = "SignatureCheck", skip_serializing_if = "Option::is_none")]
    signature_check: Option<bool>,
    #[serde(rename = "ImageName", skip_serializing_if = "Option::is_none")]
    image_name: Option<String>,
    #[serde(rename = "ImageVersion", skip_serializing_if = "Option::is_none")]
    image_version: Option<String>,
    #[serde(rename = "Metadata", skip_serializing_if = "Option::is_none")]
    metadata: Option<MetadataDocument>,
    /// The metadata section verbatim, when it is not exactly nitro-cli's identity metadata (other keys,
    /// or other JSON altogether).
    #[serde(rename = "MetadataAsStored", skip_serializing_if = "Option::is_none")]
    metadata_as_stored: Option<StoredJson>,
    /// What the reader noticed but did not refuse, as sentences.
    #[serde(rename = "Warnings", skip_serializing_if = "Vec::is_empty")]
    warnings: Vec<String>,
    #[serde(rename = "Arch")]
    arch: Arch,
    #[serde(rename = "Crc32")]
    crc32: String,
    #[serde(rename = "FileSize")]
    file_size: u64,
    #[serde(rename = "Cmdline")]
    cmdline: String,
    #[serde(rename = "Sections")]
    sections: Vec<SectionDocument>,
}

#[derive(Debug, Serialize)]
struct CertificateDocument {
    #[serde(rename = "Subject")]
    subject: String,
    /// nitro-cli prints a map of issuer attributes here; mpr prints the RFC 4514 string.
    #[serde(rename = "IssuerName")]
    issuer: String,
    #[serde(rename = "Algorithm")]
    algorithm: String,
    #[serde(rename = "NotBefore")]
    not_before: String,
    #[serde(rename = "NotAfter")]
    not_after: String,
    #[serde(rename = "Problem", skip_serializing_if = "Option::is_none")]
    problem: Option<String>,
}

/// nitro-cli's "Metadata": the build metadata next to DockerInfo, with CustomMetadata's keys merged in.
#[derive(Debug, Serialize)]
struct MetadataDocument {
    #[serde(rename = "BuildTime")]
    build_time: String,
    #[serde(rename = "BuildTool")]
    build_tool: String,
    #[serde(rename = "BuildToolVersion")]
    build_tool_version: String,
    #[serde(rename = "OperatingSystem")]
    operating_system: String,
    #[serde(rename = "KernelVersion")]
    kernel_version: String,
    #[serde(rename = "DockerInfo")]
    docker_info: serde_json::Value,
    #[serde(flatten)]
    custom: serde_json::Map<String, serde_json::Value>,
}

#[derive(Debug, Serialize)]
struct SectionDocument {
    #[serde(rename = "Index")]
    index: usize,
    #[serde(rename = "Kind")]
    kind: String,
    #[serde(rename = "Offset")]
    offset: u64,
    #[serde(rename = "Size")]
    size: u64,
}

impl From<&EifDescription> for DescribeDocument {
    fn from(d: &EifDescription) -> Self {
        let identity = d.metadata.as_ref().and_then(|m| m.identity.as_ref());
        let metadata = identity.map(|m| MetadataDocument {
            build_time: m.build.build_time.clone(),
            build_tool: m.build.build_tool.clone(),
            build_tool_version: m.build.build_tool_version.clone(),
            operating_system: m.build.operating_system.clone(),
            kernel_version: m.build.kernel_version.clone(),
            docker_info: m.docker_info.clone(),
            custom: match &m.custom {
                serde_json::Value::Object(map) => map.clone(),
                serde_json::Value::Null => serde_json::Map::new(),
                // nitro-cli cannot print these at all; keep them visible under their own key.
                other => {
                    serde_json::Map::from_iter([("CustomMetadata".to_string(), other.clone())])
                }
            },
        });
        DescribeDocument {
            eif_version: d.version,
            measurements: (&d.pcrs).into(),
            is_signed: d.signature.is_some(),
            signing_certificate: d.signature.as_ref().map(|s| CertificateDocument {
                subject: s.subject.clone(),
                issuer: s.issuer.clone(),
                algorithm: s.algorithm.clone(),
                not_before: s.not_before.clone(),
                not_after: s.not_after.clone(),
                problem: match &s.status {
                    SignatureStatus::Valid => None,
                    SignatureStatus::Invalid(why) => Some(why.clone()),
                },
            }),
            check_crc: true,
            signature_check: d
                .signature
                .as_ref()
                .map(|s| matches!(s.status, SignatureStatus::Valid)),
            image_name: identity.map(|m| m.image_name.clone()),
            image_version: identity.map(|m| m.image_version.clone()),
            metadata,
            metadata_as_stored: d
                .metadata
                .as_ref()
                .filter(|_| metadata_is_foreign(d))
                .map(|m| m.json.clone()),
            warnings: d.warnings.iter().map(ToString::to_string).collect(),
            arch: d.arch,
            crc32: format!("{:#010x}", d.crc32),
            file_size: d.file_size,
            cmdline: d.cmdline.clone(),
            sections: d
                .sections
                .iter()
                .map(|s| SectionDocument {
                    index: s.index,
                    kind: s.kind.to_string(),
                    offset: s.offset,
                    size: s.size,
                })
                .collect(),
        }
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
