//! `eif-reference`: a thin command-line face over AWS's `aws-nitro-enclaves-image-format` 0.8.1.
//!
//! It exists only so mpr's conformance tests and benchmarks can compare mpr's EIF writer, reader and
//! PCRs with the reference implementation in the same run. It is deliberately kept out of the main
//! workspace because the AWS crate pulls in OpenSSL and the AWS SDK.
//!
//! ```text
//! eif-reference build --kernel K --cmdline C [--ramdisk R]... --flags N --metadata META.json
//!                     [--private-key KEY.pem --signing-certificate CERT.pem] --output OUT
//! eif-reference describe FILE
//! ```
//! Both print one JSON object on stdout.

use aws_nitro_enclaves_image_format::defs::EifIdentityInfo;
use aws_nitro_enclaves_image_format::utils::eif_reader::EifReader;
use aws_nitro_enclaves_image_format::utils::{EifBuilder, SignKeyData};
use serde_json::json;
use sha2::{Digest, Sha384};
use std::fs::OpenOptions;
use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("build") => build(&args[1..]),
        Some("describe") if args.len() == 2 => describe(&args[1]),
        _ => Err("usage: eif-reference build ... | eif-reference describe FILE".to_string()),
    };
    match result {
        Ok(value) => {
            println!("{value}");
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("eif-reference: {message}");
            ExitCode::FAILURE
        }
    }
}

fn build(args: &[String]) -> Result<serde_json::Value, String> {
    let mut kernel = None;
    let mut cmdline = None;
    let mut ramdisks = Vec::new();
    let mut flags = 0u16;
    let mut metadata = None;
    let mut key = None;
    let mut cert = None;
    let mut output = None;
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let value = it.next().ok_or(format!("{flag} needs a value"))?.clone();
        match flag.as_str() {
            "--kernel" => kernel = Some(PathBuf::from(value)),
            "--cmdline" => cmdline = Some(value),
            "--ramdisk" => ramdisks.push(PathBuf::from(value)),
            "--flags" => flags = value.parse().map_err(|e| format!("--flags: {e}"))?,
            "--metadata" => metadata = Some(PathBuf::from(value)),
            "--private-key" => key = Some(value),
            "--signing-certificate" => cert = Some(PathBuf::from(value)),
            "--output" => output = Some(PathBuf::from(value)),
            other => return Err(format!("unknown flag {other}")),
        }
    }
    let kernel = kernel.ok_or("--kernel is required")?;
    let cmdline = cmdline.ok_or("--cmdline is required")?;
    let output = output.ok_or("--output is required")?;
    let metadata = metadata.ok_or("--metadata is required")?;
    let metadata: EifIdentityInfo = serde_json::from_slice(
        &std::fs::read(&metadata).map_err(|e| format!("reading {}: {e}", metadata.display()))?,
    )
    .map_err(|e| format!("metadata: {e}"))?;
    let sign_info = match (key, cert) {
        (Some(key), Some(cert)) => Some(SignKeyData::new(&key, &cert)?),
        (None, None) => None,
        _ => return Err("--private-key and --signing-certificate go together".to_string()),
    };
    let mut builder = EifBuilder::new(&kernel, cmdline, sign_info, Sha384::new(), flags, metadata);
    for ramdisk in &ramdisks {
        builder.add_ramdisk(ramdisk);
    }
    let mut out = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&output)
        .map_err(|e| format!("creating {}: {e}", output.display()))?;
    let measurements = builder.write_to(&mut out);
    Ok(json!({ "Measurements": measurements }))
}

fn describe(path: &str) -> Result<serde_json::Value, String> {
    let mut reader = EifReader::from_eif(path.to_string())?;
    let measurements = reader.get_measurements()?;
    let crc_ok = reader.check_crc();
    let header = reader.get_header();
    let sign_check = if reader.signature_section.is_some() {
        reader.get_certificate_info(measurements.clone())?;
        reader.sign_check
    } else {
        None
    };
    let metadata = reader
        .get_metadata()
        .map(|m| serde_json::to_value(m).expect("metadata serialises"));
    let n = header.num_sections as usize;
    Ok(json!({
        "Measurements": measurements,
        "CrcOk": crc_ok,
        "Crc": header.eif_crc32,
        "Version": header.version,
        "Flags": header.flags,
        "NumSections": header.num_sections,
        "SectionOffsets": header.section_offsets.get(..n),
        "SectionSizes": header.section_sizes.get(..n),
        "SignCheck": sign_check,
        "Metadata": metadata,
    }))
}
