//! Everything that can stop an SEV-SNP launch digest from being computed.

use std::path::PathBuf;

/// Advice appended to every "this firmware cannot be used" error, so the user knows what to pick instead.
const SNP_FIRMWARE_ADVICE: &str = "use an OVMF built with SEV-SNP support: Debian bookworm's \
     /usr/share/ovmf/OVMF.fd (package `ovmf`) for firmware-only digests, or an edk2 \
     OvmfPkg/AmdSev/AmdSevX64.dsc build to also measure --kernel/--initrd/--append \
     (Debian's OVMF_CODE_4M.fd carries no SEV metadata and cannot be used)";

/// Advice for a kernel given to a firmware that cannot measure one.
const KERNEL_HASHES_ADVICE: &str =
    "build OVMF from OvmfPkg/AmdSev/AmdSevX64.dsc, which reserves a \
     kernel-hashes page, to measure --kernel/--initrd/--append; without --kernel the digest covers \
     the firmware only";

/// Why an SEV-SNP launch digest could not be computed. Every message says what is wrong and, where there
/// is one, what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum SnpError {
    #[error("cannot read {what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("the firmware is {size} bytes, more than the {max}-byte limit: OVMF images are 2-4 MiB, is this the right file?")]
    FirmwareTooLarge { size: u64, max: u64 },

    #[error("the firmware is {size} bytes, not a non-zero multiple of 4096: SEV-SNP measures whole 4 KiB pages, is this an OVMF image?")]
    FirmwareNotPageSized { size: usize },

    #[error("the firmware is not an SEV-SNP firmware: {reason}; {SNP_FIRMWARE_ADVICE}")]
    NotSnpFirmware { reason: &'static str },

    #[error("the firmware's GUID table is broken: {problem}; the image is damaged or not an OVMF build, {SNP_FIRMWARE_ADVICE}")]
    BrokenFooterTable { problem: String },

    #[error("the firmware's SEV metadata (\"ASEV\") is broken: {problem}; the image is damaged, {SNP_FIRMWARE_ADVICE}")]
    BrokenMetadata { problem: String },

    #[error("the firmware has no SEV-ES reset block entry in its GUID table (the APs' start address), so no vCPU state can be measured; {SNP_FIRMWARE_ADVICE}")]
    MissingResetBlock,

    #[error("the firmware's SEV-ES reset block gives AP start address 0, so secondary vCPUs cannot be measured; use --vcpus 1 or a working OVMF build")]
    ZeroApResetAddress,

    #[error("a kernel was given but the firmware has no kernel-hashes table ({reason}): {KERNEL_HASHES_ADVICE}")]
    NoKernelHashesTable { reason: &'static str },

    #[error("the firmware's kernel-hashes section is {size:#x} bytes; QEMU fills exactly one 4096-byte page, so this firmware cannot measure a kernel: {KERNEL_HASHES_ADVICE}")]
    KernelHashesSectionSize { size: u32 },

    #[error("the firmware puts the kernel-hashes table at page offset {offset:#x}, where the {table_len}-byte table does not fit in its 4 KiB page; the firmware is broken")]
    KernelHashesTableCrossesPage { offset: u32, table_len: usize },

    #[error("{what} {path} is {size} bytes, more than the {max}-byte limit for direct boot")]
    BootFileTooLarge {
        what: &'static str,
        path: PathBuf,
        size: u64,
        max: u64,
    },

    #[error("{vcpus} vCPUs requested: the number must be between 1 and {max}")]
    VcpuCount { vcpus: u32, max: u32 },

    #[error("QEMU guests need a vCPU signature: give a vCPU type (e.g. EPYC-v4, EPYC-Milan, EPYC-Genoa) or a non-zero signature")]
    MissingVcpuSignature,

    #[error("vCPU type {vcpu_type} has signature {expected:#x} but signature {given:#x} was also given; give one or make them agree")]
    VcpuSignatureMismatch {
        vcpu_type: String,
        expected: u32,
        given: u32,
    },

    #[error("unknown vCPU type {name:?}; expected one of: {expected}")]
    UnknownVcpuType { name: String, expected: String },

    #[error("unknown VMM type {name:?}; expected qemu, ec2 or gce")]
    UnknownVmmType { name: String },

    #[error("guest features {text:?} are not a 64-bit number; write them like sev-snp-measure: 0x1, 0x21 (hex with 0x), 33 (decimal), 0b100001")]
    InvalidGuestFeatures { text: String },
}
