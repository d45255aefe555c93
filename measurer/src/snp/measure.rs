//! The launch digest itself: firmware pages, metadata sections, kernel hashes and VMSAs, in the order
//! QEMU/KVM (or EC2, GCE) hands them to the secure processor.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::gctx::{Gctx, PageType, VMSA_GPA};
use super::kernel_hashes::KernelHashes;
use super::metadata::{MetadataSection, SectionType};
use super::vmsa::{vmsa_page_hash, VcpuReset, BSP_EIP};
use super::{Firmware, GuestFeatures, SnpError, VcpuType, VmmType};
use crate::sha384::sha384;
use crate::Digest384;

/// KVM accepts more, but no SEV-SNP host offers a guest this many; a larger count is a typo.
pub const MAX_VCPUS: u32 = 512;

/// A direct-boot kernel, measured through the firmware's kernel-hashes page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KernelInputs {
    pub kernel: PathBuf,
    pub initrd: Option<PathBuf>,
    /// The kernel command line exactly as passed to QEMU's `-append` (spaces are significant).
    pub append: Option<String>,
}

/// Everything besides the firmware that the launch digest depends on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnpParams {
    pub vcpus: u32,
    /// QEMU's CPU model; when given, its signature is used (and `vcpu_sig`, if non-zero, must agree).
    pub vcpu_type: Option<VcpuType>,
    /// The CPUID signature in a QEMU vCPU's RDX at reset; 0 means "take it from `vcpu_type`".
    /// EC2 and GCE ignore it (they put 0x600 there).
    pub vcpu_sig: u32,
    pub vmm: VmmType,
    pub guest_features: GuestFeatures,
    pub kernel: Option<KernelInputs>,
    /// A digest of the firmware pages computed elsewhere (`--snp-ovmf-hash`), used instead of hashing
    /// the image; the image is still parsed for its metadata and reset block.
    pub ovmf_hash: Option<Digest384>,
}

impl SnpParams {
    /// `vcpus` vCPUs under `vmm`, default guest features (0x1), no kernel, no vCPU model yet.
    pub fn new(vcpus: u32, vmm: VmmType) -> SnpParams {
        SnpParams {
            vcpus,
            vcpu_type: None,
            vcpu_sig: 0,
            vmm,
            guest_features: GuestFeatures::DEFAULT,
            kernel: None,
            ovmf_hash: None,
        }
    }
}

/// A launch digest and every input it was computed from, to publish next to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnpMeasurement {
    pub digest: Digest384,
    /// Hex SHA-256 of the firmware image.
    pub firmware_sha256: String,
    pub firmware_size: u64,
    pub vcpus: u32,
    /// The signature used, as `0x` hex (only QEMU guests' digests depend on it).
    pub vcpu_sig: String,
    pub vcpu_type: Option<VcpuType>,
    pub vmm: VmmType,
    pub guest_features: GuestFeatures,
    /// Hex SHA-256 values of the boot files, when a kernel was measured.
    pub kernel_sha256: Option<String>,
    pub initrd_sha256: Option<String>,
    pub append: Option<String>,
    /// The firmware-pages digest the computation started from, when one was given.
    pub ovmf_hash: Option<Digest384>,
}

/// The firmware-only digest, `sev-snp-measure --mode snp:ovmf-hash`: what `--snp-ovmf-hash` takes.
pub fn ovmf_hash(firmware: &Firmware) -> Digest384 {
    firmware.pages_digest()
}

/// The SEV-SNP launch digest of a guest, identical to `sev-snp-measure --mode snp` 0.0.13, except that it
/// refuses inputs the Python tool silently measures wrongly (see [`SnpError`]), with the record of
/// everything it was computed from.
pub fn launch_digest(firmware: &Firmware, params: &SnpParams) -> Result<SnpMeasurement, SnpError> {
    let computed = compute(firmware, params, true)?;
    let kernel_hashes = computed.kernel_hashes.as_ref();
    let kernel_inputs = params.kernel.as_ref();
    Ok(SnpMeasurement {
        digest: computed.digest,
        firmware_sha256: hex::encode(firmware.sha256()),
        firmware_size: firmware.len() as u64,
        vcpus: params.vcpus,
        vcpu_sig: format!("{:#x}", computed.vcpu_signature),
        vcpu_type: params.vcpu_type,
        vmm: params.vmm,
        guest_features: params.guest_features,
        kernel_sha256: kernel_hashes.map(|hashes| hex::encode(hashes.kernel)),
        initrd_sha256: kernel_hashes
            .zip(kernel_inputs.and_then(|inputs| inputs.initrd.as_ref()))
            .map(|(hashes, _)| hex::encode(hashes.initrd)),
        append: kernel_inputs.and_then(|inputs| inputs.append.clone()),
        ovmf_hash: params.ovmf_hash,
    })
}

/// [`launch_digest`] without the record: skips the firmware's SHA-256 (a fifth of the work on a 2 MiB
/// image), for callers that only print the digest.
pub fn launch_digest_only(firmware: &Firmware, params: &SnpParams) -> Result<Digest384, SnpError> {
    compute(firmware, params, false).map(|computed| computed.digest)
}

struct Computed {
    digest: Digest384,
    vcpu_signature: u32,
    kernel_hashes: Option<KernelHashes>,
}

fn compute(
    firmware: &Firmware,
    params: &SnpParams,
    with_firmware_sha256: bool,
) -> Result<Computed, SnpError> {
    if params.vcpus == 0 || params.vcpus > MAX_VCPUS {
        return Err(SnpError::VcpuCount {
            vcpus: params.vcpus,
            max: MAX_VCPUS,
        });
    }
    let vcpu_signature = resolve_vcpu_signature(params)?;
    if params.vcpus > 1 && firmware.ap_reset_eip() == 0 {
        return Err(SnpError::ZeroApResetAddress);
    }
    let kernel_hashes = match &params.kernel {
        Some(inputs) => Some(kernel_hashes_page(firmware, inputs)?),
        None => None,
    };

    let mut gctx = match params.ovmf_hash {
        Some(seed) => Gctx::from_seed(seed),
        None if with_firmware_sha256 => Gctx::from_seed(firmware.pages_digest_and_sha256().0),
        None => Gctx::from_seed(firmware.pages_digest()),
    };
    let kernel_page_hash = kernel_hashes.as_ref().map(|(_, page_hash)| page_hash);
    for section in firmware.sections() {
        measure_section(&mut gctx, section, params.vmm, kernel_page_hash);
    }
    if params.vmm == VmmType::Ec2 {
        // EC2 adds the CPUID pages after every other section.
        for section in firmware
            .sections()
            .iter()
            .filter(|section| section.kind == SectionType::Cpuid)
        {
            gctx.update(PageType::Cpuid, section.gpa(), &[0; 48]);
        }
    }
    measure_vmsas(&mut gctx, firmware, params, vcpu_signature);
    Ok(Computed {
        digest: gctx.launch_digest(),
        vcpu_signature,
        kernel_hashes: kernel_hashes.map(|(hashes, _)| hashes),
    })
}

/// The signature that goes into QEMU vCPUs' RDX, from the model or the explicit value.
fn resolve_vcpu_signature(params: &SnpParams) -> Result<u32, SnpError> {
    match params.vcpu_type {
        Some(vcpu_type) => {
            let expected = vcpu_type.signature();
            if params.vcpu_sig != 0 && params.vcpu_sig != expected {
                return Err(SnpError::VcpuSignatureMismatch {
                    vcpu_type: vcpu_type.to_string(),
                    expected,
                    given: params.vcpu_sig,
                });
            }
            Ok(expected)
        }
        None if params.vmm == VmmType::Qemu && params.vcpu_sig == 0 => {
            Err(SnpError::MissingVcpuSignature)
        }
        None => Ok(params.vcpu_sig),
    }
}

/// Hashes the boot files and returns them with the SHA-384 of the kernel-hashes page, after checking
/// that the firmware has somewhere to put them.
fn kernel_hashes_page(
    firmware: &Firmware,
    inputs: &KernelInputs,
) -> Result<(KernelHashes, [u8; 48]), SnpError> {
    let sections: Vec<&MetadataSection> = firmware
        .sections()
        .iter()
        .filter(|section| section.kind == SectionType::SnpKernelHashes)
        .collect();
    if sections.is_empty() {
        return Err(SnpError::NoKernelHashesTable {
            reason: "its SEV metadata has no SNP_KERNEL_HASHES section",
        });
    }
    let table_gpa = match firmware.kernel_hashes_table_gpa() {
        None => return Err(SnpError::NoKernelHashesTable {
            reason:
                "its GUID table has no SEV hash table entry (7255371f-3a3b-4b04-927b-1da6efa8d454)",
        }),
        Some(0) => {
            return Err(SnpError::NoKernelHashesTable {
                reason: "its SEV hash table entry has address 0",
            })
        }
        Some(gpa) => gpa,
    };
    if let Some(section) = sections
        .iter()
        .find(|section| section.size() != super::gctx::PAGE_SIZE)
    {
        return Err(SnpError::KernelHashesSectionSize { size: section.size });
    }
    let hashes = KernelHashes::compute(
        &inputs.kernel,
        inputs.initrd.as_deref(),
        inputs.append.as_deref(),
    )?;
    let page = hashes.page(table_gpa & 0xFFF)?;
    let page_hash = sha384(&page);
    Ok((hashes, page_hash))
}

/// Adds one metadata section the way the VMM does.
fn measure_section(
    gctx: &mut Gctx,
    section: &MetadataSection,
    vmm: VmmType,
    kernel_page_hash: Option<&[u8; 48]>,
) {
    match section.kind {
        // GCE does not pre-validate the scratch memory; it only reserves it.
        SectionType::SnpSecMem if vmm == VmmType::Gce => {
            gctx.update_empty_pages(PageType::Unmeasured, section.gpa(), section.size())
        }
        SectionType::SnpSecMem | SectionType::SvsmCaa => {
            gctx.update_empty_pages(PageType::Zero, section.gpa(), section.size())
        }
        SectionType::SnpSecrets => gctx.update(PageType::Secrets, section.gpa(), &[0; 48]),
        SectionType::Cpuid if vmm == VmmType::Ec2 => {}
        SectionType::Cpuid => gctx.update(PageType::Cpuid, section.gpa(), &[0; 48]),
        SectionType::SnpKernelHashes => match kernel_page_hash {
            Some(page_hash) => gctx.update(PageType::Normal, section.gpa(), page_hash),
            None => gctx.update_empty_pages(PageType::Zero, section.gpa(), section.size()),
        },
    }
}

/// One VMSA page per vCPU. All APs share one VMSA, so only two pages are ever hashed.
fn measure_vmsas(gctx: &mut Gctx, firmware: &Firmware, params: &SnpParams, vcpu_signature: u32) {
    let reset = |eip| VcpuReset {
        eip,
        vmm: params.vmm,
        vcpu_signature,
        guest_features: params.guest_features,
    };
    gctx.update(PageType::Vmsa, VMSA_GPA, &vmsa_page_hash(&reset(BSP_EIP)));
    if params.vcpus > 1 {
        let ap_hash = vmsa_page_hash(&reset(firmware.ap_reset_eip()));
        for _ in 1..params.vcpus {
            gctx.update(PageType::Vmsa, VMSA_GPA, &ap_hash);
        }
    }
}
