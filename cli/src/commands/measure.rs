//! `mpr measure nitro|pcr|snp`: expected launch measurements, without hardware.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand, ValueEnum};
use measurer::pcr::{self, NitroPcrs};
use measurer::snp::{self, Firmware, GuestFeatures, KernelInputs, SnpParams, VcpuType, VmmType};
use measurer::{eif, Digest384};

use super::print_json;
use crate::nitro_json::{print_pcrs, MeasurementsDocument};

#[derive(Debug, Subcommand)]
pub enum MeasureCommand {
    /// AWS Nitro PCR0/1/2 (and PCR8 when signed) of an EIF, or of its components without building one.
    Nitro(NitroArgs),
    /// One PCR the way `nitro-cli pcr` computes it: extend(SHA-384(input)).
    Pcr(PcrArgs),
    /// AMD SEV-SNP launch digest, with sev-snp-measure 0.0.13's flags and output.
    Snp(SnpArgs),
}

#[derive(Debug, Args)]
pub struct NitroArgs {
    /// An EIF to measure (validated as `mpr eif describe` does).
    #[arg(long, conflicts_with_all = ["kernel", "cmdline", "ramdisks"])]
    eif: Option<PathBuf>,
    /// Kernel image, to measure components without building an EIF.
    #[arg(long, required_unless_present = "eif", requires = "cmdline")]
    kernel: Option<PathBuf>,
    /// Kernel command line, exactly as it will be in the EIF.
    #[arg(long)]
    cmdline: Option<String>,
    /// Ramdisks in boot order; repeat for each.
    #[arg(long = "ramdisk", requires = "kernel")]
    ramdisks: Vec<PathBuf>,
    /// Signing certificate (PEM or DER), for PCR8.
    #[arg(long, conflicts_with = "eif")]
    signing_certificate: Option<PathBuf>,
}

#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub struct PcrArgs {
    /// File to measure as nitro-cli pcr --input does.
    #[arg(long)]
    input: Option<PathBuf>,
    /// Certificate (PEM or DER) to turn into PCR8.
    #[arg(long)]
    signing_certificate: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SnpMode {
    /// Full launch digest.
    #[value(name = "snp")]
    Snp,
    /// Only the firmware part, usable later as --snp-ovmf-hash.
    #[value(name = "snp:ovmf-hash")]
    OvmfHash,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Hex,
    Base64,
}

#[derive(Debug, Args)]
pub struct SnpArgs {
    /// Measurement mode (sev-snp-measure's snp modes; SEV and SEV-ES are not supported).
    #[arg(long, default_value = "snp")]
    mode: SnpMode,
    /// OVMF firmware with SEV metadata (e.g. Debian's /usr/share/ovmf/OVMF.fd or an AmdSevX64 build).
    #[arg(long)]
    ovmf: PathBuf,
    /// Number of guest vCPUs.
    #[arg(long)]
    vcpus: Option<u32>,
    /// QEMU CPU model of the guest vCPUs (EPYC, EPYC-v4, EPYC-Milan, EPYC-Genoa, EPYC-Turin, ...).
    #[arg(long)]
    vcpu_type: Option<VcpuType>,
    /// vCPU signature (CPUID Fn0000_0001_EAX), decimal or 0x-prefixed hex.
    #[arg(long, value_parser = parse_auto_base)]
    vcpu_sig: Option<u64>,
    /// vCPU family (with --vcpu-model and --vcpu-stepping).
    #[arg(long, requires_all = ["vcpu_model", "vcpu_stepping"])]
    vcpu_family: Option<u32>,
    /// vCPU model (with --vcpu-family).
    #[arg(long)]
    vcpu_model: Option<u32>,
    /// vCPU stepping (with --vcpu-family).
    #[arg(long)]
    vcpu_stepping: Option<u32>,
    /// VMM: QEMU (self-hosted), ec2 (AWS) or gce (Google Cloud).
    #[arg(long, default_value = "QEMU")]
    vmm_type: VmmType,
    /// Guest features (VMSA SEV_FEATURES), decimal or 0x-prefixed hex: 0x1 for host kernels >= 6.8,
    /// 0x21 for 6.6-6.7.
    #[arg(long, default_value = "0x1", value_parser = parse_auto_base)]
    guest_features: u64,
    /// Kernel for direct boot (needs a firmware with a kernel-hashes table).
    #[arg(long)]
    kernel: Option<PathBuf>,
    /// Initrd for direct boot.
    #[arg(long, requires = "kernel")]
    initrd: Option<PathBuf>,
    /// Kernel command line for direct boot, measured exactly as given (no trimming).
    #[arg(long)]
    append: Option<String>,
    /// Precomputed `--mode snp:ovmf-hash` value, to skip hashing the firmware pages.
    #[arg(long)]
    snp_ovmf_hash: Option<Digest384>,
    /// Output encoding of the digest.
    #[arg(long, value_enum, default_value = "hex")]
    output_format: OutputFormat,
}

/// Numbers as sev-snp-measure reads them (Python's `int(s, 0)`): decimal unless 0x/0o/0b-prefixed.
fn parse_auto_base(s: &str) -> Result<u64, String> {
    snp::parse_python_int(s)
        .ok_or_else(|| format!("{s:?} is not a number (decimal, or 0x/0o/0b-prefixed)"))
}

pub fn run(command: MeasureCommand, json: bool) -> Result<()> {
    match command {
        MeasureCommand::Nitro(args) => nitro(args, json),
        MeasureCommand::Pcr(args) => pcr_only(args, json),
        MeasureCommand::Snp(args) => snp(args, json),
    }
}

fn nitro(args: NitroArgs, json: bool) -> Result<()> {
    let pcrs: NitroPcrs = match (&args.eif, &args.kernel) {
        (Some(eif_path), _) => {
            let description = eif::describe(eif_path)
                .with_context(|| format!("{} is not a valid EIF", eif_path.display()))?;
            // stdout carries only the PCRs, which scripts parse; `mpr eif describe` shows the rest.
            for warning in &description.warnings {
                tracing::warn!("{}: {warning}", eif_path.display());
            }
            description.pcrs
        }
        (None, Some(kernel)) => {
            let cmdline = args.cmdline.as_deref().unwrap_or_default();
            let certificate = args
                .signing_certificate
                .as_deref()
                .map(read_certificate)
                .transpose()?;
            pcr::measure_components(kernel, cmdline, &args.ramdisks, certificate.as_deref())
                .context("cannot measure the EIF components")?
        }
        (None, None) => bail!("give --eif FILE, or --kernel with --cmdline and --ramdisk"),
    };
    if json {
        print_json(&MeasurementsDocument::from(&pcrs))
    } else {
        Ok(print_pcrs(&pcrs)?)
    }
}

fn read_certificate(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read certificate {}", path.display()))
}

fn pcr_only(args: PcrArgs, json: bool) -> Result<()> {
    let value = match (&args.input, &args.signing_certificate) {
        (Some(input), _) => {
            let file = std::fs::File::open(input)
                .with_context(|| format!("cannot open {}", input.display()))?;
            pcr::pcr_of_reader(std::io::BufReader::with_capacity(1 << 20, file))
                .with_context(|| format!("cannot read {}", input.display()))?
        }
        (None, Some(cert)) => pcr::pcr8_of_certificate(&read_certificate(cert)?)
            .with_context(|| format!("{} is not a certificate", cert.display()))?,
        (None, None) => bail!("give --input FILE or --signing-certificate CERT"),
    };
    if json {
        // nitro-cli pcr prints {"PCR": "<hex>"}.
        print_json(&serde_json::json!({ "PCR": value.to_hex() }))
    } else {
        outln!("{value}")?;
        Ok(())
    }
}

fn snp(args: SnpArgs, json: bool) -> Result<()> {
    let firmware = Firmware::open(&args.ovmf)
        .with_context(|| format!("cannot use {} as SEV-SNP firmware", args.ovmf.display()))?;
    let digest = match args.mode {
        SnpMode::OvmfHash => {
            let digest = snp::ovmf_hash(&firmware);
            if json {
                return print_json(&serde_json::json!({
                    "mode": "snp:ovmf-hash",
                    "ovmf_sha256": hex::encode(firmware.sha256()),
                    "ovmf_hash": digest,
                }));
            }
            digest
        }
        SnpMode::Snp => {
            let params = snp_params(&args)?;
            let context = "cannot compute the SEV-SNP launch digest";
            if json {
                return print_json(&snp::launch_digest(&firmware, &params).context(context)?);
            }
            // The record's firmware SHA-256 is a fifth of the work and the text output does not show it.
            snp::launch_digest_only(&firmware, &params).context(context)?
        }
    };
    match args.output_format {
        OutputFormat::Hex => outln!("{digest}")?,
        OutputFormat::Base64 => outln!("{}", base64_encode(digest.as_bytes()))?,
    }
    Ok(())
}

fn snp_params(args: &SnpArgs) -> Result<SnpParams> {
    let vcpus = args
        .vcpus
        .context("missing --vcpus N: the launch digest has one VMSA page per vCPU")?;
    if args.append.as_deref().is_some_and(|a| !a.is_empty()) && args.kernel.is_none() {
        bail!("--append needs --kernel: the command line is only measured for direct kernel boot");
    }
    // Same precedence as sev-snp-measure: family/model/stepping, then the signature, then the type.
    // Zero counts as absent there (Python truthiness), so 0 falls through to the next option too.
    let family = args.vcpu_family.filter(|&f| f != 0);
    let sig = args.vcpu_sig.filter(|&s| s != 0);
    let (vcpu_sig, vcpu_type) = match (family, sig, args.vcpu_type) {
        (Some(family), _, _) => {
            let model = args.vcpu_model.unwrap_or_default();
            let stepping = args.vcpu_stepping.unwrap_or_default();
            (snp::vcpu_signature(family, model, stepping), None)
        }
        (None, Some(sig), _) => {
            let sig = u32::try_from(sig)
                .with_context(|| format!("--vcpu-sig {sig:#x} does not fit in 32 bits"))?;
            (sig, None)
        }
        (None, None, Some(vcpu_type)) => (vcpu_type.signature(), Some(vcpu_type)),
        (None, None, None) if args.vmm_type == VmmType::Qemu => bail!(
            "missing --vcpu-type, --vcpu-sig or --vcpu-family: QEMU guests put the vCPU signature in the VMSA"
        ),
        // ec2 and gce VMSAs carry a fixed RDX; the signature is not measured.
        (None, None, None) => (0, None),
    };
    Ok(SnpParams {
        vcpus,
        vcpu_type,
        vcpu_sig,
        vmm: args.vmm_type,
        guest_features: GuestFeatures(args.guest_features),
        kernel: args.kernel.as_ref().map(|kernel| KernelInputs {
            kernel: kernel.clone(),
            initrd: args.initrd.clone(),
            append: args.append.clone(),
        }),
        ovmf_hash: args.snp_ovmf_hash,
    })
}

/// Standard base64 with padding; the only place mpr needs it, not worth a dependency.
fn base64_encode(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_base_numbers_follow_python_int_base_0() {
        assert_eq!(parse_auto_base("0x21"), Ok(0x21));
        assert_eq!(parse_auto_base("21"), Ok(21));
        assert_eq!(parse_auto_base("0X800F12"), Ok(0x800f12));
        assert_eq!(parse_auto_base("0b101"), Ok(5));
        assert!(parse_auto_base("zz").is_err());
        assert!(
            parse_auto_base("010").is_err(),
            "Python refuses leading zeros"
        );
    }

    #[test]
    fn base64_matches_rfc4648_vectors() {
        assert_eq!(base64_encode(b""), "");
        assert_eq!(base64_encode(b"f"), "Zg==");
        assert_eq!(base64_encode(b"fo"), "Zm8=");
        assert_eq!(base64_encode(b"foo"), "Zm9v");
        assert_eq!(base64_encode(b"foobar"), "Zm9vYmFy");
    }
}
