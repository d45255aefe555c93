//! Cross-check against AWS's own crate (aws-nitro-enclaves-image-format 0.8.1) through the
//! `ci/eif-reference` wrapper: random inputs from a fixed seed, our writer and reader against theirs.
//!
//! Run with `MPR_EIF_REFERENCE=/path/to/eif-reference cargo test -p measurer --test eif_crosscheck --
//! --ignored` (ci/test.sh does). `MPR_CROSSCHECK_SEED=<u64>` explores other cases; a failure message
//! names the seed and case so it can be replayed.

mod eif_support;

use std::path::{Path, PathBuf};
use std::process::Command;

use eif_support::*;
use measurer::eif::{
    describe, rfc3339_from_unix, write_eif, Arch, BuildMetadata, EifMetadata, EifSpec,
};
use measurer::eif::{SectionKind, SignatureStatus};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

const BASE_SEED: u64 = 0x6d70_725f_6569_6621;
const UNSIGNED_CASES: usize = 160;
const SIGNED_CASES: usize = 24;
const MAX_KERNEL_SIZE: usize = 300 * 1024;
const MAX_RAMDISK_SIZE: usize = 96 * 1024;

fn seed() -> u64 {
    let extra = std::env::var("MPR_CROSSCHECK_SEED")
        .map(|value| {
            value
                .parse::<u64>()
                .expect("MPR_CROSSCHECK_SEED must be an unsigned integer")
        })
        .unwrap_or(0);
    BASE_SEED ^ extra
}

fn run_reference(args: &[&std::ffi::OsStr]) -> Value {
    let output = Command::new(reference_binary())
        .args(args)
        .output()
        .expect("cannot run eif-reference");
    assert!(
        output.status.success(),
        "eif-reference {:?} failed: {}",
        args,
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("eif-reference printed invalid JSON")
}

fn random_bytes(rng: &mut StdRng, len: usize) -> Vec<u8> {
    // Some inputs all-zero or low-valued, most random: bytes < 24 and >= 24 encode differently in CBOR.
    match rng.gen_range(0..4) {
        0 => vec![0; len],
        1 => (0..len).map(|_| rng.gen_range(0..24)).collect(),
        _ => (0..len).map(|_| rng.gen()).collect(),
    }
}

fn random_size(rng: &mut StdRng, max: usize) -> usize {
    match rng.gen_range(0..10) {
        0 => 0,
        1 => rng.gen_range(1..16),
        _ => rng.gen_range(0..=max),
    }
}

fn random_text(rng: &mut StdRng, max_len: usize) -> String {
    let len = rng.gen_range(0..=max_len);
    (0..len)
        .map(|_| char::from(rng.gen_range(0x20u8..0x7f)))
        .collect()
}

fn random_cmdline(rng: &mut StdRng) -> String {
    match rng.gen_range(0..5) {
        0 => String::new(),
        1 => "reboot=k panic=30 pci=off nomodules console=ttyS0 random.trust_cpu=on".into(),
        2 => format!(" {} ", random_text(rng, 40)),
        _ => random_text(rng, 300),
    }
}

fn random_json(rng: &mut StdRng, depth: usize) -> Value {
    match rng.gen_range(0..if depth > 2 { 5 } else { 7 }) {
        0 => Value::Null,
        1 => json!(rng.gen::<bool>()),
        2 => json!(rng.gen::<i64>()),
        3 => json!(random_text(rng, 20)),
        // Multiples of 1/8: serde_json (without `float_roundtrip`) may parse a 17-digit float one ulp
        // off, which would make AWS's re-serialised metadata differ from the JSON file it was given.
        4 => json!(f64::from(rng.gen_range(-8_000_000..8_000_000)) / 8.0),
        5 => Value::Array(
            (0..rng.gen_range(0..4))
                .map(|_| random_json(rng, depth + 1))
                .collect(),
        ),
        _ => {
            let entries = (0..rng.gen_range(0..5))
                .map(|_| (random_text(rng, 12), random_json(rng, depth + 1)));
            Value::Object(entries.collect())
        }
    }
}

fn random_metadata(rng: &mut StdRng) -> EifMetadata {
    EifMetadata {
        image_name: random_text(rng, 30),
        image_version: format!("{:016x}", rng.gen::<u64>()),
        build: BuildMetadata {
            build_time: rfc3339_from_unix(rng.gen_range(0..4_000_000_000)),
            build_tool: ["nitro-cli", "mpr", "eifref"][rng.gen_range(0..3)].into(),
            build_tool_version: format!(
                "{}.{}.{}",
                rng.gen_range(0..3),
                rng.gen_range(0..20),
                rng.gen_range(0..9)
            ),
            operating_system: "Linux".into(),
            kernel_version: random_text(rng, 10),
        },
        docker_info: if rng.gen() {
            Value::Null
        } else {
            random_json(rng, 0)
        },
        custom: random_json(rng, 0),
    }
}

struct Case {
    /// Holds the inputs and outputs; deleted when the case ends.
    dir: tempfile::TempDir,
    spec: EifSpec,
    metadata_json: PathBuf,
}

fn random_case(rng: &mut StdRng, index: usize) -> Case {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, bytes: Vec<u8>| -> PathBuf {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    };
    // Case 0 pins the edge of an empty kernel; the rest draw it.
    let kernel_size = if index == 0 {
        0
    } else {
        random_size(rng, MAX_KERNEL_SIZE)
    };
    let kernel = write("kernel", random_bytes(rng, kernel_size));
    let ramdisk_count = rng.gen_range(1..=5);
    let ramdisks = (0..ramdisk_count)
        .map(|n| {
            let size = random_size(rng, MAX_RAMDISK_SIZE);
            write(&format!("ramdisk{n}"), random_bytes(rng, size))
        })
        .collect();
    let metadata = random_metadata(rng);
    let metadata_json = write("metadata.json", serde_json::to_vec(&metadata).unwrap());
    let spec = EifSpec {
        kernel,
        cmdline: random_cmdline(rng),
        ramdisks,
        arch: if rng.gen() {
            Arch::X86_64
        } else {
            Arch::Aarch64
        },
        metadata,
        signing: None,
    };
    Case {
        dir,
        spec,
        metadata_json,
    }
}

fn build_with_reference(case: &Case, output: &Path, signed: bool) -> Value {
    let mut args: Vec<std::ffi::OsString> = vec![
        "build".into(),
        "--kernel".into(),
        case.spec.kernel.clone().into(),
    ];
    args.extend(["--cmdline".into(), case.spec.cmdline.clone().into()]);
    for ramdisk in &case.spec.ramdisks {
        args.extend(["--ramdisk".into(), ramdisk.clone().into()]);
    }
    args.extend(["--flags".into(), case.spec.arch.flags().to_string().into()]);
    args.extend(["--metadata".into(), case.metadata_json.clone().into()]);
    if signed {
        args.extend([
            "--private-key".into(),
            data_path("signer-p384.key.pem").into(),
        ]);
        args.extend([
            "--signing-certificate".into(),
            data_path("signer-p384.cert.pem").into(),
        ]);
    }
    args.extend(["--output".into(), output.into()]);
    let refs: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_os_str()).collect();
    run_reference(&refs)
}

/// Where two files first differ, with some context, to make a failure diagnosable.
fn first_difference(ours: &[u8], theirs: &[u8]) -> String {
    let at = ours
        .iter()
        .zip(theirs)
        .position(|(a, b)| a != b)
        .unwrap_or(ours.len().min(theirs.len()));
    let window = |bytes: &[u8]| {
        String::from_utf8_lossy(&bytes[at.saturating_sub(40)..(at + 40).min(bytes.len())])
            .into_owned()
    };
    format!(
        "sizes {} vs {}, first difference at byte {at}: ours ...{:?}... theirs ...{:?}...",
        ours.len(),
        theirs.len(),
        window(ours),
        window(theirs)
    )
}

fn describe_with_reference(path: &Path) -> Value {
    reference_describe(path)
        .unwrap_or_else(|message| panic!("eif-reference describe {path:?} failed: {message}"))
}

#[test]
#[ignore = "needs ci/eif-reference: run ci/test.sh"]
fn unsigned_eifs_are_byte_identical_to_aws() {
    let seed = seed();
    let mut rng = StdRng::seed_from_u64(seed);
    for index in 0..UNSIGNED_CASES {
        let case = random_case(&mut rng, index);
        let context = format!("seed {seed:#x} case {index}");
        let ours_path = case.dir.path().join("ours.eif");
        let theirs_path = case.dir.path().join("theirs.eif");
        let ours = write_eif(&case.spec, &ours_path).unwrap_or_else(|e| panic!("{context}: {e}"));
        let built = build_with_reference(&case, &theirs_path, false);

        let (ours_bytes, theirs_bytes) = (
            std::fs::read(&ours_path).unwrap(),
            std::fs::read(&theirs_path).unwrap(),
        );
        if ours_bytes != theirs_bytes {
            panic!(
                "{context}: our EIF differs from EifBuilder's: {}",
                first_difference(&ours_bytes, &theirs_bytes)
            );
        }
        assert_eq!(ours.pcrs, reference_pcrs(&built), "{context}: PCRs differ");

        let their_view = describe_with_reference(&ours_path);
        assert_eq!(
            their_view["CrcOk"],
            json!(true),
            "{context}: AWS rejects our CRC"
        );
        assert_eq!(their_view["Crc"], json!(ours.crc32), "{context}");
        assert_eq!(
            reference_pcrs(&their_view),
            ours.pcrs,
            "{context}: AWS reads other PCRs from our file"
        );

        let our_view = describe(&theirs_path)
            .unwrap_or_else(|e| panic!("{context}: we reject AWS's EIF: {e}"));
        assert_eq!(
            our_view.pcrs,
            reference_pcrs(&built),
            "{context}: we read other PCRs from AWS's file"
        );
        assert_eq!(
            our_view.metadata.as_ref().and_then(|m| m.identity.as_ref()),
            Some(&case.spec.metadata),
            "{context}"
        );
        assert_eq!(our_view.warnings, [], "{context}");
    }
}

#[test]
#[ignore = "needs ci/eif-reference: run ci/test.sh"]
fn signed_eifs_verify_both_ways_with_identical_pcrs() {
    let seed = seed().wrapping_add(1);
    let mut rng = StdRng::seed_from_u64(seed);
    for index in 0..SIGNED_CASES {
        let mut case = random_case(&mut rng, index);
        case.spec.signing = Some(test_signer());
        let context = format!("signed seed {seed:#x} case {index}");
        let ours_path = case.dir.path().join("ours.eif");
        let theirs_path = case.dir.path().join("theirs.eif");
        let ours = write_eif(&case.spec, &ours_path).unwrap_or_else(|e| panic!("{context}: {e}"));
        let built = build_with_reference(&case, &theirs_path, true);
        assert!(ours.pcrs.pcr8.is_some());
        assert_eq!(
            ours.pcrs,
            reference_pcrs(&built),
            "{context}: PCRs (0, 1, 2, 8) differ"
        );

        let their_view = describe_with_reference(&ours_path);
        assert_eq!(
            their_view["CrcOk"],
            json!(true),
            "{context}: AWS rejects our CRC"
        );
        assert_eq!(
            their_view["SignCheck"],
            json!(true),
            "{context}: AWS rejects our signature"
        );
        assert_eq!(reference_pcrs(&their_view), ours.pcrs, "{context}");

        let our_view = describe(&theirs_path)
            .unwrap_or_else(|e| panic!("{context}: we reject AWS's EIF: {e}"));
        let signature = our_view.signature.as_ref().expect("no signature section");
        assert_eq!(
            signature.status,
            SignatureStatus::Valid,
            "{context}: we reject AWS's signature"
        );
        assert_eq!(our_view.pcrs, ours.pcrs, "{context}");

        // Only the signature bytes (OpenSSL's nonces are random) and thus the header may differ.
        let signature_offset = our_view
            .sections
            .iter()
            .find(|s| s.kind == SectionKind::Signature)
            .unwrap()
            .offset;
        let (ours_bytes, theirs_bytes) = (
            std::fs::read(&ours_path).unwrap(),
            std::fs::read(&theirs_path).unwrap(),
        );
        let body = 548..signature_offset as usize;
        assert!(
            ours_bytes[body.clone()] == theirs_bytes[body],
            "{context}: unsigned part differs"
        );
    }
}
