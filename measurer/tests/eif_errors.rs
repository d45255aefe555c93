//! Malformed EIF structure: every rule of the header, the section table and the section headers gets
//! its own test, asserting the error variant and that the message names the problem. Files come from
//! the independent assembler of `eif_support`, which keeps the CRC right so each test reaches its rule.

mod eif_support;

use std::io::Cursor;

use eif_support::*;
use measurer::eif::{describe_reader, EifDescription, EifError, SectionKind};

fn describe_bytes(bytes: &[u8]) -> Result<EifDescription, EifError> {
    describe_reader(Cursor::new(bytes))
}

fn toy_bytes() -> Vec<u8> {
    assemble(4, 0, &toy_sections())
}

/// Overwrites section `index`'s type in its 12-byte header (layout of `assemble`).
fn set_section_type(file: &mut [u8], index: usize, section_type: u16) {
    let offset_field = 0x1c + 8 * index;
    let offset =
        u64::from_be_bytes(file[offset_field..offset_field + 8].try_into().unwrap()) as usize;
    file[offset..offset + 2].copy_from_slice(&section_type.to_be_bytes());
    fix_crc(file);
}

#[test]
fn the_well_formed_baseline_is_accepted() {
    assert!(describe_bytes(&toy_bytes()).is_ok());
}

#[test]
fn truncated_inside_the_header() {
    let error = describe_bytes(&toy_bytes()[..300]).unwrap_err();
    assert!(
        matches!(error, EifError::TruncatedHeader { file_len: 300 }),
        "{error:?}"
    );
    assert!(error.to_string().contains("truncated"));
}

#[test]
fn truncated_inside_a_section() {
    let error = describe_bytes(&toy_bytes()[..900]).unwrap_err();
    // The last section (ramdisk 2, 11 bytes) starts its data at 902: the file ends before its header ends.
    assert!(
        matches!(
            error,
            EifError::SectionHeaderPastEof {
                index: 5,
                offset: 890,
                file_len: 900
            }
        ),
        "{error:?}"
    );
    let error = describe_bytes(&toy_bytes()[..905]).unwrap_err();
    assert!(
        matches!(
            error,
            EifError::SectionPastEof {
                index: 5,
                size: 11,
                available: 3
            }
        ),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        "section 5 claims 11 bytes but the file ends 3 bytes after its header: the EIF is truncated"
    );
}

#[test]
fn wrong_magic() {
    let mut bytes = toy_bytes();
    bytes[0..4].copy_from_slice(b"\x7fELF");
    let error = describe_bytes(&bytes).unwrap_err();
    assert!(
        matches!(error, EifError::BadMagic { found } if &found == b"\x7fELF"),
        "{error:?}"
    );
    assert!(error.to_string().contains("not an EIF"));
}

#[test]
fn unsupported_version() {
    let mut bytes = toy_bytes();
    bytes[4..6].copy_from_slice(&5u16.to_be_bytes());
    assert!(matches!(
        describe_bytes(&bytes),
        Err(EifError::UnsupportedVersion(5))
    ));
}

#[test]
fn bad_crc_reports_both_values() {
    let mut bytes = toy_bytes();
    bytes[560] ^= 0x01; // inside the kernel data
    let error = describe_bytes(&bytes).unwrap_err();
    let EifError::CrcMismatch { stored, computed } = error else {
        panic!("{error:?}")
    };
    assert_eq!(stored, TOY_CRC);
    assert_ne!(computed, stored);
    let message = error_message(&bytes);
    assert!(
        message.contains("0x7e97ed55") && message.contains(&format!("{computed:#010x}")),
        "{message}"
    );
}

fn error_message(bytes: &[u8]) -> String {
    describe_bytes(bytes).unwrap_err().to_string()
}

#[test]
fn section_past_eof() {
    // The kernel claims a terabyte; table and section header agree, so only the file length can tell.
    let mut bytes = toy_bytes();
    let huge = 1u64 << 40;
    bytes[0x11c..0x11c + 8].copy_from_slice(&huge.to_be_bytes());
    bytes[548 + 4..548 + 12].copy_from_slice(&huge.to_be_bytes());
    fix_crc(&mut bytes);
    let error = describe_bytes(&bytes).unwrap_err();
    assert!(
        matches!(error, EifError::SectionPastEof { index: 0, size, .. } if size == huge),
        "{error:?}"
    );
}

#[test]
fn more_than_32_sections() {
    let mut bytes = toy_bytes();
    bytes[0x1a..0x1c].copy_from_slice(&33u16.to_be_bytes());
    fix_crc(&mut bytes);
    let error = describe_bytes(&bytes).unwrap_err();
    assert!(matches!(error, EifError::SectionCount(33)), "{error:?}");
    assert!(error.to_string().contains("1 to 32"));
}

#[test]
fn zero_sections() {
    let bytes = assemble(4, 0, &[]);
    assert!(matches!(
        describe_bytes(&bytes),
        Err(EifError::SectionCount(0))
    ));
}

#[test]
fn unknown_section_types() {
    for section_type in [0u16, 6, 0xffff] {
        let mut bytes = toy_bytes();
        set_section_type(&mut bytes, 3, section_type);
        let error = describe_bytes(&bytes).unwrap_err();
        assert!(
            matches!(error, EifError::UnknownSectionType { index: 3, section_type: found } if found == section_type),
            "{error:?}"
        );
        assert!(error
            .to_string()
            .contains(&format!("section 3 has unknown type {section_type}")));
    }
}

#[test]
fn duplicate_kernel() {
    let mut sections = toy_sections();
    sections.insert(1, (TYPE_KERNEL, b"SECOND-KERNEL".to_vec()));
    let error = describe_bytes(&assemble(4, 0, &sections)).unwrap_err();
    assert!(
        matches!(
            error,
            EifError::DuplicateSection {
                kind: SectionKind::Kernel,
                first: 0,
                second: 1
            }
        ),
        "{error:?}"
    );
}

#[test]
fn duplicate_signature_and_metadata_sections() {
    let mut sections = toy_sections();
    sections.push((TYPE_METADATA, toy_metadata_bytes()));
    let error = describe_bytes(&assemble(4, 0, &sections)).unwrap_err();
    assert!(matches!(
        error,
        EifError::DuplicateSection {
            kind: SectionKind::Metadata,
            first: 2,
            second: 6
        }
    ));

    let mut sections = toy_sections();
    sections.push((TYPE_SIGNATURE, vec![0x80]));
    sections.push((TYPE_SIGNATURE, vec![0x80]));
    let error = describe_bytes(&assemble(4, 0, &sections)).unwrap_err();
    assert!(matches!(
        error,
        EifError::DuplicateSection {
            kind: SectionKind::Signature,
            first: 6,
            second: 7
        }
    ));
}

#[test]
fn missing_ramdisk() {
    let sections: Vec<_> = toy_sections()
        .into_iter()
        .filter(|(t, _)| *t != TYPE_RAMDISK)
        .collect();
    let error = describe_bytes(&assemble(4, 0, &sections)).unwrap_err();
    assert!(
        matches!(error, EifError::MissingSection(SectionKind::Ramdisk)),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        "the EIF has no ramdisk section: it is required"
    );
}

#[test]
fn missing_kernel_cmdline_and_v4_metadata() {
    for (dropped, kind) in [
        (TYPE_KERNEL, SectionKind::Kernel),
        (TYPE_CMDLINE, SectionKind::Cmdline),
        (TYPE_METADATA, SectionKind::Metadata),
    ] {
        let sections: Vec<_> = toy_sections()
            .into_iter()
            .filter(|(t, _)| *t != dropped)
            .collect();
        let error = describe_bytes(&assemble(4, 0, &sections)).unwrap_err();
        let expected_error = if dropped == TYPE_KERNEL {
            // Without a kernel the ramdisks come "before" it.
            matches!(error, EifError::RamdiskBeforeKernel { index: 2 })
        } else {
            matches!(error, EifError::MissingSection(found) if found == kind)
        };
        assert!(expected_error, "dropping {kind}: {error:?}");
    }
}

#[test]
fn version_3_needs_no_metadata_but_cannot_hold_it_and_version_2_cannot_be_signed() {
    let v3: Vec<_> = toy_sections()
        .into_iter()
        .filter(|(t, _)| *t != TYPE_METADATA)
        .collect();
    let description = describe_bytes(&assemble(3, 0, &v3)).unwrap();
    assert_eq!(description.version, 3);
    assert_eq!(description.metadata, None);
    assert_eq!(description.pcrs.pcr0, TOY_PCR0.parse().unwrap());

    let error = describe_bytes(&assemble(3, 0, &toy_sections())).unwrap_err();
    assert!(matches!(
        error,
        EifError::SectionNeedsNewerVersion {
            index: 2,
            kind: SectionKind::Metadata,
            version: 3,
            min_version: 4
        }
    ));
    let mut v2 = v3.clone();
    v2.push((TYPE_SIGNATURE, vec![0x80]));
    let error = describe_bytes(&assemble(2, 0, &v2)).unwrap_err();
    assert!(matches!(
        error,
        EifError::SectionNeedsNewerVersion {
            kind: SectionKind::Signature,
            ..
        }
    ));
}

#[test]
fn ramdisk_before_kernel() {
    let mut sections = toy_sections();
    let ramdisk = sections.remove(3);
    sections.insert(0, ramdisk);
    let error = describe_bytes(&assemble(4, 0, &sections)).unwrap_err();
    assert!(
        matches!(error, EifError::RamdiskBeforeKernel { index: 0 }),
        "{error:?}"
    );
}

#[test]
fn trailing_bytes() {
    let mut bytes = toy_bytes();
    bytes.extend_from_slice(b"junk");
    fix_crc(&mut bytes);
    let error = describe_bytes(&bytes).unwrap_err();
    assert!(
        matches!(
            error,
            EifError::TrailingBytes {
                end: 913,
                file_len: 917
            }
        ),
        "{error:?}"
    );
    assert!(error.to_string().contains("4 trailing bytes"));
}

#[test]
fn header_table_disagreeing_with_the_walk() {
    let mut bytes = toy_bytes();
    bytes[0x1c + 8..0x1c + 16].copy_from_slice(&999u64.to_be_bytes()); // offset of section 1
    fix_crc(&mut bytes);
    let error = describe_bytes(&bytes).unwrap_err();
    assert!(
        matches!(
            error,
            EifError::SectionOffsetMismatch {
                index: 1,
                declared: 999,
                expected: 572
            }
        ),
        "{error:?}"
    );

    let mut bytes = toy_bytes();
    bytes[0x11c + 8 + 7] = 12; // size of section 1 in the table: 12 instead of 13
    fix_crc(&mut bytes);
    let error = describe_bytes(&bytes).unwrap_err();
    assert!(
        matches!(
            error,
            EifError::SectionSizeMismatch {
                index: 1,
                table: 12,
                section: 13
            }
        ),
        "{error:?}"
    );
}
