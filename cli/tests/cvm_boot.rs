//! The CVM bundle that `mpr build` makes really boots: QEMU starts its kernel, initrd and command
//! line directly (as OVMF does for SEV-SNP), and
//! - the prover inside answers GET /health and GET /ready through a forwarded port;
//! - a VM whose command exits non-zero powers itself off, so QEMU exits on its own.
//!
//! Needs qemu-system-x86_64 (Debian's qemu-system-x86; ci/setup.sh installs it), /dev/kvm, and
//! MPR_PROVER_RELEASE: the `mpr build --out` directory of the prover (ci/prover-recipe.sh), whose
//! kernel both tests boot. MPR_CVM_ACCEL=tcg runs QEMU under software emulation instead of KVM,
//! for hosts whose /dev/kvm cannot run a stock kernel (a nested PVM host, for one).

mod vm_support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use builder::archive::Tree;
use builder::cvm::build_cvm;
use builder::recipe::Recipe;
use vm_support::{free_port, get, prover_release, Accel, Vm, RELEASE_VAR};

/// The `cvm/` directory of the prover release the tests boot.
fn release_cvm() -> PathBuf {
    let cvm = prover_release().join("cvm");
    for file in ["vmlinuz", "initrd.img", "cmdline"] {
        assert!(
            cvm.join(file).is_file(),
            "{} is missing: {RELEASE_VAR} must be an `mpr build --out` directory of a recipe with [cvm]",
            cvm.join(file).display()
        );
    }
    cvm
}

#[tokio::test(flavor = "multi_thread")]
async fn the_prover_cvm_answers_health_and_ready() {
    let accel = Accel::from_env();
    let bundle = release_cvm();
    let logs = tempfile::tempdir().unwrap();
    let port = free_port();
    let network = vec![
        "-netdev".to_owned(),
        format!("user,id=n,hostfwd=tcp:127.0.0.1:{port}-:6300"),
        "-device".to_owned(),
        "virtio-net-pci,netdev=n".to_owned(),
    ];
    let started = Instant::now();
    let mut vm = Vm::boot(&bundle, &network, logs.path(), accel);
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .danger_accept_invalid_certs(true)
        .build()
        .unwrap();
    // QEMU accepts on the forwarded port before the guest listens and then drops the connection,
    // so the prover is up when an HTTP answer comes back.
    let health = loop {
        if let Some(status) = vm.exited() {
            panic!(
                "the VM stopped ({status}) before the prover answered /health{}",
                vm.report()
            );
        }
        if started.elapsed() > accel.deadline() {
            panic!(
                "the prover did not answer GET /health through port {port} within {:?} of QEMU's start{}",
                accel.deadline(),
                vm.report()
            );
        }
        if let Some(answer) = get(&client, port, "/health").await {
            break answer;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert_eq!(health.1, 200, "GET /health: {health:?}{}", vm.report());
    assert_eq!(health.2["status"], "ok", "GET /health: {health:?}");
    let ready = get(&client, port, "/ready")
        .await
        .unwrap_or_else(|| panic!("GET /ready got no answer{}", vm.report()));
    assert_eq!(ready.1, 200, "GET /ready: {ready:?}{}", vm.report());
    assert_eq!(ready.2["status"], "ok", "GET /ready: {ready:?}");
    let console = vm.console();
    assert!(
        console.contains("udhcpc") && console.contains("obtained"),
        "the console shows no DHCP lease{}",
        vm.report()
    );
    println!(
        "prover answered /health and /ready over {} {:.1?} after QEMU started",
        ready.0,
        started.elapsed()
    );
}

#[test]
fn a_cvm_whose_command_fails_powers_off() {
    let accel = Accel::from_env();
    let kernel = release_cvm().join("vmlinuz");
    let busybox = Path::new("/bin/busybox");
    assert!(
        busybox.is_file(),
        "/bin/busybox is missing: install Debian's busybox-static (ci/setup.sh does)"
    );
    let zeros = "0".repeat(64);
    let recipe = format!(
        r#"schema = 1
name = "exit-code"
version = "1.0.0"
[builder]
image = "sha256:{zeros}"
[runtime]
entrypoint = ["/bin/busybox", "sh", "-c", "echo 'cvm-boot-test: failing on purpose'; exit 3"]
[cvm]
kernel = {{ path = {kernel:?}, sha256 = "{zeros}" }}
busybox = {{ path = "/bin/busybox", sha256 = "{zeros}" }}
cmdline = "console=ttyS0 panic=-1"
"#,
        kernel = kernel.display().to_string()
    );
    let recipe = Recipe::parse(&recipe, Path::new("exit-code.toml"), Path::new("/")).unwrap();
    let spec = recipe.cvm.as_ref().unwrap();
    let bundle = tempfile::tempdir().unwrap();
    build_cvm(
        spec,
        &[],
        &Tree::new(),
        &recipe.runtime,
        1_700_000_000,
        bundle.path(),
    )
    .unwrap();

    let logs = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let mut vm = Vm::boot(bundle.path(), &[], logs.path(), accel);
    let status = loop {
        if let Some(status) = vm.exited() {
            break status;
        }
        if started.elapsed() > accel.deadline() {
            panic!(
                "QEMU still runs {:?} after its start: the VM did not power off{}",
                accel.deadline(),
                vm.report()
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(status.success(), "QEMU exited with {status}{}", vm.report());
    let console = vm.console();
    // -no-reboot would also end QEMU on a kernel panic (init exiting): the power-off is what counts.
    for line in [
        "cvm-boot-test: failing on purpose",
        "init: the command exited with status 3; powering off",
        "reboot: Power down",
    ] {
        assert!(
            console.contains(line),
            "the console lacks {line:?}{}",
            vm.report()
        );
    }
    println!(
        "the VM powered off {:.1?} after QEMU started",
        started.elapsed()
    );
}
