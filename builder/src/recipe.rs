//! The build recipe: a versioned TOML file that pins every input of a build, so that the same recipe
//! gives the same bytes on any machine. Relative paths are relative to the recipe file.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::hashing::sha256_file;
use crate::image::RuntimeConfig;

/// The only schema this version reads; bump it when a field changes meaning.
pub const SCHEMA: u32 = 1;

/// Recipes are hand-written text; anything near this size is a mistake.
const MAX_RECIPE_BYTES: u64 = 1 << 20;

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
    /// SEV-SNP launch configurations to measure the CVM bundle for.
    #[serde(default)]
    pub snp: Vec<SnpSpec>,
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

/// The Nitro Enclave image: nitro-cli's blob set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EifSpec {
    pub kernel: PinnedFile,
    pub init: PinnedFile,
    pub nsm_ko: PinnedFile,
    /// The kernel command line as nitro-cli passes it (its blob without the trailing newline).
    pub cmdline: String,
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
        }
        for snp in &mut self.snp {
            anchor(&mut snp.ovmf);
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
        Ok(())
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
        }
        for (i, snp) in self.snp.iter().enumerate() {
            files.push((format!("snp[{i}].ovmf"), &snp.ovmf));
        }
        files
    }

    /// Checks every pinned file against its SHA-256 before anything is built.
    pub fn verify_pins(&self) -> Result<(), RecipeError> {
        for (what, file) in self.pinned_files() {
            let digests = sha256_file(&file.path).map_err(|source| RecipeError::Pin {
                what: what.clone(),
                path: file.path.clone(),
                source,
            })?;
            if digests.sha256 != file.sha256 {
                return Err(RecipeError::PinMismatch {
                    what,
                    path: file.path.clone(),
                    expected: file.sha256.clone(),
                    actual: digests.sha256,
                });
            }
        }
        Ok(())
    }
}

use crate::archive::Tree;

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
        let recipe = Recipe::parse(&text, Path::new("r.toml"), dir.path()).unwrap();
        let err = recipe.verify_pins().unwrap_err();
        assert!(
            matches!(err, RecipeError::PinMismatch { ref what, .. } if what == "cvm.busybox"),
            "{err}"
        );
    }
}
