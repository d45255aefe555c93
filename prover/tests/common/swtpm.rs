//! A real software TPM (swtpm) for the TPM tests: one per test, in its own temporary directory,
//! serving raw TPM commands on a Unix socket (what the prover's `--tpm-device` accepts) with its
//! control channel at `<socket>.ctrl`, which is where tpm2-tools' `swtpm:path=` TCTI looks for it.
//! The process is killed when the value is dropped, whatever the test's outcome.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const INSTALL: &str = "apt-get install swtpm swtpm-tools tpm2-tools";

pub struct SwTpm {
    dir: tempfile::TempDir,
    child: Child,
}

impl SwTpm {
    /// Starts swtpm with fresh state (it manufactures the TPM itself) and TPM2_Startup done.
    pub fn start() -> SwTpm {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        std::fs::create_dir(&state).unwrap();
        let socket = dir.path().join("sock");
        let child = Command::new("swtpm")
            .arg("socket")
            .arg("--tpm2")
            .arg("--server")
            .arg(format!("type=unixio,path={}", socket.display()))
            .arg("--ctrl")
            .arg(format!("type=unixio,path={}.ctrl", socket.display()))
            .arg("--tpmstate")
            .arg(format!("dir={}", state.display()))
            .arg("--flags")
            .arg("startup-clear")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run swtpm ({e}): {INSTALL}"));
        let swtpm = SwTpm { dir, child };
        let deadline = Instant::now() + Duration::from_secs(10);
        while !socket.exists() {
            assert!(
                Instant::now() < deadline,
                "swtpm did not create {}",
                socket.display()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        swtpm
    }

    /// The data socket, for `--tpm-device`.
    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("sock")
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Runs a tpm2-tools command against this TPM and returns its stdout; a failure fails the test.
    /// Only while no attester holds the TPM: swtpm serves one connection at a time.
    pub fn tool(&self, tool: &str, args: &[&str]) -> Vec<u8> {
        let output = Command::new(tool)
            .args(args)
            .env(
                "TPM2TOOLS_TCTI",
                format!("swtpm:path={}", self.socket().display()),
            )
            .current_dir(self.dir.path())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {tool} ({e}): {INSTALL}"));
        assert!(
            output.status.success(),
            "{tool} {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        output.stdout
    }

    /// Makes an RSA signing key persistent at Azure's AK handle 0x81000003, as the paravisor does,
    /// and returns its TPMT_PUBLIC.
    pub fn persist_azure_ak(&self) -> Vec<u8> {
        self.tool(
            "tpm2_createprimary",
            &[
                "-C",
                "o",
                "-G",
                "rsa2048:rsassa-sha256:null",
                "-c",
                "ak.ctx",
                "-a",
                "fixedtpm|fixedparent|sensitivedataorigin|userwithauth|restricted|sign",
            ],
        );
        self.tool(
            "tpm2_evictcontrol",
            &["-C", "o", "-c", "ak.ctx", "0x81000003"],
        );
        self.tool("tpm2_readpublic", &["-c", "0x81000003", "-o", "ak.pub"]);
        let readpublic = std::fs::read(self.dir.path().join("ak.pub")).unwrap();
        // tpm2_readpublic writes a TPM2B_PUBLIC: the size, then the TPMT_PUBLIC.
        readpublic[2..].to_vec()
    }

    /// Defines NV `index` (owner-written; readable by the owner and, with `auth_read`, by its own
    /// empty auth) and writes `data` into it.
    pub fn provision_nv(&self, index: u32, data: &[u8], auth_read: bool) {
        let index = format!("{index:#010x}");
        let attributes = if auth_read {
            "ownerwrite|ownerread|authread"
        } else {
            "ownerwrite|ownerread"
        };
        let size = data.len().to_string();
        self.tool(
            "tpm2_nvdefine",
            &[&index, "-C", "o", "-s", &size, "-a", attributes],
        );
        let file = self.dir.path().join("nv.bin");
        std::fs::write(&file, data).unwrap();
        self.tool(
            "tpm2_nvwrite",
            &[&index, "-C", "o", "-i", file.to_str().unwrap()],
        );
    }
}

impl Drop for SwTpm {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
