//! SEV-SNP launch digests against the sev-snp-measure 0.0.13 values in the measurement notes
//! (cvm-measurements.md §1.11 B: Debian bookworm's OVMF.fd; §1.12: the synthetic firmware).

use std::path::{Path, PathBuf};

use measurer::snp::testing::{
    synthetic_firmware, SYNTHETIC_APPEND, SYNTHETIC_FIRMWARE_SHA256, SYNTHETIC_INITRD,
    SYNTHETIC_KERNEL,
};
use measurer::snp::{
    launch_digest, launch_digest_only, ovmf_hash, Firmware, GuestFeatures, KernelInputs,
    SectionType, SnpParams, VcpuType, VmmType,
};
use measurer::Digest384;

const DEBIAN_OVMF: &str = "/usr/share/ovmf/OVMF.fd";
const DEBIAN_OVMF_SHA256: &str = "7b456907dd0786d415999e801a1ac4637b8ed4d7cf5378cfc6edbe5e574dd773";

fn debian_ovmf() -> Firmware {
    let path = Path::new(DEBIAN_OVMF);
    assert!(
        path.exists(),
        "{DEBIAN_OVMF} is missing: these vectors need Debian bookworm's firmware, run `apt-get install ovmf`"
    );
    let firmware = Firmware::open(path).expect("Debian's OVMF.fd parses");
    assert_eq!(
        hex::encode(firmware.sha256()),
        DEBIAN_OVMF_SHA256,
        "{DEBIAN_OVMF} is not bookworm's ovmf 2022.11-6+deb12u2 build the vectors were computed from"
    );
    firmware
}

fn synthetic() -> Firmware {
    let firmware = Firmware::parse(synthetic_firmware()).expect("synthetic firmware parses");
    assert_eq!(
        hex::encode(firmware.sha256()),
        SYNTHETIC_FIRMWARE_SHA256,
        "the §1.12 recipe changed"
    );
    firmware
}

fn params(vmm: VmmType, vcpus: u32, vcpu_type: VcpuType, features: u64) -> SnpParams {
    SnpParams {
        vcpu_type: Some(vcpu_type),
        guest_features: GuestFeatures(features),
        ..SnpParams::new(vcpus, vmm)
    }
}

fn digest_hex(firmware: &Firmware, params: &SnpParams) -> String {
    launch_digest(firmware, params)
        .expect("launch digest")
        .digest
        .to_hex()
}

#[test]
fn debian_ovmf_layout_matches_the_notes() {
    let firmware = debian_ovmf();
    assert_eq!(firmware.len(), 2 << 20);
    assert_eq!(firmware.gpa_base(), 0xFFE0_0000);
    assert_eq!(firmware.ap_reset_eip(), 0x80B004);
    assert_eq!(firmware.kernel_hashes_table_gpa(), Some(0));
    let sections: Vec<(u32, u32, SectionType)> = firmware
        .sections()
        .iter()
        .map(|section| (section.gpa, section.size, section.kind))
        .collect();
    assert_eq!(
        sections,
        [
            (0x800000, 0x9000, SectionType::SnpSecMem),
            (0x80A000, 0x3000, SectionType::SnpSecMem),
            (0x80D000, 0x1000, SectionType::SnpSecrets),
            (0x80E000, 0x1000, SectionType::Cpuid),
            (0x80F000, 0x11000, SectionType::SnpSecMem),
        ]
    );
}

#[test]
fn debian_ovmf_vectors() {
    let firmware = debian_ovmf();
    let cases = [
        (VmmType::Qemu, 1, VcpuType::EpycV4, 0x1, "11570979c77a0adb515761a702527c8b9e11554e730552621d950988613a3a75c6ff1703f540bd22a9beede8fe7a97e3"),
        (VmmType::Qemu, 1, VcpuType::EpycV4, 0x21, "c32245cb607f82791b60757bf0b344d9030e5b5a107342e69c09e668ff28aca5af9ca1dc41ce74f5a4e81aeaeb5e7b54"),
        (VmmType::Qemu, 4, VcpuType::EpycV4, 0x1, "32ac9d7a17d28f7cd4404a4516d2f00519668c40ada2062351c36767e908eb3f090d66c33ab10f80150e00a4385b6d0f"),
        (VmmType::Qemu, 4, VcpuType::EpycV4, 0x21, "4842cf9f01c38c50535c62e34990ed6c1e8ab4676304545465367358527c359ba164717398516457f8f986cea3e9a221"),
        (VmmType::Qemu, 2, VcpuType::EpycMilan, 0x1, "a175292a4a09fcfb760c5bd80c93ed667dbaafce6247d0f21fc06638658b3ebf2804d3019e2abed05cb6a9efe0a7464e"),
        (VmmType::Gce, 1, VcpuType::EpycV4, 0x1, "6c5ed8d7d566801c36cf93c1e735e111d212d71892755cc9967a50c67f72e387909cfd3a3961b10d2799f7779f3beac6"),
        (VmmType::Ec2, 1, VcpuType::EpycV4, 0x1, "0aaa035d47b06741a745a62cb88eade395f648a7383d71cc322fab9df33859ca3c188a0578534c01526f1b4c0f0b0eb6"),
    ];
    for (vmm, vcpus, vcpu_type, features, expected) in cases {
        let params = params(vmm, vcpus, vcpu_type, features);
        assert_eq!(
            digest_hex(&firmware, &params),
            expected,
            "{vmm} {vcpus} vCPU {vcpu_type} {features:#x}"
        );
    }
}

#[test]
fn debian_ovmf_hash_and_seeded_digest() {
    let firmware = debian_ovmf();
    let seed = ovmf_hash(&firmware);
    assert_eq!(
        seed.to_hex(),
        "ba2c811512ef868474f239a21f7d7057d65a20de87a003c4f116e4fb1573183bfbcd75c3e99b2f558575a5d0094f73c6"
    );
    // Seeding with the firmware's own hash must give the unseeded digest (vector 1/0x1).
    let seeded = SnpParams {
        ovmf_hash: Some(seed),
        ..params(VmmType::Qemu, 1, VcpuType::EpycV4, 0x1)
    };
    let measurement = launch_digest(&firmware, &seeded).expect("seeded digest");
    assert_eq!(
        measurement.digest.to_hex(),
        "11570979c77a0adb515761a702527c8b9e11554e730552621d950988613a3a75c6ff1703f540bd22a9beede8fe7a97e3"
    );
    assert_eq!(measurement.ovmf_hash, Some(seed));
}

#[test]
fn debian_ovmf_cannot_measure_a_kernel() {
    let firmware = debian_ovmf();
    let dir = tempfile::tempdir().expect("temp dir");
    let (kernel, _) = write_boot_files(dir.path());
    let params = SnpParams {
        kernel: Some(KernelInputs {
            kernel,
            initrd: None,
            append: None,
        }),
        ..params(VmmType::Qemu, 1, VcpuType::EpycV4, 0x1)
    };
    let err = launch_digest(&firmware, &params)
        .expect_err("bookworm's OVMF.fd has no kernel-hashes table");
    let message = err.to_string();
    assert!(
        message.contains("no SNP_KERNEL_HASHES section"),
        "{message}"
    );
    assert!(
        message.contains("AmdSevX64.dsc") && message.contains("without --kernel"),
        "{message}"
    );
}

#[test]
fn debian_ovmf_code_4m_is_refused() {
    let path = Path::new("/usr/share/OVMF/OVMF_CODE_4M.fd");
    assert!(
        path.exists(),
        "{} is missing: run `apt-get install ovmf`",
        path.display()
    );
    let err = Firmware::open(path).expect_err("OVMF_CODE_4M.fd carries no SEV metadata");
    let message = err.to_string();
    assert!(message.contains("not an SEV-SNP firmware"), "{message}");
    assert!(message.contains("no SEV metadata entry"), "{message}");
    assert!(message.contains("/usr/share/ovmf/OVMF.fd"), "{message}");
}

/// Writes the §1.12 boot inputs; returns (kernel, initrd).
fn write_boot_files(dir: &Path) -> (PathBuf, PathBuf) {
    let kernel = dir.join("kernel");
    let initrd = dir.join("initrd");
    std::fs::write(&kernel, SYNTHETIC_KERNEL).expect("write kernel");
    std::fs::write(&initrd, SYNTHETIC_INITRD).expect("write initrd");
    (kernel, initrd)
}

#[test]
fn synthetic_firmware_vectors() {
    let firmware = synthetic();
    let dir = tempfile::tempdir().expect("temp dir");
    let (kernel, initrd) = write_boot_files(dir.path());
    let full = Some(KernelInputs {
        kernel: kernel.clone(),
        initrd: Some(initrd.clone()),
        append: Some(SYNTHETIC_APPEND.to_owned()),
    });
    let kernel_only = Some(KernelInputs {
        kernel: kernel.clone(),
        initrd: None,
        append: None,
    });
    let spaced = Some(KernelInputs {
        kernel: kernel.clone(),
        initrd: Some(initrd.clone()),
        append: Some(" console=ttyS0 ".to_owned()),
    });
    let cases = [
        (VmmType::Qemu, 1, VcpuType::EpycV4, 0x1, None, "0a86f96904f69c0586215d376dd775c64ea954c0ec68312bf321a78c718f8a8cd81d88e8d4ccee6a4a4b4539fb02387b"),
        (VmmType::Qemu, 1, VcpuType::EpycV4, 0x1, full.clone(), "d094430f0e92aa68717beeac5f1525fb5a2252fd06bbb000f7ba4648454f81dc2e5e236e5ad45db26b6a2c1e8456e806"),
        (VmmType::Qemu, 3, VcpuType::EpycV4, 0x21, None, "845cc3155f6e65840a80242694cb10d46cf7b88b271b0efdda5389fd0b545d4511a9480a19b824ca8e75f41f592cb70e"),
        (VmmType::Qemu, 3, VcpuType::EpycV4, 0x21, full.clone(), "c8ef7fd611e4f4e6ad889ac338e632259b709d5063bbf0ce7ba1dc5011e7689c01fed26bd2425ea1520e82af9ebb5861"),
        (VmmType::Qemu, 1, VcpuType::EpycV4, 0x1, kernel_only, "f2a2c975189a0b76dbc6b3c3da3be7764aef779a82736e882e483f0cf3d3c8d0e7c16a454edce9ed6517569c44c4d9c6"),
        (VmmType::Qemu, 1, VcpuType::EpycV4, 0x1, spaced, "d32f940726aae054bc202260dbd30eb7e52db09ff8612ea0228e6686a8c4d03f29a5090a6008213bcc4ad16a6268b577"),
        (VmmType::Qemu, 2, VcpuType::EpycMilan, 0x1, full.clone(), "0c7d3862aca3769970462a231ce1aecf0505049eff95543b7c9a14bfd321ebe3fb9293f8ff6c372f97a97be425b21b37"),
        (VmmType::Ec2, 2, VcpuType::EpycV4, 0x1, full.clone(), "808bbd5be9b33e26fe7ddaebb2c80506135fab6d72e34e7efcf4a9e66c623c43be4f916612b15a3d7e3ede1c85da0396"),
        (VmmType::Gce, 2, VcpuType::EpycV4, 0x1, full, "e4c444035cc7005b6504d03cde54cd394843c2298db2589385e05b243e75307013f1aeb89fc98eef96915fbe361635a8"),
    ];
    for (vmm, vcpus, vcpu_type, features, kernel, expected) in cases {
        let label = format!("{vmm} {vcpus} vCPU {vcpu_type} {features:#x} kernel {kernel:?}");
        let params = SnpParams {
            kernel,
            ..params(vmm, vcpus, vcpu_type, features)
        };
        assert_eq!(digest_hex(&firmware, &params), expected, "{label}");
    }
}

#[test]
fn synthetic_ovmf_hash_and_measurement_record() {
    let firmware = synthetic();
    assert_eq!(
        ovmf_hash(&firmware).to_hex(),
        "d64549e83742fe64453979d043fe6fea3e465bbdedeae8c80e1a0499561661d49edf6d786fdb18f86a768ec1c5815558"
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let (kernel, initrd) = write_boot_files(dir.path());
    let params = SnpParams {
        kernel: Some(KernelInputs {
            kernel,
            initrd: Some(initrd),
            append: Some(SYNTHETIC_APPEND.to_owned()),
        }),
        ovmf_hash: Some(ovmf_hash(&firmware)),
        ..params(VmmType::Qemu, 1, VcpuType::EpycV4, 0x1)
    };
    let measurement = launch_digest(&firmware, &params).expect("seeded digest");
    assert_eq!(
        measurement.digest.to_hex(),
        "d094430f0e92aa68717beeac5f1525fb5a2252fd06bbb000f7ba4648454f81dc2e5e236e5ad45db26b6a2c1e8456e806"
    );
    assert_eq!(measurement.firmware_sha256, SYNTHETIC_FIRMWARE_SHA256);
    assert_eq!(measurement.firmware_size, 0x20000);
    assert_eq!(measurement.vcpu_sig, "0x800f12");
    assert_eq!(measurement.vcpu_type, Some(VcpuType::EpycV4));
    // sha256("KERNEL"), sha256("INITRD")
    assert_eq!(
        measurement.kernel_sha256.as_deref(),
        Some(sha256_hex(SYNTHETIC_KERNEL).as_str())
    );
    assert_eq!(
        measurement.initrd_sha256.as_deref(),
        Some(sha256_hex(SYNTHETIC_INITRD).as_str())
    );
    assert_eq!(measurement.append.as_deref(), Some(SYNTHETIC_APPEND));

    let json = serde_json::to_value(&measurement).expect("serialises");
    assert_eq!(json["digest"], measurement.digest.to_hex());
    assert_eq!(json["vmm"], "qemu");
    assert_eq!(json["vcpu_type"], "EPYC-v4");
    assert_eq!(json["guest_features"], "0x1");
    let back: measurer::snp::SnpMeasurement = serde_json::from_value(json).expect("deserialises");
    assert_eq!(back, measurement);
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

#[test]
fn vcpu_signature_may_be_given_instead_of_a_type() {
    let firmware = synthetic();
    let by_type = params(VmmType::Qemu, 3, VcpuType::EpycV4, 0x21);
    let by_signature = SnpParams {
        vcpu_type: None,
        vcpu_sig: 0x800F12,
        ..by_type.clone()
    };
    let both = SnpParams {
        vcpu_sig: 0x800F12,
        ..by_type.clone()
    };
    let expected = "845cc3155f6e65840a80242694cb10d46cf7b88b271b0efdda5389fd0b545d4511a9480a19b824ca8e75f41f592cb70e";
    for params in [by_type, by_signature, both] {
        assert_eq!(digest_hex(&firmware, &params), expected, "{params:?}");
    }
    // The seed must be honoured, not the firmware pages: a different seed gives a different digest.
    let reseeded = SnpParams {
        ovmf_hash: Some(Digest384::ZERO),
        ..params(VmmType::Qemu, 3, VcpuType::EpycV4, 0x21)
    };
    assert_ne!(digest_hex(&firmware, &reseeded), expected);
}

#[test]
fn digest_only_equals_the_recorded_digest() {
    // Fresh firmware objects, so each path hashes the pages itself (with and without the SHA-256).
    for vmm in VmmType::ALL {
        let params = params(vmm, 4, VcpuType::EpycGenoa, 0x21);
        let recorded = launch_digest(&debian_ovmf_unchecked(), &params).expect("digest");
        let only = launch_digest_only(&debian_ovmf_unchecked(), &params).expect("digest");
        assert_eq!(only, recorded.digest, "{vmm}");
        assert_eq!(recorded.firmware_sha256, DEBIAN_OVMF_SHA256);
    }
}

/// Debian's OVMF.fd without hashing it first (so no hash is cached in the returned value).
fn debian_ovmf_unchecked() -> Firmware {
    assert!(
        Path::new(DEBIAN_OVMF).exists(),
        "{DEBIAN_OVMF} is missing: run `apt-get install ovmf`"
    );
    Firmware::open(Path::new(DEBIAN_OVMF)).expect("Debian's OVMF.fd parses")
}
