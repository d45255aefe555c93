//! Cross-check against sev-snp-measure 0.0.13 itself: every launch digest must equal the reference's.
//!
//! Runs ci/snp_reference.py (one Python process, the sevsnpmeasure library in-process) under the
//! interpreter named by MPR_SNP_REFERENCE_PYTHON, and a few cases through the `sev-snp-measure` command
//! next to it. Cases: the full grid on Debian's OVMF.fd (every VMM, vCPU model, 1..=64 vCPUs, features
//! 0x1/0x21) and random kernel/initrd/cmdline/seed cases on the synthetic firmware (seed from
//! MPR_CROSSCHECK_SEED, printed on failure).

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use measurer::snp::testing::synthetic_firmware;
use measurer::snp::{
    launch_digest, ovmf_hash, Firmware, GuestFeatures, KernelInputs, SnpParams, VcpuType, VmmType,
};
use measurer::Digest384;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

const DEBIAN_OVMF: &str = "/usr/share/ovmf/OVMF.fd";
const DEFAULT_SEED: u64 = 0x5e5_0e5a_2026;

fn reference_python() -> PathBuf {
    let python = std::env::var_os("MPR_SNP_REFERENCE_PYTHON").unwrap_or_else(|| {
        panic!(
            "MPR_SNP_REFERENCE_PYTHON is not set: point it at the python of a venv with \
             `pip install sev-snp-measure==0.0.13` (ci/test.sh sets it up and runs this test)"
        )
    });
    PathBuf::from(python)
}

fn driver_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../ci/snp_reference.py")
}

/// One measurement, as both our parameters and the reference driver's JSON.
struct Case {
    firmware: usize,
    params: SnpParams,
}

impl Case {
    fn reference_json(&self, ovmf_path: &Path) -> Value {
        let params = &self.params;
        let kernel = params.kernel.as_ref();
        json!({
            "ovmf": ovmf_path,
            "vcpus": params.vcpus,
            "vcpu_type": params.vcpu_type.map(|vcpu_type| vcpu_type.to_string()),
            "vcpu_sig": params.vcpu_sig,
            "vmm": params.vmm.reference_name(),
            "guest_features": params.guest_features.0,
            "kernel": kernel.map(|inputs| &inputs.kernel),
            "initrd": kernel.and_then(|inputs| inputs.initrd.as_ref()),
            "append": kernel.and_then(|inputs| inputs.append.as_ref()),
            "ovmf_hash": params.ovmf_hash.map(|seed| seed.to_hex()),
        })
    }
}

/// Runs every case through the reference driver in one process; returns its output lines in order.
fn reference_digests(lines: Vec<String>) -> Vec<String> {
    let python = reference_python();
    let mut child = Command::new(&python)
        .arg(driver_script())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|err| {
            panic!(
                "cannot start {} {}: {err}",
                python.display(),
                driver_script().display()
            )
        });
    let mut stdin = child.stdin.take().expect("piped stdin");
    // Writing from another thread keeps both pipes flowing, whatever the number of cases.
    let writer = std::thread::spawn(move || {
        for line in lines {
            writeln!(stdin, "{line}").expect("write a case to the reference driver");
        }
    });
    let stdout = child.stdout.take().expect("piped stdout");
    let outputs: Vec<String> = BufReader::new(stdout)
        .lines()
        .map(|line| line.expect("read a digest"))
        .collect();
    writer.join().expect("writer thread");
    assert!(
        child.wait().expect("reference driver exits").success(),
        "the reference driver failed"
    );
    outputs
}

/// Measures every case both ways and fails listing the first differences.
fn cross_check(firmware_paths: &[&Path], firmwares: &[Firmware], cases: &[Case], context: &str) {
    let lines = cases
        .iter()
        .map(|case| {
            case.reference_json(firmware_paths[case.firmware])
                .to_string()
        })
        .collect();
    let expected = reference_digests(lines);
    assert_eq!(
        expected.len(),
        cases.len(),
        "the reference driver answered {} of {} cases",
        expected.len(),
        cases.len()
    );
    let mut mismatches = Vec::new();
    for (case, expected) in cases.iter().zip(&expected) {
        let ours = match launch_digest(&firmwares[case.firmware], &case.params) {
            Ok(measurement) => measurement.digest.to_hex(),
            Err(err) => format!("our error: {err}"),
        };
        if &ours != expected {
            mismatches.push(format!(
                "{}\n  reference {expected}\n  ours      {ours}",
                case.reference_json(firmware_paths[case.firmware])
            ));
        }
    }
    assert!(
        mismatches.is_empty(),
        "{context}: {} of {} cases differ from sev-snp-measure 0.0.13; first ones:\n{}",
        mismatches.len(),
        cases.len(),
        mismatches
            .iter()
            .take(10)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
    eprintln!(
        "{context}: {} cases identical to sev-snp-measure 0.0.13",
        cases.len()
    );
}

fn debian_ovmf() -> Firmware {
    assert!(
        Path::new(DEBIAN_OVMF).exists(),
        "{DEBIAN_OVMF} is missing: run `apt-get install ovmf`"
    );
    Firmware::open(Path::new(DEBIAN_OVMF)).expect("Debian's OVMF.fd parses")
}

#[test]
#[ignore = "needs sev-snp-measure 0.0.13: run ci/test.sh"]
fn debian_ovmf_full_grid() {
    let firmware = debian_ovmf();
    let mut cases = Vec::new();
    for vmm in VmmType::ALL {
        // EC2 and GCE ignore the vCPU model; two are enough to show it.
        let vcpu_types: &[VcpuType] = match vmm {
            VmmType::Qemu => VcpuType::all(),
            VmmType::Ec2 | VmmType::Gce => &[VcpuType::EpycV4, VcpuType::EpycMilan],
        };
        for &vcpu_type in vcpu_types {
            for vcpus in 1..=64 {
                for features in [0x1, 0x21] {
                    let params = SnpParams {
                        vcpu_type: Some(vcpu_type),
                        guest_features: GuestFeatures(features),
                        ..SnpParams::new(vcpus, vmm)
                    };
                    cases.push(Case {
                        firmware: 0,
                        params,
                    });
                }
            }
        }
    }
    cross_check(
        &[Path::new(DEBIAN_OVMF)],
        &[firmware],
        &cases,
        "Debian OVMF.fd grid",
    );
}

fn seed() -> u64 {
    match std::env::var("MPR_CROSSCHECK_SEED") {
        Ok(text) => text
            .parse()
            .unwrap_or_else(|_| panic!("MPR_CROSSCHECK_SEED={text:?} is not a u64")),
        Err(_) => DEFAULT_SEED,
    }
}

/// Command lines as people write them, plus the awkward ones: empty, only spaces, padded, tabs, UTF-8.
fn random_cmdline(rng: &mut StdRng) -> Option<String> {
    const PIECES: [&str; 12] = [
        "console=ttyS0",
        "root=/dev/vda1",
        "ro",
        "quiet",
        "loglevel=7",
        "init=/bin/sh",
        "a=b\tc",
        "mem=4G",
        "déjà=vu",
        "",
        " ",
        "panic=-1",
    ];
    match rng.gen_range(0..6) {
        0 => None,
        1 => Some(String::new()),
        2 => Some((0..rng.gen_range(1..4)).map(|_| " ").collect()),
        3 => Some(
            (0..rng.gen_range(0..300))
                .map(|_| char::from(rng.gen_range(0x20u8..0x7F)))
                .collect(),
        ),
        _ => {
            let words: Vec<&str> = (0..rng.gen_range(1..8))
                .map(|_| *PIECES.choose(rng).unwrap_or(&""))
                .collect();
            let separator = if rng.gen_bool(0.2) { "  " } else { " " };
            let padding = |rng: &mut StdRng| if rng.gen_bool(0.3) { " " } else { "" };
            Some(format!(
                "{}{}{}",
                padding(rng),
                words.join(separator),
                padding(rng)
            ))
        }
    }
}

fn write_random_file(dir: &Path, name: String, rng: &mut StdRng) -> PathBuf {
    let path = dir.join(name);
    let mut bytes = vec![0u8; rng.gen_range(0..200_000)];
    rng.fill(bytes.as_mut_slice());
    std::fs::write(&path, bytes).expect("write a boot file");
    path
}

#[test]
#[ignore = "needs sev-snp-measure 0.0.13: run ci/test.sh"]
fn synthetic_firmware_random_cases() {
    let seed = seed();
    eprintln!("MPR_CROSSCHECK_SEED={seed}");
    let mut rng = StdRng::seed_from_u64(seed);
    let dir = tempfile::tempdir().expect("temp dir");
    let firmware_path = dir.path().join("synthetic.fd");
    std::fs::write(&firmware_path, synthetic_firmware()).expect("write the synthetic firmware");
    let firmware = Firmware::open(&firmware_path).expect("synthetic firmware parses");
    let real_seed = ovmf_hash(&firmware);

    let kernels: Vec<PathBuf> = (0..24)
        .map(|i| write_random_file(dir.path(), format!("kernel{i}"), &mut rng))
        .collect();
    let initrds: Vec<PathBuf> = (0..24)
        .map(|i| write_random_file(dir.path(), format!("initrd{i}"), &mut rng))
        .collect();

    let mut cases = Vec::new();
    for index in 0..1500 {
        let vmm = *VmmType::ALL.choose(&mut rng).unwrap_or(&VmmType::Qemu);
        let mut params = SnpParams::new(rng.gen_range(1..=64), vmm);
        if rng.gen_bool(0.5) {
            params.vcpu_type = VcpuType::all().choose(&mut rng).copied();
        } else {
            params.vcpu_sig = rng.gen_range(1..=u32::MAX);
        }
        params.guest_features = GuestFeatures(match rng.gen_range(0..4) {
            0 => 0x1,
            1 => 0x21,
            2 => rng.gen_range(0..0x10000),
            _ => rng.gen(),
        });
        // A quarter without a kernel, so the zero-page path of the kernel-hashes section is covered too.
        if rng.gen_bool(0.75) {
            params.kernel = Some(KernelInputs {
                kernel: kernels.choose(&mut rng).cloned().unwrap_or_default(),
                initrd: if rng.gen_bool(0.8) {
                    initrds.choose(&mut rng).cloned()
                } else {
                    None
                },
                append: random_cmdline(&mut rng),
            });
        }
        // Every fifth case seeded (--snp-ovmf-hash): alternately the true firmware digest and a random one.
        if index % 5 == 0 {
            params.ovmf_hash = Some(if index % 10 == 0 {
                real_seed
            } else {
                let mut random = [0u8; 48];
                rng.fill(random.as_mut_slice());
                Digest384(random)
            });
        }
        cases.push(Case {
            firmware: 0,
            params,
        });
    }
    cross_check(
        &[firmware_path.as_path()],
        &[firmware],
        &cases,
        &format!("synthetic firmware, seed {seed}"),
    );
}

/// The driver must call the code the `sev-snp-measure` command runs: compare with a few CLI processes.
#[test]
#[ignore = "needs sev-snp-measure 0.0.13: run ci/test.sh"]
fn reference_command_line_agrees() {
    let python = reference_python();
    let command = python.with_file_name("sev-snp-measure");
    assert!(
        command.exists(),
        "{} is missing: install sev-snp-measure==0.0.13 in that venv",
        command.display()
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let synthetic_path = dir.path().join("synthetic.fd");
    std::fs::write(&synthetic_path, synthetic_firmware()).expect("write the synthetic firmware");
    let kernel = dir.path().join("kernel");
    let initrd = dir.path().join("initrd");
    std::fs::write(&kernel, b"a kernel").expect("write kernel");
    std::fs::write(&initrd, b"an initrd").expect("write initrd");
    let synthetic = Firmware::open(&synthetic_path).expect("synthetic parses");
    let debian = debian_ovmf();

    let with_kernel = |append: &str| KernelInputs {
        kernel: kernel.clone(),
        initrd: Some(initrd.clone()),
        append: Some(append.to_owned()),
    };
    let typed = |vcpus, vmm, vcpu_type| SnpParams {
        vcpu_type: Some(vcpu_type),
        ..SnpParams::new(vcpus, vmm)
    };
    let cases = [
        (
            &debian,
            Path::new(DEBIAN_OVMF),
            typed(64, VmmType::Qemu, VcpuType::EpycV4),
        ),
        (
            &debian,
            Path::new(DEBIAN_OVMF),
            SnpParams {
                guest_features: GuestFeatures(0x21),
                ..typed(7, VmmType::Gce, VcpuType::EpycGenoa)
            },
        ),
        (
            &synthetic,
            synthetic_path.as_path(),
            SnpParams {
                kernel: Some(with_kernel(" console=ttyS0  quiet ")),
                ..typed(3, VmmType::Qemu, VcpuType::EpycTurin)
            },
        ),
        (
            &synthetic,
            synthetic_path.as_path(),
            SnpParams {
                kernel: Some(with_kernel("")),
                ..typed(2, VmmType::Ec2, VcpuType::EpycMilanV2)
            },
        ),
        (
            &synthetic,
            synthetic_path.as_path(),
            SnpParams {
                ovmf_hash: Some(ovmf_hash(&synthetic)),
                kernel: Some(with_kernel("ro")),
                vcpu_type: None,
                vcpu_sig: 0xA10F10,
                ..SnpParams::new(5, VmmType::Qemu)
            },
        ),
    ];
    for (firmware, path, params) in cases {
        let mut args: Vec<String> = vec![
            "--mode".into(),
            "snp".into(),
            "--ovmf".into(),
            path.display().to_string(),
        ];
        args.extend([
            "--vcpus".into(),
            params.vcpus.to_string(),
            "--vmm-type".into(),
            params.vmm.reference_name().into(),
        ]);
        args.extend(["--guest-features".into(), params.guest_features.to_string()]);
        match params.vcpu_type {
            Some(vcpu_type) => args.extend(["--vcpu-type".into(), vcpu_type.to_string()]),
            None => args.extend(["--vcpu-sig".into(), format!("{:#x}", params.vcpu_sig)]),
        }
        if let Some(inputs) = &params.kernel {
            args.extend(["--kernel".into(), inputs.kernel.display().to_string()]);
            if let Some(initrd) = &inputs.initrd {
                args.extend(["--initrd".into(), initrd.display().to_string()]);
            }
            if let Some(append) = &inputs.append {
                // --append=VALUE keeps a value that starts with a space or is empty intact.
                args.push(format!("--append={append}"));
            }
        }
        if let Some(seed) = params.ovmf_hash {
            args.extend(["--snp-ovmf-hash".into(), seed.to_hex()]);
        }
        let output = Command::new(&command)
            .args(&args)
            .output()
            .expect("run sev-snp-measure");
        assert!(
            output.status.success(),
            "sev-snp-measure {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let reference = String::from_utf8_lossy(&output.stdout).trim().to_owned();
        let ours = launch_digest(firmware, &params)
            .expect("our digest")
            .digest
            .to_hex();
        assert_eq!(ours, reference, "sev-snp-measure {}", args.join(" "));

        let driver = reference_digests(vec![Case {
            firmware: 0,
            params,
        }
        .reference_json(path)
        .to_string()]);
        assert_eq!(
            driver,
            [reference],
            "the driver and the command disagree on {args:?}"
        );
    }
}
