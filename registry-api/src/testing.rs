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
                nitro(seed + 10),
                snp(2, seed + 20, seed + 21),
                snp(4, seed + 20, seed + 22)
            ]
        }]
    })
}

/// Nitro PCR0/1/2 from three consecutive seeds.
fn nitro(seed: u64) -> Value {
    json!({"platform": "aws-nitro",
           "registers": {"PCR0": hex48(seed), "PCR1": hex48(seed + 1), "PCR2": hex48(seed + 2)}})
}

/// An SEV-SNP launch digest for `vcpus` EPYC-Milan-v2 vCPUs under QEMU.
fn snp(vcpus: u64, firmware_seed: u64, measurement_seed: u64) -> Value {
    json!({"platform": "sev-snp",
           "parameters": {"vcpus": vcpus, "vmm": "qemu", "vcpu_type": "EPYC-Milan-v2", "firmware_sha256": hex32(firmware_seed), "guest_features": "0x1"},
           "registers": {"MEASUREMENT": hex48(measurement_seed)}})
}

/// A release of `sets` measurement sets, each with Nitro PCRs and `per_set - 1` SEV-SNP vCPU
/// counts: large enough to make a write transaction take a while.
pub fn sample_release_sized(version: &str, seed: u64, sets: u64, per_set: u64) -> Value {
    let measurement_sets: Vec<Value> = (0..sets)
        .map(|set| {
            let base = seed * 100_000 + set * 100;
            let mut measurements = vec![nitro(base)];
            measurements.extend((1..per_set).map(|vcpus| snp(vcpus, base + 10, base + 10 + vcpus)));
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

/// The rows a release is stored as beyond its release, source, recipe, official build and
/// manifest rows (one each), counted from its JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReleaseRows {
    pub artifacts: i64,
    pub sets: i64,
    pub measurements: i64,
    pub values: i64,
}

pub fn release_rows(release: &Value) -> ReleaseRows {
    let sets = release["measurement_sets"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let measurements: Vec<Value> = sets
        .iter()
        .flat_map(|set| set["measurements"].as_array().cloned().unwrap_or_default())
        .collect();
    ReleaseRows {
        artifacts: release["build"]["artifacts"].as_array().map_or(0, Vec::len) as i64,
        sets: sets.len() as i64,
        measurements: measurements.len() as i64,
        values: measurements
            .iter()
            .map(|m| m["registers"].as_object().map_or(0, |r| r.len() as i64))
            .sum(),
    }
}

/// `submission` signed as the release pipeline signs it: the release statement it renders to,
/// signed by `key`, added to its `signatures`. An error names why it is not a release (tests
/// that send bad submissions on purpose send them unsigned).
pub fn sign_release(submission: &Value, key: &crate::signing::SecretKey) -> Result<Value, String> {
    let release: crate::submission::ReleaseSubmission =
        serde_json::from_value(submission.clone()).map_err(|error| error.to_string())?;
    let statement = crate::statement::render(&release);
    let signature =
        crate::signing::sign_detached(key, None, &statement).map_err(|error| error.to_string())?;
    let mut signed = submission.clone();
    let signatures = signed
        .as_object_mut()
        .ok_or("a submission is a JSON object")?
        .entry("signatures")
        .or_insert_with(|| Value::Array(Vec::new()));
    signatures
        .as_array_mut()
        .ok_or("\"signatures\" is a list")?
        .push(Value::String(signature.armored));
    Ok(signed)
}
