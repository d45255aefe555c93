//! Sample submissions for tests, benchmarks and fuzz seeds: valid releases whose every value is
//! derived from a seed, so that releases differ and tests can predict each value.

use serde_json::{json, Value};

/// A 48-byte value in hex, different for each `seed`.
pub fn hex48(seed: u64) -> String {
    format!("{seed:016x}").repeat(6)
}

/// A 32-byte value in hex, different for each `seed`.
pub fn hex32(seed: u64) -> String {
    format!("{seed:016x}").repeat(4)
}

/// A complete, valid release: Nitro PCRs and two SEV-SNP vCPU counts, all values derived from
/// `seed` so that releases differ.
pub fn sample_release(version: &str, seed: u64) -> Value {
    json!({
        "version": version,
        "package": "prover",
        "source": {"repository": "https://github.com/mpr-dev/mpr", "commit": format!("{:040x}", seed + 1)},
        "recipe": {"sha256": hex32(seed + 2)},
        "source_date_epoch": 1_700_000_000 + seed as i64,
        "build": {
            "builder": "official",
            "record_sha256": hex32(seed + 3),
            "artifacts": [
                {"name": "proof-server", "size": 22522312, "sha256": hex32(seed + 4), "sha384": hex48(seed + 4)},
                {"name": "image.tar", "size": 31000000, "sha256": hex32(seed + 5)}
            ]
        },
        "measurement_sets": [{
            "name": "default",
            "measurements": [
                {"platform": "aws-nitro", "registers": {"PCR0": hex48(seed + 10), "PCR1": hex48(seed + 11), "PCR2": hex48(seed + 12)}},
                {"platform": "sev-snp",
                 "parameters": {"vcpus": 2, "vmm": "qemu", "vcpu_type": "EPYC-Milan-v2", "firmware_sha256": hex32(seed + 20), "guest_features": "0x1"},
                 "registers": {"MEASUREMENT": hex48(seed + 21)}},
                {"platform": "sev-snp",
                 "parameters": {"vcpus": 4, "vmm": "qemu", "vcpu_type": "EPYC-Milan-v2", "firmware_sha256": hex32(seed + 20), "guest_features": "0x1"},
                 "registers": {"MEASUREMENT": hex48(seed + 22)}}
            ]
        }]
    })
}

fn snp(vcpus: u64, seed: u64) -> Value {
    json!({"platform": "sev-snp",
           "parameters": {"vcpus": vcpus, "vmm": "qemu", "vcpu_type": "EPYC-Milan-v2", "firmware_sha256": hex32(seed), "guest_features": "0x1"},
           "registers": {"MEASUREMENT": hex48(seed + vcpus)}})
}

/// A release of `sets` measurement sets, each with Nitro PCRs and `per_set - 1` SEV-SNP vCPU
/// counts: large enough to make a write transaction take a while.
pub fn sample_release_sized(version: &str, seed: u64, sets: u64, per_set: u64) -> Value {
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
