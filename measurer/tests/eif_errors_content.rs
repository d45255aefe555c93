//! Malformed contents rather than malformed structure: oversized or invalid small sections, broken
//! signature sections, refused writer inputs, and random corruption. Files come from the independent
//! assembler of `eif_support`, which keeps the CRC right so each test reaches the rule it targets.

mod eif_support;

use std::io::Cursor;

use eif_support::*;
use measurer::eif::{describe_reader, write_eif, EifDescription, EifError, SectionKind};

fn describe_bytes(bytes: &[u8]) -> Result<EifDescription, EifError> {
    describe_reader(Cursor::new(bytes))
}

#[test]
fn oversized_metadata() {
    let mut sections = toy_sections();
    sections[2].1 = vec![b' '; (1 << 20) + 1];
    let error = describe_bytes(&assemble(4, 0, &sections)).unwrap_err();
    assert!(
        matches!(error, EifError::SectionTooLarge { kind: SectionKind::Metadata, size, limit } if size == limit + 1),
        "{error:?}"
    );
}

#[test]
fn oversized_signature_and_cmdline() {
    let mut sections = toy_sections();
    sections.push((TYPE_SIGNATURE, vec![0; 32769]));
    let error = describe_bytes(&assemble(4, 0, &sections)).unwrap_err();
    assert!(matches!(
        error,
        EifError::SectionTooLarge {
            kind: SectionKind::Signature,
            size: 32769,
            ..
        }
    ));

    let mut sections = toy_sections();
    sections[1].1 = vec![b'x'; (1 << 20) + 1];
    let error = describe_bytes(&assemble(4, 0, &sections)).unwrap_err();
    assert!(matches!(
        error,
        EifError::SectionTooLarge {
            kind: SectionKind::Cmdline,
            ..
        }
    ));
}

#[test]
fn invalid_metadata_json() {
    let mut sections = toy_sections();
    sections[2].1 = b"{\"ImageName\":".to_vec();
    let error = describe_bytes(&assemble(4, 0, &sections)).unwrap_err();
    assert!(matches!(error, EifError::InvalidMetadata(_)), "{error:?}");
    assert!(error.to_string().contains("metadata"));
}

#[test]
fn non_utf8_cmdline_is_shown_lossily() {
    let mut sections = toy_sections();
    sections[1].1 = b"console=\xffttyS0".to_vec();
    let description = describe_bytes(&assemble(4, 0, &sections)).unwrap();
    assert_eq!(description.cmdline, "console=\u{fffd}ttyS0");
}

#[test]
fn malformed_signature_section() {
    for (section, expected) in [
        (vec![0x82, 0xa0, 0xa0], "exactly one"),
        (vec![0x81, 0xa0, 0x00], "trailing"),
        (
            vec![0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
            "declares",
        ),
        (vec![0xfc], "reserved"),
        (vec![0x9f], "indefinite"),
    ] {
        let mut sections = toy_sections();
        sections.push((TYPE_SIGNATURE, section.clone()));
        let error = describe_bytes(&assemble(4, 0, &sections)).unwrap_err();
        assert!(
            matches!(&error, EifError::MalformedSignature(m) if m.contains(expected)),
            "{section:02x?}: {error:?}"
        );
    }
}

#[test]
fn writer_rejects_bad_specs() {
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("out.eif");

    let mut spec = toy_spec(dir.path());
    spec.cmdline = "console=ttyS0\0evil".into();
    assert!(matches!(
        write_eif(&spec, &output),
        Err(EifError::CmdlineNul { position: 13 })
    ));

    let mut spec = toy_spec(dir.path());
    spec.ramdisks.clear();
    assert!(matches!(
        write_eif(&spec, &output),
        Err(EifError::NoRamdisk)
    ));

    let mut spec = toy_spec(dir.path());
    spec.ramdisks = vec![spec.ramdisks[0].clone(); 30];
    let error = write_eif(&spec, &output).unwrap_err();
    assert!(
        matches!(&error, EifError::TooManySections(m) if m.contains("33 sections")),
        "{error:?}"
    );

    let mut spec = toy_spec(dir.path());
    spec.kernel = dir.path().join("missing-kernel");
    let error = write_eif(&spec, &output).unwrap_err();
    assert!(
        matches!(&error, EifError::Io { context, .. } if context.contains("kernel") && context.contains("missing-kernel"))
    );
    assert!(!output.exists());
}

#[test]
fn random_corruption_never_panics_and_unfixed_crc_always_catches_it() {
    use rand::{Rng, SeedableRng};
    let dir = tempfile::tempdir().unwrap();
    let mut spec = toy_spec(dir.path());
    spec.signing = Some(test_signer());
    let output = dir.path().join("signed.eif");
    write_eif(&spec, &output).unwrap();
    let original = std::fs::read(&output).unwrap();

    let mut rng = rand::rngs::StdRng::seed_from_u64(0x0e1f);
    for round in 0..3000 {
        let mut bytes = original.clone();
        let position = rng.gen_range(0..bytes.len());
        bytes[position] ^= rng.gen_range(1..=255u8);
        let crc_fixed = round % 2 == 0;
        if crc_fixed {
            fix_crc(&mut bytes);
        }
        let result = describe_bytes(&bytes);
        if !crc_fixed {
            // CRC-32 detects every single-byte change (a change to the CRC field itself is a mismatch too).
            assert!(
                result.is_err(),
                "round {round}: corruption at byte {position} went unnoticed"
            );
        }
        if let Ok(description) = result {
            assert_eq!(
                describe_bytes(&bytes).unwrap(),
                description,
                "round {round}: not deterministic"
            );
        }
    }
}
