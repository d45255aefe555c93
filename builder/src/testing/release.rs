//! A build output directory made by the builder's own writers without Docker or a compiler: the
//! binary's bytes are given instead of compiled, and everything after the compile (rootfs, image,
//! both Nitro ramdisks, the EIF and its PCRs, the CVM initrd and its SEV-SNP launch digests, the
//! record) is what `mpr build` would write. Tests change one input at a time and see which
//! measurements really move.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::archive::{FileData, Node, Tree};
use crate::builder_image::{BuilderImageInputs, ToolchainInputs};
use crate::cvm::build_cvm;
use crate::hashing::digest_bytes;
use crate::image::{write_image, Arch, RuntimeConfig};
use crate::nitro::build_eif;
use crate::recipe::{CvmNetwork, CvmSpec, EifSpec, PinnedFile, SnpSpec};
use crate::record::{
    BuildRecord, FileRecord, ImageRecord, Inputs, Outputs, PinnedInput, PlacedFile, Release, Tool,
    RECORD_FILE,
};

/// Every input of the fixture release that a measurement can depend on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseInputs {
    pub nitro_kernel: Vec<u8>,
    pub nitro_cmdline: String,
    pub init: Vec<u8>,
    pub nsm_ko: Vec<u8>,
    /// Installed at `usr/local/bin/proof-server`.
    pub binary: Vec<u8>,
    /// `[[files]]`: destination and contents.
    pub placed: Vec<(String, Vec<u8>)>,
    pub command: Vec<String>,
    pub env: Vec<String>,
    pub cvm_kernel: Vec<u8>,
    pub cvm_cmdline: String,
    pub busybox: Vec<u8>,
    pub firmware: Vec<u8>,
    pub vcpus: Vec<u32>,
    pub vcpu_type: String,
    pub commit: String,
    pub recipe_sha256: String,
    pub cargo_lock_sha256: String,
    pub source_date_epoch: u64,
}

pub const BINARY_PATH: &str = "usr/local/bin/proof-server";

impl Default for ReleaseInputs {
    fn default() -> Self {
        ReleaseInputs {
            nitro_kernel: b"nitro bzImage".repeat(300),
            nitro_cmdline: "reboot=k panic=30 pci=off nomodules console=ttyS0".to_owned(),
            init: b"nitro init".repeat(100),
            nsm_ko: b"nsm.ko".repeat(100),
            binary: b"\x7fELF proof-server 1.2.0".repeat(200),
            placed: vec![("params/bls_midnight_2p10".to_owned(), b"params".repeat(50))],
            command: vec![
                "/usr/local/bin/proof-server".to_owned(),
                "--port".to_owned(),
                "6300".to_owned(),
            ],
            env: vec!["RUST_LOG=info".to_owned()],
            cvm_kernel: b"cvm vmlinuz".repeat(300),
            cvm_cmdline: "console=ttyS0 panic=-1".to_owned(),
            busybox: b"busybox".repeat(100),
            firmware: measurer::snp::testing::synthetic_firmware(),
            vcpus: vec![2, 4],
            vcpu_type: "EPYC-Milan".to_owned(),
            commit: "1".repeat(40),
            recipe_sha256: "2".repeat(64),
            cargo_lock_sha256: "3".repeat(64),
            source_date_epoch: 1_700_000_000,
        }
    }
}

fn pinned(dir: &Path, name: &str, bytes: &[u8]) -> Result<PinnedFile, String> {
    let path = dir.join(name);
    std::fs::write(&path, bytes).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(PinnedFile {
        path,
        sha256: digest_bytes(bytes).sha256,
    })
}

fn recorded(field: &str, file: &PinnedFile) -> PinnedInput {
    PinnedInput {
        field: field.to_owned(),
        file_name: file
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        sha256: file.sha256.clone(),
    }
}

/// Writes the release's output directory at `out` (`build-record.json`, `image/`, `eif/`, `cvm/`)
/// and returns its record.
pub fn write_release(inputs: &ReleaseInputs, out: &Path) -> Result<BuildRecord, String> {
    let work = tempfile::tempdir().map_err(|e| e.to_string())?;
    let blobs = work.path();
    let sde = inputs.source_date_epoch;
    let kernel = pinned(blobs, "bzImage", &inputs.nitro_kernel)?;
    let init = pinned(blobs, "init", &inputs.init)?;
    let nsm_ko = pinned(blobs, "nsm.ko", &inputs.nsm_ko)?;
    let cvm_kernel = pinned(blobs, "vmlinuz", &inputs.cvm_kernel)?;
    let busybox = pinned(blobs, "busybox", &inputs.busybox)?;
    let ovmf = pinned(blobs, "OVMF.amdsev.fd", &inputs.firmware)?;

    let bytes = |data: &[u8]| FileData::Bytes(Arc::from(data));
    let mut rootfs = Tree::new();
    let fail = |e: crate::archive::TreeError| e.to_string();
    rootfs
        .insert(BINARY_PATH, Node::file(bytes(&inputs.binary), 0o755, sde))
        .map_err(fail)?;
    for (dest, data) in &inputs.placed {
        rootfs
            .insert(dest, Node::file(bytes(data), 0o644, sde))
            .map_err(fail)?;
    }
    rootfs.set_all_mtimes(sde);
    let runtime = RuntimeConfig {
        cmd: inputs.command.clone(),
        env: inputs.env.clone(),
        ..RuntimeConfig::default()
    };

    let dirs: [PathBuf; 3] = [out.join("image"), out.join("eif"), out.join("cvm")];
    for dir in &dirs[1..] {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    let image = write_image(
        &rootfs,
        &runtime,
        sde,
        Arch::Amd64,
        "fixture:1.0.0",
        &dirs[0],
    )
    .map_err(|e| e.to_string())?;
    let eif_spec = EifSpec {
        kernel: kernel.clone(),
        init: init.clone(),
        nsm_ko: nsm_ko.clone(),
        cmdline: inputs.nitro_cmdline.clone(),
        command: None,
        arch: "x86_64".to_owned(),
    };
    let eif = build_eif(
        &eif_spec, &rootfs, &runtime, "fixture", "1.0.0", sde, &dirs[1],
    )
    .map_err(|e| e.to_string())?;
    let cvm_spec = CvmSpec {
        kernel: cvm_kernel.clone(),
        busybox: busybox.clone(),
        cmdline: inputs.cvm_cmdline.clone(),
        command: None,
        modules: Vec::new(),
        network: CvmNetwork::None,
    };
    let snp = SnpSpec {
        ovmf: ovmf.clone(),
        vcpus: inputs.vcpus.clone(),
        vcpu_type: inputs.vcpu_type.clone(),
        vmm: "qemu".to_owned(),
        guest_features: "0x1".to_owned(),
    };
    let cvm = build_cvm(&cvm_spec, &[snp], &rootfs, &runtime, sde, &dirs[2])
        .map_err(|e| e.to_string())?;

    let record = BuildRecord {
        schema: crate::record::RECORD_SCHEMA,
        tool: Tool {
            name: "mpr".to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
        },
        release: Release {
            name: "fixture".to_owned(),
            version: "1.0.0".to_owned(),
        },
        inputs: Inputs {
            recipe_sha256: inputs.recipe_sha256.clone(),
            repository: "https://github.com/mpr-dev/mpr".to_owned(),
            commit: inputs.commit.clone(),
            source_date_epoch: sde,
            cargo_lock_sha256: inputs.cargo_lock_sha256.clone(),
            source_archive: digest_bytes(inputs.commit.as_bytes()),
            builder_image: format!("sha256:{}", "4".repeat(64)),
            builder_image_inputs: BuilderImageInputs {
                suite: "bookworm".to_owned(),
                mirror: "http://deb.debian.org/debian".to_owned(),
                snapshot: None,
                requested_packages: Vec::new(),
                installed_packages: Vec::new(),
                source_date_epoch: 0,
                toolchain: ToolchainInputs {
                    version: "rustc 1.94.1".to_owned(),
                    commit_hash: "5".repeat(40),
                    host: "x86_64-unknown-linux-gnu".to_owned(),
                    sha256: "6".repeat(64),
                },
            },
            package: "prover".to_owned(),
            binary: "proof-server".to_owned(),
            build_env: vec!["CARGO_BUILD_JOBS_UNSET=1".to_owned()],
            files: vec![
                recorded("eif.kernel", &kernel),
                recorded("eif.init", &init),
                recorded("eif.nsm_ko", &nsm_ko),
                recorded("cvm.kernel", &cvm_kernel),
                recorded("cvm.busybox", &busybox),
                recorded("snp[0].ovmf", &ovmf),
            ],
            placed_files: inputs
                .placed
                .iter()
                .map(|(dest, data)| PlacedFile {
                    dest: dest.clone(),
                    mode: 0o644,
                    size: data.len() as u64,
                    sha256: digest_bytes(data).sha256,
                    url: None,
                })
                .collect(),
        },
        outputs: Outputs {
            binary: FileRecord {
                path: BINARY_PATH.to_owned(),
                digests: digest_bytes(&inputs.binary),
            },
            libraries: Vec::new(),
            image: ImageRecord {
                reference: image.reference,
                config_digest: image.config_digest,
                manifest_digest: image.manifest_digest,
                layer: image.layer,
                archive: image.archive,
                launch: crate::record::ContainerLaunch::of(&runtime),
            },
            eif: Some(eif),
            cvm: Some(cvm),
            uki: None,
        },
    };
    std::fs::write(out.join(RECORD_FILE), record.to_json())
        .map_err(|e| format!("writing the record: {e}"))?;
    Ok(record)
}
