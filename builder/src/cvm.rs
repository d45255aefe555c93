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
use crate::recipe;

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

/// Quotes a word for the init script (POSIX sh single quotes).
fn quote(word: &str) -> String {
    format!("'{}'", word.replace('\'', r"'\''"))
}

/// The `/init` script: mount what the kernel does not (configfs carries the TSM attestation
/// interface the prover reads), apply the image's environment and working directory, then run the
/// image's command. When it ends, for any reason, the VM powers off: init exiting would panic the
/// kernel instead.
pub fn init_script(runtime: &RuntimeConfig) -> Result<String, CvmError> {
    let mut argv = runtime.entrypoint.clone();
    argv.extend(runtime.cmd.iter().cloned());
    if argv.is_empty() {
        return Err(CvmError::Bundle(
            "the runtime config has neither entrypoint nor cmd: nothing to start".into(),
        ));
    }
    let mut script = String::from(
        "#!/bin/busybox sh\n\
         /bin/busybox mkdir -p /proc /sys /dev /run /tmp\n\
         /bin/busybox mount -t proc proc /proc\n\
         /bin/busybox mount -t sysfs sysfs /sys\n\
         /bin/busybox mount -t devtmpfs devtmpfs /dev\n\
         /bin/busybox mount -t configfs configfs /sys/kernel/config || true\n\
         /bin/busybox mount -t tmpfs tmpfs /run\n\
         /bin/busybox ip link set lo up || true\n",
    );
    for var in &runtime.env {
        if !var.contains('=') {
            return Err(CvmError::Bundle(format!(
                "environment entry {var:?} is not NAME=value"
            )));
        }
        script.push_str(&format!("export {}\n", quote(var)));
    }
    if let Some(dir) = &runtime.working_dir {
        script.push_str(&format!("cd {}\n", quote(dir)));
    }
    let command: Vec<String> = argv.iter().map(|w| quote(w)).collect();
    let command = command.join(" ");
    // The VM is single-purpose and Debian's static busybox has no uid-switching applet, so the
    // command runs as root there; the OCI image applies `user`.
    script.push_str(&format!("{command}\n/bin/busybox poweroff -f\n"));
    Ok(script)
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
    let mut initrd = rootfs.clone();
    let busybox_size = std::fs::metadata(&spec.busybox.path)
        .map_err(|e| fail("busybox", &e))?
        .len();
    let busybox = FileData::Disk {
        path: spec.busybox.path.clone(),
        size: busybox_size,
    };
    let script = init_script(runtime)?;
    let entries = [
        ("bin/busybox", Node::file(busybox, 0o755, source_date_epoch)),
        (
            "init",
            Node::file(
                FileData::Bytes(Arc::from(script.as_bytes())),
                0o755,
                source_date_epoch,
            ),
        ),
        ("proc", Node::dir(0o555, source_date_epoch)),
        ("sys", Node::dir(0o555, source_date_epoch)),
        ("dev", Node::dir(0o755, source_date_epoch)),
        ("run", Node::dir(0o755, source_date_epoch)),
    ];
    for (path, node) in entries {
        initrd.insert(path, node).map_err(|e| fail(path, &e))?;
    }
    initrd.set_all_mtimes(source_date_epoch);

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

    #[test]
    fn init_script_quotes_every_word() {
        let runtime = RuntimeConfig {
            entrypoint: vec!["/usr/local/bin/proof-server".into()],
            cmd: vec!["--port".into(), "6300".into(), "it's".into()],
            env: vec!["RUST_LOG=info".into()],
            user: Some("65534:65534".into()),
            ..RuntimeConfig::default()
        };
        let script = init_script(&runtime).unwrap();
        assert!(script.starts_with("#!/bin/busybox sh\n"));
        assert!(script.contains("export 'RUST_LOG=info'\n"));
        assert!(script.contains(
            "'/usr/local/bin/proof-server' '--port' '6300' 'it'\\''s'\n/bin/busybox poweroff -f\n"
        ));
    }

    #[test]
    fn nothing_to_run_is_an_error() {
        assert!(init_script(&RuntimeConfig::default()).is_err());
    }
}
