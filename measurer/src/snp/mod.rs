//! SEV-SNP launch digests: what the AMD secure processor reports as MEASUREMENT for a guest started
//! from an OVMF image (optionally with a direct-boot kernel, initrd and command line), computed bit for
//! bit like `sev-snp-measure --mode snp` 0.0.13 for QEMU, EC2 and GCE.
//!
//! [`Firmware::parse`] validates the image once; [`launch_digest`] then measures any number of
//! parameter sets against it, hashing the firmware pages only the first time.

mod cpu;
mod error;
mod footer;
mod gctx;
mod guid;
mod image_hashing;
mod kernel_hashes;
mod measure;
mod metadata;
mod ovmf;
mod params;
mod vmsa;

#[doc(hidden)]
pub mod testing;

pub use cpu::{vcpu_signature, VcpuType};
pub use error::SnpError;
pub use footer::MAX_FOOTER_ENTRIES;
pub use kernel_hashes::MAX_BOOT_FILE_SIZE;
pub use measure::{
    launch_digest, launch_digest_only, ovmf_hash, KernelInputs, SnpMeasurement, SnpParams,
    MAX_VCPUS,
};
pub use metadata::{MetadataSection, SectionType, MAX_METADATA_SECTIONS};
pub use ovmf::Firmware;
pub use params::{parse_python_int, GuestFeatures, VmmType};
