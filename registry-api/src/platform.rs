//! What each TEE platform reports: its name, which registers a measurement must carry, and which
//! launch parameters its values depend on. One table here drives validation, filtering and the web
//! pages, so a platform is added in one place.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

/// A TEE platform, named as wallets and the database spell it.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Platform {
    AwsNitro,
    SevSnp,
    Tdx,
    GcpConfidentialSpace,
    GcpCvm,
    AzureCvm,
}

/// A register a platform reports, and the length of its value in bytes.
#[derive(Debug, Clone, Copy)]
pub struct RegisterRule {
    pub name: &'static str,
    pub bytes: usize,
    pub required: bool,
}

/// A launch parameter a platform's values depend on.
#[derive(Debug, Clone, Copy)]
pub struct ParameterRule {
    pub name: &'static str,
    pub kind: ParameterKind,
    pub required: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParameterKind {
    /// A count such as vCPUs (1..=1024).
    Count,
    /// A lower-case hex SHA-256 (firmware, image digests).
    Sha256,
    /// The VMM that launches an SEV-SNP guest (measurer's names: qemu, ec2, gce).
    Vmm,
    /// A QEMU vCPU model, exactly as sev-snp-measure spells it (EPYC-Milan-v2, ...).
    VcpuType,
    /// A number written as hex (`0x1`), e.g. SEV guest features.
    HexNumber,
    /// Free text up to 128 characters (a region, a machine type).
    Text,
    /// A JSON array of strings written as one string (a container's arguments or environment):
    /// parameters stay scalars, and the text is what a verifier parses and compares.
    StringList,
}

/// Longest [`ParameterKind::StringList`] accepted, in bytes of JSON.
pub const MAX_STRING_LIST_BYTES: usize = 4096;

const NITRO_REGISTERS: &[RegisterRule] = &[
    RegisterRule {
        name: "PCR0",
        bytes: 48,
        required: true,
    },
    RegisterRule {
        name: "PCR1",
        bytes: 48,
        required: true,
    },
    RegisterRule {
        name: "PCR2",
        bytes: 48,
        required: true,
    },
    RegisterRule {
        name: "PCR8",
        bytes: 48,
        required: false,
    },
];
const SNP_REGISTERS: &[RegisterRule] = &[RegisterRule {
    name: "MEASUREMENT",
    bytes: 48,
    required: true,
}];
const TDX_REGISTERS: &[RegisterRule] = &[
    RegisterRule {
        name: "MRTD",
        bytes: 48,
        required: true,
    },
    RegisterRule {
        name: "RTMR0",
        bytes: 48,
        required: true,
    },
    RegisterRule {
        name: "RTMR1",
        bytes: 48,
        required: true,
    },
    RegisterRule {
        name: "RTMR2",
        bytes: 48,
        required: true,
    },
    RegisterRule {
        name: "RTMR3",
        bytes: 48,
        required: false,
    },
];
const CONFIDENTIAL_SPACE_REGISTERS: &[RegisterRule] = &[RegisterRule {
    name: "IMAGE_DIGEST",
    bytes: 32,
    required: true,
}];
/// What measured boot of mpr's UKI disk extends into the vTPM (SHA-256 bank); the same on GCP and
/// Azure. PCR 12 is zero unless someone added a command line, credentials or system extensions.
const VTPM_REGISTERS: &[RegisterRule] = &[
    RegisterRule {
        name: "PCR4",
        bytes: 32,
        required: true,
    },
    RegisterRule {
        name: "PCR9",
        bytes: 32,
        required: true,
    },
    RegisterRule {
        name: "PCR11",
        bytes: 32,
        required: true,
    },
    RegisterRule {
        name: "PCR12",
        bytes: 32,
        required: false,
    },
];

const SNP_PARAMETERS: &[ParameterRule] = &[
    ParameterRule {
        name: "vcpus",
        kind: ParameterKind::Count,
        required: true,
    },
    ParameterRule {
        name: "vcpu_type",
        kind: ParameterKind::VcpuType,
        required: false,
    },
    ParameterRule {
        name: "vmm",
        kind: ParameterKind::Vmm,
        required: true,
    },
    ParameterRule {
        name: "firmware_sha256",
        kind: ParameterKind::Sha256,
        required: true,
    },
    ParameterRule {
        name: "guest_features",
        kind: ParameterKind::HexNumber,
        required: false,
    },
];
const TDX_PARAMETERS: &[ParameterRule] = &[
    ParameterRule {
        name: "vcpus",
        kind: ParameterKind::Count,
        required: false,
    },
    ParameterRule {
        name: "firmware_sha256",
        kind: ParameterKind::Sha256,
        required: true,
    },
];
/// The launch a Confidential Space deployment must keep: the image's arguments and environment,
/// which the launcher reports in the token (`submods.container.args`, `env`).
const CONFIDENTIAL_SPACE_PARAMETERS: &[ParameterRule] = &[
    ParameterRule {
        name: "args",
        kind: ParameterKind::StringList,
        required: false,
    },
    ParameterRule {
        name: "env",
        kind: ParameterKind::StringList,
        required: false,
    },
    ParameterRule {
        name: "technology",
        kind: ParameterKind::Text,
        required: false,
    },
    ParameterRule {
        name: "machine_type",
        kind: ParameterKind::Text,
        required: false,
    },
];
/// The UKI the PCRs are of (its SHA-256 and systemd-stub's version), and where it runs.
const VTPM_PARAMETERS: &[ParameterRule] = &[
    ParameterRule {
        name: "uki_sha256",
        kind: ParameterKind::Sha256,
        required: true,
    },
    ParameterRule {
        name: "stub",
        kind: ParameterKind::Text,
        required: false,
    },
    ParameterRule {
        name: "vcpus",
        kind: ParameterKind::Count,
        required: false,
    },
    ParameterRule {
        name: "machine_type",
        kind: ParameterKind::Text,
        required: false,
    },
];

impl Platform {
    pub const ALL: [Platform; 6] = [
        Platform::AwsNitro,
        Platform::SevSnp,
        Platform::Tdx,
        Platform::GcpConfidentialSpace,
        Platform::GcpCvm,
        Platform::AzureCvm,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Platform::AwsNitro => "aws-nitro",
            Platform::SevSnp => "sev-snp",
            Platform::Tdx => "tdx",
            Platform::GcpConfidentialSpace => "gcp-confidential-space",
            Platform::GcpCvm => "gcp-cvm",
            Platform::AzureCvm => "azure-cvm",
        }
    }

    /// A heading for people (web pages).
    pub fn title(self) -> &'static str {
        match self {
            Platform::AwsNitro => "AWS Nitro Enclaves",
            Platform::SevSnp => "AMD SEV-SNP",
            Platform::Tdx => "Intel TDX",
            Platform::GcpConfidentialSpace => "GCP Confidential Space",
            Platform::GcpCvm => "GCP confidential VM",
            Platform::AzureCvm => "Azure confidential VM",
        }
    }

    pub fn registers(self) -> &'static [RegisterRule] {
        match self {
            Platform::AwsNitro => NITRO_REGISTERS,
            Platform::SevSnp => SNP_REGISTERS,
            Platform::Tdx => TDX_REGISTERS,
            Platform::GcpConfidentialSpace => CONFIDENTIAL_SPACE_REGISTERS,
            Platform::GcpCvm | Platform::AzureCvm => VTPM_REGISTERS,
        }
    }

    pub fn parameters(self) -> &'static [ParameterRule] {
        match self {
            Platform::AwsNitro => &[],
            Platform::SevSnp => SNP_PARAMETERS,
            Platform::Tdx => TDX_PARAMETERS,
            Platform::GcpConfidentialSpace => CONFIDENTIAL_SPACE_PARAMETERS,
            Platform::GcpCvm | Platform::AzureCvm => VTPM_PARAMETERS,
        }
    }

    fn known_names() -> String {
        Platform::ALL.map(Platform::as_str).join(", ")
    }

    /// Every register's value must be present with its exact length and nothing else: a wallet that
    /// compared a subset of registers would accept images that differ in the others.
    pub fn check_registers(self, registers: &Map<String, Value>) -> Result<(), String> {
        let rules = self.registers();
        for (name, value) in registers {
            let Some(rule) = rules.iter().find(|rule| rule.name == name) else {
                return Err(format!(
                    "register {name:?} is not reported by {self}; expected {}",
                    rules
                        .iter()
                        .map(|rule| rule.name)
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            };
            let Some(text) = value.as_str() else {
                return Err(format!("register {name} must be a hex string"));
            };
            check_hex(text, rule.bytes).map_err(|problem| format!("register {name}: {problem}"))?;
        }
        for rule in rules.iter().filter(|rule| rule.required) {
            if !registers.contains_key(rule.name) {
                return Err(format!("{self} measurements need register {}", rule.name));
            }
        }
        Ok(())
    }

    /// Parameters are checked by kind and required-ness; unknown names are refused so that a typo
    /// ("vcpu" for "vcpus") cannot create a measurement no wallet filter ever finds.
    pub fn check_parameters(self, parameters: &Map<String, Value>) -> Result<(), String> {
        let rules = self.parameters();
        for (name, value) in parameters {
            let Some(rule) = rules.iter().find(|rule| rule.name == name) else {
                let known = rules.iter().map(|rule| rule.name).collect::<Vec<_>>();
                return Err(if known.is_empty() {
                    format!("{self} measurements take no parameters, got {name:?}")
                } else {
                    format!(
                        "unknown {self} parameter {name:?}; expected one of {}",
                        known.join(", ")
                    )
                });
            };
            rule.kind
                .check(value)
                .map_err(|problem| format!("parameter {name}: {problem}"))?;
        }
        for rule in rules.iter().filter(|rule| rule.required) {
            if !parameters.contains_key(rule.name) {
                return Err(format!("{self} measurements need parameter {}", rule.name));
            }
        }
        Ok(())
    }

    /// Turns query-string text into the JSON value a parameter is stored as (counts are numbers).
    pub fn parameter_value(self, name: &str, text: &str) -> Option<Result<Value, String>> {
        let rule = self.parameters().iter().find(|rule| rule.name == name)?;
        let value = match rule.kind {
            ParameterKind::Count => match text.parse::<u64>() {
                Ok(count) => Value::from(count),
                Err(_) => {
                    return Some(Err(format!(
                        "parameter {name} must be a whole number, got {text:?}"
                    )))
                }
            },
            _ => Value::from(text),
        };
        Some(
            rule.kind
                .check(&value)
                .map(|()| value)
                .map_err(|problem| format!("parameter {name}: {problem}")),
        )
    }
}

impl ParameterKind {
    fn check(self, value: &Value) -> Result<(), String> {
        match self {
            ParameterKind::Count => match value.as_u64() {
                Some(1..=1024) => Ok(()),
                _ => Err(format!(
                    "must be a whole number from 1 to 1024, got {value}"
                )),
            },
            _ => {
                let Some(text) = value.as_str() else {
                    return Err(format!("must be a string, got {value}"));
                };
                match self {
                    ParameterKind::Sha256 => check_hex(text, 32),
                    ParameterKind::Vmm => text
                        .parse::<measurer::snp::VmmType>()
                        .map(drop)
                        .map_err(|error| error.to_string()),
                    ParameterKind::VcpuType => text
                        .parse::<measurer::snp::VcpuType>()
                        .map(drop)
                        .map_err(|error| error.to_string()),
                    ParameterKind::HexNumber => {
                        let digits = text.strip_prefix("0x").unwrap_or("");
                        if !digits.is_empty()
                            && digits.len() <= 16
                            && digits
                                .bytes()
                                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
                        {
                            Ok(())
                        } else {
                            Err(format!(
                                "must be lower-case hex with 0x, e.g. \"0x1\", got {text:?}"
                            ))
                        }
                    }
                    ParameterKind::Text => {
                        if !text.is_empty()
                            && text.len() <= 128
                            && !text.chars().any(char::is_control)
                        {
                            Ok(())
                        } else {
                            Err("must be 1 to 128 printable characters".to_owned())
                        }
                    }
                    ParameterKind::StringList => check_string_list(text),
                    ParameterKind::Count => unreachable!("counts are matched above"),
                }
            }
        }
    }
}

fn check_string_list(text: &str) -> Result<(), String> {
    if text.len() > MAX_STRING_LIST_BYTES {
        return Err(format!(
            "must be at most {MAX_STRING_LIST_BYTES} bytes of JSON, got {}",
            text.len()
        ));
    }
    match serde_json::from_str::<Vec<String>>(text) {
        Ok(items) if items.iter().all(|item| !item.contains('\0')) => Ok(()),
        Ok(_) => Err("items must not contain NUL characters".to_owned()),
        Err(_) => Err(format!(
            "must be a JSON array of strings, e.g. [\"--port\", \"6300\"], got {text:?}"
        )),
    }
}

/// Lower-case hex of exactly `bytes` bytes: values are compared as text, so one spelling only.
pub fn check_hex(text: &str, bytes: usize) -> Result<(), String> {
    if text.len() != bytes * 2 {
        return Err(format!(
            "expected {} hex digits ({bytes} bytes), got {} characters",
            bytes * 2,
            text.len()
        ));
    }
    if !text
        .bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Err("expected lower-case hex digits (0-9, a-f)".to_owned());
    }
    Ok(())
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Platform {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Platform::ALL
            .into_iter()
            .find(|platform| platform.as_str() == name)
            .ok_or_else(|| {
                format!(
                    "unknown platform {name:?}; expected one of {}",
                    Platform::known_names()
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn nitro_needs_all_three_pcrs_of_48_bytes() {
        let pcr = "ab".repeat(48);
        let full = object(json!({"PCR0": pcr, "PCR1": pcr, "PCR2": pcr}));
        assert_eq!(Platform::AwsNitro.check_registers(&full), Ok(()));
        let missing = object(json!({"PCR0": pcr, "PCR1": pcr}));
        assert!(Platform::AwsNitro
            .check_registers(&missing)
            .unwrap_err()
            .contains("PCR2"));
        let short = object(json!({"PCR0": "ab".repeat(32), "PCR1": pcr, "PCR2": pcr}));
        assert!(Platform::AwsNitro
            .check_registers(&short)
            .unwrap_err()
            .contains("96 hex digits"));
        let upper = object(json!({"PCR0": "AB".repeat(48), "PCR1": pcr, "PCR2": pcr}));
        assert!(Platform::AwsNitro
            .check_registers(&upper)
            .unwrap_err()
            .contains("lower-case"));
        let extra = object(json!({"PCR0": pcr, "PCR1": pcr, "PCR2": pcr, "PCR3": pcr}));
        assert!(Platform::AwsNitro
            .check_registers(&extra)
            .unwrap_err()
            .contains("PCR3"));
    }

    #[test]
    fn snp_parameters_are_checked_by_kind() {
        let good = object(
            json!({"vcpus": 4, "vmm": "qemu", "vcpu_type": "EPYC-Milan-v2",
            "firmware_sha256": "0".repeat(64), "guest_features": "0x1"}),
        );
        assert_eq!(Platform::SevSnp.check_parameters(&good), Ok(()));
        let typo = object(json!({"vcpu": 4, "vmm": "qemu", "firmware_sha256": "0".repeat(64)}));
        assert!(Platform::SevSnp
            .check_parameters(&typo)
            .unwrap_err()
            .contains("\"vcpu\""));
        let zero = object(json!({"vcpus": 0, "vmm": "qemu", "firmware_sha256": "0".repeat(64)}));
        assert!(Platform::SevSnp.check_parameters(&zero).is_err());
        let bad_cpu = object(json!({"vcpus": 2, "vmm": "qemu", "vcpu_type": "Pentium",
            "firmware_sha256": "0".repeat(64)}));
        assert!(Platform::SevSnp
            .check_parameters(&bad_cpu)
            .unwrap_err()
            .contains("Pentium"));
        assert!(Platform::AwsNitro
            .check_parameters(&object(json!({"vcpus": 2})))
            .is_err());
    }

    #[test]
    fn query_text_becomes_the_stored_json_type() {
        assert_eq!(
            Platform::SevSnp.parameter_value("vcpus", "4"),
            Some(Ok(json!(4)))
        );
        assert!(matches!(
            Platform::SevSnp.parameter_value("vcpus", "four"),
            Some(Err(_))
        ));
        assert_eq!(Platform::SevSnp.parameter_value("color", "red"), None);
        assert_eq!("sev-snp".parse(), Ok(Platform::SevSnp));
        assert!("sev".parse::<Platform>().unwrap_err().contains("aws-nitro"));
    }

    #[test]
    fn confidential_space_launch_is_a_json_list_of_strings() {
        let digest = object(json!({"IMAGE_DIGEST": "ab".repeat(32)}));
        assert_eq!(
            Platform::GcpConfidentialSpace.check_registers(&digest),
            Ok(())
        );
        let launch = object(json!({
            "args": r#"["/usr/local/bin/proof-server","--port","6300"]"#,
            "env": r#"["RUST_LOG=info"]"#,
        }));
        assert_eq!(
            Platform::GcpConfidentialSpace.check_parameters(&launch),
            Ok(())
        );
        for bad in [
            r#"["a", 1]"#,
            "--port 6300",
            r#"{"a":"b"}"#,
            r#"["a\u0000b"]"#,
        ] {
            let problem = Platform::GcpConfidentialSpace
                .check_parameters(&object(json!({ "args": bad })))
                .unwrap_err();
            assert!(problem.contains("args"), "{bad}: {problem}");
        }
        let long = serde_json::to_string(&vec!["x".repeat(100); 41]).unwrap();
        assert!(Platform::GcpConfidentialSpace
            .check_parameters(&object(json!({ "args": long })))
            .unwrap_err()
            .contains("4096"));
    }
}
