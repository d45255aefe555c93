//! `mpr eif describe --json`: nitro-cli describe-eif's document, then mpr's own keys.

use measurer::eif::{Arch, EifDescription, SignatureStatus, StoredJson};
use serde::Serialize;

use crate::nitro_json::Measurements;

/// Whether the metadata is anything but exactly nitro-cli's identity metadata, and so is shown as stored.
pub(super) fn metadata_is_foreign(d: &EifDescription) -> bool {
    d.warnings
        .iter()
        .any(|w| matches!(w, measurer::eif::EifWarning::ForeignMetadata { .. }))
}

/// nitro-cli describe-eif's document (same keys, same order), then mpr's extra keys (arch, CRC value,
/// size, cmdline, sections).
#[derive(Debug, Serialize)]
pub(super) struct DescribeDocument {
    #[serde(rename = "EifVersion")]
    eif_version: u16,
    #[serde(rename = "Measurements")]
    measurements: Measurements,
    #[serde(rename = "IsSigned")]
    is_signed: bool,
    #[serde(rename = "SigningCertificate", skip_serializing_if = "Option::is_none")]
    signing_certificate: Option<CertificateDocument>,
    /// Always true: describe fails on a CRC mismatch, so a printed document has a good one.
    #[serde(rename = "CheckCRC")]
    check_crc: bool,
    #[serde(rename = "SignatureCheck", skip_serializing_if = "Option::is_none")]
    signature_check: Option<bool>,
    #[serde(rename = "ImageName", skip_serializing_if = "Option::is_none")]
    image_name: Option<String>,
    #[serde(rename = "ImageVersion", skip_serializing_if = "Option::is_none")]
    image_version: Option<String>,
    #[serde(rename = "Metadata", skip_serializing_if = "Option::is_none")]
    metadata: Option<MetadataDocument>,
    /// The metadata section verbatim, when it is not exactly nitro-cli's identity metadata (other keys,
    /// or other JSON altogether).
    #[serde(rename = "MetadataAsStored", skip_serializing_if = "Option::is_none")]
    metadata_as_stored: Option<StoredJson>,
    /// What the reader noticed but did not refuse, as sentences.
    #[serde(rename = "Warnings", skip_serializing_if = "Vec::is_empty")]
    warnings: Vec<String>,
    #[serde(rename = "Arch")]
    arch: Arch,
    #[serde(rename = "Crc32")]
    crc32: String,
    #[serde(rename = "FileSize")]
    file_size: u64,
    #[serde(rename = "Cmdline")]
    cmdline: String,
    #[serde(rename = "Sections")]
    sections: Vec<SectionDocument>,
}

#[derive(Debug, Serialize)]
struct CertificateDocument {
    #[serde(rename = "Subject")]
    subject: String,
    /// nitro-cli prints a map of issuer attributes here; mpr prints the RFC 4514 string.
    #[serde(rename = "IssuerName")]
    issuer: String,
    #[serde(rename = "Algorithm")]
    algorithm: String,
    #[serde(rename = "NotBefore")]
    not_before: String,
    #[serde(rename = "NotAfter")]
    not_after: String,
    #[serde(rename = "Problem", skip_serializing_if = "Option::is_none")]
    problem: Option<String>,
}

/// nitro-cli's "Metadata": the build metadata next to DockerInfo, with CustomMetadata's keys merged in.
#[derive(Debug, Serialize)]
struct MetadataDocument {
    #[serde(rename = "BuildTime")]
    build_time: String,
    #[serde(rename = "BuildTool")]
    build_tool: String,
    #[serde(rename = "BuildToolVersion")]
    build_tool_version: String,
    #[serde(rename = "OperatingSystem")]
    operating_system: String,
    #[serde(rename = "KernelVersion")]
    kernel_version: String,
    #[serde(rename = "DockerInfo")]
    docker_info: serde_json::Value,
    #[serde(flatten)]
    custom: serde_json::Map<String, serde_json::Value>,
}

#[derive(Debug, Serialize)]
struct SectionDocument {
    #[serde(rename = "Index")]
    index: usize,
    #[serde(rename = "Kind")]
    kind: String,
    #[serde(rename = "Offset")]
    offset: u64,
    #[serde(rename = "Size")]
    size: u64,
}

impl From<&EifDescription> for DescribeDocument {
    fn from(d: &EifDescription) -> Self {
        let identity = d.metadata.as_ref().and_then(|m| m.identity.as_ref());
        let metadata = identity.map(|m| MetadataDocument {
            build_time: m.build.build_time.clone(),
            build_tool: m.build.build_tool.clone(),
            build_tool_version: m.build.build_tool_version.clone(),
            operating_system: m.build.operating_system.clone(),
            kernel_version: m.build.kernel_version.clone(),
            docker_info: m.docker_info.clone(),
            custom: match &m.custom {
                serde_json::Value::Object(map) => map.clone(),
                serde_json::Value::Null => serde_json::Map::new(),
                // nitro-cli cannot print these at all; keep them visible under their own key.
                other => {
                    serde_json::Map::from_iter([("CustomMetadata".to_string(), other.clone())])
                }
            },
        });
        DescribeDocument {
            eif_version: d.version,
            measurements: (&d.pcrs).into(),
            is_signed: d.signature.is_some(),
            signing_certificate: d.signature.as_ref().map(|s| CertificateDocument {
                subject: s.subject.clone(),
                issuer: s.issuer.clone(),
                algorithm: s.algorithm.clone(),
                not_before: s.not_before.clone(),
                not_after: s.not_after.clone(),
                problem: match &s.status {
                    SignatureStatus::Valid => None,
                    SignatureStatus::Invalid(why) => Some(why.clone()),
                },
            }),
            check_crc: true,
            signature_check: d
                .signature
                .as_ref()
                .map(|s| matches!(s.status, SignatureStatus::Valid)),
            image_name: identity.map(|m| m.image_name.clone()),
            image_version: identity.map(|m| m.image_version.clone()),
            metadata,
            metadata_as_stored: d
                .metadata
                .as_ref()
                .filter(|_| metadata_is_foreign(d))
                .map(|m| m.json.clone()),
            warnings: d.warnings.iter().map(ToString::to_string).collect(),
            arch: d.arch,
            crc32: format!("{:#010x}", d.crc32),
            file_size: d.file_size,
            cmdline: d.cmdline.clone(),
            sections: d
                .sections
                .iter()
                .map(|s| SectionDocument {
                    index: s.index,
                    kind: s.kind.to_string(),
                    offset: s.offset,
                    size: s.size,
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use measurer::eif::{self, BuildMetadata, EifMetadata, EifMetadataSection, EifWarning};

    use super::*;

    fn description(json: &str, identity: Option<EifMetadata>, foreign: bool) -> EifDescription {
        let pcr = measurer::Digest384([7; 48]);
        EifDescription {
            version: 4,
            arch: Arch::X86_64,
            flags: 0,
            default_mem: 1 << 30,
            default_cpus: 2,
            crc32: 0x1234_5678,
            file_size: 913,
            sections: Vec::new(),
            cmdline: "console=ttyS0".into(),
            metadata: Some(EifMetadataSection {
                json: StoredJson::parse(json).unwrap(),
                identity,
            }),
            signature: None,
            pcrs: measurer::pcr::NitroPcrs {
                pcr0: pcr,
                pcr1: pcr,
                pcr2: pcr,
                pcr8: None,
            },
            warnings: if foreign {
                vec![EifWarning::ForeignMetadata {
                    reason: "a test".into(),
                }]
            } else {
                Vec::new()
            },
        }
    }

    fn identity() -> EifMetadata {
        EifMetadata {
            image_name: "toy".into(),
            image_version: "1.0".into(),
            build: BuildMetadata {
                build_time: eif::rfc3339_from_unix(0),
                build_tool: "mpr".into(),
                build_tool_version: "0.1.0".into(),
                operating_system: "Linux".into(),
                kernel_version: "6.1".into(),
            },
            docker_info: serde_json::Value::Null,
            custom: serde_json::Value::Null,
        }
    }

    #[test]
    fn foreign_metadata_is_printed_verbatim_with_the_warnings() {
        let stored = r#"{"tool": "other", "Zeta": [1, 2.50], "Alpha": null}"#;
        let text = serde_json::to_string(&DescribeDocument::from(&description(stored, None, true)))
            .unwrap();
        assert!(
            text.contains(&format!(r#""MetadataAsStored":{stored}"#)),
            "{text}"
        );
        assert!(
            text.contains(r#""Warnings":["the metadata section is not"#),
            "{text}"
        );
        let document: serde_json::Value = serde_json::from_str(&text).unwrap();
        for absent in ["Metadata", "ImageName", "ImageVersion"] {
            assert!(document.get(absent).is_none(), "{absent}: {text}");
        }
    }

    #[test]
    fn nitro_cli_metadata_keeps_nitro_cli_keys_and_extra_keys_are_shown_too() {
        let exact = description("{}", Some(identity()), false);
        let document = serde_json::to_value(DescribeDocument::from(&exact)).unwrap();
        assert_eq!(document["ImageName"], "toy");
        assert_eq!(document["Metadata"]["BuildTool"], "mpr");
        assert!(document.get("MetadataAsStored").is_none());
        assert!(document.get("Warnings").is_none());

        let extra = description(r#"{"Extra": 1}"#, Some(identity()), true);
        let document = serde_json::to_value(DescribeDocument::from(&extra)).unwrap();
        assert_eq!(document["ImageVersion"], "1.0");
        assert_eq!(document["MetadataAsStored"]["Extra"], 1);
    }
}
