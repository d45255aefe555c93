//! What one release says about its inputs and measurements, read from a build record or from the
//! parts of a release statement, in one shape so that both are explained by the same rules.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::record::BuildRecord;

/// The part of the measured boot an input belongs to, which fixes the registers it feeds
/// (see [`Role::feeds`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// The Nitro kernel image (EIF kernel section).
    NitroKernel,
    /// The Nitro kernel command line (EIF cmdline section).
    NitroCmdline,
    /// The bootstrap ramdisk as a whole (init + nsm.ko).
    NitroBootstrap,
    /// One of the bootstrap ramdisk's files (init, nsm.ko).
    NitroBootstrapFile,
    /// The user (customer) ramdisk as a whole (rootfs + cmd + env).
    NitroCustomer,
    /// One path of the user ramdisk.
    NitroCustomerFile,
    /// The enclave's command or environment (the user ramdisk's `cmd` and `env`).
    NitroCmdEnv,
    /// The CVM kernel.
    CvmKernel,
    /// The CVM initrd as a whole (rootfs + busybox + modules + `/init`).
    CvmInitrd,
    /// One path of the CVM initrd.
    CvmInitrdFile,
    /// What mpr adds to the CVM initrd besides the rootfs (busybox, kernel modules).
    CvmInitrdExtra,
    /// The CVM kernel command line.
    CvmCmdline,
    /// systemd-stub, the UKI's EFI program.
    UkiStub,
    /// The UKI's command line (`.cmdline`).
    UkiCmdline,
    /// The UKI's os-release (`.osrel`).
    UkiOsRelease,
    /// A file of the root file system every image, user ramdisk and initrd holds.
    Rootfs,
    /// A file the build compiled (the binary, the libraries it links): in every rootfs.
    Compiled,
    /// What the compiled files are made from (source, lock file, builder image, build flags): it
    /// feeds the registers only through [`Role::Compiled`] files.
    Build,
    /// SOURCE_DATE_EPOCH: every mtime of the rootfs, user ramdisk and initrd.
    Epoch,
    /// The recipe, which pins every other input: its digest moves with any of them.
    Recipe,
}

impl Role {
    /// Whether an input of this role feeds `register` of `platform`, by the measurement rules:
    /// PCR0 = kernel ‖ cmdline ‖ every ramdisk, PCR1 = kernel ‖ cmdline ‖ bootstrap ramdisk,
    /// PCR2 = the user ramdisks; the SEV-SNP launch digest covers the kernel, initrd and cmdline
    /// through OVMF's kernel-hashes table (its launch parameters are per measurement).
    pub fn feeds(self, platform: &str, register: &str) -> bool {
        use Role::*;
        let nitro_boot = matches!(self, NitroKernel | NitroCmdline);
        let bootstrap = matches!(self, NitroBootstrap | NitroBootstrapFile);
        let user = matches!(
            self,
            NitroCustomer | NitroCustomerFile | NitroCmdEnv | Rootfs | Compiled | Build | Epoch
        );
        match (platform, register) {
            ("aws-nitro", "PCR0") => nitro_boot || bootstrap || user || self == Recipe,
            ("aws-nitro", "PCR1") => nitro_boot || bootstrap || self == Recipe,
            ("aws-nitro", "PCR2") => user || self == Recipe,
            ("sev-snp", "MEASUREMENT") => matches!(
                self,
                CvmKernel
                    | CvmInitrd
                    | CvmInitrdFile
                    | CvmInitrdExtra
                    | CvmCmdline
                    | Rootfs
                    | Compiled
                    | Build
                    | Epoch
                    | Recipe
            ),
            // The UKI boot (measurer::uki): PCR 4 hashes the whole UKI and the kernel, PCR 9 the
            // command line and the initrd, PCR 11 the sections (kernel, os-release, command line,
            // initrd); PCR 12 stays zero whatever the inputs.
            ("gcp-cvm" | "azure-cvm", register) => {
                let initrd = matches!(
                    self,
                    CvmInitrd | CvmInitrdFile | CvmInitrdExtra | Rootfs | Compiled | Build | Epoch
                ) || self == Recipe;
                match register {
                    "PCR4" => {
                        initrd || matches!(self, CvmKernel | UkiStub | UkiCmdline | UkiOsRelease)
                    }
                    "PCR9" => initrd || self == UkiCmdline,
                    "PCR11" => initrd || matches!(self, CvmKernel | UkiCmdline | UkiOsRelease),
                    _ => false,
                }
            }
            // The image manifest digest Confidential Space reports: the layer (the rootfs) and the
            // config (its creation time, and the launch, which its parameters carry).
            ("gcp-confidential-space", "IMAGE_DIGEST") => {
                matches!(self, Rootfs | Compiled | Build | Epoch | Recipe)
            }
            // PCR8 is the signing certificate's digest, which no record or statement carries;
            // other platforms' registers are not computed by mpr.
            _ => false,
        }
    }

    /// How inputs of this role are described when a document does not carry them.
    fn describe_missing(self) -> &'static str {
        use Role::*;
        match self {
            NitroKernel => "the enclave kernel",
            NitroCmdline => "the enclave kernel cmdline",
            NitroBootstrap | NitroBootstrapFile => "the bootstrap ramdisk's files (init, nsm.ko)",
            NitroCustomer | NitroCustomerFile => "the files of the user ramdisk",
            NitroCmdEnv => "the enclave command and environment",
            CvmKernel => "the CVM kernel",
            CvmInitrd | CvmInitrdFile => "the files of the CVM initrd",
            CvmInitrdExtra => "the CVM initrd's busybox and kernel modules",
            CvmCmdline => "the CVM kernel cmdline",
            UkiStub => "systemd-stub",
            UkiCmdline => "the UKI's kernel cmdline",
            UkiOsRelease => "the UKI's os-release",
            Rootfs => "the rootfs files",
            Compiled => "the compiled files",
            Build => "the build inputs (Cargo.lock, build environment)",
            Epoch => "SOURCE_DATE_EPOCH",
            Recipe => "the recipe",
        }
    }
}

/// One recorded input: its name as shown to people, its role and its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fact {
    pub role: Role,
    pub input: String,
    pub value: String,
}

/// One measurement: a platform, the launch parameters it was computed for, its registers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeasuredFacts {
    pub platform: String,
    /// Scalar launch parameters (vcpus, vcpu_type, vmm, firmware_sha256, guest_features, ...).
    pub parameters: BTreeMap<String, String>,
    pub registers: BTreeMap<String, String>,
}

/// Which kind of document the facts were read from; it decides what cannot be known.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Source {
    /// A build record alone.
    Record,
    /// A build record with its output directory (the ramdisks and the EIF, file by file).
    OutputDir,
    /// A release statement.
    Statement,
}

impl Source {
    /// Roles whose inputs this kind of document does not carry (so a register fed by them may
    /// move with nothing recorded changing).
    pub fn missing(self) -> &'static [Role] {
        use Role::*;
        match self {
            // The record pins the EIF's kernel but holds its cmdline only inside the recipe digest.
            Source::Record => &[NitroCmdline, NitroCustomerFile, CvmInitrdFile],
            Source::OutputDir => &[],
            Source::Statement => &[
                NitroKernel,
                NitroCmdline,
                NitroBootstrapFile,
                NitroCustomerFile,
                NitroCmdEnv,
                CvmInitrdFile,
                CvmInitrdExtra,
                CvmCmdline,
                UkiStub,
                UkiCmdline,
                UkiOsRelease,
                Build,
            ],
        }
    }

    pub(crate) fn describe_missing(self, platform: &str, register: &str) -> Vec<&'static str> {
        let mut out: Vec<&'static str> = Vec::new();
        for role in self.missing() {
            let text = role.describe_missing();
            if role.feeds(platform, register) && !out.contains(&text) {
                out.push(text);
            }
        }
        out
    }
}

/// Everything one release says that the explanation uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseFacts {
    pub source: Source,
    /// The tool that measured it (`mpr 0.3.0`), when known.
    pub tool: Option<String>,
    /// SHA-256 of the build record a statement names, for pointing at it.
    pub record_sha256: Option<String>,
    pub facts: Vec<Fact>,
    pub measurements: Vec<MeasuredFacts>,
}

fn fact(role: Role, input: impl Into<String>, value: impl Into<String>) -> Fact {
    Fact {
        role,
        input: input.into(),
        value: value.into(),
    }
}

fn list(values: &[String]) -> String {
    serde_json::to_string(values).unwrap_or_default()
}

impl ReleaseFacts {
    /// The facts of a build record. Its measurements use the registers' published names (PCR0,
    /// MEASUREMENT) and the parameters `mpr registry publish` gives them, so that records and
    /// statements read alike.
    pub fn from_record(record: &BuildRecord) -> ReleaseFacts {
        let inputs = &record.inputs;
        let mut facts = vec![
            fact(Role::Recipe, "recipe (sha256)", &inputs.recipe_sha256),
            fact(Role::Build, "source repository", &inputs.repository),
            fact(Role::Build, "source commit", &inputs.commit),
            fact(
                Role::Build,
                "Cargo.lock (sha256)",
                &inputs.cargo_lock_sha256,
            ),
            fact(
                Role::Build,
                "source archive (sha256)",
                &inputs.source_archive.sha256,
            ),
            fact(Role::Build, "builder image", &inputs.builder_image),
            fact(Role::Build, "package", &inputs.package),
            fact(Role::Build, "binary", &inputs.binary),
            fact(Role::Build, "build environment", list(&inputs.build_env)),
            fact(
                Role::Epoch,
                "SOURCE_DATE_EPOCH",
                inputs.source_date_epoch.to_string(),
            ),
        ];
        for pinned in &inputs.files {
            let role = match pinned.field.as_str() {
                "eif.kernel" => Role::NitroKernel,
                "eif.init" | "eif.nsm_ko" => Role::NitroBootstrapFile,
                "cvm.busybox" => Role::CvmInitrdExtra,
                "uki.stub" => Role::UkiStub,
                field if field.starts_with("cvm.modules[") => Role::CvmInitrdExtra,
                // cvm.kernel is the bundle's kernel below; snp[i].ovmf is each measurement's
                // firmware_sha256.
                _ => continue,
            };
            let name = format!("{} ({})", pinned.field, pinned.file_name);
            facts.push(fact(role, name, &pinned.sha256));
        }
        for placed in &inputs.placed_files {
            let value = format!("sha256 {} mode {:o}", placed.sha256, placed.mode);
            facts.push(fact(
                Role::Rootfs,
                format!("rootfs file {}", placed.dest),
                value,
            ));
        }
        let outputs = &record.outputs;
        for file in std::iter::once(&outputs.binary).chain(&outputs.libraries) {
            let name = format!("rootfs file {}", file.path);
            facts.push(fact(Role::Compiled, name, &file.digests.sha256));
        }
        let mut measurements = Vec::new();
        if let Some(eif) = &outputs.eif {
            facts.extend([
                fact(
                    Role::NitroBootstrap,
                    "bootstrap ramdisk (sha256)",
                    &eif.bootstrap_ramdisk.sha256,
                ),
                fact(
                    Role::NitroCustomer,
                    "user ramdisk (sha256)",
                    &eif.customer_ramdisk.sha256,
                ),
                fact(Role::NitroCmdEnv, "enclave command", list(&eif.cmd)),
                fact(Role::NitroCmdEnv, "enclave environment", list(&eif.env)),
            ]);
            let pcrs = &eif.pcrs;
            let mut registers = BTreeMap::new();
            registers.insert("PCR0".to_owned(), pcrs.pcr0.to_hex());
            registers.insert("PCR1".to_owned(), pcrs.pcr1.to_hex());
            registers.insert("PCR2".to_owned(), pcrs.pcr2.to_hex());
            if let Some(pcr8) = &pcrs.pcr8 {
                registers.insert("PCR8".to_owned(), pcr8.to_hex());
            }
            measurements.push(MeasuredFacts {
                platform: "aws-nitro".to_owned(),
                parameters: BTreeMap::new(),
                registers,
            });
        }
        if let Some(cvm) = &outputs.cvm {
            facts.extend([
                fact(Role::CvmKernel, "CVM kernel (sha256)", &cvm.kernel.sha256),
                fact(Role::CvmInitrd, "CVM initrd (sha256)", &cvm.initrd.sha256),
                fact(Role::CvmCmdline, "CVM kernel cmdline", &cvm.cmdline),
            ]);
            for snp in &cvm.snp {
                let mut parameters = BTreeMap::from([
                    ("vcpus".to_owned(), snp.vcpus.to_string()),
                    ("vmm".to_owned(), snp.vmm.to_string()),
                    ("firmware_sha256".to_owned(), snp.firmware_sha256.clone()),
                    ("guest_features".to_owned(), snp.guest_features.to_string()),
                    ("vcpu_sig".to_owned(), snp.vcpu_sig.clone()),
                ]);
                if let Some(vcpu_type) = snp.vcpu_type {
                    parameters.insert("vcpu_type".to_owned(), vcpu_type.to_string());
                }
                if let Some(hash) = &snp.ovmf_hash {
                    parameters.insert("ovmf_hash".to_owned(), hash.to_hex());
                }
                let registers = BTreeMap::from([("MEASUREMENT".to_owned(), snp.digest.to_hex())]);
                measurements.push(MeasuredFacts {
                    platform: "sev-snp".to_owned(),
                    parameters,
                    registers,
                });
            }
        }
        if let Some(uki) = &outputs.uki {
            facts.extend([
                fact(Role::UkiCmdline, "UKI kernel cmdline", &uki.cmdline),
                fact(Role::UkiOsRelease, "UKI os-release", &uki.os_release),
            ]);
            let registers: BTreeMap<String, String> = uki
                .vtpm
                .registers()
                .into_iter()
                .map(|(name, value)| (name.to_owned(), value.to_owned()))
                .collect();
            for platform in ["gcp-cvm", "azure-cvm"] {
                measurements.push(MeasuredFacts {
                    platform: platform.to_owned(),
                    parameters: BTreeMap::from([
                        ("uki_sha256".to_owned(), uki.uki.sha256.clone()),
                        ("stub".to_owned(), uki.stub.clone()),
                    ]),
                    registers: registers.clone(),
                });
            }
        }
        let launch = &outputs.image.launch;
        if let Some(digest) = outputs.image.manifest_digest.strip_prefix("sha256:") {
            if !launch.args.is_empty() {
                measurements.push(MeasuredFacts {
                    platform: "gcp-confidential-space".to_owned(),
                    parameters: BTreeMap::from([
                        ("args".to_owned(), list(&launch.args)),
                        ("env".to_owned(), list(&launch.env)),
                    ]),
                    registers: BTreeMap::from([("IMAGE_DIGEST".to_owned(), digest.to_owned())]),
                });
            }
        }
        ReleaseFacts {
            source: Source::Record,
            tool: Some(format!("{} {}", record.tool.name, record.tool.version)),
            record_sha256: None,
            facts,
            measurements,
        }
    }

    /// The facts of a release statement, from its parts (the builder does not depend on the
    /// verifier crate that parses statements): the predicate's inputs, the subjects (artifact name
    /// and SHA-256) and every measurement of every set.
    pub fn from_statement_parts<'a>(
        predicate: StatementInputs<'a>,
        subjects: impl IntoIterator<Item = (&'a str, &'a str)>,
        measurements: impl IntoIterator<Item = MeasuredFacts>,
    ) -> ReleaseFacts {
        let mut facts = vec![
            fact(Role::Recipe, "recipe (sha256)", predicate.recipe_sha256),
            fact(Role::Build, "source repository", predicate.repository),
            fact(Role::Build, "source commit", predicate.commit),
            fact(Role::Build, "package", predicate.package),
            fact(
                Role::Epoch,
                "SOURCE_DATE_EPOCH",
                predicate.source_date_epoch.to_string(),
            ),
        ];
        if let Some(image) = predicate.builder_image {
            facts.push(fact(Role::Build, "builder image", image));
        }
        for (name, sha256) in subjects {
            // The names `mpr registry publish` gives a build record's outputs.
            let (role, input) = match name {
                "bootstrap-ramdisk.cpio" => (Role::NitroBootstrap, "bootstrap ramdisk (sha256)"),
                "customer-ramdisk.cpio" => (Role::NitroCustomer, "user ramdisk (sha256)"),
                "vmlinuz" => (Role::CvmKernel, "CVM kernel (sha256)"),
                "initrd.img" => (Role::CvmInitrd, "CVM initrd (sha256)"),
                // Outputs, not inputs of any register: the image archive (its config is not
                // measured), the layer (the rootfs, seen through the ramdisks) and the EIF.
                "image.tar" | "image-layer.tar" => continue,
                other if other.ends_with(".eif") => continue,
                other => {
                    let input = format!("rootfs file {other}");
                    facts.push(fact(Role::Compiled, input, sha256));
                    continue;
                }
            };
            facts.push(fact(role, input, sha256));
        }
        let mut measured: Vec<MeasuredFacts> = Vec::new();
        for measurement in measurements {
            // Sets repeat measurements (an addendum re-lists a configuration): compare each once.
            if !measured.contains(&measurement) {
                measured.push(measurement);
            }
        }
        ReleaseFacts {
            source: Source::Statement,
            tool: None,
            record_sha256: predicate.build_record_sha256.map(str::to_owned),
            facts,
            measurements: measured,
        }
    }
}

/// The inputs a release statement's predicate names.
#[derive(Debug, Clone, Copy)]
pub struct StatementInputs<'a> {
    pub package: &'a str,
    pub repository: &'a str,
    pub commit: &'a str,
    pub source_date_epoch: u64,
    pub recipe_sha256: &'a str,
    pub builder_image: Option<&'a str>,
    pub build_record_sha256: Option<&'a str>,
}
