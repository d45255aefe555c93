//! QEMU for the boot tests (cvm_boot.rs, uki_boot.rs): the accelerator (KVM, or TCG where this
//! host's /dev/kvm cannot run a guest), a VM process that dies with the test, and HTTP probes of a
//! forwarded port.
#![allow(dead_code)] // each test binary uses part of it

use std::ffi::OsString;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

pub const ACCEL_VAR: &str = "MPR_CVM_ACCEL";
pub const QEMU: &str = "qemu-system-x86_64";
pub const RELEASE_VAR: &str = "MPR_PROVER_RELEASE";

/// The `mpr build --out` directory of the prover release the tests boot.
pub fn prover_release() -> PathBuf {
    let Some(release) = std::env::var_os(RELEASE_VAR) else {
        panic!(
            "{RELEASE_VAR} is not set: set it to the output directory of `mpr build --recipe R --out DIR` \
             of the prover (recipe written by ci/prover-recipe.sh); building it here would take minutes"
        );
    };
    PathBuf::from(release)
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Accel {
    Kvm,
    Tcg,
}

impl Accel {
    pub fn from_env() -> Accel {
        match std::env::var(ACCEL_VAR).as_deref() {
            Err(_) | Ok("kvm") => Accel::Kvm,
            Ok("tcg") => Accel::Tcg,
            Ok(other) => panic!("{ACCEL_VAR}={other:?}: use kvm (the default) or tcg"),
        }
    }

    pub fn args(self) -> Vec<&'static str> {
        match self {
            Accel::Kvm => {
                if let Err(e) = std::fs::OpenOptions::new()
                    .read(true)
                    .write(true)
                    .open("/dev/kvm")
                {
                    panic!(
                        "/dev/kvm cannot be opened ({e}): these tests boot the CVM under QEMU with KVM; \
                         give this user access to /dev/kvm, or set {ACCEL_VAR}=tcg for software emulation"
                    );
                }
                vec!["-enable-kvm"]
            }
            // `max` has the instruction set extensions an x86-64 release binary may use.
            Accel::Tcg => vec!["-accel", "tcg", "-cpu", "max"],
        }
    }

    /// How long a boot may take before the test fails.
    pub fn deadline(self) -> Duration {
        match self {
            Accel::Kvm => Duration::from_secs(120),
            Accel::Tcg => Duration::from_secs(420),
        }
    }

    /// Why a KVM boot may never get anywhere, for the failure message.
    pub fn hint(self) -> String {
        if self == Accel::Kvm && Path::new("/sys/module/kvm_pvm").exists() {
            format!(
                "\nThis host's /dev/kvm is kvm_pvm (nested PVM), which runs a stock kernel instruction by \
                 instruction: it never finishes booting. Set {ACCEL_VAR}=tcg here."
            )
        } else {
            String::new()
        }
    }
}

/// A running QEMU, killed when dropped (a failing test leaves no VM behind).
pub struct Vm {
    child: Child,
    console: PathBuf,
    errors: PathBuf,
    accel: Accel,
}

impl Vm {
    /// Boots `bundle`'s vmlinuz, initrd.img and cmdline; the serial console goes to `logs/console`.
    pub fn boot(bundle: &Path, extra: &[String], logs: &Path, accel: Accel) -> Vm {
        let cmdline = std::fs::read_to_string(bundle.join("cmdline")).unwrap();
        let mut args: Vec<OsString> = ["-m", "2048", "-nographic", "-no-reboot", "-kernel"]
            .map(OsString::from)
            .to_vec();
        args.push(bundle.join("vmlinuz").into());
        args.extend(["-initrd".into(), bundle.join("initrd.img").into()]);
        args.extend(["-append".into(), cmdline.trim_end().into()]);
        args.extend(extra.iter().map(OsString::from));
        Vm::start(&args, logs, accel)
    }

    /// Starts QEMU with `args` after the accelerator's; the serial console goes to `logs/console`.
    pub fn start(args: &[OsString], logs: &Path, accel: Accel) -> Vm {
        let console = logs.join("console");
        let errors = logs.join("qemu-stderr");
        let child = Command::new(QEMU)
            .args(accel.args())
            .args(args)
            .stdin(Stdio::null())
            .stdout(File::create(&console).unwrap())
            .stderr(File::create(&errors).unwrap())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start {QEMU} ({e}): install Debian's qemu-system-x86 (ci/setup.sh does)")
            });
        Vm {
            child,
            console,
            errors,
            accel,
        }
    }

    pub fn console(&self) -> String {
        String::from_utf8_lossy(&std::fs::read(&self.console).unwrap_or_default()).into_owned()
    }

    /// The console's end and QEMU's errors, for failure messages.
    pub fn report(&self) -> String {
        let console = self.console();
        let tail: Vec<&str> = console.lines().rev().take(40).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        let errors = std::fs::read_to_string(&self.errors).unwrap_or_default();
        format!(
            "\n--- console (last 40 lines) ---\n{}\n--- {QEMU} stderr ---\n{errors}{}",
            tail.join("\n"),
            self.accel.hint()
        )
    }

    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().unwrap()
    }
}

impl Drop for Vm {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// GETs `path` over plain HTTP, then over TLS (a CVM command may run the prover with `--tls`, whose
/// certificate is self-signed): the scheme, status and JSON body of the first that answers.
pub async fn get(
    client: &reqwest::Client,
    port: u16,
    path: &str,
) -> Option<(&'static str, u16, serde_json::Value)> {
    for scheme in ["http", "https"] {
        let url = format!("{scheme}://127.0.0.1:{port}{path}");
        if let Ok(response) = client.get(&url).send().await {
            let status = response.status().as_u16();
            let body = response.json().await.unwrap_or(serde_json::Value::Null);
            return Some((scheme, status, body));
        }
    }
    None
}
