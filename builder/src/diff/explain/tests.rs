//! Pairs of real releases (written by the builder's own writers, measured by the measurer) that
//! differ in one input; each register that really moved must be explained by exactly that input.

use std::collections::BTreeMap;

use tempfile::TempDir;

use super::*;
use crate::diff::{diff_paths, DiffOptions};
use crate::record::BuildRecord;
use crate::testing::release::{write_release, ReleaseInputs, BINARY_PATH};

struct Pair {
    dir: TempDir,
    a: BuildRecord,
    b: BuildRecord,
}

impl Pair {
    fn new(change: impl FnOnce(&mut ReleaseInputs)) -> Pair {
        let dir = tempfile::tempdir().unwrap();
        let inputs = ReleaseInputs::default();
        let mut changed = inputs.clone();
        change(&mut changed);
        let a = write_release(&inputs, &dir.path().join("a")).unwrap();
        let b = write_release(&changed, &dir.path().join("b")).unwrap();
        Pair { dir, a, b }
    }

    fn records(&self) -> Explanation {
        let (a, b) = (
            ReleaseFacts::from_record(&self.a),
            ReleaseFacts::from_record(&self.b),
        );
        explain(&a, &b, None)
    }

    fn dirs(&self) -> Explanation {
        let path = |side: &str| self.dir.path().join(side);
        let report = diff_paths(&path("a"), &path("b"), &DiffOptions::default()).unwrap();
        let (a, b) = (
            ReleaseFacts::from_record(&self.a),
            ReleaseFacts::from_record(&self.b),
        );
        explain(
            &a,
            &b,
            Some(FileLevel {
                report: &report,
                root: "",
            }),
        )
    }
}

/// Changed register label → the names of its causes.
fn causes(explanation: &Explanation) -> BTreeMap<String, Vec<String>> {
    explanation
        .changes
        .iter()
        .map(|c| {
            let names = c.causes.iter().map(|c| c.input.clone()).collect();
            (c.measurement.clone(), names)
        })
        .collect()
}

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

const SNP2: &str = "sev-snp MEASUREMENT (vcpus=2, vcpu_type=EPYC-Milan, vmm=qemu)";
const SNP4: &str = "sev-snp MEASUREMENT (vcpus=4, vcpu_type=EPYC-Milan, vmm=qemu)";

#[test]
fn a_new_nitro_kernel_moves_pcr0_and_pcr1_only() {
    let pair = Pair::new(|i| i.nitro_kernel.extend_from_slice(b"patched"));
    let explanation = pair.records();
    let kernel = names(&["eif.kernel (bzImage)"]);
    let expected = BTreeMap::from([
        ("aws-nitro PCR0".to_owned(), kernel.clone()),
        ("aws-nitro PCR1".to_owned(), kernel),
    ]);
    assert_eq!(causes(&explanation), expected);
    let pcr1 = &explanation.changes[1];
    assert_eq!(
        pcr1.old.as_deref(),
        Some(&*pair.a.outputs.eif.as_ref().unwrap().pcrs.pcr1.to_hex())
    );
    assert_eq!(
        pcr1.causes[0].old.as_deref(),
        Some(&*pair.a.inputs.files[0].sha256)
    );
    assert!(explanation.advice.is_empty(), "{:?}", explanation.advice);
    let text = explanation.to_string();
    assert!(text.contains("aws-nitro PCR1 changed ("), "{text}");
    assert!(
        text.contains("because these inputs changed:\n    eif.kernel (bzImage): "),
        "{text}"
    );
}

#[test]
fn a_new_cmdline_is_unexplained_by_records_and_named_by_output_directories() {
    let pair = Pair::new(|i| i.nitro_cmdline.push_str(" quiet"));
    let records = pair.records();
    let registers: Vec<&str> = records
        .changes
        .iter()
        .map(|c| c.measurement.as_str())
        .collect();
    assert_eq!(registers, ["aws-nitro PCR0", "aws-nitro PCR1"]);
    for change in &records.changes {
        assert!(change.causes.is_empty(), "{change:?}");
        assert_eq!(
            change.unexplained.as_deref(),
            Some("no recorded input explains it")
        );
        assert!(change
            .not_recorded
            .contains(&"the enclave kernel cmdline".to_owned()));
    }
    let text = records.to_string();
    assert!(text.contains("no recorded input explains it\n    not in what was compared: the enclave kernel cmdline"), "{text}");

    let dirs = pair.dirs();
    assert_eq!(dirs.source, Source::OutputDir);
    let cmdline = Cause {
        input: "enclave kernel cmdline".to_owned(),
        old: Some("reboot=k panic=30 pci=off nomodules console=ttyS0".to_owned()),
        new: Some("reboot=k panic=30 pci=off nomodules console=ttyS0 quiet".to_owned()),
    };
    for change in &dirs.changes {
        assert_eq!(change.causes, std::slice::from_ref(&cmdline), "{change:?}");
        assert!(change.unexplained.is_none());
    }
}

#[test]
fn a_changed_rootfs_file_moves_pcr0_pcr2_and_every_launch_digest() {
    let pair = Pair::new(|i| i.binary.extend_from_slice(b" 1.2.1"));
    let binary = format!("rootfs file {BINARY_PATH}");
    let expected = BTreeMap::from([
        (
            "aws-nitro PCR0".to_owned(),
            vec!["user ramdisk (sha256)".to_owned(), binary.clone()],
        ),
        (
            "aws-nitro PCR2".to_owned(),
            vec!["user ramdisk (sha256)".to_owned(), binary.clone()],
        ),
        (
            SNP2.to_owned(),
            vec!["CVM initrd (sha256)".to_owned(), binary.clone()],
        ),
        (
            SNP4.to_owned(),
            vec!["CVM initrd (sha256)".to_owned(), binary.clone()],
        ),
        // The OCI image's layer holds the rootfs, so Confidential Space's image digest moves too.
        (
            "gcp-confidential-space IMAGE_DIGEST".to_owned(),
            vec![binary.clone()],
        ),
    ]);
    let records = pair.records();
    assert_eq!(causes(&records), expected);
    assert_eq!(records.advice.len(), 1, "{:?}", records.advice);
    assert!(records.advice[0].contains("build output directories"));

    let dirs = pair.dirs();
    let pcr2 = dirs.changes.iter().find(|c| c.register == "PCR2").unwrap();
    let file = pcr2
        .causes
        .iter()
        .find(|c| c.input == format!("user ramdisk file {BINARY_PATH}"))
        .unwrap_or_else(|| panic!("{pcr2:#?}"));
    let sha = |record: &BuildRecord| format!("sha256 {}", record.outputs.binary.digests.sha256);
    assert_eq!(file.old, Some(sha(&pair.a)));
    assert_eq!(file.new, Some(sha(&pair.b)));
    let snp = dirs.changes.iter().find(|c| c.measurement == SNP2).unwrap();
    assert!(
        snp.causes
            .iter()
            .any(|c| c.input == format!("CVM initrd file {BINARY_PATH}")),
        "{snp:#?}"
    );
    assert!(
        !snp.causes
            .iter()
            .any(|c| c.input.starts_with("user ramdisk")),
        "{snp:#?}"
    );
    assert!(dirs.advice.is_empty());
    let text = dirs.to_string();
    assert!(
        text.contains(&format!("    user ramdisk file {BINARY_PATH}: sha256 ")),
        "{text}"
    );
}

#[test]
fn a_new_vcpu_count_moves_only_its_launch_digest() {
    let pair = Pair::new(|i| i.vcpus = vec![2, 8]);
    let explanation = pair.records();
    let label = "sev-snp MEASUREMENT (vcpus=4 -> 8, vcpu_type=EPYC-Milan, vmm=qemu)";
    assert_eq!(
        causes(&explanation),
        BTreeMap::from([(label.to_owned(), names(&["vCPU count"]))])
    );
    let cause = &explanation.changes[0].causes[0];
    assert_eq!(
        (cause.old.as_deref(), cause.new.as_deref()),
        (Some("4"), Some("8"))
    );
    assert!(explanation.only_in_a.is_empty() && explanation.only_in_b.is_empty());
}

#[test]
fn new_firmware_moves_every_launch_digest_and_no_pcr() {
    let pair = Pair::new(|i| i.firmware[0x3010] ^= 0xff);
    let explanation = pair.records();
    let firmware = names(&["firmware (OVMF sha256)"]);
    let expected = BTreeMap::from([
        (SNP2.to_owned(), firmware.clone()),
        (SNP4.to_owned(), firmware),
    ]);
    assert_eq!(causes(&explanation), expected);
}

#[test]
fn a_new_init_moves_pcr0_and_pcr1_through_the_bootstrap_ramdisk() {
    let pair = Pair::new(|i| i.init.push(0));
    let both = names(&["bootstrap ramdisk (sha256)", "eif.init (init)"]);
    let expected = BTreeMap::from([
        ("aws-nitro PCR0".to_owned(), both.clone()),
        ("aws-nitro PCR1".to_owned(), both),
    ]);
    assert_eq!(causes(&pair.records()), expected);
}

#[test]
fn a_new_commit_counts_only_when_the_compiled_files_changed() {
    let same_binary = Pair::new(|i| i.commit = "7".repeat(40));
    let explanation = same_binary.records();
    assert!(explanation.is_empty(), "{explanation:#?}");
    assert_eq!(explanation.to_string(), "no measurement changed");

    let new_binary = Pair::new(|i| {
        i.commit = "7".repeat(40);
        i.binary.push(b'!');
    });
    let explanation = new_binary.records();
    let pcr2 = explanation
        .changes
        .iter()
        .find(|c| c.register == "PCR2")
        .unwrap();
    let names: Vec<&str> = pcr2.causes.iter().map(|c| c.input.as_str()).collect();
    assert!(names.contains(&"source commit"), "{names:?}");
    let pcr1_moved = explanation.changes.iter().any(|c| c.register == "PCR1");
    assert!(!pcr1_moved, "{explanation:#?}");
}

#[test]
fn a_register_that_moved_alone_is_said_to_be_unexplained() {
    let pair = Pair::new(|_| {});
    let mut b = serde_json::to_value(&pair.b).unwrap();
    let pcr2 = &mut b["outputs"]["eif"]["pcrs"]["pcr2"];
    let tampered = pcr2.as_str().unwrap().replace(|c: char| c != '0', "0");
    *pcr2 = tampered.into();
    let b: BuildRecord = serde_json::from_value(b).unwrap();
    let explanation = explain(
        &ReleaseFacts::from_record(&pair.a),
        &ReleaseFacts::from_record(&b),
        None,
    );
    assert_eq!(explanation.changes.len(), 1);
    let change = &explanation.changes[0];
    assert_eq!(change.measurement, "aws-nitro PCR2");
    assert!(change.causes.is_empty());
    assert_eq!(
        change.unexplained.as_deref(),
        Some("no recorded input explains it")
    );
}

/// What `mpr registry publish` puts in a statement about a record: artifacts and measurements.
fn statement_facts(record: &BuildRecord) -> ReleaseFacts {
    let outputs = &record.outputs;
    let eif = outputs.eif.as_ref().unwrap();
    let cvm = outputs.cvm.as_ref().unwrap();
    let subjects = vec![
        (
            outputs.binary.path.as_str(),
            outputs.binary.digests.sha256.as_str(),
        ),
        ("image.tar", outputs.image.archive.sha256.as_str()),
        ("fixture.eif", eif.eif.sha256.as_str()),
        (
            "bootstrap-ramdisk.cpio",
            eif.bootstrap_ramdisk.sha256.as_str(),
        ),
        (
            "customer-ramdisk.cpio",
            eif.customer_ramdisk.sha256.as_str(),
        ),
        ("vmlinuz", cvm.kernel.sha256.as_str()),
        ("initrd.img", cvm.initrd.sha256.as_str()),
    ];
    let measurements = ReleaseFacts::from_record(record)
        .measurements
        .into_iter()
        .map(|mut m| {
            m.parameters.remove("vcpu_sig");
            m
        });
    let inputs = &record.inputs;
    let predicate = StatementInputs {
        package: &inputs.package,
        repository: &inputs.repository,
        commit: &inputs.commit,
        source_date_epoch: inputs.source_date_epoch,
        recipe_sha256: &inputs.recipe_sha256,
        builder_image: Some(&inputs.builder_image),
        build_record_sha256: Some(
            "8888888888888888888888888888888888888888888888888888888888888888",
        ),
    };
    ReleaseFacts::from_statement_parts(predicate, subjects, measurements)
}

#[test]
fn statements_explain_what_their_digests_show_and_point_at_the_records() {
    let pair = Pair::new(|i| i.binary.push(b'!'));
    let explanation = explain(&statement_facts(&pair.a), &statement_facts(&pair.b), None);
    assert_eq!(explanation.source, Source::Statement);
    let binary = format!("rootfs file {BINARY_PATH}");
    let pcr2 = explanation
        .changes
        .iter()
        .find(|c| c.register == "PCR2")
        .unwrap();
    let got: Vec<&str> = pcr2.causes.iter().map(|c| c.input.as_str()).collect();
    assert_eq!(got, ["user ramdisk (sha256)", binary.as_str()]);
    assert!(
        explanation.advice[0].contains("give the build records (sha256 8888"),
        "{:?}",
        explanation.advice
    );

    let kernel = Pair::new(|i| i.nitro_kernel.push(0));
    let explanation = explain(
        &statement_facts(&kernel.a),
        &statement_facts(&kernel.b),
        None,
    );
    let pcr1 = explanation
        .changes
        .iter()
        .find(|c| c.register == "PCR1")
        .unwrap();
    assert!(pcr1.causes.is_empty());
    assert!(
        pcr1.not_recorded.contains(&"the enclave kernel".to_owned()),
        "{pcr1:?}"
    );
    let text = explanation.to_string();
    assert!(text.contains("note: release statements carry"), "{text}");

    let vcpus = Pair::new(|i| i.vcpus = vec![2, 16]);
    let explanation = explain(&statement_facts(&vcpus.a), &statement_facts(&vcpus.b), None);
    assert_eq!(explanation.changes.len(), 1);
    assert_eq!(explanation.changes[0].causes[0].input, "vCPU count");
}

#[test]
fn record_and_output_dir_sides_compare_only_what_both_carry() {
    let pair = Pair::new(|i| i.binary.push(b'!'));
    let a = ReleaseFacts::from_record(&pair.a);
    let b = statement_facts(&pair.b);
    let explanation = explain(&a, &b, None);
    assert_eq!(explanation.source, Source::Statement);
    let pcr2 = explanation
        .changes
        .iter()
        .find(|c| c.register == "PCR2")
        .unwrap();
    // Cargo.lock is only in the record: unknown on the statement's side, not removed.
    assert!(
        !pcr2
            .causes
            .iter()
            .any(|c| c.input.starts_with("Cargo.lock")),
        "{pcr2:#?}"
    );
    assert!(
        pcr2.causes
            .iter()
            .all(|c| !c.input.starts_with("vCPU signature")),
        "{pcr2:#?}"
    );
}

#[test]
fn uki_inputs_feed_the_vtpm_pcrs_that_measure_them() {
    for platform in ["gcp-cvm", "azure-cvm"] {
        // The command line: PCR 9 (the kernel's load options), PCR 11 (.cmdline), PCR 4 (the UKI).
        for pcr in ["PCR4", "PCR9", "PCR11"] {
            assert!(Role::UkiCmdline.feeds(platform, pcr), "{platform} {pcr}");
            assert!(Role::CvmInitrd.feeds(platform, pcr), "{platform} {pcr}");
        }
        // systemd-stub is only in the UKI's Authenticode digest; os-release in PCRs 4 and 11.
        assert!(Role::UkiStub.feeds(platform, "PCR4"));
        assert!(!Role::UkiStub.feeds(platform, "PCR11"));
        assert!(Role::UkiOsRelease.feeds(platform, "PCR11"));
        assert!(!Role::UkiOsRelease.feeds(platform, "PCR9"));
        // The CVM's own command line is not the UKI's, and nothing moves PCR 12.
        assert!(!Role::CvmCmdline.feeds(platform, "PCR9"));
        assert!(!Role::Recipe.feeds(platform, "PCR12"));
    }
}

#[test]
fn a_changed_container_command_moves_the_image_digest_through_its_args() {
    let pair = Pair::new(|i| i.command.push("--verbose".to_owned()));
    let records = pair.records();
    let digest = records
        .changes
        .iter()
        .find(|c| c.measurement == "gcp-confidential-space IMAGE_DIGEST")
        .unwrap_or_else(|| panic!("{records}"));
    let names: Vec<&str> = digest.causes.iter().map(|c| c.input.as_str()).collect();
    assert_eq!(names, ["launch parameter args"], "{records}");
    let args =
        |record: &BuildRecord| serde_json::to_string(&record.outputs.image.launch.args).unwrap();
    assert_eq!(digest.causes[0].old, Some(args(&pair.a)));
    assert_eq!(digest.causes[0].new, Some(args(&pair.b)));
    assert!(args(&pair.b).contains("--verbose"));
}
