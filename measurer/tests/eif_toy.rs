//! The toy vector of the notes (built with AWS's crate 0.8.1 and an independent Python script):
//! byte-exact output, the PCRs, and agreement between writer, reader and `measure_components`.

mod eif_support;

use std::io::Cursor;

use eif_support::*;
use measurer::eif::{
    describe, describe_reader, describe_with_progress, write_eif, write_eif_with_progress, Arch,
    SectionKind,
};
use measurer::pcr::{extend, measure_components, pcr_of_reader};
use measurer::Digest384;
use sha2::{Digest, Sha256, Sha384};

fn digest(hex: &str) -> Digest384 {
    hex.parse().unwrap()
}

#[test]
fn toy_vector_is_byte_exact() {
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("toy.eif");
    let written = write_eif(&toy_spec(dir.path()), &output).unwrap();

    let bytes = std::fs::read(&output).unwrap();
    assert_eq!(bytes.len() as u64, TOY_SIZE);
    assert_eq!(written.size, TOY_SIZE);
    assert_eq!(written.crc32, TOY_CRC);
    assert_eq!(hex::encode(Sha256::digest(&bytes)), TOY_SHA256);
    assert_eq!(written.pcrs.pcr0, digest(TOY_PCR0));
    assert_eq!(written.pcrs.pcr1, digest(TOY_PCR1));
    assert_eq!(written.pcrs.pcr2, digest(TOY_PCR2));
    assert_eq!(written.pcrs.pcr8, None);
    // The independent assembler in eif_support agrees byte for byte.
    assert_eq!(bytes, assemble(4, 0, &toy_sections()));
}

#[test]
fn toy_vector_describes_with_the_documented_layout() {
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("toy.eif");
    write_eif(&toy_spec(dir.path()), &output).unwrap();
    let description = describe(&output).unwrap();

    assert_eq!(description.version, 4);
    assert_eq!(description.arch, Arch::X86_64);
    assert_eq!(
        (description.default_mem, description.default_cpus),
        (1 << 30, 2)
    );
    assert_eq!(description.crc32, TOY_CRC);
    assert_eq!(description.file_size, TOY_SIZE);
    assert_eq!(description.cmdline, TOY_CMDLINE);
    let metadata = description.metadata.as_ref().expect("a metadata section");
    assert_eq!(metadata.identity, Some(toy_metadata()));
    assert_eq!(
        metadata.json.as_str().as_bytes(),
        toy_metadata_bytes().as_slice()
    );
    assert_eq!(description.warnings, []);
    assert_eq!(description.signature, None);
    let offsets: Vec<u64> = description.sections.iter().map(|s| s.offset).collect();
    assert_eq!(offsets, [548, 572, 597, 843, 867, 890]);
    let kinds: Vec<SectionKind> = description.sections.iter().map(|s| s.kind).collect();
    use SectionKind::*;
    assert_eq!(
        kinds,
        [Kernel, Cmdline, Metadata, Ramdisk, Ramdisk, Ramdisk]
    );
    assert_eq!(description.sections[2].size, 234);
    assert_eq!(description.pcrs.pcr0, digest(TOY_PCR0));
    assert_eq!(description.pcrs.pcr1, digest(TOY_PCR1));
    assert_eq!(description.pcrs.pcr2, digest(TOY_PCR2));

    // The in-memory entry point (used by the fuzz target) gives the same answer.
    let bytes = std::fs::read(&output).unwrap();
    assert_eq!(
        describe_reader(Cursor::new(bytes.as_slice())).unwrap(),
        description
    );
}

#[test]
fn toy_pcrs_follow_their_definitions() {
    // PCR = SHA384(48 zero bytes ‖ SHA384(data)), checked without the pipeline.
    let pcr = |data: &[u8]| extend(&Sha384::digest(data).into());
    assert_eq!(
        pcr(b"KERNEL-BYTESconsole=ttyS0RAMDISK-ZERORAMDISK-ONERAMDISK-TWO"),
        digest(TOY_PCR0)
    );
    assert_eq!(
        pcr(b"KERNEL-BYTESconsole=ttyS0RAMDISK-ZERO"),
        digest(TOY_PCR1)
    );
    assert_eq!(pcr(b"RAMDISK-ONERAMDISK-TWO"), digest(TOY_PCR2));
    assert_eq!(
        pcr_of_reader(&b"RAMDISK-ONERAMDISK-TWO"[..]).unwrap(),
        digest(TOY_PCR2)
    );
}

#[test]
fn measure_components_equals_the_written_and_described_pcrs() {
    let dir = tempfile::tempdir().unwrap();
    let spec = toy_spec(dir.path());
    let measured = measure_components(&spec.kernel, &spec.cmdline, &spec.ramdisks, None).unwrap();
    let output = dir.path().join("toy.eif");
    assert_eq!(write_eif(&spec, &output).unwrap().pcrs, measured);
    assert_eq!(describe(&output).unwrap().pcrs, measured);
}

#[test]
fn output_is_deterministic_and_aarch64_only_changes_the_flag_and_crc() {
    let dir = tempfile::tempdir().unwrap();
    let mut spec = toy_spec(dir.path());
    let (first, second) = (dir.path().join("a.eif"), dir.path().join("b.eif"));
    write_eif(&spec, &first).unwrap();
    write_eif(&spec, &second).unwrap();
    assert_eq!(
        std::fs::read(&first).unwrap(),
        std::fs::read(&second).unwrap()
    );

    spec.arch = Arch::Aarch64;
    let arm = dir.path().join("arm.eif");
    let written = write_eif(&spec, &arm).unwrap();
    let (x86_bytes, arm_bytes) = (std::fs::read(&first).unwrap(), std::fs::read(&arm).unwrap());
    assert_eq!(&arm_bytes[6..8], &[0, 1]);
    assert_eq!(&arm_bytes[548..], &x86_bytes[548..]);
    assert_ne!(written.crc32, TOY_CRC);
    assert_eq!(written.pcrs.pcr0, digest(TOY_PCR0));
    assert_eq!(describe(&arm).unwrap().arch, Arch::Aarch64);
}

#[test]
fn writing_replaces_an_existing_file_and_leaves_no_temporary_behind() {
    let dir = tempfile::tempdir().unwrap();
    let spec = toy_spec(dir.path());
    let output = dir.path().join("out.eif");
    std::fs::write(&output, b"old contents").unwrap();
    write_eif(&spec, &output).unwrap();
    assert_eq!(std::fs::metadata(&output).unwrap().len(), TOY_SIZE);
    let entries = std::fs::read_dir(dir.path()).unwrap().count();
    assert_eq!(entries, 5, "kernel, 3 ramdisks and the EIF, nothing else");
}

#[test]
fn a_failed_write_leaves_the_previous_output_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let mut spec = toy_spec(dir.path());
    let output = dir.path().join("out.eif");
    std::fs::write(&output, b"old contents").unwrap();
    spec.ramdisks.push(dir.path().join("does-not-exist"));
    let error = write_eif(&spec, &output).unwrap_err();
    assert!(error.to_string().contains("does-not-exist"), "{error}");
    assert_eq!(std::fs::read(&output).unwrap(), b"old contents");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 5);
}

#[test]
fn large_multi_chunk_inputs_round_trip() {
    // Several MiB with sizes off the chunk grid exercise chunk reuse and boundaries.
    let dir = tempfile::tempdir().unwrap();
    let spec = toy_spec(dir.path());
    let pattern = |len: usize, seed: u8| -> Vec<u8> {
        (0..len)
            .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
            .collect()
    };
    let big_kernel = pattern(3 * (1 << 20) + 5, 1);
    let big_app = pattern(5 * (1 << 20) + 123, 2);
    std::fs::write(&spec.kernel, &big_kernel).unwrap();
    std::fs::write(&spec.ramdisks[1], &big_app).unwrap();
    let output = dir.path().join("big.eif");
    let written = write_eif(&spec, &output).unwrap();
    let pcr = |data: &[u8]| extend(&Sha384::digest(data).into());
    let boot = [
        big_kernel.as_slice(),
        TOY_CMDLINE.as_bytes(),
        b"RAMDISK-ZERO",
    ]
    .concat();
    let app = [big_app.as_slice(), b"RAMDISK-TWO"].concat();
    assert_eq!(written.pcrs.pcr1, pcr(&boot));
    assert_eq!(written.pcrs.pcr2, pcr(&app));
    assert_eq!(written.pcrs.pcr0, pcr(&[boot, app].concat()));
    let bytes = std::fs::read(&output).unwrap();
    assert_eq!(
        written.crc32,
        crc32fast::hash(&[&bytes[..544], &bytes[548..]].concat())
    );
    assert_eq!(describe(&output).unwrap().pcrs, written.pcrs);
}

#[test]
fn progress_reports_a_rising_byte_count_that_ends_at_everything_hashed() {
    use std::cell::RefCell;
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("toy.eif");
    let seen = RefCell::new(Vec::new());
    let written = write_eif_with_progress(&toy_spec(dir.path()), &output, &|n| {
        seen.borrow_mut().push(n)
    })
    .unwrap();
    let while_writing = seen.take();
    assert!(
        while_writing.windows(2).all(|w| w[0] < w[1]),
        "{while_writing:?}"
    );
    // Everything after the header: the header is written last, once PCR0 is known.
    assert_eq!(while_writing.last().copied(), Some(written.size - 548));

    describe_with_progress(&output, &|n| seen.borrow_mut().push(n)).unwrap();
    let while_reading = seen.take();
    assert!(
        while_reading.windows(2).all(|w| w[0] < w[1]),
        "{while_reading:?}"
    );
    // Every byte but the header's CRC field is fed to the CRC.
    assert_eq!(while_reading.last().copied(), Some(written.size - 4));
}
