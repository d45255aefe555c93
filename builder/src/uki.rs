//! The measured boot disk for GCP and Azure confidential VMs: a unified kernel image (systemd-stub,
//! the CVM bundle's kernel and initrd, command line, os-release) on a GPT disk that boots it as
//! the default loader, in the formats both clouds import, with the vTPM PCRs its boot produces.
//!
//! On these clouds the hardware report covers the provider's firmware or paravisor; what binds our
//! code is measured boot into the vTPM, so the PCRs (predicted by [`measurer::uki`]) are what a
//! wallet compares.

mod cloud;
mod disk;
mod esp;
mod pe;

use std::io::Write;
use std::path::Path;

use measurer::uki::{predict_vtpm_pcrs, VtpmPrediction};
use serde::{Deserialize, Serialize};

pub use cloud::{append_vhd_footer, write_gcp_image};
pub use disk::{disk_size, write_disk, DiskIdentity, DEFAULT_LOADER, DISK_SIZE_UNIT};
pub use pe::{append_sections, NewSection, PeError};

use crate::hashing::{sha256_file, BlobDigests};
use crate::recipe::UkiSpec;

/// File names in the output's `uki/` directory.
pub const UKI_FILE: &str = "prover.efi";
pub const DISK_FILE: &str = "disk.raw";
pub const GCP_IMAGE_FILE: &str = "gcp-disk.tar.gz";
pub const AZURE_VHD_FILE: &str = "azure-disk.vhd";

#[derive(Debug, thiserror::Error)]
pub enum UkiError {
    #[error("the UKI: {0}")]
    Pe(#[from] PeError),
    #[error(transparent)]
    Disk(#[from] disk::DiskError),
    #[error("predicting the vTPM PCRs: {0}")]
    Predict(#[from] measurer::uki::UkiError),
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> UkiError {
    let what = what.into();
    move |source| UkiError::Io { what, source }
}

/// What `[uki]` produced: the files and the PCRs their boot yields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuiltUki {
    /// The stub's own version string (`systemd-stub 252.39-1~deb12u2`).
    pub stub: String,
    pub stub_sha256: String,
    pub cmdline: String,
    pub os_release: String,
    pub uki: BlobDigests,
    pub disk: BlobDigests,
    pub gcp_image: BlobDigests,
    pub azure_vhd: BlobDigests,
    pub vtpm: VtpmPrediction,
}

/// The os-release the UKI carries when the recipe gives none: names the release, so `.osrel` (and
/// so PCR 11) differs between releases even when nothing else does.
pub fn default_os_release(name: &str, version: &str) -> String {
    format!(
        "ID=mpr-{name}\nNAME=\"{name} (mpr measured boot image)\"\nVERSION_ID=\"{version}\"\nPRETTY_NAME=\"{name} {version}\"\n"
    )
}

/// Builds `dir/prover.efi`, `dir/disk.raw`, `dir/gcp-disk.tar.gz` and `dir/azure-disk.vhd` from the
/// CVM bundle's `kernel` and `initrd`, and predicts their vTPM PCRs.
pub fn build_uki(
    spec: &UkiSpec,
    kernel: &Path,
    initrd: &Path,
    cmdline: &str,
    os_release: &str,
    source_date_epoch: u64,
    dir: &Path,
) -> Result<BuiltUki, UkiError> {
    let read = |path: &Path| std::fs::read(path).map_err(io(path.display().to_string()));
    let stub = read(&spec.stub.path)?;
    let kernel_bytes = read(kernel)?;
    let initrd_bytes = read(initrd)?;
    // The order ukify uses; systemd-stub finds sections by name, so only the bytes depend on it.
    let image = append_sections(
        &stub,
        &[
            NewSection {
                name: ".osrel",
                data: os_release.as_bytes(),
            },
            NewSection {
                name: ".cmdline",
                data: cmdline.as_bytes(),
            },
            NewSection {
                name: ".initrd",
                data: &initrd_bytes,
            },
            NewSection {
                name: ".linux",
                data: &kernel_bytes,
            },
        ],
    )?;
    drop((kernel_bytes, initrd_bytes));
    let uki_path = dir.join(UKI_FILE);
    write_file(&uki_path, &image)?;
    let uki = sha256_file(&uki_path).map_err(io(UKI_FILE))?;
    let vtpm = predict_vtpm_pcrs(&uki_path)?;

    let identity = DiskIdentity::new(source_date_epoch, &uki.sha256);
    let size = disk_size(image.len() as u64, spec.disk_size_gib)?;
    let disk_path = dir.join(DISK_FILE);
    write_disk(&disk_path, size, &image, &identity, source_date_epoch)?;
    let gcp_path = dir.join(GCP_IMAGE_FILE);
    write_gcp_image(&disk_path, &gcp_path, source_date_epoch).map_err(io(GCP_IMAGE_FILE))?;
    let vhd_path = dir.join(AZURE_VHD_FILE);
    write_disk(&vhd_path, size, &image, &identity, source_date_epoch)?;
    let vhd_id = *identity.guid("azure vhd").as_bytes();
    append_vhd_footer(&vhd_path, vhd_id, source_date_epoch).map_err(io(AZURE_VHD_FILE))?;
    Ok(BuiltUki {
        stub: vtpm.stub.clone(),
        stub_sha256: spec.stub.sha256.clone(),
        cmdline: cmdline.to_owned(),
        os_release: os_release.to_owned(),
        uki,
        disk: sha256_file(&disk_path).map_err(io(DISK_FILE))?,
        gcp_image: sha256_file(&gcp_path).map_err(io(GCP_IMAGE_FILE))?,
        azure_vhd: sha256_file(&vhd_path).map_err(io(AZURE_VHD_FILE))?,
        vtpm,
    })
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<(), UkiError> {
    let mut file = std::fs::File::create(path).map_err(io(path.display().to_string()))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(io(path.display().to_string()))
}
