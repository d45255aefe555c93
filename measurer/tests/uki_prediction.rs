//! The vTPM PCR prediction of a UKI boot, checked against independent implementations on a UKI
//! assembled the classic way, with binutils' `objcopy --add-section` (not by mpr), from Debian's
//! systemd-stub:
//! - the UKI's and the kernel's Authenticode digests (PCR 4) against the `authenticode` crate;
//! - PCR 11 against systemd's own `systemd-measure calculate`.
//!
//! The boot itself (firmware, stub and kernel extending the real vTPM) is checked by
//! cli/tests/uki_boot.rs.
//!
//! Needs Debian's systemd-boot-efi (the stub), systemd (systemd-measure) and binutils (objcopy);
//! ci/setup.sh installs them.

use std::path::{Path, PathBuf};
use std::process::Command;

use measurer::uki::{authenticode_sha256, predict_vtpm_pcrs, PeHeaders, UkiError};

const STUB: &str = "/usr/lib/systemd/boot/efi/linuxx64.efi.stub";
const SYSTEMD_MEASURE: &str = "/usr/lib/systemd/systemd-measure";

fn stub() -> PathBuf {
    let stub = PathBuf::from(STUB);
    assert!(
        stub.is_file(),
        "{STUB} is missing: apt-get install systemd-boot-efi (ci/setup.sh does)"
    );
    stub
}

struct Inputs {
    linux: PathBuf,
    initrd: PathBuf,
    cmdline: PathBuf,
    osrel: PathBuf,
}

/// The UKI's inputs in `dir`: the stub stands in for the kernel (any PE image will do for the
/// measurements), a made-up initrd.
fn inputs(dir: &Path, cmdline: &str, initrd: &[u8]) -> Inputs {
    let inputs = Inputs {
        linux: dir.join("linux"),
        initrd: dir.join("initrd"),
        cmdline: dir.join("cmdline"),
        osrel: dir.join("osrel"),
    };
    std::fs::copy(stub(), &inputs.linux).unwrap();
    std::fs::write(&inputs.initrd, initrd).unwrap();
    std::fs::write(&inputs.cmdline, cmdline).unwrap();
    std::fs::write(&inputs.osrel, "ID=mpr-test\nVERSION_ID=\"1\"\n").unwrap();
    inputs
}

fn objcopy_uki(dir: &Path, inputs: &Inputs) -> PathBuf {
    let uki = dir.join("uki.efi");
    let mut command = Command::new("objcopy");
    for (i, (name, path)) in [
        (".osrel", &inputs.osrel),
        (".cmdline", &inputs.cmdline),
        (".initrd", &inputs.initrd),
        (".linux", &inputs.linux),
    ]
    .into_iter()
    .enumerate()
    {
        command
            .arg("--add-section")
            .arg(format!("{name}={}", path.display()))
            .arg("--change-section-vma")
            .arg(format!("{name}={:#x}", 0x100_0000 * (i + 1)));
    }
    let status = command
        .arg(stub())
        .arg(&uki)
        .status()
        .expect("objcopy (binutils) runs");
    assert!(status.success(), "objcopy failed: {status}");
    // objcopy stamps the COFF header with the current time (it has no option against it, and
    // ignores SOURCE_DATE_EPOCH); the Authenticode hash (PCR 4) covers it, so two assemblies of
    // the same inputs a second apart would differ. Any fixed value makes them the same: 0.
    let mut bytes = std::fs::read(&uki).unwrap();
    let coff = u32::from_le_bytes(bytes[0x3c..0x40].try_into().unwrap()) as usize + 4;
    bytes[coff + 4..coff + 8].copy_from_slice(&[0; 4]);
    std::fs::write(&uki, bytes).unwrap();
    uki
}

fn systemd_measure_pcr11(inputs: &Inputs) -> String {
    let output = Command::new(SYSTEMD_MEASURE)
        .arg("calculate")
        .arg(format!("--linux={}", inputs.linux.display()))
        .arg(format!("--initrd={}", inputs.initrd.display()))
        .arg(format!("--cmdline={}", inputs.cmdline.display()))
        .arg(format!("--osrel={}", inputs.osrel.display()))
        .arg("--bank=sha256")
        .arg("--phase=")
        .output()
        .unwrap_or_else(|e| panic!("{SYSTEMD_MEASURE} ({e}): Debian's systemd package has it"));
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8(output.stdout).unwrap();
    stdout
        .lines()
        .find_map(|line| line.strip_prefix("11:sha256="))
        .unwrap_or_else(|| panic!("no PCR 11 in {stdout}"))
        .to_owned()
}

fn crate_authenticode(bytes: &[u8]) -> String {
    let pe = object::read::pe::PeFile64::parse(bytes).unwrap();
    let mut hasher = sha2::Sha256::default();
    authenticode::authenticode_digest(&pe, &mut hasher).unwrap();
    use sha2::Digest;
    hex::encode(hasher.finalize())
}

fn ours_authenticode(path: &Path) -> String {
    let mut file = std::fs::File::open(path).unwrap();
    let len = file.metadata().unwrap().len();
    let headers = PeHeaders::read(&mut file).unwrap();
    hex::encode(authenticode_sha256(&mut file, &headers, len).unwrap())
}

#[test]
fn authenticode_digests_equal_the_authenticode_crate() {
    let dir = tempfile::tempdir().unwrap();
    let uki = objcopy_uki(dir.path(), &inputs(dir.path(), "console=ttyS0", b"initrd"));
    for image in [stub(), uki] {
        let bytes = std::fs::read(&image).unwrap();
        assert_eq!(
            ours_authenticode(&image),
            crate_authenticode(&bytes),
            "{}",
            image.display()
        );
    }
}

#[test]
fn the_prediction_equals_systemd_measure_and_the_authenticode_crate() {
    let dir = tempfile::tempdir().unwrap();
    let inputs = inputs(dir.path(), "console=ttyS0 panic=-1", &[7u8; 300_000]);
    let uki = objcopy_uki(dir.path(), &inputs);
    let prediction = predict_vtpm_pcrs(&uki).unwrap();
    assert!(
        prediction.stub.starts_with("systemd-stub 252."),
        "{}",
        prediction.stub
    );
    assert_eq!(prediction.pcr11, systemd_measure_pcr11(&inputs));

    let pcr4: Vec<_> = prediction.events.iter().filter(|e| e.pcr == 4).collect();
    assert_eq!(pcr4.len(), 4);
    assert_eq!(
        pcr4[2].digest,
        crate_authenticode(&std::fs::read(&uki).unwrap())
    );
    assert_eq!(
        pcr4[3].digest,
        crate_authenticode(&std::fs::read(stub()).unwrap())
    );
    let pcr9: Vec<_> = prediction.events.iter().filter(|e| e.pcr == 9).collect();
    let utf16: Vec<u8> = "console=ttyS0 panic=-1\0"
        .encode_utf16()
        .flat_map(u16::to_le_bytes)
        .collect();
    use sha2::Digest;
    assert_eq!(pcr9[0].digest, hex::encode(sha2::Sha256::digest(&utf16)));
    assert_eq!(
        pcr9[1].digest,
        hex::encode(sha2::Sha256::digest([7u8; 300_000]))
    );
    assert_eq!(prediction.pcr12, "0".repeat(64));
}

#[test]
fn each_input_moves_the_pcrs_that_measure_it() {
    let predict = |cmdline: &str, initrd: &[u8]| {
        let dir = tempfile::tempdir().unwrap();
        let inputs = inputs(dir.path(), cmdline, initrd);
        predict_vtpm_pcrs(&objcopy_uki(dir.path(), &inputs)).unwrap()
    };
    let base = predict("console=ttyS0", b"initrd");
    let cmdline = predict("console=ttyS1", b"initrd");
    let initrd = predict("console=ttyS0", b"initrD");
    for changed in [&cmdline, &initrd] {
        assert_ne!(changed.pcr4, base.pcr4, "the UKI's bytes changed");
        assert_ne!(changed.pcr9, base.pcr9);
        assert_ne!(changed.pcr11, base.pcr11);
        assert_eq!(changed.pcr12, base.pcr12);
        // The kernel did not change: its Authenticode event is the same.
        assert_eq!(changed.events[3], base.events[3]);
    }
    assert_eq!(predict("console=ttyS0", b"initrd"), base, "deterministic");
}

#[test]
fn images_that_cannot_be_predicted_are_refused_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let error = |path: &Path| predict_vtpm_pcrs(path).unwrap_err().to_string();

    let text = dir.path().join("text");
    std::fs::write(&text, "not a PE image").unwrap();
    assert!(error(&text).contains("no MZ signature"), "{}", error(&text));

    // The bare stub: no .linux, .cmdline or .initrd.
    assert!(
        error(&stub()).contains("no .linux section"),
        "{}",
        error(&stub())
    );

    // A stub of a systemd whose PCR 11 measurements differ.
    let inputs = inputs(dir.path(), "console=ttyS0", b"initrd");
    let uki = objcopy_uki(dir.path(), &inputs);
    let mut bytes = std::fs::read(&uki).unwrap();
    let at = bytes
        .windows(16)
        .position(|w| w == b"systemd-stub 252")
        .unwrap();
    bytes[at + 13..at + 16].copy_from_slice(b"256");
    let newer = dir.path().join("newer.efi");
    std::fs::write(&newer, &bytes).unwrap();
    let message = error(&newer);
    assert!(
        message.contains("systemd-stub 256") && message.contains("[252]"),
        "{message}"
    );

    // A command line that is not text.
    std::fs::write(&inputs.cmdline, [0xff, 0xfe, b'x']).unwrap();
    let sub = dir.path().join("sub");
    std::fs::create_dir(&sub).unwrap();
    let bad = objcopy_uki(&sub, &inputs);
    assert!(matches!(
        predict_vtpm_pcrs(&bad),
        Err(UkiError::CmdlineNotText { .. })
    ));

    // A truncated image: its sections lie beyond the end.
    let bytes = std::fs::read(&uki).unwrap();
    let truncated = dir.path().join("truncated.efi");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    assert!(
        error(&truncated).contains("beyond the end"),
        "{}",
        error(&truncated)
    );
}
