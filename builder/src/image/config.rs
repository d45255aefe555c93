//! The JSON documents of an OCI image: runtime config, image config, manifest, index and Docker's
//! `manifest.json`. Every document is a struct (fields serialise in declaration order) or a
//! `BTreeMap` (sorted keys), so the same inputs always give the same bytes and the same digests.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{Arch, ImageError};

pub const MEDIA_TYPE_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const MEDIA_TYPE_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const MEDIA_TYPE_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const MEDIA_TYPE_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";

/// How a container of the image runs: the part of the image config a recipe chooses.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RuntimeConfig {
    pub entrypoint: Vec<String>,
    pub cmd: Vec<String>,
    /// `NAME=value` entries, in the order the process sees them.
    pub env: Vec<String>,
    pub user: Option<String>,
    pub working_dir: Option<String>,
    /// `port/protocol` (`8080/tcp`); a bare port means TCP.
    pub exposed_ports: Vec<String>,
    pub labels: BTreeMap<String, String>,
}

/// Docker and OCI both encode a set as an object whose values are `{}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Empty {}

/// The `config` object of the image config, with Docker's capitalised keys.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerConfig {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub exposed_ports: BTreeMap<String, Empty>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub entrypoint: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cmd: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

impl ContainerConfig {
    /// Checks `runtime` and puts it in the image config's shape; mistakes are caught here rather than
    /// by `docker load` or, worse, at container start.
    pub fn from_runtime(runtime: &RuntimeConfig) -> Result<Self, ImageError> {
        for entry in &runtime.env {
            let name = entry.split('=').next().unwrap_or_default();
            if !entry.contains('=') || name.is_empty() {
                return Err(ImageError::BadConfig {
                    field: "env",
                    value: entry.clone(),
                    fix: "write each entry as NAME=value",
                });
            }
        }
        let mut exposed_ports = BTreeMap::new();
        for port in &runtime.exposed_ports {
            exposed_ports.insert(normalise_port(port)?, Empty {});
        }
        let non_empty = |value: &Option<String>| value.clone().filter(|v| !v.is_empty());
        Ok(ContainerConfig {
            user: non_empty(&runtime.user),
            exposed_ports,
            env: runtime.env.clone(),
            entrypoint: runtime.entrypoint.clone(),
            cmd: runtime.cmd.clone(),
            working_dir: non_empty(&runtime.working_dir),
            labels: runtime.labels.clone(),
        })
    }
}

/// `8080` → `8080/tcp`; the protocol must be one Docker knows and the port a real port number.
fn normalise_port(port: &str) -> Result<String, ImageError> {
    let (number, protocol) = port.split_once('/').unwrap_or((port, "tcp"));
    let valid_number = number.parse::<u16>().is_ok_and(|n| n != 0);
    if !valid_number || !matches!(protocol, "tcp" | "udp" | "sctp") {
        return Err(ImageError::BadConfig {
            field: "exposed_ports",
            value: port.to_owned(),
            fix: "write ports as NUMBER/PROTOCOL with a port 1-65535 and protocol tcp, udp or sctp",
        });
    }
    Ok(format!("{number}/{protocol}"))
}

#[derive(Debug, Serialize)]
pub struct RootFs {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub diff_ids: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct History {
    pub created: String,
    pub created_by: &'static str,
}

/// The image config blob; its digest is the image ID Docker shows.
#[derive(Debug, Serialize)]
pub struct ImageConfig {
    pub created: String,
    pub architecture: Arch,
    pub os: &'static str,
    pub config: ContainerConfig,
    pub rootfs: RootFs,
    pub history: Vec<History>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Platform {
    pub architecture: Arch,
    pub os: &'static str,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    pub media_type: &'static str,
    pub digest: String,
    pub size: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<&'static str, String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    pub schema_version: u32,
    pub media_type: &'static str,
    pub config: Descriptor,
    pub layers: Vec<Descriptor>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Index {
    pub schema_version: u32,
    pub media_type: &'static str,
    pub manifests: Vec<Descriptor>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OciLayout {
    pub image_layout_version: &'static str,
}

/// One entry of Docker's `manifest.json`, which `docker load` reads (Docker 20.10 ignores the OCI files).
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DockerArchiveEntry {
    pub config: String,
    pub repo_tags: Vec<String>,
    pub layers: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runtime_config_reads_from_toml_and_refuses_unknown_keys() {
        let config: RuntimeConfig = toml::from_str(
            r#"
            entrypoint = ["/bin/prover"]
            exposed_ports = ["6300/tcp"]
            [labels]
            "org.opencontainers.image.source" = "https://example.org/x"
            "#,
        )
        .unwrap();
        assert_eq!(config.entrypoint, ["/bin/prover"]);
        assert!(config.cmd.is_empty() && config.user.is_none());
        assert_eq!(config.labels.len(), 1);
        let err = toml::from_str::<RuntimeConfig>("entry_point = []").unwrap_err();
        assert!(err.to_string().contains("unknown field"), "{err}");
    }

    #[test]
    fn ports_and_env_are_checked() {
        let runtime = RuntimeConfig {
            exposed_ports: vec!["8080".into(), "53/udp".into()],
            env: vec!["A=".into()],
            ..Default::default()
        };
        let config = ContainerConfig::from_runtime(&runtime).unwrap();
        let ports: Vec<_> = config.exposed_ports.keys().collect();
        assert_eq!(ports, ["53/udp", "8080/tcp"]);
        for bad in ["0/tcp", "70000", "80/http", "http"] {
            let runtime = RuntimeConfig {
                exposed_ports: vec![bad.into()],
                ..Default::default()
            };
            assert!(ContainerConfig::from_runtime(&runtime).is_err(), "{bad}");
        }
        for bad in ["PATH", "=x"] {
            let runtime = RuntimeConfig {
                env: vec![bad.into()],
                ..Default::default()
            };
            assert!(ContainerConfig::from_runtime(&runtime).is_err(), "{bad}");
        }
    }

    #[test]
    fn container_config_uses_docker_keys_and_omits_empty_fields() {
        let runtime = RuntimeConfig {
            entrypoint: vec!["/bin/sh".into()],
            working_dir: Some(String::new()),
            ..Default::default()
        };
        let json =
            serde_json::to_string(&ContainerConfig::from_runtime(&runtime).unwrap()).unwrap();
        assert_eq!(json, r#"{"Entrypoint":["/bin/sh"]}"#);
    }
}
