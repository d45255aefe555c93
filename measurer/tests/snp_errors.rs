//! Inputs sev-snp-measure crashes on or silently measures wrongly must give a clear error here, and no
//! input may make the firmware parser panic.

use std::path::Path;

use measurer::snp::testing::{
    footer_entry, metadata, stamped_image, synthetic_firmware, write_at, write_table,
    SEV_ES_RESET_BLOCK, SEV_HASH_TABLE_RV, SEV_METADATA, SYNTHETIC_KERNEL,
    SYNTHETIC_METADATA_OFFSET, SYNTHETIC_SECTIONS,
};
use measurer::snp::{
    launch_digest, Firmware, KernelInputs, SnpError, SnpParams, VcpuType, VmmType,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const IMAGE_SIZE: usize = 0x4000;
const METADATA_AT: usize = 0x1000;
const RESET_EIP: u32 = 0x80B004;

/// A 16 KiB image with the given metadata at 0x1000 and GUID table entries (already encoded).
fn image(metadata_bytes: &[u8], entries: &[Vec<u8>]) -> Vec<u8> {
    let mut image = stamped_image(IMAGE_SIZE);
    write_at(&mut image, METADATA_AT, metadata_bytes);
    write_table(&mut image, &entries.concat());
    image
}

fn metadata_entry() -> Vec<u8> {
    footer_entry(
        &((IMAGE_SIZE - METADATA_AT) as u32).to_le_bytes(),
        SEV_METADATA,
    )
}

fn reset_entry(eip: u32) -> Vec<u8> {
    footer_entry(&eip.to_le_bytes(), SEV_ES_RESET_BLOCK)
}

fn hash_table_entry(gpa: u32) -> Vec<u8> {
    footer_entry(
        &[gpa.to_le_bytes(), 0x400u32.to_le_bytes()].concat(),
        SEV_HASH_TABLE_RV,
    )
}

/// A valid small image with the given sections.
fn image_with_sections(sections: &[(u32, u32, u32)]) -> Vec<u8> {
    image(
        &metadata(1, sections),
        &[metadata_entry(), reset_entry(RESET_EIP)],
    )
}

fn parse_error(bytes: Vec<u8>) -> String {
    match Firmware::parse(bytes) {
        Ok(firmware) => panic!("expected an error, parsed {firmware:?}"),
        Err(err) => err.to_string(),
    }
}

fn assert_contains(message: &str, parts: &[&str]) {
    for part in parts {
        assert!(message.contains(part), "{part:?} missing from: {message}");
    }
}

fn qemu_params(vcpus: u32) -> SnpParams {
    SnpParams {
        vcpu_type: Some(VcpuType::EpycV4),
        ..SnpParams::new(vcpus, VmmType::Qemu)
    }
}

#[test]
fn valid_small_image_parses() {
    let firmware = Firmware::parse(image_with_sections(&[(0x800000, 0x1000, 1)])).expect("valid");
    assert_eq!(firmware.ap_reset_eip(), RESET_EIP);
    assert_eq!(firmware.kernel_hashes_table_gpa(), None);
    assert!(launch_digest(&firmware, &qemu_params(2)).is_ok());
}

#[test]
fn image_size_is_checked() {
    assert_contains(&parse_error(Vec::new()), &["0 bytes", "multiple of 4096"]);
    assert_contains(
        &parse_error(vec![0; 4097]),
        &["4097 bytes", "multiple of 4096"],
    );
    assert_contains(
        &parse_error(vec![0; Firmware::MAX_SIZE + 4096]),
        &["more than the 67108864-byte limit"],
    );
    let err = Firmware::open(Path::new("/nonexistent/OVMF.fd")).expect_err("missing file");
    assert_contains(
        &err.to_string(),
        &["cannot read firmware /nonexistent/OVMF.fd"],
    );
}

#[test]
fn firmware_without_table_or_metadata_is_not_snp() {
    let no_table = stamped_image(IMAGE_SIZE);
    assert_contains(
        &parse_error(no_table),
        &[
            "not an SEV-SNP firmware",
            "no OVMF GUID table",
            "AmdSevX64.dsc",
        ],
    );
    let no_metadata = image(
        &metadata(1, &[(0x800000, 0x1000, 1)]),
        &[reset_entry(RESET_EIP)],
    );
    assert_contains(
        &parse_error(no_metadata),
        &[
            "not an SEV-SNP firmware",
            "no SEV metadata entry",
            "OVMF.fd",
        ],
    );
}

#[test]
fn broken_footer_tables_are_refused() {
    let mut small_size = image_with_sections(&[]);
    write_at(&mut small_size, IMAGE_SIZE - 50, &17u16.to_le_bytes());
    assert_contains(
        &parse_error(small_size),
        &[
            "GUID table is broken",
            "declares 17 bytes, less than its own 18-byte footer",
        ],
    );

    let mut past_start = image_with_sections(&[]);
    write_at(&mut past_start, IMAGE_SIZE - 50, &0xFFFFu16.to_le_bytes());
    assert_contains(
        &parse_error(past_start),
        &["declares 65535 bytes, more than the"],
    );

    let short_entry = [metadata_entry(), reset_entry(RESET_EIP)].concat();
    let mut bytes = image(&metadata(1, &[]), &[]);
    let mut body = short_entry.clone();
    let trailer = body.len() - 18;
    body[trailer..trailer + 2].copy_from_slice(&5u16.to_le_bytes());
    write_table(&mut bytes, &body);
    assert_contains(
        &parse_error(bytes),
        &["declares 5 bytes, less than its own 18-byte trailer"],
    );

    let mut bytes = image(&metadata(1, &[]), &[]);
    let mut body = short_entry;
    let trailer = body.len() - 18;
    body[trailer..trailer + 2].copy_from_slice(&0x200u16.to_le_bytes());
    write_table(&mut bytes, &body);
    assert_contains(
        &parse_error(bytes),
        &["declares 512 bytes, more than the 44 bytes left in the table"],
    );

    let twice = image(
        &metadata(1, &[]),
        &[metadata_entry(), reset_entry(1), reset_entry(2)],
    );
    assert_contains(
        &parse_error(twice),
        &["00f771de-1a7e-4fcb-890e-68c77e2fb44e appears twice"],
    );

    let truncated_value = image(
        &metadata(1, &[]),
        &[
            metadata_entry(),
            footer_entry(&[4, 0xB0], SEV_ES_RESET_BLOCK),
        ],
    );
    assert_contains(
        &parse_error(truncated_value),
        &["SEV-ES reset block entry holds 2 bytes"],
    );
}

#[test]
fn missing_reset_block_is_refused() {
    let bytes = image(&metadata(1, &[(0x800000, 0x1000, 1)]), &[metadata_entry()]);
    assert_contains(&parse_error(bytes), &["no SEV-ES reset block entry"]);
}

#[test]
fn broken_metadata_is_refused() {
    let mut bad_signature = metadata(1, &[(0x800000, 0x1000, 1)]);
    bad_signature[..4].copy_from_slice(b"ASEX");
    let entries = [metadata_entry(), reset_entry(RESET_EIP)];
    assert_contains(
        &parse_error(image(&bad_signature, &entries)),
        &["SEV metadata", "\"ASEX\", not \"ASEV\""],
    );
    assert_contains(
        &parse_error(image(&metadata(2, &[]), &entries)),
        &["version 2, only version 1"],
    );

    let mut too_many = metadata(1, &[]);
    too_many[12..16].copy_from_slice(&u32::MAX.to_le_bytes());
    assert_contains(
        &parse_error(image(&too_many, &entries)),
        &["4294967295 sections, more than the limit of 64"],
    );
    let mut undersized = metadata(1, &[(0x800000, 0x1000, 1)]);
    undersized[4..8].copy_from_slice(&20u32.to_le_bytes());
    assert_contains(
        &parse_error(image(&undersized, &entries)),
        &["declares 20 bytes, too few for its 1 sections (28 bytes)"],
    );
    let mut oversized = metadata(1, &[]);
    oversized[4..8].copy_from_slice(&0x10000u32.to_le_bytes());
    assert_contains(
        &parse_error(image(&oversized, &entries)),
        &["run past the end of the image"],
    );

    let far_offset = footer_entry(&0x10_0000u32.to_le_bytes(), SEV_METADATA);
    assert_contains(
        &parse_error(image(
            &metadata(1, &[]),
            &[far_offset, reset_entry(RESET_EIP)],
        )),
        &["offset 0x100000 from the end points before the start"],
    );

    for (section, problem) in [
        ((0x800000, 0x1800, 1), "not made of whole 4 KiB pages"),
        ((0x800800, 0x1000, 1), "not made of whole 4 KiB pages"),
        ((0xFFFF_F000, 0x2000, 1), "runs past the 4 GiB"),
        ((0x800000, 0x1000, 7), "section 0 has unknown type 0x7"),
    ] {
        assert_contains(&parse_error(image_with_sections(&[section])), &[problem]);
    }
    // Ending exactly at 4 GiB is fine.
    assert!(Firmware::parse(image_with_sections(&[(0xFFFF_F000, 0x1000, 1)])).is_ok());
}

#[test]
fn vcpu_parameters_are_checked() {
    let firmware = Firmware::parse(synthetic_firmware()).expect("synthetic");
    for vcpus in [0, measurer::snp::MAX_VCPUS + 1] {
        let err = launch_digest(&firmware, &qemu_params(vcpus)).expect_err("out of range");
        assert_contains(
            &err.to_string(),
            &[&format!("{vcpus} vCPUs requested"), "between 1 and 512"],
        );
    }
    assert!(launch_digest(&firmware, &qemu_params(measurer::snp::MAX_VCPUS)).is_ok());

    let no_signature = SnpParams::new(1, VmmType::Qemu);
    let err = launch_digest(&firmware, &no_signature).expect_err("QEMU needs a signature");
    assert!(matches!(err, SnpError::MissingVcpuSignature), "{err}");
    assert!(
        launch_digest(&firmware, &SnpParams::new(1, VmmType::Ec2)).is_ok(),
        "EC2 needs none"
    );

    let mismatch = SnpParams {
        vcpu_sig: 0xA00F11,
        ..qemu_params(1)
    };
    let err = launch_digest(&firmware, &mismatch).expect_err("type and signature disagree");
    assert_contains(
        &err.to_string(),
        &["EPYC-v4 has signature 0x800f12 but signature 0xa00f11"],
    );

    let zero_ap = Firmware::parse(image(
        &metadata(1, &[]),
        &[metadata_entry(), reset_entry(0)],
    ))
    .expect("parses");
    assert!(
        launch_digest(&zero_ap, &qemu_params(1)).is_ok(),
        "one vCPU never uses the AP address"
    );
    let err = launch_digest(&zero_ap, &qemu_params(2)).expect_err("APs need a start address");
    assert!(matches!(err, SnpError::ZeroApResetAddress), "{err}");
}

fn kernel_params(dir: &Path) -> SnpParams {
    let kernel = dir.join("kernel");
    std::fs::write(&kernel, SYNTHETIC_KERNEL).expect("write kernel");
    SnpParams {
        kernel: Some(KernelInputs {
            kernel,
            initrd: None,
            append: None,
        }),
        ..qemu_params(1)
    }
}

#[test]
fn kernel_needs_a_kernel_hashes_table() {
    let dir = tempfile::tempdir().expect("temp dir");
    let params = kernel_params(dir.path());
    let kernel_section = [(0x80C000, 0x1000, 0x10)];
    let advice = [
        "no kernel-hashes table",
        "AmdSevX64.dsc",
        "without --kernel the digest covers the firmware only",
    ];

    let no_section = Firmware::parse(image(
        &metadata(1, &[]),
        &[
            metadata_entry(),
            reset_entry(RESET_EIP),
            hash_table_entry(0x80C400),
        ],
    ));
    let err = launch_digest(&no_section.expect("parses"), &params).expect_err("no section");
    assert_contains(&err.to_string(), &advice);
    assert_contains(&err.to_string(), &["no SNP_KERNEL_HASHES section"]);

    let no_entry = Firmware::parse(image(
        &metadata(1, &kernel_section),
        &[metadata_entry(), reset_entry(RESET_EIP)],
    ));
    let err = launch_digest(&no_entry.expect("parses"), &params).expect_err("no hash table entry");
    assert_contains(&err.to_string(), &advice);
    assert_contains(&err.to_string(), &["no SEV hash table entry"]);

    let entries = |gpa| {
        [
            metadata_entry(),
            reset_entry(RESET_EIP),
            hash_table_entry(gpa),
        ]
    };
    let zero_gpa =
        Firmware::parse(image(&metadata(1, &kernel_section), &entries(0))).expect("parses");
    let err = launch_digest(&zero_gpa, &params).expect_err("GPA 0");
    assert_contains(&err.to_string(), &advice);
    assert_contains(&err.to_string(), &["address 0"]);
    assert!(
        launch_digest(&zero_gpa, &qemu_params(1)).is_ok(),
        "without a kernel the firmware is usable"
    );

    let two_pages = Firmware::parse(image(
        &metadata(1, &[(0x80C000, 0x2000, 0x10)]),
        &entries(0x80C400),
    ))
    .expect("parses");
    let err = launch_digest(&two_pages, &params).expect_err("two-page section");
    assert_contains(
        &err.to_string(),
        &[
            "kernel-hashes section is 0x2000 bytes",
            "exactly one 4096-byte page",
        ],
    );

    let crossing =
        Firmware::parse(image(&metadata(1, &kernel_section), &entries(0x80CF80))).expect("parses");
    let err = launch_digest(&crossing, &params).expect_err("table crosses the page end");
    assert_contains(
        &err.to_string(),
        &["page offset 0xf80", "176-byte table does not fit"],
    );

    let good =
        Firmware::parse(image(&metadata(1, &kernel_section), &entries(0x80C400))).expect("parses");
    assert!(launch_digest(&good, &params).is_ok());
    let missing_kernel = SnpParams {
        kernel: Some(KernelInputs {
            kernel: dir.path().join("absent"),
            initrd: None,
            append: None,
        }),
        ..qemu_params(1)
    };
    let err = launch_digest(&good, &missing_kernel).expect_err("kernel file missing");
    assert_contains(&err.to_string(), &["cannot read kernel", "absent"]);
}

/// Random corruption of the parts of the image the parser reads: it must return, never panic.
#[test]
fn corrupted_images_never_panic() {
    let original = synthetic_firmware();
    let seed = std::env::var("MPR_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5e5_0001u64);
    let mut rng = StdRng::seed_from_u64(seed);
    let table_area = original.len() - 200..original.len();
    let metadata_area =
        SYNTHETIC_METADATA_OFFSET..SYNTHETIC_METADATA_OFFSET + 16 + 12 * SYNTHETIC_SECTIONS.len();
    let (mut parsed, mut refused) = (0, 0);
    for _ in 0..3000 {
        let mut bytes = original.clone();
        for _ in 0..rng.gen_range(1..6) {
            let area = if rng.gen_bool(0.5) {
                table_area.clone()
            } else {
                metadata_area.clone()
            };
            let at = rng.gen_range(area);
            bytes[at] = rng.gen();
        }
        match Firmware::parse(bytes) {
            Ok(firmware) => {
                parsed += 1;
                // Corrupted sizes can describe gigabytes of zero pages: measure only the small ones.
                let described: u64 = firmware
                    .sections()
                    .iter()
                    .map(|section| section.size())
                    .sum();
                if described <= 1 << 20 {
                    let seeded = SnpParams {
                        ovmf_hash: Some(measurer::Digest384::ZERO),
                        ..qemu_params(2)
                    };
                    let _ = launch_digest(&firmware, &seeded);
                }
            }
            Err(_) => refused += 1,
        }
    }
    assert!(
        parsed > 0 && refused > 0,
        "corruption should both break and spare images: {parsed} parsed, {refused} refused"
    );
}
