//! The `[uki]` outputs, read back by other tools: the GPT by sfdisk, the EFI system partition by
//! mtools and fsck.fat, the Azure VHD by qemu-img, the GCP archive by tar; and byte-identical when
//! built twice, with identifiers that follow SOURCE_DATE_EPOCH.
//!
//! Needs Debian's systemd-boot-efi, fdisk, mtools, dosfstools, qemu-utils (ci/setup.sh installs them).

use std::path::{Path, PathBuf};
use std::process::Command;

use builder::recipe::{PinnedFile, UkiSpec};
use builder::uki::{build_uki, BuiltUki, AZURE_VHD_FILE, DISK_FILE, GCP_IMAGE_FILE};

const STUB: &str = "/usr/lib/systemd/boot/efi/linuxx64.efi.stub";
const SDE: u64 = 1_700_000_000;

fn stub() -> PathBuf {
    assert!(
        Path::new(STUB).is_file(),
        "{STUB} is missing: apt-get install systemd-boot-efi (ci/setup.sh does)"
    );
    PathBuf::from(STUB)
}

fn run(program: &str, args: &[&str]) -> String {
    let output = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program} ({e}): install it (ci/setup.sh does)"));
    assert!(output.status.success(), "{program} {args:?}: {output:?}");
    String::from_utf8(output.stdout).unwrap()
}

fn sha256(path: &Path) -> String {
    builder::hashing::sha256_file(path).unwrap().sha256
}

/// Builds the UKI outputs into `dir`, with the stub standing in for the kernel (any PE image will
/// do for the disk) and a made-up initrd.
fn build(dir: &Path, sde: u64, cmdline: &str) -> BuiltUki {
    let inputs = dir.join("inputs");
    std::fs::create_dir_all(&inputs).unwrap();
    let kernel = inputs.join("vmlinuz");
    std::fs::copy(stub(), &kernel).unwrap();
    let initrd = inputs.join("initrd.img");
    std::fs::write(
        &initrd,
        (0..2_000_000u32)
            .map(|i| (i % 253) as u8)
            .collect::<Vec<_>>(),
    )
    .unwrap();
    let spec = UkiSpec {
        stub: PinnedFile {
            path: stub(),
            sha256: String::new(),
        },
        cmdline: None,
        os_release: None,
        disk_size_gib: None,
    };
    let out = dir.join("uki");
    std::fs::create_dir_all(&out).unwrap();
    build_uki(&spec, &kernel, &initrd, cmdline, "ID=mpr-test\n", sde, &out).unwrap()
}

#[test]
fn the_outputs_are_byte_identical_when_built_twice() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let first = build(a.path(), SDE, "console=ttyS0");
    // Equal records: the same SHA-256 for the UKI, the disk, the GCP archive and the VHD.
    assert_eq!(first, build(b.path(), SDE, "console=ttyS0"));
    // Another SOURCE_DATE_EPOCH: the same UKI, another disk (GUIDs, serial, timestamps).
    let c = tempfile::tempdir().unwrap();
    let later = build(c.path(), SDE + 1, "console=ttyS0");
    assert_eq!(later.uki, first.uki);
    assert_eq!(later.vtpm, first.vtpm);
    assert_ne!(later.disk.sha256, first.disk.sha256);
}

#[test]
fn other_tools_read_the_disk_and_its_cloud_formats() {
    let dir = tempfile::tempdir().unwrap();
    let built = build(dir.path(), SDE, "console=ttyS0");
    let out = dir.path().join("uki");
    let disk = out.join(DISK_FILE);
    let disk_arg = disk.to_str().unwrap();
    assert_eq!(built.disk.size, 1 << 30, "GCP imports whole GiB");

    let table: serde_json::Value =
        serde_json::from_str(&run("sfdisk", &["--json", disk_arg])).unwrap();
    let table = &table["partitiontable"];
    assert_eq!(table["label"], "gpt");
    let partitions = table["partitions"].as_array().unwrap();
    assert_eq!(partitions.len(), 1);
    assert_eq!(
        partitions[0]["type"],
        "C12A7328-F81F-11D2-BA4B-00A0C93EC93B"
    );
    assert_eq!(partitions[0]["start"], 2048);
    // sfdisk also verifies both GPT headers' CRCs and the backup header.
    assert!(run("sfdisk", &["--verify", disk_arg]).contains("No errors detected"));

    // The ESP: FAT32, clean, holding the UKI at the default loader path.
    let esp = format!("{disk_arg}@@1048576");
    let copied = dir.path().join("BOOTX64.EFI");
    run(
        "mcopy",
        &[
            "-i",
            &esp,
            "::/EFI/BOOT/BOOTX64.EFI",
            copied.to_str().unwrap(),
        ],
    );
    assert_eq!(sha256(&copied), built.uki.sha256);
    let esp_image = dir.path().join("esp.img");
    run(
        "dd",
        &[
            &format!("if={disk_arg}"),
            &format!("of={}", esp_image.display()),
            "bs=512",
            "skip=2048",
            "count=2095071",
            "status=none",
        ],
    );
    let fsck = run("fsck.fat", &["-n", "-v", esp_image.to_str().unwrap()]);
    assert!(fsck.contains("2 FATs, 32 bit entries"), "{fsck}");

    // Azure: a fixed VHD of the disk; qemu-img checks the footer's checksum when it opens it.
    let vhd = out.join(AZURE_VHD_FILE);
    let options = format!(
        "driver=vpc,force_size_calc=current_size,file.filename={}",
        vhd.display()
    );
    let info: serde_json::Value = serde_json::from_str(&run(
        "qemu-img",
        &["info", "--output=json", "--image-opts", &options],
    ))
    .unwrap();
    assert_eq!(info["format"], "vpc");
    assert_eq!(info["virtual-size"], 1u64 << 30);
    let converted = dir.path().join("from-vhd.raw");
    run(
        "qemu-img",
        &[
            "convert",
            "-O",
            "raw",
            "--image-opts",
            &options,
            converted.to_str().unwrap(),
        ],
    );
    assert_eq!(
        sha256(&converted),
        built.disk.sha256,
        "the VHD's data is the disk"
    );

    // GCP: disk.raw alone in a gzip'd tar.
    let gcp = out.join(GCP_IMAGE_FILE);
    let listing = run("tar", &["-tvzf", gcp.to_str().unwrap()]);
    let lines: Vec<_> = listing.lines().collect();
    assert_eq!(lines.len(), 1, "{listing}");
    assert!(
        lines[0].contains("0/0")
            && lines[0].contains("1073741824")
            && lines[0].ends_with(" disk.raw"),
        "{listing}"
    );
    let extracted = dir.path().join("extracted");
    std::fs::create_dir(&extracted).unwrap();
    run(
        "tar",
        &[
            "-xzf",
            gcp.to_str().unwrap(),
            "-C",
            extracted.to_str().unwrap(),
        ],
    );
    assert_eq!(sha256(&extracted.join("disk.raw")), built.disk.sha256);
}

#[test]
fn a_changed_command_line_changes_the_uki_and_its_pcrs_9_and_11() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let base = build(a.path(), SDE, "console=ttyS0");
    let other = build(b.path(), SDE, "console=ttyS1");
    assert_ne!(other.uki.sha256, base.uki.sha256);
    assert_ne!(other.vtpm.pcr9, base.vtpm.pcr9);
    assert_ne!(other.vtpm.pcr11, base.vtpm.pcr11);
    assert_eq!(other.cmdline, "console=ttyS1");
}
