//! The build recipe: a versioned TOML file that pins every input of a build, so that the same recipe
//! gives the same bytes on any machine. Relative paths are relative to the recipe file.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::archive::{nitro_cmd_and_env, Tree};
use crate::hashing::digest_bytes;
use crate::image::RuntimeConfig;

/// The only schema this version reads; bump it when a field changes meaning.
pub const SCHEMA: u32 = 1;

/// Recipes are hand-written text; anything near this size is a mistake.
const MAX_RECIPE_BYTES: u64 = 1 << 20;

/// The latest SOURCE_DATE_EPOCH a recipe may pin: 9999-12-31T23:59:59Z, the last time an RFC 3339
/// build time (the EIF's metadata) can name.
pub const MAX_SOURCE_DATE_EPOCH: u64 = 253_402_300_799;
/// The largest `[uki] disk_size_gib`: the Azure VHD is written out in full.
pub const MAX_DISK_SIZE_GIB: u64 = 64;

#[derive(Debug, thiserror::Error)]
pub enum RecipeError {
    #[error("cannot read recipe {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("recipe {path} is {size} bytes; recipes are limited to {MAX_RECIPE_BYTES} bytes")]
    TooLarge { path: PathBuf, size: u64 },
    #[error("recipe {path}: {message}")]
    Syntax { path: PathBuf, message: String },
    #[error("recipe {path} has schema {found}; this mpr reads schema {SCHEMA} (upgrade mpr or rewrite the recipe)")]
    Schema { path: PathBuf, found: u32 },
    #[error("recipe: {field}: {message}")]
    Invalid { field: String, message: String },
    #[error("recipe: {what} {path}: {source}")]
    Pin {
        what: String,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("recipe: {what} {path} has SHA-256 {actual}, but the recipe pins {expected}; restore the pinned file, or put the new SHA-256 in the recipe if the change is intended")]
    PinMismatch {
        what: String,
        path: PathBuf,
        expected: String,
        actual: String,
    },
}

/// A recipe as written in TOML.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recipe {
    pub schema: u32,
    /// Release name; also the image repository name.
    pub name: String,
    pub version: String,
    #[serde(default)]
    pub source: SourceSpec,
    pub builder: BuilderSpec,
    pub runtime: RuntimeConfig,
    pub eif: Option<EifSpec>,
    pub cvm: Option<CvmSpec>,
    /// The measured boot disk for GCP and Azure confidential VMs, made from the CVM bundle.
    pub uki: Option<UkiSpec>,
    /// SEV-SNP launch configurations to measure the CVM bundle for.
    #[serde(default)]
    pub snp: Vec<SnpSpec>,
    /// Extra files (public parameters, keys, modules) placed in the image, the EIF and the CVM.
    #[serde(default)]
    pub files: Vec<FileSpec>,
    /// The recipe's directory, against which relative paths were resolved.
    #[serde(skip)]
    pub base: PathBuf,
}

/// What to build. The default is the repository the recipe lives in, at HEAD, package `prover`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceSpec {
    /// A git repository (path or URL); relative paths are relative to the recipe.
    #[serde(default = "default_repository")]
    pub repository: String,
    /// A full commit hash, or a name (`HEAD`, a tag) resolved once and recorded as a hash.
    #[serde(default = "default_commit")]
    pub commit: String,
    /// The cargo package to build and its binary.
    #[serde(default = "default_package")]
    pub package: String,
    #[serde(default = "default_binary")]
    pub binary: String,
    /// Where the binary goes in the image.
    #[serde(default = "default_install_path")]
    pub install_path: String,
    /// Default: the commit's committer time.
    pub source_date_epoch: Option<u64>,
    /// The repository's canonical URL, recorded and published as the release's source; default:
    /// `repository` when it is a URL, else the local clone's `origin` remote.
    pub url: Option<String>,
}

fn default_repository() -> String {
    ".".into()
}
fn default_commit() -> String {
    "HEAD".into()
}
fn default_package() -> String {
    "prover".into()
}
fn default_binary() -> String {
    "proof-server".into()
}
fn default_install_path() -> String {
    "usr/local/bin/proof-server".into()
}

impl Default for SourceSpec {
    fn default() -> Self {
        SourceSpec {
            repository: default_repository(),
            commit: default_commit(),
            package: default_package(),
            binary: default_binary(),
            install_path: default_install_path(),
            source_date_epoch: None,
            url: None,
        }
    }
}

/// The pinned builder image and the compiler settings that make the binary reproducible.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BuilderSpec {
    /// An image ID (`sha256:…`, as `mpr builder-image create` prints) or `name@sha256:…`.
    pub image: String,
    /// A fixed number: a count derived from the machine's cores would change the code generated.
    #[serde(default = "default_codegen_units")]
    pub codegen_units: u32,
    /// Extra RUSTFLAGS, after the reproducibility flags mpr always sets.
    #[serde(default)]
    pub rustflags: Vec<String>,
}

fn default_codegen_units() -> u32 {
    1
}

/// A file input pinned by its SHA-256.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PinnedFile {
    pub path: PathBuf,
    pub sha256: String,
}

/// A file placed in the root file system of every output, pinned by its SHA-256 and taken from a
/// local `path` or fetched from `url` in the fetch stage (into a content-addressed cache).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSpec {
    /// Where it goes, relative to the root: `params/bls_midnight_2p10`.
    pub dest: String,
    pub sha256: String,
    pub path: Option<PathBuf>,
    pub url: Option<String>,
    /// Permission bits (`0o644`, `0o755`).
    #[serde(default = "default_file_mode")]
    pub mode: u32,
}

fn default_file_mode() -> u32 {
    0o644
}

/// The Nitro Enclave image: nitro-cli's blob set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EifSpec {
    pub kernel: PinnedFile,
    pub init: PinnedFile,
    pub nsm_ko: PinnedFile,
    /// The kernel command line as nitro-cli passes it (its blob without the trailing newline).
    pub cmdline: String,
    /// The enclave's command, when it differs from the image's (e.g. a vsock listener): the EIF is
    /// then what nitro-cli makes of the image with this as its only `Cmd`.
    pub command: Option<Vec<String>>,
    #[serde(default = "default_arch")]
    pub arch: String,
}

fn default_arch() -> String {
    "x86_64".into()
}

/// The direct-boot confidential VM bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CvmSpec {
    pub kernel: PinnedFile,
    /// A static busybox: the initrd's `/init` is a busybox script that mounts the kernel file
    /// systems (configfs included, for TSM attestation reports) and execs the runtime command.
    pub busybox: PinnedFile,
    pub cmdline: String,
    /// The command `/init` runs, when the VM should run another than the image's entrypoint + cmd
    /// (e.g. TLS on); measured, as it is part of the initrd.
    pub command: Option<Vec<String>>,
    /// Kernel modules for what the kernel does not build in (Debian's cloud kernel has virtio,
    /// virtio-net and configfs as modules): placed under `/lib/modules/` in the initrd and loaded
    /// by `/init` in this order, so each module's dependencies come before it.
    #[serde(default, deserialize_with = "module_list")]
    pub modules: Vec<PinnedFile>,
    /// How `/init` configures the network before it starts the command.
    #[serde(default)]
    pub network: CvmNetwork,
}

/// `[uki]`: a unified kernel image of the CVM bundle on a bootable GPT disk (GCP and Azure).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UkiSpec {
    /// systemd-stub (Debian bookworm's `systemd-boot-efi`: `/usr/lib/systemd/boot/efi/linuxx64.efi.stub`).
    pub stub: PinnedFile,
    /// The command line the UKI carries (and the kernel measures into PCR 9); default: `[cvm]`'s.
    pub cmdline: Option<String>,
    /// The `.osrel` section; default: an os-release naming the release (`ID=mpr-<name>`, its version).
    pub os_release: Option<String>,
    /// The disk's size in GiB (clouds import whole GiB); default: the smallest that holds the UKI.
    pub disk_size_gib: Option<u64>,
}

/// The CVM's network set-up.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CvmNetwork {
    /// Only the loopback interface.
    #[default]
    None,
    /// `eth0` configured by DHCP (busybox udhcpc), as cloud VMs are.
    Dhcp,
}

/// `cvm.modules`: each a `.ko` file (busybox insmod takes no compressed modules), and no two with
/// one file name, since they share `/lib/modules/`.
fn module_list<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<PinnedFile>, D::Error> {
    use serde::de::Error;
    let modules = Vec::<PinnedFile>::deserialize(d)?;
    let mut names = std::collections::BTreeSet::new();
    for module in &modules {
        match module.path.file_name().and_then(|n| n.to_str()) {
            Some(name) if name.len() > 3 && name.ends_with(".ko") => {
                if !names.insert(name) {
                    return Err(D::Error::custom(format!(
                        "cvm.modules lists two files named {name:?}; they would share /lib/modules/{name} in the initrd"
                    )));
                }
            }
            _ => {
                return Err(D::Error::custom(format!(
                    "cvm.modules: {:?} is not a kernel module file named *.ko (decompress .ko.xz or .ko.zst modules first)",
                    module.path
                )))
            }
        }
    }
    Ok(modules)
}

/// One SEV-SNP launch configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnpSpec {
    pub ovmf: PinnedFile,
    pub vcpus: Vec<u32>,
    pub vcpu_type: String,
    #[serde(default = "default_vmm")]
    pub vmm: String,
    #[serde(default = "default_guest_features")]
    pub guest_features: String,
}

fn default_vmm() -> String {
    "qemu".into()
}
fn default_guest_features() -> String {
    "0x1".into()
}

impl Recipe {
    /// Reads and checks a recipe; relative paths in it are made absolute against its directory.
    pub fn load(path: &Path) -> Result<Recipe, RecipeError> {
        let read = |source| RecipeError::Read {
            path: path.to_owned(),
            source,
        };
        let size = std::fs::metadata(path).map_err(read)?.len();
        if size > MAX_RECIPE_BYTES {
            return Err(RecipeError::TooLarge {
                path: path.to_owned(),
                size,
            });
        }
        let text = std::fs::read_to_string(path).map_err(read)?;
        let base = path.parent().unwrap_or(Path::new("."));
        Recipe::parse(&text, path, base)
    }

    /// Parses recipe text; `origin` names it in errors, `base` anchors relative paths.
    pub fn parse(text: &str, origin: &Path, base: &Path) -> Result<Recipe, RecipeError> {
        // The schema is checked before the rest so that a newer recipe gets a clear message rather
        // than an "unknown field" one.
        #[derive(Deserialize)]
        struct SchemaOnly {
            schema: Option<u32>,
        }
        let syntax = |e: toml::de::Error| RecipeError::Syntax {
            path: origin.to_owned(),
            message: e.to_string(),
        };
        let found = toml::from_str::<SchemaOnly>(text).map_err(syntax)?.schema;
        match found {
            Some(SCHEMA) => {}
            Some(found) => {
                return Err(RecipeError::Schema {
                    path: origin.to_owned(),
                    found,
                })
            }
            None => {
                return Err(RecipeError::Invalid {
                    field: "schema".into(),
                    message: format!("missing; start the recipe with `schema = {SCHEMA}`"),
                })
            }
        }
        let mut recipe: Recipe = toml::from_str(text).map_err(syntax)?;
        recipe.anchor(base);
        recipe.validate()?;
        Ok(recipe)
    }

    fn anchor(&mut self, base: &Path) {
        let anchor = |file: &mut PinnedFile| {
            if file.path.is_relative() {
                file.path = base.join(&file.path);
            }
        };
        if let Some(eif) = &mut self.eif {
            anchor(&mut eif.kernel);
            anchor(&mut eif.init);
            anchor(&mut eif.nsm_ko);
        }
        if let Some(cvm) = &mut self.cvm {
            anchor(&mut cvm.kernel);
            anchor(&mut cvm.busybox);
            cvm.modules.iter_mut().for_each(anchor);
        }
        if let Some(uki) = &mut self.uki {
            anchor(&mut uki.stub);
        }
        for snp in &mut self.snp {
            anchor(&mut snp.ovmf);
        }
        for file in &mut self.files {
            if let Some(path) = file.path.as_mut().filter(|p| p.is_relative()) {
                *path = base.join(&*path);
            }
        }
        self.base = base.to_owned();
    }

    /// Where git finds the source: a URL as written, a path made absolute against the recipe's
    /// directory. (The record keeps the recipe's own spelling, which is the same on every machine.)
    pub fn repository_location(&self) -> String {
        let repository = &self.source.repository;
        let is_url = repository.contains("://") || repository.contains('@');
        if is_url || Path::new(repository).is_absolute() {
            repository.clone()
        } else {
            self.base.join(repository).display().to_string()
        }
    }

    fn validate(&self) -> Result<(), RecipeError> {
        let invalid = |field: &str, message: String| {
            Err(RecipeError::Invalid {
                field: field.into(),
                message,
            })
        };
        let name_ok = |s: &str| {
            !s.is_empty()
                && s.len() <= 128
                && s.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
        };
        if !name_ok(&self.name) {
            return invalid(
                "name",
                format!(
                    "{:?} must be 1-128 of [a-z0-9._-] (it names the image)",
                    self.name
                ),
            );
        }
        if !name_ok(&self.version.to_ascii_lowercase()) {
            return invalid(
                "version",
                format!(
                    "{:?} must be 1-128 of [A-Za-z0-9._-] (it tags the image)",
                    self.version
                ),
            );
        }
        if let Some(epoch) = self
            .source
            .source_date_epoch
            .filter(|epoch| *epoch > MAX_SOURCE_DATE_EPOCH)
        {
            return invalid(
                "source.source_date_epoch",
                format!("{epoch} is after 9999-12-31T23:59:59Z ({MAX_SOURCE_DATE_EPOCH}), the last time an RFC 3339 build time can name; leave it out to use the commit's time"),
            );
        }
        let image = &self.builder.image;
        let pinned = image.rsplit_once("sha256:").is_some_and(|(prefix, hex)| {
            (prefix.is_empty() || prefix.ends_with('@')) && is_hex(hex, 64)
        });
        if !pinned {
            return invalid(
                "builder.image",
                format!("{image:?} is not pinned: give the image ID `sha256:<64 hex>` printed by `mpr builder-image create`, or `name@sha256:<64 hex>`"),
            );
        }
        if !(1..=256).contains(&self.builder.codegen_units) {
            return invalid(
                "builder.codegen_units",
                format!("{} is not in 1..=256", self.builder.codegen_units),
            );
        }
        if Tree::clean_path(&self.source.install_path).is_err() {
            return invalid(
                "source.install_path",
                format!("{:?} must be a relative path inside the image, like usr/local/bin/proof-server", self.source.install_path),
            );
        }
        for (field, file) in self.pinned_files() {
            if !is_hex(&file.sha256, 64) {
                return invalid(
                    &field,
                    format!("sha256 {:?} is not 64 lowercase hex digits", file.sha256),
                );
            }
        }
        if let Some(eif) = &self.eif {
            if eif.arch != "x86_64" && eif.arch != "aarch64" {
                return invalid(
                    "eif.arch",
                    format!("{:?} is neither x86_64 nor aarch64", eif.arch),
                );
            }
        }
        for (i, snp) in self.snp.iter().enumerate() {
            if snp.vcpus.is_empty() {
                return invalid(
                    &format!("snp[{i}].vcpus"),
                    "list at least one vCPU count".into(),
                );
            }
        }
        if !self.snp.is_empty() && self.cvm.is_none() {
            return invalid(
                "snp",
                "SEV-SNP measurements need a [cvm] bundle to measure".into(),
            );
        }
        self.validate_uki()?;
        self.validate_files()?;
        self.validate_commands()
    }

    fn validate_uki(&self) -> Result<(), RecipeError> {
        let Some(uki) = &self.uki else {
            return Ok(());
        };
        let invalid = |field: &str, message: String| {
            Err(RecipeError::Invalid {
                field: field.into(),
                message,
            })
        };
        let Some(cvm) = &self.cvm else {
            return invalid(
                "uki",
                "the UKI is made of the [cvm] bundle's kernel and initrd: add a [cvm] section"
                    .into(),
            );
        };
        let cmdline = uki.cmdline.as_deref().unwrap_or(&cvm.cmdline);
        if cmdline.trim().is_empty() || cmdline.contains(['\0', '\n']) {
            return invalid(
                "uki.cmdline",
                format!("{cmdline:?} must be one non-empty line: systemd-stub passes it to the kernel up to the first NUL, and the kernel measures it into PCR 9"),
            );
        }
        if let Some(os_release) = &uki.os_release {
            if !os_release.lines().any(|l| l.starts_with("ID=")) {
                return invalid(
                    "uki.os_release",
                    "an os-release needs an ID= line (see os-release(5))".into(),
                );
            }
        }
        if uki.disk_size_gib == Some(0) {
            return invalid(
                "uki.disk_size_gib",
                "a disk of 0 GiB holds nothing; leave it out for the smallest that fits".into(),
            );
        }
        if let Some(size) = uki.disk_size_gib.filter(|size| *size > MAX_DISK_SIZE_GIB) {
            return invalid(
                "uki.disk_size_gib",
                format!("{size} GiB is over the {MAX_DISK_SIZE_GIB} GiB limit: the Azure VHD is written out in full; a prover's disk needs 1"),
            );
        }
        Ok(())
    }

    fn validate_files(&self) -> Result<(), RecipeError> {
        let mut dests = std::collections::BTreeSet::new();
        for (i, file) in self.files.iter().enumerate() {
            let field = format!("files[{i}]");
            let invalid = |message: String| {
                Err(RecipeError::Invalid {
                    field: field.clone(),
                    message,
                })
            };
            let Ok(dest) = Tree::clean_path(&file.dest) else {
                return invalid(format!(
                    "dest {:?} must be a relative path inside the root file system, like params/bls_midnight_2p10",
                    file.dest
                ));
            };
            if dest == Tree::clean_path(&self.source.install_path).unwrap_or_default() {
                return invalid(format!("dest {dest:?} is where the binary goes"));
            }
            if !dests.insert(dest.to_owned()) {
                return invalid(format!("dest {dest:?} is given twice"));
            }
            if !is_hex(&file.sha256, 64) {
                return invalid(format!(
                    "sha256 {:?} is not 64 lowercase hex digits",
                    file.sha256
                ));
            }
            if file.mode > 0o777 {
                return invalid(format!(
                    "mode {:#o} has bits beyond 0o777 (no setuid, setgid or sticky files)",
                    file.mode
                ));
            }
            match (&file.path, &file.url) {
                (Some(_), None) => {}
                (None, Some(url)) if url.starts_with("https://") || url.starts_with("http://") => {}
                (None, Some(url)) => {
                    return invalid(format!("url {url:?} is neither https:// nor http://"))
                }
                _ => return invalid("give exactly one of `path` (a local file) and `url`".into()),
            }
        }
        Ok(())
    }

    /// nitro-cli puts only the image's `Cmd` (when set, else its `Entrypoint`) into the enclave, so a
    /// recipe whose image sets both would measure an enclave that runs something else than the image.
    fn validate_commands(&self) -> Result<(), RecipeError> {
        let platforms = [
            (
                "eif.command",
                self.eif.as_ref().and_then(|e| e.command.as_ref()),
            ),
            (
                "cvm.command",
                self.cvm.as_ref().and_then(|c| c.command.as_ref()),
            ),
        ];
        for (field, command) in platforms {
            if command.is_some_and(|c| c.is_empty()) {
                return Err(RecipeError::Invalid {
                    field: field.into(),
                    message: "is empty; leave it out to run the image's command".into(),
                });
            }
        }
        let Some(eif) = &self.eif else { return Ok(()) };
        let runtime = self.runtime_with(eif.command.as_ref());
        let image_runs: Vec<String> = runtime
            .entrypoint
            .iter()
            .chain(&runtime.cmd)
            .cloned()
            .collect();
        let enclave_runs = nitro_cmd_and_env(&runtime.entrypoint, &runtime.cmd, &runtime.env)
            .map(|(cmd, _)| cmd)
            .unwrap_or_default();
        if enclave_runs != image_runs {
            return Err(RecipeError::Invalid {
                field: "eif".into(),
                message: format!(
                    "the enclave would run {enclave_runs:?} while the image runs {image_runs:?}: \
                     nitro-cli puts the image's Cmd into the EIF when it is set, else its Entrypoint, \
                     never both. Put the whole command in [runtime] entrypoint and leave cmd empty, \
                     or give the enclave its own with [eif] command = [...]"
                ),
            });
        }
        Ok(())
    }

    /// The runtime configuration of the OCI image with a platform's own command, if it has one.
    fn runtime_with(&self, command: Option<&Vec<String>>) -> RuntimeConfig {
        let mut runtime = self.runtime.clone();
        if let Some(command) = command {
            runtime.entrypoint = Vec::new();
            runtime.cmd = command.clone();
        }
        runtime
    }

    /// What the enclave runs: nitro-cli's view of an image with the enclave's command.
    pub fn eif_runtime(&self) -> RuntimeConfig {
        self.runtime_with(self.eif.as_ref().and_then(|e| e.command.as_ref()))
    }

    /// What the CVM's `/init` runs.
    pub fn cvm_runtime(&self) -> RuntimeConfig {
        self.runtime_with(self.cvm.as_ref().and_then(|c| c.command.as_ref()))
    }

    /// The recipe's SHA-256 as recorded: of its [canonical text](Recipe::canonical_text).
    pub fn canonical_sha256(&self, repository_url: &str) -> String {
        digest_bytes(self.canonical_text(repository_url).as_bytes()).sha256
    }

    /// The recipe as recorded and published: its canonical JSON with every pinned file named by
    /// its file name (its digest is beside it) and the source by its canonical URL, so that it is
    /// the same wherever the recipe, its files and the clone sit.
    pub fn canonical_text(&self, repository_url: &str) -> String {
        fn by_name(value: &mut serde_json::Value) {
            match value {
                serde_json::Value::Object(map) => {
                    if map.contains_key("sha256") {
                        if let Some(serde_json::Value::String(path)) = map.get_mut("path") {
                            let name = Path::new(path.as_str())
                                .file_name()
                                .map(|n| n.to_string_lossy().into_owned())
                                .unwrap_or_default();
                            *path = name;
                        }
                    }
                    map.values_mut().for_each(by_name);
                }
                serde_json::Value::Array(items) => items.iter_mut().for_each(by_name),
                _ => {}
            }
        }
        let mut value = serde_json::to_value(self).expect("a recipe serialises");
        by_name(&mut value);
        value["source"]["repository"] = repository_url.into();
        value["source"]["url"] = serde_json::Value::Null;
        // Keys sorted whatever serde_json's map order is in this build (a dependency can turn on
        // its `preserve_order`): the text, and the digest recorded from it, never depend on it.
        value.sort_all_objects();
        value.to_string()
    }

    /// A recipe from its canonical text (as the registry stores it, see
    /// [`Recipe::canonical_text`]) made buildable here: the source is fetched from `source` (a
    /// clone or mirror; default the canonical URL, which stays the recorded one) and every file
    /// pinned by name is taken from `files` (its digest is checked when it is read, as always).
    /// The result's canonical text is the one it was made from.
    pub fn from_canonical(
        text: &str,
        source: Option<&str>,
        files: &Path,
    ) -> Result<Recipe, RecipeError> {
        let origin = Path::new("the registry's canonical recipe");
        if text.len() as u64 > MAX_RECIPE_BYTES {
            return Err(RecipeError::TooLarge {
                path: origin.to_owned(),
                size: text.len() as u64,
            });
        }
        let mut recipe: Recipe = serde_json::from_str(text).map_err(|e| RecipeError::Syntax {
            path: origin.to_owned(),
            message: format!("not a canonical recipe (JSON): {e}"),
        })?;
        let canonical_url = recipe.source.repository.clone();
        if let Some(source) = source {
            recipe.source.repository = source.to_owned();
        }
        recipe.source.url = Some(canonical_url);
        for (_, file) in recipe.pinned_files_mut() {
            file.path = files.join(&file.path);
        }
        for file in &mut recipe.files {
            if let Some(path) = &mut file.path {
                *path = files.join(&*path);
            }
        }
        recipe.base = files.to_owned();
        // The registry's text is outside data: held to the rules a recipe file is.
        recipe.validate()?;
        Ok(recipe)
    }

    /// The recipe as TOML (for [`Recipe::load`]); paths are written as they are.
    pub fn to_toml(&self) -> String {
        // Every field is a string, number, bool, list or table with string keys: cannot fail.
        toml::to_string(self).expect("a recipe serialises to TOML")
    }

    /// Every pinned file input with the field that names it.
    pub fn pinned_files(&self) -> Vec<(String, &PinnedFile)> {
        let mut files = Vec::new();
        if let Some(eif) = &self.eif {
            files.push(("eif.kernel".to_owned(), &eif.kernel));
            files.push(("eif.init".to_owned(), &eif.init));
            files.push(("eif.nsm_ko".to_owned(), &eif.nsm_ko));
        }
        if let Some(cvm) = &self.cvm {
            files.push(("cvm.kernel".to_owned(), &cvm.kernel));
            files.push(("cvm.busybox".to_owned(), &cvm.busybox));
            for (i, module) in cvm.modules.iter().enumerate() {
                files.push((format!("cvm.modules[{i}]"), module));
            }
        }
        if let Some(uki) = &self.uki {
            files.push(("uki.stub".to_owned(), &uki.stub));
        }
        for (i, snp) in self.snp.iter().enumerate() {
            files.push((format!("snp[{i}].ovmf"), &snp.ovmf));
        }
        files
    }

    /// The same files as [`Recipe::pinned_files`], to point them at staged copies.
    pub fn pinned_files_mut(&mut self) -> Vec<(String, &mut PinnedFile)> {
        let mut files = Vec::new();
        if let Some(eif) = &mut self.eif {
            files.push(("eif.kernel".to_owned(), &mut eif.kernel));
            files.push(("eif.init".to_owned(), &mut eif.init));
            files.push(("eif.nsm_ko".to_owned(), &mut eif.nsm_ko));
        }
        if let Some(cvm) = &mut self.cvm {
            files.push(("cvm.kernel".to_owned(), &mut cvm.kernel));
            files.push(("cvm.busybox".to_owned(), &mut cvm.busybox));
            for (i, module) in cvm.modules.iter_mut().enumerate() {
                files.push((format!("cvm.modules[{i}]"), module));
            }
        }
        if let Some(uki) = &mut self.uki {
            files.push(("uki.stub".to_owned(), &mut uki.stub));
        }
        for (i, snp) in self.snp.iter_mut().enumerate() {
            files.push((format!("snp[{i}].ovmf"), &mut snp.ovmf));
        }
        files
    }
}

fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
schema = 1
name = "fixture"
version = "1.0.0"
[builder]
image = "sha256:0000000000000000000000000000000000000000000000000000000000000000"
[runtime]
entrypoint = ["/usr/local/bin/fixture"]
"#;

    fn parse(text: &str) -> Result<Recipe, RecipeError> {
        Recipe::parse(text, Path::new("r.toml"), Path::new("/recipes"))
    }

    #[test]
    fn defaults_build_the_in_repo_prover() {
        let recipe = parse(MINIMAL).unwrap();
        assert_eq!(recipe.source.package, "prover");
        assert_eq!(recipe.source.commit, "HEAD");
        assert_eq!(recipe.source.repository, ".");
        assert_eq!(recipe.repository_location(), "/recipes/.");
        assert_eq!(recipe.builder.codegen_units, 1);
    }

    #[test]
    fn newer_schemas_and_unpinned_images_are_refused() {
        let newer = MINIMAL.replace("schema = 1", "schema = 2\nfuture = true");
        assert!(matches!(
            parse(&newer),
            Err(RecipeError::Schema { found: 2, .. })
        ));
        let tag = MINIMAL.replace(
            "sha256:0000000000000000000000000000000000000000000000000000000000000000",
            "rust:1.95",
        );
        let err = parse(&tag).unwrap_err().to_string();
        assert!(err.contains("not pinned"), "{err}");
        let digest = MINIMAL.replace(
            "image = \"sha256:",
            "image = \"rust:1.95-slim-bookworm@sha256:",
        );
        parse(&digest).unwrap();
    }

    #[test]
    fn unknown_fields_and_bad_pins_are_named() {
        let typo = MINIMAL.replace("[runtime]", "[runtime]\nentrypiont = []");
        let err = parse(&typo).unwrap_err().to_string();
        assert!(err.contains("entrypiont"), "{err}");
        let bad_pin = format!(
            "{MINIMAL}[cvm]\ncmdline = \"console=ttyS0\"\nkernel = {{ path = \"k\", sha256 = \"abc\" }}\nbusybox = {{ path = \"b\", sha256 = \"abc\" }}\n"
        );
        let err = parse(&bad_pin).unwrap_err().to_string();
        assert!(err.contains("cvm.kernel"), "{err}");
    }

    #[test]
    fn pins_are_checked_against_the_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("k"), b"kernel").unwrap();
        std::fs::write(dir.path().join("b"), b"busybox").unwrap();
        let sha = |b: &[u8]| crate::hashing::digest_bytes(b).sha256;
        let text = format!(
            "{MINIMAL}[cvm]\ncmdline = \"console=ttyS0\"\nkernel = {{ path = \"k\", sha256 = \"{}\" }}\nbusybox = {{ path = \"b\", sha256 = \"{}\" }}\n",
            sha(b"kernel"),
            sha(b"other")
        );
        let mut recipe = Recipe::parse(&text, Path::new("r.toml"), dir.path()).unwrap();
        let staged = dir.path().join("staged");
        let err = crate::inputs::stage(&mut recipe, &staged, dir.path()).unwrap_err();
        assert!(
            matches!(err, crate::inputs::InputError::Pin(RecipeError::PinMismatch { ref what, .. }) if what == "cvm.busybox"),
            "{err}"
        );
        // The kernel was copied (it matched); the mismatching busybox copy is gone.
        let names: Vec<_> = std::fs::read_dir(&staged)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names, ["001-k"]);
    }

    const EIF: &str = r#"
[eif]
kernel = { path = "k", sha256 = "0000000000000000000000000000000000000000000000000000000000000000" }
init = { path = "i", sha256 = "0000000000000000000000000000000000000000000000000000000000000000" }
nsm_ko = { path = "n", sha256 = "0000000000000000000000000000000000000000000000000000000000000000" }
cmdline = "console=ttyS0"
"#;

    #[test]
    fn an_enclave_that_would_run_something_else_than_the_image_is_refused() {
        let both = MINIMAL.replace(
            "entrypoint = [\"/usr/local/bin/fixture\"]",
            "entrypoint = [\"/usr/local/bin/fixture\"]\ncmd = [\"--port\", \"6300\"]",
        );
        let err = parse(&format!("{both}{EIF}")).unwrap_err().to_string();
        assert!(err.contains("nitro-cli puts the image's Cmd"), "{err}");
        assert!(err.contains(r#"["--port", "6300"]"#), "{err}");
        assert!(err.contains("[eif] command"), "{err}");
        // Without an EIF there is nothing to refuse; with the enclave's own command it is measured.
        parse(&both).unwrap();
        let own = format!(
            "{both}{EIF}command = [\"/usr/local/bin/fixture\", \"--listen\", \"vsock:6300\"]\n"
        );
        let recipe = parse(&own).unwrap();
        let enclave = recipe.eif_runtime();
        assert_eq!(
            crate::archive::nitro_cmd_and_env(&enclave.entrypoint, &enclave.cmd, &enclave.env)
                .unwrap()
                .0,
            ["/usr/local/bin/fixture", "--listen", "vsock:6300"]
        );
        assert_eq!(recipe.cvm_runtime(), recipe.runtime);
        let empty = format!("{both}{EIF}command = []\n");
        let err = parse(&empty).unwrap_err().to_string();
        assert!(err.contains("eif.command"), "{err}");
    }

    #[test]
    fn files_are_checked() {
        let file = |body: &str| format!("{MINIMAL}[[files]]\n{body}\n");
        let sha = "sha256 = \"0000000000000000000000000000000000000000000000000000000000000000\"";
        let ok = parse(&file(&format!(
            "dest = \"params/p\"\n{sha}\nurl = \"https://example.invalid/p\""
        )))
        .unwrap();
        assert_eq!(ok.files[0].mode, 0o644);
        for (body, expected) in [
            (
                format!("dest = \"/etc/p\"\n{sha}\npath = \"p\""),
                "relative path",
            ),
            (format!("dest = \"p\"\n{sha}"), "exactly one of"),
            (
                format!("dest = \"p\"\n{sha}\npath = \"p\"\nurl = \"https://x/p\""),
                "exactly one of",
            ),
            (
                format!("dest = \"p\"\n{sha}\nurl = \"ftp://x/p\""),
                "neither https",
            ),
            (
                format!("dest = \"p\"\n{sha}\npath = \"p\"\nmode = 0o4755"),
                "setuid",
            ),
            (
                format!("dest = \"usr/local/bin/proof-server\"\n{sha}\npath = \"p\""),
                "where the binary goes",
            ),
            (
                "dest = \"p\"\nsha256 = \"abc\"\npath = \"p\"".to_owned(),
                "64 lowercase hex",
            ),
        ] {
            let err = parse(&file(&body)).unwrap_err().to_string();
            assert!(
                err.contains("files[0]") && err.contains(expected),
                "{body}: {err}"
            );
        }
        let twice = format!(
            "{}[[files]]\ndest = \"params/p\"\n{sha}\npath = \"q\"\n",
            file(&format!("dest = \"params/p\"\n{sha}\npath = \"p\""))
        );
        let err = parse(&twice).unwrap_err().to_string();
        assert!(err.contains("files[1]") && err.contains("twice"), "{err}");
    }

    #[test]
    fn the_recorded_digest_does_not_depend_on_where_files_sit() {
        let text = format!(
            "{MINIMAL}{EIF}[[files]]\ndest = \"params/p\"\nsha256 = \"{}\"\npath = \"p\"\n",
            "1".repeat(64)
        );
        let here = Recipe::parse(&text, Path::new("r.toml"), Path::new("/home/a/clone")).unwrap();
        let there = Recipe::parse(&text, Path::new("r.toml"), Path::new("/srv/b/x/y")).unwrap();
        let url = "https://github.com/mpr-dev/mpr";
        assert_eq!(here.canonical_sha256(url), there.canonical_sha256(url));
        let absolute = text.replace("path = \"k\"", "path = \"/opt/blobs/k\"");
        let absolute = Recipe::parse(&absolute, Path::new("r.toml"), Path::new("/z")).unwrap();
        assert_eq!(here.canonical_sha256(url), absolute.canonical_sha256(url));
        // What is built does change it: another digest, another source.
        let other = text.replace(&"1".repeat(64), &"2".repeat(64));
        let other = Recipe::parse(&other, Path::new("r.toml"), Path::new("/home/a/clone")).unwrap();
        assert_ne!(here.canonical_sha256(url), other.canonical_sha256(url));
        assert_ne!(
            here.canonical_sha256(url),
            here.canonical_sha256("https://example.invalid/fork")
        );
    }

    #[test]
    fn times_and_disk_sizes_beyond_their_limits_are_refused_also_from_the_registry() {
        let late = MINIMAL.replace(
            "[builder]",
            "[source]\nsource_date_epoch = 253402300800\n[builder]",
        );
        let err = parse(&late).unwrap_err().to_string();
        assert!(err.contains("after 9999-12-31T23:59:59Z"), "{err}");
        let last = MINIMAL.replace(
            "[builder]",
            "[source]\nsource_date_epoch = 253402300799\n[builder]",
        );
        assert!(parse(&last).is_ok());

        // The registry's canonical text (JSON) can hold what TOML cannot: refused, not a panic.
        let url = "https://github.com/mpr-dev/mpr";
        let canonical = parse(MINIMAL).unwrap().canonical_text(url);
        let huge = canonical.replace(
            r#""source_date_epoch":null"#,
            &format!(r#""source_date_epoch":{}"#, u64::MAX),
        );
        assert_ne!(huge, canonical);
        let err = Recipe::from_canonical(&huge, None, Path::new("/f"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("source.source_date_epoch"), "{err}");
    }

    /// The canonical text, and so every recorded recipe digest, is pinned here: sorted keys at
    /// every level, whatever serde_json's map order is in the build (a dependency that turns on its
    /// `preserve_order` feature once changed it for the whole workspace).
    #[test]
    fn canonical_text_is_stable() {
        let recipe = parse(MINIMAL).unwrap();
        let canonical = recipe.canonical_text("https://github.com/mpr-dev/mpr");
        let expected = r#"{"builder":{"codegen_units":1,"image":"sha256:0000000000000000000000000000000000000000000000000000000000000000","rustflags":[]},"cvm":null,"eif":null,"files":[],"name":"fixture","runtime":{"cmd":[],"entrypoint":["/usr/local/bin/fixture"],"env":[],"exposed_ports":[],"labels":{},"user":null,"working_dir":null},"schema":1,"snp":[],"source":{"binary":"proof-server","commit":"HEAD","install_path":"usr/local/bin/proof-server","package":"prover","repository":"https://github.com/mpr-dev/mpr","source_date_epoch":null,"url":null},"uki":null,"version":"1.0.0"}"#;
        assert_eq!(canonical, expected);
    }

    #[test]
    fn a_canonical_recipe_becomes_a_buildable_one_with_the_same_digest() {
        let text = format!(
            "{MINIMAL}{EIF}[[files]]\ndest = \"params/p\"\nsha256 = \"{}\"\npath = \"p\"\n",
            "1".repeat(64)
        );
        let original =
            Recipe::parse(&text, Path::new("r.toml"), Path::new("/home/a/clone")).unwrap();
        let url = "https://github.com/mpr-dev/mpr";
        let canonical = original.canonical_text(url);
        let rebuilt =
            Recipe::from_canonical(&canonical, Some("/srv/mirror"), Path::new("/srv/files"))
                .unwrap();
        assert_eq!(rebuilt.source.repository, "/srv/mirror");
        assert_eq!(rebuilt.source.url.as_deref(), Some(url));
        assert!(rebuilt
            .pinned_files()
            .iter()
            .all(|(_, file)| file.path.starts_with("/srv/files")));
        assert_eq!(rebuilt.canonical_text(url), canonical);
        // Written as TOML and read back, as `mpr rebuild watch` hands it to the build.
        let reread = Recipe::parse(
            &rebuilt.to_toml(),
            Path::new("w.toml"),
            Path::new("/elsewhere"),
        )
        .unwrap();
        assert_eq!(reread.canonical_text(url), canonical);
        assert!(Recipe::from_canonical("schema = 1", None, Path::new("/f"))
            .unwrap_err()
            .to_string()
            .contains("not a canonical recipe"));
    }
}
