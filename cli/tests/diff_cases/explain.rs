//! `mpr diff` explains why measurements changed: on two build records, two build output
//! directories, two `mpr release` directories and two release statements. The releases are
//! written by the builder's own writers (image, EIF, CVM bundle, real PCRs and SEV-SNP launch
//! digests) from a given binary, so no Docker build runs here.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;

use builder::record::BuildRecord;
use builder::testing::release::{write_release, ReleaseInputs, BINARY_PATH};
use serde_json::Value;

use super::{mpr, text};
use verifier::statement::{
    Digest, Measurement, MeasurementSet, ReleasePredicate, ReleaseStatement, Source, Statement,
    Subject, RELEASE_PREDICATE, STATEMENT_TYPE,
};

fn json(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", text(&output.stdout)))
}

/// Two releases that differ in the compiled binary (1.2.0 -> 1.2.1), as output directories.
fn releases(dir: &Path) -> (BuildRecord, BuildRecord) {
    let old = ReleaseInputs::default();
    let mut new = old.clone();
    new.binary.extend_from_slice(b" 1.2.1");
    let a = write_release(&old, &dir.join("a")).unwrap();
    let b = write_release(&new, &dir.join("b")).unwrap();
    (a, b)
}

/// The release statement `mpr registry publish` and the registry make of a record.
fn statement(record: &BuildRecord) -> ReleaseStatement {
    let outputs = &record.outputs;
    let eif = outputs.eif.as_ref().unwrap();
    let cvm = outputs.cvm.as_ref().unwrap();
    let subject = |name: &str, sha256: &str| Subject {
        name: name.to_owned(),
        digest: BTreeMap::from([("sha256".to_owned(), sha256.to_owned())]),
    };
    let mut measurements = vec![Measurement {
        platform: "aws-nitro".to_owned(),
        parameters: BTreeMap::new(),
        registers: BTreeMap::from([
            ("PCR0".to_owned(), eif.pcrs.pcr0.to_hex()),
            ("PCR1".to_owned(), eif.pcrs.pcr1.to_hex()),
            ("PCR2".to_owned(), eif.pcrs.pcr2.to_hex()),
        ]),
    }];
    for snp in &cvm.snp {
        measurements.push(Measurement {
            platform: "sev-snp".to_owned(),
            parameters: BTreeMap::from([
                ("vcpus".to_owned(), Value::from(snp.vcpus)),
                ("vmm".to_owned(), snp.vmm.to_string().into()),
                (
                    "firmware_sha256".to_owned(),
                    snp.firmware_sha256.clone().into(),
                ),
                (
                    "guest_features".to_owned(),
                    snp.guest_features.to_string().into(),
                ),
                (
                    "vcpu_type".to_owned(),
                    snp.vcpu_type.unwrap().to_string().into(),
                ),
            ]),
            registers: BTreeMap::from([("MEASUREMENT".to_owned(), snp.digest.to_hex())]),
        });
    }
    let inputs = &record.inputs;
    Statement {
        statement_type: STATEMENT_TYPE.to_owned(),
        subject: vec![
            subject(&outputs.binary.path, &outputs.binary.digests.sha256),
            subject("image.tar", &outputs.image.archive.sha256),
            subject(&eif.file, &eif.eif.sha256),
            subject("bootstrap-ramdisk.cpio", &eif.bootstrap_ramdisk.sha256),
            subject("customer-ramdisk.cpio", &eif.customer_ramdisk.sha256),
            subject("vmlinuz", &cvm.kernel.sha256),
            subject("initrd.img", &cvm.initrd.sha256),
        ],
        predicate_type: RELEASE_PREDICATE.to_owned(),
        predicate: ReleasePredicate {
            package: inputs.package.clone(),
            version: record.release.version.clone(),
            source: Source {
                repository: inputs.repository.clone(),
                commit: inputs.commit.clone(),
            },
            source_date_epoch: inputs.source_date_epoch,
            recipe: Digest {
                sha256: inputs.recipe_sha256.clone(),
            },
            builder_image: Some(inputs.builder_image.clone()),
            build_record: Some(Digest {
                sha256: verifier::statement::sha256_hex(record.to_json().as_bytes()),
            }),
            measurement_sets: vec![MeasurementSet {
                name: "default".to_owned(),
                measurements,
            }],
        },
    }
}

fn write_statement(path: &Path, record: &BuildRecord) -> PathBuf {
    std::fs::write(path, statement(record).to_bytes()).unwrap();
    path.to_owned()
}

fn change<'a>(report: &'a Value, register: &str) -> &'a Value {
    report["explanation"]["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["register"] == register)
        .unwrap_or_else(|| panic!("no change of {register}: {report:#}"))
}

fn cause_inputs(change: &Value) -> Vec<&str> {
    change["causes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["input"].as_str().unwrap())
        .collect()
}

#[test]
fn records_and_output_directories_explain_each_register() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = releases(dir.path());
    let (ra, rb) = (
        dir.path().join("a/build-record.json"),
        dir.path().join("b/build-record.json"),
    );

    let output = mpr(&[&ra, &rb]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output.stderr));
    let stdout = text(&output.stdout);
    let binary = format!(
        "rootfs file {BINARY_PATH}: {}…",
        &a.outputs.binary.digests.sha256[..12]
    );
    assert!(
        stdout.contains("\nWhy the measurements changed:\naws-nitro PCR0 changed ("),
        "{stdout}"
    );
    assert!(stdout.contains(&binary), "{stdout}");
    assert!(!stdout.contains("aws-nitro PCR1 changed"), "{stdout}");
    assert!(
        stdout.contains("gcp-confidential-space IMAGE_DIGEST changed"),
        "{stdout}"
    );
    assert!(
        stdout.contains("note: build records hold the ramdisks' digests"),
        "{stdout}"
    );

    let report = json(&mpr(&[Path::new("--json"), &ra, &rb]));
    assert_eq!(report["identical"], false);
    assert_eq!(report["explanation"]["source"], "record");
    let pcr2 = change(&report, "PCR2");
    let eif = |r: &BuildRecord| r.outputs.eif.as_ref().unwrap().pcrs.pcr2.to_hex();
    assert_eq!(pcr2["measurement"], "aws-nitro PCR2");
    assert_eq!(pcr2["old"], eif(&a));
    assert_eq!(pcr2["new"], eif(&b));
    let file = format!("rootfs file {BINARY_PATH}");
    assert_eq!(cause_inputs(pcr2), ["user ramdisk (sha256)", file.as_str()]);
    assert_eq!(pcr2["causes"][1]["old"], a.outputs.binary.digests.sha256);
    assert_eq!(pcr2["causes"][1]["new"], b.outputs.binary.digests.sha256);

    let output = mpr(&[&dir.path().join("a"), &dir.path().join("b")]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output.stderr));
    let stdout = text(&output.stdout);
    assert!(
        stdout.contains(&format!("    user ramdisk file {BINARY_PATH}: sha256 ")),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("    CVM initrd file {BINARY_PATH}: sha256 ")),
        "{stdout}"
    );

    let same = mpr(&[Path::new("--json"), &ra, &ra]);
    assert_eq!(same.status.code(), Some(0));
    let same = json(&same);
    assert_eq!(same["explanation"]["changes"], Value::Array(Vec::new()));
}

#[test]
fn release_directories_and_statements() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = releases(dir.path());
    for (side, record) in [("a", &a), ("b", &b)] {
        let release = dir.path().join(format!("release-{side}"));
        std::fs::create_dir(&release).unwrap();
        std::fs::rename(dir.path().join(side), release.join("build")).unwrap();
        write_statement(&release.join("statement.json"), record);
    }
    let (la, lb) = (dir.path().join("release-a"), dir.path().join("release-b"));
    let report = json(&mpr(&[Path::new("--json"), &la, &lb]));
    assert_eq!(report["explanation"]["source"], "output-dir");
    let paths: Vec<&str> = report["differences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["path"].as_str().unwrap())
        .collect();
    assert!(paths.contains(&"build/build-record.json"), "{paths:?}");
    assert!(paths.contains(&"statement.json"), "{paths:?}");
    let user_file = format!("user ramdisk file {BINARY_PATH}");
    assert!(cause_inputs(change(&report, "PCR2")).contains(&user_file.as_str()));

    let (sa, sb) = (la.join("statement.json"), lb.join("statement.json"));
    let output = mpr(&[Path::new("--json"), &sa, &sb]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output.stderr));
    let report = json(&output);
    assert_eq!(report["explanation"]["source"], "statement");
    let file = format!("rootfs file {BINARY_PATH}");
    assert_eq!(
        cause_inputs(change(&report, "PCR2")),
        ["user ramdisk (sha256)", file.as_str()]
    );
    let advice = report["explanation"]["advice"][0].as_str().unwrap();
    assert!(
        advice.contains("give the build records (sha256 "),
        "{advice}"
    );
    let stdout = text(&mpr(&[&sa, &sb]).stdout);
    assert!(stdout.contains("aws-nitro PCR2 changed ("), "{stdout}");
    assert!(
        stdout.contains("note: release statements carry"),
        "{stdout}"
    );

    // Only the vCPU count of one configuration differs: the statements alone explain it.
    let mut inputs = ReleaseInputs::default();
    inputs.binary.extend_from_slice(b" 1.2.1");
    inputs.vcpus = vec![2, 8];
    let eight = write_release(&inputs, &dir.path().join("eight")).unwrap();
    let eight = write_statement(&dir.path().join("eight.json"), &eight);
    let report = json(&mpr(&[Path::new("--json"), &sb, &eight]));
    let changes = report["explanation"]["changes"].as_array().unwrap();
    assert_eq!(changes.len(), 1, "{report:#}");
    assert_eq!(
        changes[0]["measurement"],
        "sev-snp MEASUREMENT (vcpus=4 -> 8, vcpu_type=EPYC-Milan, vmm=qemu)"
    );
    assert_eq!(cause_inputs(&changes[0]), ["vCPU count"]);
    assert_ne!(changes[0]["old"], changes[0]["new"]);
}

#[test]
fn malformed_inputs_exit_two_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let (a, _) = releases(dir.path());
    let good = write_statement(&dir.path().join("good.json"), &a);
    let mut broken: Value = serde_json::from_slice(&std::fs::read(&good).unwrap()).unwrap();
    broken["predicate"]["source"]["commit"] = "not hex".into();
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, serde_json::to_vec_pretty(&broken).unwrap()).unwrap();
    let output = mpr(&[&good, &bad]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("bad.json is not a valid release statement"),
        "{stderr}"
    );
    assert!(output.stdout.is_empty());

    let record = dir.path().join("a/build-record.json");
    let truncated = dir.path().join("truncated.json");
    let bytes = std::fs::read(&record).unwrap();
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let output = mpr(&[&record, &truncated]);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output.stdout));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("truncated.json is not valid JSON: EOF while parsing"),
        "{stderr}"
    );
}
