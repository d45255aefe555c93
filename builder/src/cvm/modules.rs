//! Checks of the kernel modules a CVM initrd carries, made when the bundle is built: a module built
//! for another kernel, or listed before a module it needs, would only fail inside the booted VM,
//! where all that is seen is a VM that never answers.

use std::io::Read;
use std::path::{Path, PathBuf};

use object::{Object, ObjectSection};

use crate::recipe::PinnedFile;

#[derive(Debug, thiserror::Error)]
pub enum ModuleError {
    #[error("cvm.modules: {path}: {message}")]
    Module { path: PathBuf, message: String },
    #[error("cvm.kernel {path}: {message}")]
    Kernel { path: PathBuf, message: String },
}

/// What `/init` needs to know of a module, from its `.modinfo` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModInfo {
    /// The module's name as the kernel knows it (`virtio_net`).
    pub name: String,
    /// The modules it needs loaded first.
    pub depends: Vec<String>,
    /// The kernel release it was built for: the first word of `vermagic`.
    pub release: String,
}

/// Module names in `depends=` use `_` where file names may use `-` (`sev-guest.ko` is `sev_guest`).
fn canonical(name: &str) -> String {
    name.replace('-', "_")
}

/// Reads a module's `.modinfo` section (NUL-separated `key=value` strings).
pub fn read_modinfo(path: &Path) -> Result<ModInfo, ModuleError> {
    let fail = |message: String| ModuleError::Module {
        path: path.to_owned(),
        message,
    };
    let data = std::fs::read(path).map_err(|e| fail(e.to_string()))?;
    let elf = object::File::parse(&*data).map_err(|e| {
        fail(format!(
            "not an ELF kernel module ({e}); give the uncompressed .ko"
        ))
    })?;
    let section = elf
        .section_by_name(".modinfo")
        .ok_or_else(|| fail("has no .modinfo section: not a kernel module".into()))?;
    let modinfo = section
        .data()
        .map_err(|e| fail(format!("unreadable .modinfo section: {e}")))?;
    let mut name = None;
    let mut depends = Vec::new();
    let mut release = None;
    for entry in modinfo.split(|&b| b == 0) {
        let entry = String::from_utf8_lossy(entry);
        if let Some((key, value)) = entry.split_once('=') {
            match key {
                "name" => name = Some(value.to_owned()),
                "depends" => {
                    depends = value
                        .split(',')
                        .filter(|d| !d.is_empty())
                        .map(canonical)
                        .collect()
                }
                "vermagic" => release = value.split_whitespace().next().map(str::to_owned),
                _ => {}
            }
        }
    }
    let release = release.ok_or_else(|| fail("its .modinfo has no vermagic".into()))?;
    // Modules of kernels before 5.1 carry no `name=`; the kernel then names them after the file.
    let name = name.unwrap_or_else(|| {
        path.file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default()
    });
    Ok(ModInfo {
        name: canonical(&name),
        depends,
        release,
    })
}

/// The release (`uname -r`) of an x86 bzImage, from the `kernel_version` string its setup header
/// points to (Linux boot protocol 2.00+: a 16-bit pointer at 0x20e, relative to 0x200).
pub fn kernel_release(path: &Path) -> Result<String, ModuleError> {
    let fail = |message: String| ModuleError::Kernel {
        path: path.to_owned(),
        message,
    };
    let mut head = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(64 * 1024).read_to_end(&mut head))
        .map_err(|e| fail(e.to_string()))?;
    let not_bzimage = || {
        fail("is not an x86 bzImage with a version string, so the release its modules must be built for is unknown".into())
    };
    if head.get(0x202..0x206) != Some(b"HdrS") {
        return Err(not_bzimage());
    }
    let pointer = u16::from_le_bytes([head[0x20e], head[0x20f]]) as usize;
    if pointer == 0 {
        return Err(not_bzimage());
    }
    let text = head.get(pointer + 0x200..).ok_or_else(not_bzimage)?;
    let end = text.iter().position(|&b| b == 0).unwrap_or(text.len());
    String::from_utf8_lossy(&text[..end])
        .split_whitespace()
        .next()
        .map(str::to_owned)
        .ok_or_else(not_bzimage)
}

/// Checks that every module was built for `release` and comes after the modules it depends on
/// (what `/init` loads in order; a dependency that is built into the kernel is not listed in
/// `depends=`, so every name there must be an earlier module).
pub fn check_order(release: &str, modules: &[(PathBuf, ModInfo)]) -> Result<(), ModuleError> {
    for (i, (path, info)) in modules.iter().enumerate() {
        let fail = |message: String| {
            Err(ModuleError::Module {
                path: path.clone(),
                message,
            })
        };
        if info.release != release {
            return fail(format!(
                "was built for kernel {}, but cvm.kernel is {release}; take the modules from the kernel's own package",
                info.release
            ));
        }
        let earlier = &modules[..i];
        if let Some((duplicate, _)) = earlier.iter().find(|(_, m)| m.name == info.name) {
            return fail(format!(
                "is module {:?} again (already loaded from {})",
                info.name,
                duplicate.display()
            ));
        }
        for dependency in &info.depends {
            if !earlier.iter().any(|(_, m)| &m.name == dependency) {
                let later = modules[i + 1..].iter().any(|(_, m)| &m.name == dependency);
                let fix = if later {
                    "move it before this one in cvm.modules"
                } else {
                    "add it to cvm.modules before this one"
                };
                return fail(format!(
                    "module {} needs {dependency:?} loaded first: {fix}",
                    info.name
                ));
            }
        }
    }
    Ok(())
}

/// Reads and checks the recipe's modules against its kernel (which is not read without modules);
/// their `.modinfo` in the recipe's order.
pub fn check_modules(kernel: &Path, modules: &[PinnedFile]) -> Result<Vec<ModInfo>, ModuleError> {
    if modules.is_empty() {
        return Ok(Vec::new());
    }
    let release = kernel_release(kernel)?;
    let infos = modules
        .iter()
        .map(|m| Ok((m.path.clone(), read_modinfo(&m.path)?)))
        .collect::<Result<Vec<_>, ModuleError>>()?;
    check_order(&release, &infos)?;
    Ok(infos.into_iter().map(|(_, info)| info).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    const NSM_KO: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/fixtures/nitro/blobs-x86_64/nsm.ko"
    );

    fn info(name: &str, depends: &[&str]) -> ModInfo {
        ModInfo {
            name: name.into(),
            depends: depends.iter().map(|d| d.to_string()).collect(),
            release: "6.1.0-57-cloud-amd64".into(),
        }
    }

    fn list(modules: &[ModInfo]) -> Vec<(PathBuf, ModInfo)> {
        modules
            .iter()
            .map(|m| (PathBuf::from(format!("{}.ko", m.name)), m.clone()))
            .collect()
    }

    /// A bzImage setup header with only what `kernel_release` reads.
    fn bzimage(version: &str) -> Vec<u8> {
        let mut image = vec![0u8; 0x400];
        image[0x202..0x206].copy_from_slice(b"HdrS");
        image[0x20e..0x210].copy_from_slice(&0x100u16.to_le_bytes());
        image[0x300..0x300 + version.len()].copy_from_slice(version.as_bytes());
        image
    }

    #[test]
    fn reads_the_modinfo_of_a_real_module() {
        let nsm = read_modinfo(Path::new(NSM_KO)).unwrap();
        assert_eq!(nsm.name, "nsm");
        assert!(nsm.depends.is_empty());
        assert_eq!(nsm.release, "4.14.256-209.484.amzn2.x86_64");
    }

    #[test]
    fn a_module_of_another_kernel_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let kernel = dir.path().join("vmlinuz");
        std::fs::write(
            &kernel,
            bzimage("6.1.0-57-cloud-amd64 (debian-kernel@lists.debian.org) #1 SMP"),
        )
        .unwrap();
        assert_eq!(kernel_release(&kernel).unwrap(), "6.1.0-57-cloud-amd64");
        let nsm = PinnedFile {
            path: NSM_KO.into(),
            sha256: String::new(),
        };
        let err = check_modules(&kernel, std::slice::from_ref(&nsm))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("built for kernel 4.14.256-209.484.amzn2.x86_64")
                && err.contains("cvm.kernel is 6.1.0-57-cloud-amd64"),
            "{err}"
        );
        std::fs::write(&kernel, bzimage("4.14.256-209.484.amzn2.x86_64 #1")).unwrap();
        check_modules(&kernel, &[nsm]).unwrap();
    }

    #[test]
    fn a_kernel_without_a_setup_header_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let kernel = dir.path().join("Image");
        std::fs::write(&kernel, vec![0u8; 0x400]).unwrap();
        let err = kernel_release(&kernel).unwrap_err().to_string();
        assert!(err.contains("not an x86 bzImage"), "{err}");
        // Without modules the kernel is not read at all.
        check_modules(&kernel, &[]).unwrap();
    }

    #[test]
    fn dependencies_come_first() {
        let virtio_chain = [
            info("virtio_ring", &[]),
            info("virtio", &["virtio_ring"]),
            info("failover", &[]),
            info("net_failover", &["failover"]),
            info("virtio_net", &["virtio_ring", "virtio", "net_failover"]),
        ];
        check_order("6.1.0-57-cloud-amd64", &list(&virtio_chain)).unwrap();

        let mut swapped = virtio_chain.clone();
        swapped.swap(2, 3);
        let err = check_order("6.1.0-57-cloud-amd64", &list(&swapped))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("needs \"failover\" loaded first: move it before"),
            "{err}"
        );

        let missing = [info("virtio_net", &["virtio_ring"])];
        let err = check_order("6.1.0-57-cloud-amd64", &list(&missing))
            .unwrap_err()
            .to_string();
        assert!(err.contains("add it to cvm.modules"), "{err}");

        let twice = [info("virtio_ring", &[]), info("virtio_ring", &[])];
        let err = check_order("6.1.0-57-cloud-amd64", &list(&twice))
            .unwrap_err()
            .to_string();
        assert!(err.contains("again"), "{err}");
    }
}
