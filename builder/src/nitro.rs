//! The Nitro Enclave image: nitro-cli's two ramdisks (bootstrap: init + nsm.ko; customer: the
//! rootfs with `cmd` and `env`) as deterministic newc cpio, then the EIF through the measurer's writer.

use std::io::{BufWriter, Write};
use std::path::Path;

use measurer::eif::{rfc3339_from_unix, write_eif, Arch, BuildMetadata, EifMetadata, EifSpec};
use measurer::pcr::NitroPcrs;
use serde::{Deserialize, Serialize};

use crate::archive::Tree;
use crate::archive::{nitro_cmd_and_env, write_bootstrap, write_customer};
use crate::hashing::{BlobDigests, HashingWriter};
use crate::image::RuntimeConfig;
use crate::recipe;

#[derive(Debug, thiserror::Error)]
pub enum NitroError {
    #[error("building the {which} ramdisk: {message}")]
    Ramdisk {
        which: &'static str,
        message: String,
    },
    #[error("writing the EIF: {0}")]
    Eif(#[from] measurer::eif::EifError),
}

/// The EIF and its parts, as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuiltEif {
    pub file: String,
    pub eif: BlobDigests,
    pub bootstrap_ramdisk: BlobDigests,
    pub customer_ramdisk: BlobDigests,
    pub pcrs: NitroPcrs,
    pub cmd: Vec<String>,
    pub env: Vec<String>,
}

fn ramdisk(
    path: &Path,
    which: &'static str,
    write: impl FnOnce(
        HashingWriter<BufWriter<std::fs::File>>,
    ) -> Result<HashingWriter<BufWriter<std::fs::File>>, String>,
) -> Result<BlobDigests, NitroError> {
    let fail = |message: String| NitroError::Ramdisk { which, message };
    let file = std::fs::File::create(path).map_err(|e| fail(format!("{}: {e}", path.display())))?;
    let writer = write(HashingWriter::sha256_only(BufWriter::new(file))).map_err(fail)?;
    let (mut buffered, digests) = writer.finish();
    buffered
        .flush()
        .map_err(|e| fail(format!("{}: {e}", path.display())))?;
    Ok(digests)
}

/// Writes `dir/bootstrap-initrd.img`, `dir/customer-initrd.img` and `dir/<name>.eif`.
pub fn build_eif(
    spec: &recipe::EifSpec,
    rootfs: &Tree,
    runtime: &RuntimeConfig,
    name: &str,
    version: &str,
    source_date_epoch: u64,
    dir: &Path,
) -> Result<BuiltEif, NitroError> {
    let (cmd, env) =
        nitro_cmd_and_env(&runtime.entrypoint, &runtime.cmd, &runtime.env).map_err(|e| {
            NitroError::Ramdisk {
                which: "customer",
                message: e.to_string(),
            }
        })?;
    let bootstrap_path = dir.join("bootstrap-initrd.img");
    let bootstrap = ramdisk(&bootstrap_path, "bootstrap", |w| {
        write_bootstrap(&spec.init.path, &spec.nsm_ko.path, w).map_err(|e| e.to_string())
    })?;
    let customer_path = dir.join("customer-initrd.img");
    let customer = ramdisk(&customer_path, "customer", |w| {
        write_customer(rootfs, &cmd, &env, w).map_err(|e| e.to_string())
    })?;
    let arch = if spec.arch == "aarch64" {
        Arch::Aarch64
    } else {
        Arch::X86_64
    };
    let file = format!("{name}.eif");
    let eif_spec = EifSpec {
        kernel: spec.kernel.path.clone(),
        cmdline: spec.cmdline.clone(),
        ramdisks: vec![bootstrap_path, customer_path],
        arch,
        // Not measured, but part of the file: fixed so the EIF's own digest is reproducible too.
        metadata: EifMetadata {
            image_name: name.to_owned(),
            image_version: version.to_owned(),
            build: BuildMetadata {
                build_time: rfc3339_from_unix(source_date_epoch),
                build_tool: "mpr".to_owned(),
                build_tool_version: env!("CARGO_PKG_VERSION").to_owned(),
                operating_system: "linux".to_owned(),
                kernel_version: String::new(),
            },
            docker_info: serde_json::Value::Null,
            custom: serde_json::Value::Null,
        },
        signing: None,
    };
    let written = write_eif(&eif_spec, &dir.join(&file))?;
    let eif = crate::hashing::sha256_file(&dir.join(&file)).map_err(|e| NitroError::Ramdisk {
        which: "EIF",
        message: e.to_string(),
    })?;
    Ok(BuiltEif {
        file,
        eif,
        bootstrap_ramdisk: bootstrap,
        customer_ramdisk: customer,
        pcrs: written.pcrs,
        cmd,
        env,
    })
}
