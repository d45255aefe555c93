//! The direct-boot confidential VM bundle: the recipe's kernel, an initrd holding the same rootfs
//! plus a busybox `/init`, and the command line; measured for every SEV-SNP launch configuration of
//! the recipe (with direct boot, OVMF hashes kernel, initrd and command line into the launch digest).

use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::Arc;

use measurer::snp::{
    launch_digest, Firmware, GuestFeatures, KernelInputs, SnpMeasurement, SnpParams, VcpuType,
    VmmType,
};
use serde::{Deserialize, Serialize};

use crate::archive::{write_tree_newc, FileData, NewcConventions, Node, Tree};
use crate::hashing::{sha256_file, BlobDigests, HashingWriter};
use crate::image::RuntimeConfig;
use crate::recipe::{self, CvmNetwork};

mod init;
mod modules;

pub use init::{init_script, DHCP_SCRIPT};
pub use modules::{check_modules, kernel_release, read_modinfo, ModInfo, ModuleError};

/// Linux ignores inode numbers and devices in an initramfs; start them at 1 like GNU cpio does.
const INITRD_CONVENTIONS: NewcConventions = NewcConventions {
    first_ino: 1,
    dev_major: 0,
    dev_minor: 0,
};

#[derive(Debug, thiserror::Error)]
pub enum CvmError {
    #[error("the CVM bundle: {0}")]
    Bundle(String),
    #[error(transparent)]
    Module(#[from] ModuleError),
    #[error("SEV-SNP measurement ({config}): {source}")]
    Snp {
        config: String,
        #[source]
        source: measurer::snp::SnpError,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuiltCvm {
    pub kernel: BlobDigests,
    pub initrd: BlobDigests,
    pub cmdline: String,
    pub snp: Vec<SnpMeasurement>,
}

/// The initrd's tree: the rootfs plus busybox, the modules (checked against the kernel), the DHCP
/// script when asked for, and `/init`.
pub fn initrd_tree(
    spec: &recipe::CvmSpec,
    rootfs: &Tree,
    runtime: &RuntimeConfig,
    source_date_epoch: u64,
) -> Result<Tree, CvmError> {
    let modules = check_modules(&spec.kernel.path, &spec.modules)?;
    let on_disk = |path: &Path, mode: u32| -> Result<Node, CvmError> {
        let size = std::fs::metadata(path)
            .map_err(|e| CvmError::Bundle(format!("{}: {e}", path.display())))?
            .len();
        let data = FileData::Disk {
            path: path.to_owned(),
            size,
        };
        Ok(Node::file(data, mode, source_date_epoch))
    };
    let bytes = |text: &str, mode: u32| {
        let data = FileData::Bytes(Arc::from(text.as_bytes()));
        Node::file(data, mode, source_date_epoch)
    };
    let mut module_names = Vec::new();
    let mut entries = vec![(
        "bin/busybox".to_owned(),
        on_disk(&spec.busybox.path, 0o755)?,
    )];
    // Named by the module's own name, not the input's file name (which staging may change).
    for (module, info) in spec.modules.iter().zip(&modules) {
        let name = format!("{}.ko", info.name);
        let node = on_disk(&module.path, 0o644)?;
        entries.push((format!("{}/{name}", init::MODULE_DIR), node));
        module_names.push(name);
    }
    if spec.network == CvmNetwork::Dhcp {
        entries.push((init::DHCP_SCRIPT_PATH.to_owned(), bytes(DHCP_SCRIPT, 0o755)));
    }
    let script = init_script(runtime, &module_names, spec.network)?;
    entries.push(("init".to_owned(), bytes(&script, 0o755)));
    for (path, mode) in [
        ("proc", 0o555),
        ("sys", 0o555),
        ("dev", 0o755),
        ("run", 0o755),
    ] {
        entries.push((path.to_owned(), Node::dir(mode, source_date_epoch)));
    }
    let mut initrd = rootfs.clone();
    for (path, node) in entries {
        initrd
            .insert(&path, node)
            .map_err(|e| CvmError::Bundle(format!("{path}: {e}")))?;
    }
    initrd.set_all_mtimes(source_date_epoch);
    Ok(initrd)
}

/// Writes `dir/vmlinuz`, `dir/initrd.img` and `dir/cmdline`, and measures them.
pub fn build_cvm(
    spec: &recipe::CvmSpec,
    snp: &[recipe::SnpSpec],
    rootfs: &Tree,
    runtime: &RuntimeConfig,
    source_date_epoch: u64,
    dir: &Path,
) -> Result<BuiltCvm, CvmError> {
    let fail = |what: &str, e: &dyn std::fmt::Display| CvmError::Bundle(format!("{what}: {e}"));
    let initrd = initrd_tree(spec, rootfs, runtime, source_date_epoch)?;

    let kernel_path = dir.join("vmlinuz");
    std::fs::copy(&spec.kernel.path, &kernel_path).map_err(|e| fail("copying the kernel", &e))?;
    let kernel = sha256_file(&kernel_path).map_err(|e| fail("the kernel", &e))?;
    let initrd_path = dir.join("initrd.img");
    let file = std::fs::File::create(&initrd_path).map_err(|e| fail("initrd.img", &e))?;
    let writer = write_tree_newc(
        &initrd,
        HashingWriter::sha256_only(BufWriter::new(file)),
        INITRD_CONVENTIONS,
    )
    .map_err(|e| fail("writing initrd.img", &e))?;
    let (mut buffered, initrd_digests) = writer.finish();
    buffered
        .flush()
        .map_err(|e| fail("writing initrd.img", &e))?;
    std::fs::write(dir.join("cmdline"), &spec.cmdline).map_err(|e| fail("cmdline", &e))?;

    let mut measurements = Vec::new();
    for config in snp {
        measurements.extend(measure(config, &kernel_path, &initrd_path, &spec.cmdline)?);
    }
    Ok(BuiltCvm {
        kernel,
        initrd: initrd_digests,
        cmdline: spec.cmdline.clone(),
        snp: measurements,
    })
}

fn measure(
    config: &recipe::SnpSpec,
    kernel: &Path,
    initrd: &Path,
    cmdline: &str,
) -> Result<Vec<SnpMeasurement>, CvmError> {
    let name = format!("{} with {}", config.ovmf.path.display(), config.vcpu_type);
    let snp_err = |source| CvmError::Snp {
        config: name.clone(),
        source,
    };
    let firmware = Firmware::open(&config.ovmf.path).map_err(snp_err)?;
    let vcpu_type: VcpuType = config.vcpu_type.parse().map_err(snp_err)?;
    let vmm: VmmType = config.vmm.parse().map_err(snp_err)?;
    let features: GuestFeatures = config.guest_features.parse().map_err(snp_err)?;
    let mut out = Vec::new();
    for &vcpus in &config.vcpus {
        let mut params = SnpParams::new(vcpus, vmm);
        params.vcpu_type = Some(vcpu_type);
        params.guest_features = features;
        params.kernel = Some(KernelInputs {
            kernel: kernel.to_owned(),
            initrd: Some(initrd.to_owned()),
            append: Some(cmdline.to_owned()),
        });
        out.push(launch_digest(&firmware, &params).map_err(snp_err)?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::archive::NodeKind;
    use crate::recipe::{Recipe, RecipeError};

    fn recipe(cvm_extra: &str) -> Result<Recipe, RecipeError> {
        let text = format!(
            r#"
schema = 1
name = "fixture"
version = "1.0.0"
[builder]
image = "sha256:{zeros}"
[runtime]
entrypoint = ["/usr/local/bin/fixture"]
[cvm]
cmdline = "console=ttyS0"
kernel = {{ path = "vmlinuz", sha256 = "{zeros}" }}
busybox = {{ path = "/bin/busybox", sha256 = "{zeros}" }}
{cvm_extra}
"#,
            zeros = "0".repeat(64)
        );
        Recipe::parse(&text, Path::new("r.toml"), Path::new("/recipes"))
    }

    #[test]
    fn modules_and_network_default_to_none() {
        let cvm = recipe("").unwrap().cvm.unwrap();
        assert!(cvm.modules.is_empty());
        assert_eq!(cvm.network, CvmNetwork::None);
    }

    #[test]
    fn modules_are_pinned_anchored_and_checked() {
        let sha = "a".repeat(64);
        let parsed = recipe(&format!(
            "network = \"dhcp\"\nmodules = [{{ path = \"mods/virtio.ko\", sha256 = \"{sha}\" }}, {{ path = \"/k/virtio_net.ko\", sha256 = \"{sha}\" }}]"
        ))
        .unwrap();
        let cvm = parsed.cvm.as_ref().unwrap();
        assert_eq!(cvm.network, CvmNetwork::Dhcp);
        assert_eq!(cvm.modules[0].path, Path::new("/recipes/mods/virtio.ko"));
        assert_eq!(cvm.modules[1].path, Path::new("/k/virtio_net.ko"));
        let pinned: Vec<String> = parsed.pinned_files().into_iter().map(|(f, _)| f).collect();
        assert!(pinned.contains(&"cvm.modules[1]".to_owned()), "{pinned:?}");

        let bad_sha = recipe("modules = [{ path = \"virtio.ko\", sha256 = \"abc\" }]");
        let err = bad_sha.unwrap_err().to_string();
        assert!(err.contains("cvm.modules[0]"), "{err}");

        let xz = recipe(&format!(
            "modules = [{{ path = \"virtio.ko.xz\", sha256 = \"{sha}\" }}]"
        ));
        let err = xz.unwrap_err().to_string();
        assert!(err.contains("not a kernel module file named *.ko"), "{err}");

        let twice = recipe(&format!(
            "modules = [{{ path = \"a/virtio.ko\", sha256 = \"{sha}\" }}, {{ path = \"b/virtio.ko\", sha256 = \"{sha}\" }}]"
        ));
        let err = twice.unwrap_err().to_string();
        assert!(err.contains("two files named \"virtio.ko\""), "{err}");

        let err = recipe("network = \"static\"").unwrap_err().to_string();
        assert!(err.contains("`none`") && err.contains("`dhcp`"), "{err}");
    }

    #[test]
    fn the_initrd_carries_modules_and_the_dhcp_script() {
        // AWS's nsm.ko (a real module) with a kernel whose setup header names its release.
        let dir = tempfile::tempdir().unwrap();
        let module = dir.path().join("007-nsm.ko");
        std::fs::copy(
            concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../shared/fixtures/nitro/blobs-x86_64/nsm.ko"
            ),
            &module,
        )
        .unwrap();
        let kernel = dir.path().join("vmlinuz");
        let mut setup = vec![0u8; 0x400];
        setup[0x202..0x206].copy_from_slice(b"HdrS");
        setup[0x20e..0x210].copy_from_slice(&0x100u16.to_le_bytes());
        let release = b"4.14.256-209.484.amzn2.x86_64 #1";
        setup[0x300..0x300 + release.len()].copy_from_slice(release);
        std::fs::write(&kernel, setup).unwrap();
        let mut spec = recipe("").unwrap().cvm.unwrap();
        spec.kernel.path = kernel;
        spec.modules = vec![recipe::PinnedFile {
            path: module,
            sha256: String::new(),
        }];
        spec.network = CvmNetwork::Dhcp;
        let runtime = RuntimeConfig {
            entrypoint: vec!["/usr/local/bin/fixture".into()],
            ..RuntimeConfig::default()
        };
        let tree = initrd_tree(&spec, &Tree::new(), &runtime, 7).unwrap();
        let module = tree
            .get("lib/modules/nsm.ko")
            .expect("the module, by its own name");
        assert!(matches!(module.kind, NodeKind::File(_)) && module.mode == 0o644);
        let dhcp = tree
            .get("usr/share/udhcpc/default.script")
            .expect("the DHCP script");
        assert_eq!(
            dhcp.kind,
            NodeKind::File(FileData::Bytes(Arc::from(DHCP_SCRIPT.as_bytes())))
        );
        let Some(NodeKind::File(FileData::Bytes(init))) = tree.get("init").map(|n| &n.kind) else {
            panic!("no /init");
        };
        let init = std::str::from_utf8(init).unwrap();
        assert!(init.contains("insmod '/lib/modules/nsm.ko'"), "{init}");

        spec.network = CvmNetwork::None;
        let tree = initrd_tree(&spec, &Tree::new(), &runtime, 7).unwrap();
        assert!(tree.get("usr/share/udhcpc/default.script").is_none());
    }
}
