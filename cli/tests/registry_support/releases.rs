//! Release submissions as a publisher posts them, of any size, and the rows each is stored as.

use serde_json::{json, Value};

fn hex32(seed: u64) -> String {
    format!("{seed:016x}").repeat(4)
}

fn hex48(seed: u64) -> String {
    format!("{seed:016x}").repeat(6)
}

fn snp(vcpus: u64, seed: u64) -> Value {
    json!({"platform": "sev-snp",
           "parameters": {"vcpus": vcpus, "vmm": "qemu", "vcpu_type": "EPYC-Milan-v2", "firmware_sha256": hex32(seed), "guest_features": "0x1"},
           "registers": {"MEASUREMENT": hex48(seed + vcpus)}})
}

pub fn release_with(version: &str, seed: u64, sets: u64, per_set: u64) -> Value {
    let measurement_sets: Vec<Value> = (0..sets)
        .map(|set| {
            let base = seed * 100_000 + set * 100;
            let mut measurements = vec![json!({"platform": "aws-nitro",
                "registers": {"PCR0": hex48(base), "PCR1": hex48(base + 1), "PCR2": hex48(base + 2)}})];
            measurements.extend((1..per_set).map(|vcpus| snp(vcpus, base + 10)));
            json!({"name": format!("set-{set}"), "measurements": measurements})
        })
        .collect();
    json!({
        "version": version,
        "package": "prover",
        "source": {"repository": "https://github.com/mpr-dev/mpr", "commit": format!("{seed:040x}")},
        "recipe": {"sha256": hex32(seed)},
        "source_date_epoch": 1_700_000_000 + seed as i64,
        "build": {
            "builder": "official",
            "record_sha256": hex32(seed + 1),
            "artifacts": [
                {"name": "proof-server", "size": 22522312, "sha256": hex32(seed + 2), "sha384": hex48(seed + 2)},
                {"name": "image.tar", "size": 31000000, "sha256": hex32(seed + 3)},
                {"name": "prover.eif", "size": 61000000, "sha256": hex32(seed + 4)}
            ]
        },
        "measurement_sets": measurement_sets
    })
}

/// The rows a release is stored as, counted from its JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rows {
    pub artifacts: i64,
    pub sets: i64,
    pub measurements: i64,
    pub values: i64,
}

pub fn rows_of(release: &Value) -> Rows {
    let sets = release["measurement_sets"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let measurements: Vec<Value> = sets
        .iter()
        .flat_map(|set| set["measurements"].as_array().cloned().unwrap_or_default())
        .collect();
    Rows {
        artifacts: release["build"]["artifacts"].as_array().map_or(0, Vec::len) as i64,
        sets: sets.len() as i64,
        measurements: measurements.len() as i64,
        values: measurements
            .iter()
            .map(|m| m["registers"].as_object().map_or(0, |r| r.len() as i64))
            .sum(),
    }
}
