//! A stand-in for the Linux configfs-tsm report interface (Documentation/ABI/testing/configfs-tsm),
//! so tests can run the real, unmodified proof server as if it were inside a confidential VM.
//!
//! [`FakeTsm::mount`] mounts a FUSE filesystem that behaves like `/sys/kernel/config/tsm/report`:
//! `mkdir <entry>` makes a report directory with `inblob`, `outblob`, `auxblob`, `generation` and
//! `provider`; `rmdir <entry>` removes it with them. The reports come from a [`ReportSigner`]
//! holding test keys, never from hardware: [`SnpTestSigner`] signs SEV-SNP reports with the
//! verifier crate's generated test chain.
//!
//! Mounting needs /dev/fuse; root mounts directly, anyone else through the `fusermount3` helper
//! (Debian package `fuse3`). A process killed before dropping its [`FakeTsm`] leaves the mount
//! behind: `umount -l <dir>` (or `fusermount3 -u -z <dir>`) removes it.

mod entry;
mod fs;
mod node;
mod snp;
mod tree;

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use fuser::{BackgroundSession, Config, MountOption, SessionACL};

pub use entry::{INBLOB_MAX, OUTBLOB_MAX};
pub use snp::SnpTestSigner;

/// Produces the evidence a TSM provider would: what `outblob` and `auxblob` read.
pub trait ReportSigner: Send + Sync + 'static {
    /// What `provider` reads (without the newline): `sev_guest` for SEV-SNP, `tdx_guest` for TDX.
    fn provider(&self) -> &str;
    /// The report for `report_data` (the written `inblob`, zero-padded to 64 bytes).
    fn report(&self, report_data: &[u8; 64]) -> Vec<u8>;
    /// What `auxblob` reads: for SEV-SNP the GHCB certificate table; empty when there is none.
    fn auxblob(&self) -> Vec<u8>;
}

/// A mounted fake configfs-tsm report directory. Dropping it unmounts the filesystem.
pub struct FakeTsm {
    reports_dir: PathBuf,
    reports_served: Arc<AtomicUsize>,
    session: Option<BackgroundSession>,
}

impl FakeTsm {
    /// Mounts the fake report directory on `dir` (an existing, empty directory).
    pub fn mount(dir: &Path, signer: Arc<dyn ReportSigner>) -> io::Result<FakeTsm> {
        let reports_served = Arc::new(AtomicUsize::new(0));
        let filesystem = fs::TsmFilesystem::new(tree::Tree::new(signer, reports_served.clone()));
        let mut config = Config::default();
        config.mount_options = vec![
            MountOption::FSName("fake-tsm".to_owned()),
            MountOption::Subtype("fake-tsm".to_owned()),
            MountOption::NoExec,
            MountOption::NoSuid,
            MountOption::NoDev,
        ];
        // No auto_unmount: fusermount3 would then own the mount and unmount it at a time of its
        // choosing, and Drop could no longer promise a plain directory once it returns.
        config.acl = SessionACL::Owner;
        let session = fuser::spawn_mount(filesystem, dir, &config).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!(
                    "cannot mount the fake configfs-tsm on {}: {e}. It needs /dev/fuse and \
                     fusermount3 (Debian package fuse3: apt-get install fuse3), run as root",
                    dir.display()
                ),
            )
        })?;
        Ok(FakeTsm {
            reports_dir: dir.to_owned(),
            reports_served,
            session: Some(session),
        })
    }

    /// The directory to use where the kernel's is `/sys/kernel/config/tsm/report`.
    pub fn reports_dir(&self) -> &Path {
        &self.reports_dir
    }

    /// How many reports the signer has produced: one per `inblob` generation that was read.
    pub fn reports_served(&self) -> usize {
        self.reports_served.load(Ordering::SeqCst)
    }
}

impl Drop for FakeTsm {
    fn drop(&mut self) {
        if let Some(session) = self.session.take() {
            // Waits for the session thread: the directory is a plain one again afterwards.
            let _ = session.umount_and_join();
        }
    }
}
