//! Shared inputs for the EIF integration tests: the toy vector of the notes, the committed test keys,
//! and an independent EIF assembler (written from the format description, not from our writer) for
//! crafting malformed files.

// Each test crate uses a different subset of these helpers.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use measurer::eif::{
    rfc3339_from_unix, Arch, BuildMetadata, EifMetadata, EifSpec, SigningMaterial,
};

pub const TOY_PCR0: &str = "3e0365801afb2aafd7ca4fbc4b480101d71ad106ec1c5e004590125b8815ef3d0b1d2d1dcbd1b0b3a35ead35709d0837";
pub const TOY_PCR1: &str = "97ebba2785250632407dd570037934ac6fff5388dbe0b948b62cc6f5e8e6d4726a26dac284f4480eb9cf27851c65c8bb";
pub const TOY_PCR2: &str = "f2c52144c2c6e4072d75cdf8be6f2a9a033495bb7d10b402cec863480641262b76e7a0887bfcc12a06b4b316c3d656e4";
pub const TOY_SHA256: &str = "ab1074ad7b7d6b8110029b653a3570800c3251de4b5c999918a79d954d52b212";
pub const TOY_CRC: u32 = 0x7e97_ed55;
pub const TOY_SIZE: u64 = 913;
pub const TOY_CMDLINE: &str = "console=ttyS0";

pub const TYPE_KERNEL: u16 = 1;
pub const TYPE_CMDLINE: u16 = 2;
pub const TYPE_RAMDISK: u16 = 3;
pub const TYPE_SIGNATURE: u16 = 4;
pub const TYPE_METADATA: u16 = 5;

pub fn toy_metadata() -> EifMetadata {
    EifMetadata {
        image_name: "toy".into(),
        image_version: "1.0".into(),
        build: BuildMetadata {
            build_time: rfc3339_from_unix(0),
            build_tool: "eifref".into(),
            build_tool_version: "0.1.0".into(),
            operating_system: "OS".into(),
            kernel_version: "kernel".into(),
        },
        docker_info: serde_json::Value::Null,
        custom: serde_json::Value::Null,
    }
}

/// Writes the toy inputs into `dir` and returns the spec that builds the toy EIF.
pub fn toy_spec(dir: &Path) -> EifSpec {
    let write = |name: &str, bytes: &[u8]| {
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    };
    EifSpec {
        kernel: write("kernel", b"KERNEL-BYTES"),
        cmdline: TOY_CMDLINE.into(),
        ramdisks: vec![
            write("ramdisk0", b"RAMDISK-ZERO"),
            write("ramdisk1", b"RAMDISK-ONE"),
            write("ramdisk2", b"RAMDISK-TWO"),
        ],
        arch: Arch::X86_64,
        metadata: toy_metadata(),
        signing: None,
    }
}

pub fn data_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/eif")
        .join(name)
}

pub fn read_data(name: &str) -> Vec<u8> {
    std::fs::read(data_path(name)).unwrap()
}

pub fn test_signer() -> SigningMaterial {
    SigningMaterial::from_pem(
        &read_data("signer-p384.key.pem"),
        &read_data("signer-p384.cert.pem"),
    )
    .unwrap()
}

/// An EIF built from scratch: header, then (type, data) sections back to back, with a correct table
/// and CRC, so each test can break exactly one rule.
pub fn assemble(version: u16, flags: u16, sections: &[(u16, Vec<u8>)]) -> Vec<u8> {
    let mut header = Vec::with_capacity(548);
    header.extend_from_slice(b".eif");
    header.extend_from_slice(&version.to_be_bytes());
    header.extend_from_slice(&flags.to_be_bytes());
    header.extend_from_slice(&(1u64 << 30).to_be_bytes());
    header.extend_from_slice(&2u64.to_be_bytes());
    header.extend_from_slice(&0u16.to_be_bytes());
    header.extend_from_slice(&(sections.len() as u16).to_be_bytes());
    let mut offsets = [0u64; 32];
    let mut sizes = [0u64; 32];
    let mut position = 548u64;
    for (index, (_, data)) in sections.iter().enumerate().take(32) {
        offsets[index] = position;
        sizes[index] = data.len() as u64;
        position += 12 + data.len() as u64;
    }
    offsets
        .iter()
        .for_each(|offset| header.extend_from_slice(&offset.to_be_bytes()));
    sizes
        .iter()
        .for_each(|size| header.extend_from_slice(&size.to_be_bytes()));
    header.extend_from_slice(&[0; 8]);
    let mut file = header;
    for (section_type, data) in sections {
        file.extend_from_slice(&section_type.to_be_bytes());
        file.extend_from_slice(&0u16.to_be_bytes());
        file.extend_from_slice(&(data.len() as u64).to_be_bytes());
        file.extend_from_slice(data);
    }
    fix_crc(&mut file);
    file
}

/// Recomputes the header CRC (zlib CRC-32 of bytes 0..544 then 548..end), so a test can change other
/// bytes and still reach the check it targets.
pub fn fix_crc(file: &mut [u8]) {
    let mut crc = crc32fast::Hasher::new();
    crc.update(&file[..544]);
    crc.update(&file[548..]);
    let value = crc.finalize();
    file[544..548].copy_from_slice(&value.to_be_bytes());
}

pub fn toy_metadata_bytes() -> Vec<u8> {
    serde_json::to_vec(&toy_metadata()).unwrap()
}

/// The toy EIF's sections, in EifBuilder's order.
pub fn toy_sections() -> Vec<(u16, Vec<u8>)> {
    vec![
        (TYPE_KERNEL, b"KERNEL-BYTES".to_vec()),
        (TYPE_CMDLINE, TOY_CMDLINE.as_bytes().to_vec()),
        (TYPE_METADATA, toy_metadata_bytes()),
        (TYPE_RAMDISK, b"RAMDISK-ZERO".to_vec()),
        (TYPE_RAMDISK, b"RAMDISK-ONE".to_vec()),
        (TYPE_RAMDISK, b"RAMDISK-TWO".to_vec()),
    ]
}

/// A section as stored: its header's type and flags, and its data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawSection {
    pub section_type: u16,
    pub flags: u16,
    pub data: Vec<u8>,
}

/// Splits a well-formed EIF into its header and its sections, walking the section headers.
pub fn split_eif(file: &[u8]) -> ([u8; 548], Vec<RawSection>) {
    let header: [u8; 548] = file[..548].try_into().unwrap();
    let mut sections = Vec::new();
    let mut position = 548;
    while position < file.len() {
        let field =
            |range: std::ops::Range<usize>| &file[position + range.start..position + range.end];
        let section_type = u16::from_be_bytes(field(0..2).try_into().unwrap());
        let flags = u16::from_be_bytes(field(2..4).try_into().unwrap());
        let size = u64::from_be_bytes(field(4..12).try_into().unwrap()) as usize;
        sections.push(RawSection {
            section_type,
            flags,
            data: file[position + 12..position + 12 + size].to_vec(),
        });
        position += 12 + size;
    }
    (header, sections)
}

/// Joins a header and sections into an EIF: the section count and table are rewritten (slots past the
/// sections zeroed) and the CRC recomputed; every other header field stays as given.
pub fn join_eif(header: &[u8; 548], sections: &[RawSection]) -> Vec<u8> {
    let mut file = header.to_vec();
    file[0x1a..0x1c].copy_from_slice(&(sections.len() as u16).to_be_bytes());
    file[0x1c..0x21c].fill(0);
    let mut position = 548u64;
    for (index, section) in sections.iter().enumerate() {
        let size = section.data.len() as u64;
        file[0x1c + 8 * index..0x1c + 8 * index + 8].copy_from_slice(&position.to_be_bytes());
        file[0x11c + 8 * index..0x11c + 8 * index + 8].copy_from_slice(&size.to_be_bytes());
        position += 12 + size;
    }
    for section in sections {
        file.extend_from_slice(&section.section_type.to_be_bytes());
        file.extend_from_slice(&section.flags.to_be_bytes());
        file.extend_from_slice(&(section.data.len() as u64).to_be_bytes());
        file.extend_from_slice(&section.data);
    }
    fix_crc(&mut file);
    file
}

/// The `ci/eif-reference` binary (AWS's reader and builder), from MPR_EIF_REFERENCE.
pub fn reference_binary() -> PathBuf {
    match std::env::var_os("MPR_EIF_REFERENCE") {
        Some(path) => PathBuf::from(path),
        None => panic!(
            "MPR_EIF_REFERENCE is not set: build ci/eif-reference (ci/test.sh does) and point the variable at \
             its binary, e.g. MPR_EIF_REFERENCE=/root/.cache/mpr/eif-reference-target/release/eif-reference"
        ),
    }
}

/// AWS's reader on `path` (`eif-reference describe`): its JSON report, or its message when it refuses
/// the file.
pub fn reference_describe(path: &Path) -> Result<serde_json::Value, String> {
    let output = std::process::Command::new(reference_binary())
        .arg("describe")
        .arg(path)
        .output()
        .expect("cannot run eif-reference");
    if !output.status.success() {
        return Err(String::from_utf8_lossy(&output.stderr).into_owned());
    }
    Ok(serde_json::from_slice(&output.stdout).expect("eif-reference printed invalid JSON"))
}

/// The PCRs of an eif-reference report (`describe` or `build`), in our type.
pub fn reference_pcrs(report: &serde_json::Value) -> measurer::pcr::NitroPcrs {
    let pcr = |name: &str| -> Option<measurer::Digest384> {
        report["Measurements"][name]
            .as_str()
            .map(|hex| hex.parse().expect("reference PCR is not hex"))
    };
    measurer::pcr::NitroPcrs {
        pcr0: pcr("PCR0").expect("no PCR0"),
        pcr1: pcr("PCR1").expect("no PCR1"),
        pcr2: pcr("PCR2").expect("no PCR2"),
        pcr8: pcr("PCR8"),
    }
}
