//! Proof by boot of the `[uki]` disk: QEMU boots the release's Azure VHD (`uki/azure-disk.vhd`,
//! whose content is `uki/disk.raw`, the disk in GCP's archive) with Debian's OVMF and a software
//! TPM (swtpm), as a GCP or Azure confidential VM boots the imported image; the prover inside
//! answers `/attestation` with a TPM quote, which must
//! - verify (AK signature, qualifying data = the channel binding, PCR digest, event log replay,
//!   the AK certified by a test CA the policy pins, as Google certifies its vTPM AKs);
//! - quote PCRs 4, 9, 11 and 12 equal to the record's prediction;
//!
//! and a disk whose UKI carries another command line, or an initrd with other bytes, boots to PCRs
//! equal to its own, different prediction, and is refused against the release's.
//!
//! Needs qemu-system-x86_64, Debian's ovmf, swtpm and tpm2-tools (ci/setup.sh installs them), and
//! MPR_PROVER_RELEASE: the `mpr build --out` directory of the prover (ci/prover-recipe.sh, with
//! [uki]). MPR_CVM_ACCEL=tcg boots under software emulation (hosts whose KVM cannot run OVMF).

// The prover's own swtpm harness; this test uses the GCE part of it.
#[allow(dead_code)]
#[path = "../../prover/tests/common/swtpm.rs"]
mod swtpm;
mod vm_support;

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use builder::recipe::{PinnedFile, UkiSpec};
use builder::record::BuildRecord;
use builder::uki::{build_uki, BuiltUki, AZURE_VHD_FILE, DISK_FILE};
use prover::attestation::tpm::{ak, public::ak_template_rsa, TpmAttester};
use swtpm::SwTpm;
use verifier::attestation::{
    verify, AttestationSettings, EvidenceInput, TrustedReleases, Verdict, VerifyOptions,
};
use verifier::tpm::public::parse_public;
use verifier::tpm::testing::TestAkCa;
use verifier::tpm::HashAlg;
use vm_support::{free_port, get, prover_release, Accel, Vm, RELEASE_VAR};

const OVMF_CODE: &str = "/usr/share/OVMF/OVMF_CODE_4M.fd";
const OVMF_VARS: &str = "/usr/share/OVMF/OVMF_VARS_4M.fd";
const STUB: &str = "/usr/lib/systemd/boot/efi/linuxx64.efi.stub";

fn now() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn release() -> (PathBuf, BuiltUki) {
    let release = prover_release();
    let record: BuildRecord =
        serde_json::from_slice(&std::fs::read(release.join(builder::record::RECORD_FILE)).unwrap())
            .unwrap();
    let uki = record.outputs.uki.unwrap_or_else(|| {
        panic!("{RELEASE_VAR}'s record has no [uki] output: build the prover with ci/prover-recipe.sh's recipe")
    });
    (release, uki)
}

/// A TPM state whose AK (made from Google's AK template NV index, as on GCE) is certified by a
/// test CA, certificate in Google's AK-certificate index: what the prover finds on a GCE vTPM.
fn provision(state: &Path) -> TestAkCa {
    let tpm = SwTpm::start();
    tpm.provision_nv(ak::GCE_AK_TEMPLATE_RSA, &ak_template_rsa(), true);
    let ak_public = {
        let attester = TpmAttester::open(&tpm.socket(), &tpm.dir().join("no-event-log"))
            .expect("the prover's TPM client opens swtpm");
        attester.quote(&[0; 64]).expect("a quote").ak_public
    };
    let ak_key = parse_public(&ak_public).expect("the AK's public area").key;
    let ca = TestAkCa::new("uki-boot", now() - 3600, now() + 86_400);
    tpm.provision_nv(ak::GCE_AK_CERT_RSA, &ca.issue(&ak_key), true);
    std::fs::create_dir_all(state).unwrap();
    for entry in std::fs::read_dir(tpm.dir().join("state")).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), state.join(entry.file_name())).unwrap();
    }
    ca
}

/// swtpm serving QEMU's tpm-emulator on a control socket; killed when dropped.
struct VmTpm(Child);

impl VmTpm {
    fn start(state: &Path, control: &Path) -> VmTpm {
        let child = Command::new("swtpm")
            .args(["socket", "--tpm2", "--tpmstate"])
            .arg(format!("dir={}", state.display()))
            .arg("--ctrl")
            .arg(format!("type=unixio,path={}", control.display()))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("swtpm runs (apt-get install swtpm)");
        let deadline = Instant::now() + Duration::from_secs(10);
        while !control.exists() {
            assert!(Instant::now() < deadline, "swtpm made no control socket");
            std::thread::sleep(Duration::from_millis(20));
        }
        VmTpm(child)
    }
}

impl Drop for VmTpm {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Boots `disk` as a cloud would import it (UEFI, the disk the only boot device) with the TPM
/// state in `state`, and returns the prover's `/attestation` envelope for `nonce`.
async fn boot_and_attest(disk: &Path, format: &str, state: &Path, nonce: &[u8]) -> Vec<u8> {
    for file in [OVMF_CODE, OVMF_VARS] {
        assert!(
            Path::new(file).is_file(),
            "{file} is missing: apt-get install ovmf"
        );
    }
    let accel = Accel::from_env();
    let work = tempfile::tempdir().unwrap();
    let vars = work.path().join("OVMF_VARS.fd");
    std::fs::copy(OVMF_VARS, &vars).unwrap();
    let control = work.path().join("swtpm.ctrl");
    let _tpm = VmTpm::start(state, &control);
    let port = free_port();
    let args: Vec<OsString> = [
        "-nodefaults".to_owned(),
        "-m".into(),
        "2048".into(),
        "-display".into(),
        "none".into(),
        "-serial".into(),
        "stdio".into(),
        "-no-reboot".into(),
        "-drive".into(),
        format!("if=pflash,format=raw,unit=0,readonly=on,file={OVMF_CODE}"),
        "-drive".into(),
        format!("if=pflash,format=raw,unit=1,file={}", vars.display()),
        "-drive".into(),
        format!(
            "file={},format={format},if=none,id=disk,snapshot=on",
            disk.display()
        ),
        "-device".into(),
        "virtio-blk-pci,drive=disk,bootindex=0".into(),
        "-netdev".into(),
        format!("user,id=n,hostfwd=tcp:127.0.0.1:{port}-:6300"),
        "-device".into(),
        "virtio-net-pci,netdev=n".into(),
        "-chardev".into(),
        format!("socket,id=tpm,path={}", control.display()),
        "-tpmdev".into(),
        "emulator,id=tpm0,chardev=tpm".into(),
        "-device".into(),
        "tpm-crb,tpmdev=tpm0".into(),
    ]
    .into_iter()
    .map(OsString::from)
    .collect();
    let started = Instant::now();
    let mut vm = Vm::start(&args, work.path(), accel);
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .danger_accept_invalid_certs(true)
        .build()
        .unwrap();
    let deadline = accel.deadline() + Duration::from_secs(120);
    let path = format!("/attestation?nonce={}", hex::encode(nonce));
    loop {
        if let Some(status) = vm.exited() {
            panic!(
                "the VM stopped ({status}) before the prover attested{}",
                vm.report()
            );
        }
        assert!(
            started.elapsed() < deadline,
            "no /attestation answer through port {port} within {deadline:?}{}",
            vm.report()
        );
        if get(&client, port, "/ready")
            .await
            .is_some_and(|(_, status, _)| status == 200)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let response = client
        .get(format!("https://127.0.0.1:{port}{path}"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {path}: {e}{}", vm.report()));
    assert_eq!(response.status(), 200, "GET {path}{}", vm.report());
    let body = response.bytes().await.unwrap().to_vec();
    println!(
        "{} booted and attested in {:.1?}",
        disk.display(),
        started.elapsed()
    );
    body
}

/// Verifies `envelope` against the prediction; the test CA's certificate goes with the evidence
/// (as a wallet supplies Google's intermediates), trusted only because the policy pins it.
fn judge(envelope: &[u8], nonce: &[u8], ca: &TestAkCa, uki: &BuiltUki) -> (Verdict, EvidenceInput) {
    let mut json: serde_json::Value = serde_json::from_slice(envelope).unwrap();
    json["tpm_ak_intermediates"] = serde_json::json!([base64_encode(&ca.root)]);
    let evidence = EvidenceInput::detect(&serde_json::to_vec(&json).unwrap()).unwrap();
    let registers: BTreeMap<String, Vec<u8>> = uki
        .vtpm
        .registers()
        .into_iter()
        .map(|(name, value)| (name.to_owned(), hex::decode(value).unwrap()))
        .collect();
    let releases = TrustedReleases::ad_hoc("gcp-cvm", registers);
    let settings = AttestationSettings {
        tpm_ak_roots: vec![ca.root_sha256()],
        ..AttestationSettings::default()
    };
    let options = VerifyOptions {
        expected_nonce: Some(nonce),
        now_unix_ms: now() * 1000,
        settings: &settings,
        releases: &releases,
        snp_leaf_certificate: None,
        snp_crls: Vec::new(),
        tdx_collateral: None,
        allow_unbound: false,
        verified_links: None,
    };
    (verify(&evidence, &options), evidence)
}

fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The booted SHA-256 PCRs the envelope's quote covers.
fn quoted_pcrs(evidence: &EvidenceInput) -> BTreeMap<u32, String> {
    let EvidenceInput::Envelope(envelope) = evidence else {
        panic!("not an envelope");
    };
    let tpm = envelope.tpm.as_ref().expect("vtpm fields");
    tpm.pcrs[&HashAlg::Sha256]
        .iter()
        .map(|(index, value)| (u32::from(*index), hex::encode(value)))
        .collect()
}

/// The envelope carried the firmware's event log and it replayed to the quoted PCRs.
fn assert_event_log_replayed(verdict: &Verdict) {
    assert!(
        verdict
            .checks
            .iter()
            .any(|check| check.name == "event log" && check.passed),
        "no replayed event log: {:?}",
        verdict.checks
    );
}

fn assert_booted_as_predicted(evidence: &EvidenceInput, uki: &BuiltUki) {
    let pcrs = quoted_pcrs(evidence);
    for (index, predicted) in [
        (4, &uki.vtpm.pcr4),
        (9, &uki.vtpm.pcr9),
        (11, &uki.vtpm.pcr11),
        (12, &uki.vtpm.pcr12),
    ] {
        assert_eq!(&pcrs[&index], predicted, "PCR {index}: booted vs predicted");
    }
}

/// Builds a UKI disk from `initrd` and `cmdline` (the release's kernel and stub), boots it, and
/// checks the boot agrees with its own prediction and is refused against the release's.
async fn boot_a_changed_uki(
    uki: &BuiltUki,
    kernel: &Path,
    initrd: &Path,
    cmdline: &str,
    state: &Path,
    ca: &TestAkCa,
) -> BuiltUki {
    let changed_dir = tempfile::tempdir().unwrap();
    let spec = UkiSpec {
        stub: PinnedFile {
            path: STUB.into(),
            sha256: uki.stub_sha256.clone(),
        },
        cmdline: None,
        os_release: None,
        disk_size_gib: None,
    };
    let changed = build_uki(
        &spec,
        kernel,
        initrd,
        cmdline,
        &uki.os_release,
        1_700_000_000,
        changed_dir.path(),
    )
    .unwrap();
    assert_ne!(
        changed.vtpm.pcr4, uki.vtpm.pcr4,
        "another UKI, another PCR 4"
    );
    let nonce: Vec<u8> = (0..32).map(|i| i * 5 + 3).collect();
    let changed_disk = changed_dir.path().join(DISK_FILE);
    let envelope = boot_and_attest(&changed_disk, "raw", state, &nonce).await;
    let (verdict, evidence) = judge(&envelope, &nonce, ca, &changed);
    assert!(
        verdict.accepted,
        "{}",
        serde_json::to_string_pretty(&verdict).unwrap()
    );
    assert_event_log_replayed(&verdict);
    assert_booted_as_predicted(&evidence, &changed);
    // Judged against the released disk's prediction, the changed boot is refused.
    let (verdict, _) = judge(&envelope, &nonce, ca, uki);
    assert!(!verdict.accepted, "a changed UKI matched the release");
    changed
}

#[tokio::test(flavor = "multi_thread")]
async fn the_booted_disk_quotes_the_predicted_pcrs_and_a_changed_cmdline_or_initrd_moves_both() {
    let (release, uki) = release();
    let tpm_dir = tempfile::tempdir().unwrap();
    let state = tpm_dir.path().join("state");
    let ca = provision(&state);

    let nonce: Vec<u8> = (0..32).map(|i| i * 7 + 1).collect();
    let vhd = release.join("uki").join(AZURE_VHD_FILE);
    // QEMU sizes a fixed VHD by its CHS geometry unless told to trust the footer's size, as
    // Hyper-V (Azure) does; the geometry of 1 GiB falls 256 KiB short, hiding the backup GPT.
    let envelope = boot_and_attest(&vhd, "vpc,force_size_calc=current_size", &state, &nonce).await;
    let (verdict, evidence) = judge(&envelope, &nonce, &ca, &uki);
    assert!(
        verdict.accepted,
        "{}",
        serde_json::to_string_pretty(&verdict).unwrap()
    );
    assert_eq!(verdict.ak_trust.as_deref(), Some("policy-ak-root"));
    assert_event_log_replayed(&verdict);
    assert_booted_as_predicted(&evidence, &uki);

    let cvm = release.join("cvm");
    let (kernel, initrd) = (cvm.join("vmlinuz"), cvm.join("initrd.img"));
    // The same kernel and initrd with another command line.
    let changed = boot_a_changed_uki(
        &uki,
        &kernel,
        &initrd,
        &format!("{} mpr.uki-boot-test=changed", uki.cmdline),
        &state,
        &ca,
    )
    .await;
    assert_ne!(changed.vtpm.pcr9, uki.vtpm.pcr9);
    assert_ne!(changed.vtpm.pcr11, uki.vtpm.pcr11);

    // The same command line with an initrd four bytes longer (NUL padding after the archive,
    // which the kernel's unpacker skips, so it still boots).
    let padded_dir = tempfile::tempdir().unwrap();
    let padded = padded_dir.path().join("initrd.img");
    let mut bytes = std::fs::read(&initrd).unwrap();
    bytes.extend_from_slice(&[0; 4]);
    std::fs::write(&padded, bytes).unwrap();
    // On a TPM of its own: every boot ends without an orderly TPM shutdown, and a third boot on
    // one state finds the TPM in dictionary-attack lockout (TPM_RC_LOCKOUT on the NV reads).
    let padded_tpm = tempfile::tempdir().unwrap();
    let padded_state = padded_tpm.path().join("state");
    let padded_ca = provision(&padded_state);
    let changed = boot_a_changed_uki(
        &uki,
        &kernel,
        &padded,
        &uki.cmdline,
        &padded_state,
        &padded_ca,
    )
    .await;
    assert_ne!(
        changed.vtpm.pcr11, uki.vtpm.pcr11,
        "PCR 11 covers the .initrd section"
    );
}
