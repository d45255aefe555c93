//! EIFs that depart from what AWS's tools write in ways AWS's own reader (aws-nitro-enclaves-image-format
//! 0.8.1) ignores: non-zero unused header fields and table slots, non-zero section flags, metadata that is
//! not nitro-cli's. Each is measured (same PCRs as the untouched file) and reported as a warning, not
//! refused. Files are written by our writer, then patched with the CRC recomputed, as a tool that
//! produced them would have.
//!
//! The last test runs AWS's reader on the same files (`MPR_EIF_REFERENCE`, built by ci/setup.sh; run with
//! `--ignored` as ci/test.sh does) to show it accepts them and reads the same PCRs.

mod eif_support;

use std::path::{Path, PathBuf};

use eif_support::*;
use measurer::eif::{describe, write_eif, EifDescription, EifError, EifWarning, SectionKind};
use measurer::pcr::NitroPcrs;

fn toy_pcrs() -> NitroPcrs {
    NitroPcrs {
        pcr0: TOY_PCR0.parse().unwrap(),
        pcr1: TOY_PCR1.parse().unwrap(),
        pcr2: TOY_PCR2.parse().unwrap(),
        pcr8: None,
    }
}

/// The toy EIF as our writer makes it.
fn written_toy(dir: &Path) -> Vec<u8> {
    let path = dir.join("written.eif");
    write_eif(&toy_spec(dir), &path).unwrap();
    std::fs::read(path).unwrap()
}

fn save(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn put_u64(file: &mut [u8], offset: usize, value: u64) {
    file[offset..offset + 8].copy_from_slice(&value.to_be_bytes());
}

/// Every patched variant of the toy EIF that AWS's reader accepts, with its name.
fn accepted_variants(dir: &Path) -> Vec<(&'static str, Vec<u8>)> {
    let toy = written_toy(dir);
    let mut slots = toy.clone();
    put_u64(&mut slots, 0x11c + 8 * 6, 77); // size of slot 6, the first unused one
    put_u64(&mut slots, 0x1c + 8 * 31, 0x1234); // offset of slot 31
    fix_crc(&mut slots);

    let mut fields = toy.clone();
    fields[0x18..0x1a].copy_from_slice(&0x0102u16.to_be_bytes());
    fields[0x21c..0x220].copy_from_slice(&0xcafe_f00du32.to_be_bytes());
    fix_crc(&mut fields);

    let (header, mut sections) = split_eif(&toy);
    sections[0].flags = 0x8001;
    sections[4].flags = 0x0002;
    let flags = join_eif(&header, &sections);

    let with_metadata = |json: &str| {
        let (header, mut sections) = split_eif(&toy);
        assert_eq!(sections[2].section_type, TYPE_METADATA);
        sections[2].data = json.as_bytes().to_vec();
        join_eif(&header, &sections)
    };
    vec![
        ("unused-slots.eif", slots),
        ("header-fields.eif", fields),
        ("section-flags.eif", flags),
        (
            "metadata-extra-keys.eif",
            with_metadata(EXTRA_KEYS_METADATA),
        ),
        ("metadata-pretty.eif", with_metadata(PRETTY_METADATA)),
        ("metadata-null.eif", with_metadata("null")),
    ]
}

/// nitro-cli's metadata with a key of another tool at the top and one inside BuildMetadata, pretty-printed.
const EXTRA_KEYS_METADATA: &str = r#"{
  "ImageName": "toy",
  "ImageVersion": "1.0",
  "BuildMetadata": {"BuildTime": "1970-01-01T00:00:00+00:00", "BuildTool": "eifref",
    "BuildToolVersion": "0.1.0", "OperatingSystem": "OS", "KernelVersion": "kernel", "Builder": "ci-42"},
  "DockerInfo": null,
  "CustomMetadata": null,
  "Zeta": {"b": 1, "a": 2.50}
}"#;

/// Exactly nitro-cli's keys, laid out differently: not foreign.
const PRETTY_METADATA: &str = r#"{ "ImageName": "toy", "ImageVersion": "1.0",
  "BuildMetadata": { "BuildTime": "1970-01-01T00:00:00+00:00", "BuildTool": "eifref",
    "BuildToolVersion": "0.1.0", "OperatingSystem": "OS", "KernelVersion": "kernel" },
  "DockerInfo": {"Id": "sha256:00"}, "CustomMetadata": [1, 2] }"#;

fn describe_variant(dir: &Path, name: &str, bytes: &[u8]) -> EifDescription {
    describe(&save(dir, name, bytes)).unwrap_or_else(|e| panic!("{name} refused: {e}"))
}

#[test]
fn every_variant_has_the_toy_pcrs() {
    let dir = tempfile::tempdir().unwrap();
    for (name, bytes) in accepted_variants(dir.path()) {
        let description = describe_variant(dir.path(), name, &bytes);
        assert_eq!(description.pcrs, toy_pcrs(), "{name}");
    }
}

#[test]
fn nonzero_unused_table_slots_are_reported_not_fatal() {
    let dir = tempfile::tempdir().unwrap();
    let (name, bytes) = accepted_variants(dir.path()).swap_remove(0);
    let description = describe_variant(dir.path(), name, &bytes);
    assert_eq!(
        description.warnings,
        [
            EifWarning::UnusedSlotNotZero {
                index: 6,
                num_sections: 6,
                offset: 0,
                size: 77
            },
            EifWarning::UnusedSlotNotZero {
                index: 31,
                num_sections: 6,
                offset: 0x1234,
                size: 0
            },
        ]
    );
    let message = description.warnings[1].to_string();
    assert!(
        message.contains("slot 31 is unused") && message.contains("offset 4660"),
        "{message}"
    );
}

#[test]
fn nonzero_reserved_and_unused_header_fields_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let (name, bytes) = accepted_variants(dir.path()).swap_remove(1);
    let description = describe_variant(dir.path(), name, &bytes);
    assert_eq!(
        description.warnings,
        [
            EifWarning::HeaderFieldNotZero {
                field: "reserved",
                offset: 0x18,
                value: 0x0102
            },
            EifWarning::HeaderFieldNotZero {
                field: "unused",
                offset: 0x21c,
                value: 0xcafe_f00d
            },
        ]
    );
    assert!(description.warnings[1]
        .to_string()
        .contains("unused field (byte 0x21c) is 0xcafef00d"));
}

#[test]
fn nonzero_section_flags_get_their_own_message() {
    let dir = tempfile::tempdir().unwrap();
    let (name, bytes) = accepted_variants(dir.path()).swap_remove(2);
    let description = describe_variant(dir.path(), name, &bytes);
    let flags: Vec<u16> = description.sections.iter().map(|s| s.flags).collect();
    assert_eq!(flags, [0x8001, 0, 0, 0, 2, 0]);
    assert_eq!(
        description.warnings,
        [
            EifWarning::SectionFlags {
                index: 0,
                kind: SectionKind::Kernel,
                flags: 0x8001
            },
            EifWarning::SectionFlags {
                index: 4,
                kind: SectionKind::Ramdisk,
                flags: 2
            },
        ]
    );
    let message = description.warnings[0].to_string();
    assert!(
        message.contains("section 0 (kernel) has section flags 0x8001"),
        "{message}"
    );
    assert!(!message.contains("changed while"), "{message}");
}

#[test]
fn metadata_with_other_keys_is_kept_as_stored_and_its_keys_named() {
    let dir = tempfile::tempdir().unwrap();
    let (name, bytes) = accepted_variants(dir.path()).swap_remove(3);
    let description = describe_variant(dir.path(), name, &bytes);
    let metadata = description.metadata.as_ref().unwrap();
    assert_eq!(metadata.json.as_str(), EXTRA_KEYS_METADATA);
    // nitro-cli's fields are still read, as AWS's reader reads them.
    assert_eq!(metadata.identity, Some(toy_metadata()));
    let [EifWarning::ForeignMetadata { reason }] = description.warnings.as_slice() else {
        panic!("{:?}", description.warnings)
    };
    assert!(
        reason.contains("Zeta") && reason.contains("BuildMetadata.Builder"),
        "{reason}"
    );
    // Serialised verbatim: key order, spacing and the number's spelling survive.
    let serialised = serde_json::to_string(&metadata.json).unwrap();
    assert_eq!(serialised, EXTRA_KEYS_METADATA);
    assert!(serde_json::to_string(&description)
        .unwrap()
        .contains(r#""Zeta": {"b": 1, "a": 2.50}"#));
}

#[test]
fn metadata_with_exactly_nitro_cli_keys_is_not_foreign_whatever_its_layout() {
    let dir = tempfile::tempdir().unwrap();
    let (name, bytes) = accepted_variants(dir.path()).swap_remove(4);
    let description = describe_variant(dir.path(), name, &bytes);
    let metadata = description.metadata.as_ref().unwrap();
    assert_eq!(metadata.json.as_str(), PRETTY_METADATA);
    let identity = metadata.identity.as_ref().unwrap();
    assert_eq!(identity.docker_info, serde_json::json!({"Id": "sha256:00"}));
    assert_eq!(identity.custom, serde_json::json!([1, 2]));
    assert_eq!(description.warnings, []);
}

#[test]
fn json_null_metadata_is_shown_as_stored() {
    let dir = tempfile::tempdir().unwrap();
    let (name, bytes) = accepted_variants(dir.path()).swap_remove(5);
    let description = describe_variant(dir.path(), name, &bytes);
    let metadata = description.metadata.as_ref().unwrap();
    assert_eq!(
        (metadata.json.as_str(), &metadata.identity),
        ("null", &None)
    );
    assert!(
        matches!(description.warnings.as_slice(), [EifWarning::ForeignMetadata { reason }] if reason.contains("JSON null")),
        "{:?}",
        description.warnings
    );
}

/// Metadata of another tool altogether: AWS's reader refuses it (see the last test), we measure the
/// image and show the JSON.
const OTHER_TOOL_METADATA: &str = r#"{"tool":"enclaver","version":2,"sources":["app:1.0"]}"#;

#[test]
fn metadata_of_another_tool_is_shown_as_stored() {
    let dir = tempfile::tempdir().unwrap();
    let (header, mut sections) = split_eif(&written_toy(dir.path()));
    for (json, why) in [
        (OTHER_TOOL_METADATA, "missing field `ImageName`"),
        ("[1,2,3]", "expected a string"),
        ("\"text\"", "invalid type: string"),
    ] {
        sections[2].data = json.as_bytes().to_vec();
        let description = describe_variant(dir.path(), "other.eif", &join_eif(&header, &sections));
        assert_eq!(description.pcrs, toy_pcrs(), "{json}");
        let metadata = description.metadata.as_ref().unwrap();
        assert_eq!((metadata.json.as_str(), &metadata.identity), (json, &None));
        let [EifWarning::ForeignMetadata { reason }] = description.warnings.as_slice() else {
            panic!("{json}: {:?}", description.warnings)
        };
        assert!(
            reason.contains("AWS's reader and nitro-cli refuse it") && reason.contains(why),
            "{reason}"
        );
    }
}

#[test]
fn metadata_that_is_not_json_is_refused_as_aws_refuses_it() {
    let dir = tempfile::tempdir().unwrap();
    let (header, mut sections) = split_eif(&written_toy(dir.path()));
    for data in [&b"{\"ImageName\":"[..], b"\xff\xfe", b"", b"null null"] {
        sections[2].data = data.to_vec();
        let path = save(dir.path(), "bad.eif", &join_eif(&header, &sections));
        let error = describe(&path).unwrap_err();
        assert!(
            matches!(error, EifError::InvalidMetadata(_)),
            "{data:?}: {error:?}"
        );
        let message = error.to_string();
        assert!(
            message.contains("not JSON") && message.contains("AWS's reader"),
            "{message}"
        );
    }
}

#[test]
#[ignore = "needs ci/eif-reference: run ci/test.sh"]
fn aws_reader_accepts_every_variant_with_the_same_pcrs() {
    let dir = tempfile::tempdir().unwrap();
    for (name, bytes) in accepted_variants(dir.path()) {
        let path = save(dir.path(), name, &bytes);
        let report = reference_describe(&path)
            .unwrap_or_else(|message| panic!("AWS's reader refuses {name}: {message}"));
        assert_eq!(report["CrcOk"], true, "{name}");
        assert_eq!(reference_pcrs(&report), toy_pcrs(), "{name}");
        assert_eq!(describe(&path).unwrap().pcrs, toy_pcrs(), "{name}");
    }
    // What our warning says of metadata without nitro-cli's keys: AWS's reader refuses the file.
    let (header, mut sections) = split_eif(&written_toy(dir.path()));
    sections[2].data = OTHER_TOOL_METADATA.as_bytes().to_vec();
    let path = save(dir.path(), "other.eif", &join_eif(&header, &sections));
    let message = reference_describe(&path).expect_err("AWS's reader accepted foreign metadata");
    assert!(message.contains("metadata"), "{message}");
    assert_eq!(describe(&path).unwrap().pcrs, toy_pcrs());
}
