//! One report directory (`mkdir <reports>/<name>`) and its attributes, with the state rules of the
//! kernel's drivers/virt/coco/tsm.c: every `inblob` store advances `write_generation`; reading
//! `outblob` or `auxblob` generates a report only when none exists for the current generation.

use std::ffi::OsStr;
use std::time::SystemTime;

use fuser::Errno;

use crate::ReportSigner;

/// TSM_INBLOB_MAX: the REPORT_DATA size.
pub const INBLOB_MAX: usize = 64;
/// TSM_OUTBLOB_MAX: configfs refuses a binary attribute larger than its declared maximum.
pub const OUTBLOB_MAX: usize = 32 * 1024;

/// The attributes a `sev_guest` provider makes visible in each report directory. `privlevel` is
/// left out: the signer interface takes REPORT_DATA only, so a written VMPL could not reach the
/// report, and a fake that accepts a setting it ignores would lie.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Attribute {
    Inblob,
    Outblob,
    Auxblob,
    Generation,
    Provider,
}

impl Attribute {
    pub const ALL: [Attribute; 5] = [
        Attribute::Inblob,
        Attribute::Outblob,
        Attribute::Auxblob,
        Attribute::Generation,
        Attribute::Provider,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Attribute::Inblob => "inblob",
            Attribute::Outblob => "outblob",
            Attribute::Auxblob => "auxblob",
            Attribute::Generation => "generation",
            Attribute::Provider => "provider",
        }
    }

    pub fn from_name(name: &OsStr) -> Option<Attribute> {
        Attribute::ALL.into_iter().find(|a| name == a.name())
    }

    /// Position in [`Attribute::ALL`], counted from 1 (0 is the directory itself in inode numbers).
    pub fn index(self) -> u64 {
        match self {
            Attribute::Inblob => 1,
            Attribute::Outblob => 2,
            Attribute::Auxblob => 3,
            Attribute::Generation => 4,
            Attribute::Provider => 5,
        }
    }

    pub fn from_index(index: u64) -> Option<Attribute> {
        Attribute::ALL.into_iter().find(|a| a.index() == index)
    }

    pub fn readable(self) -> bool {
        !self.writable()
    }

    /// configfs attributes are either read-only (`show`) or write-only (`store`), never both here.
    pub fn writable(self) -> bool {
        self == Attribute::Inblob
    }

    /// The modes configfs gives them: 0444 for read-only, 0200 for write-only.
    pub fn permissions(self) -> u16 {
        if self.writable() {
            0o200
        } else {
            0o444
        }
    }
}

/// A generated report and its certificates, valid while `read_generation == write_generation`.
struct GeneratedReport {
    outblob: Vec<u8>,
    auxblob: Vec<u8>,
}

pub struct ReportEntry {
    pub created: SystemTime,
    /// Zero-padded like the firmware request the kernel builds from `inblob_len` bytes.
    inblob: [u8; INBLOB_MAX],
    inblob_len: usize,
    write_generation: u64,
    read_generation: u64,
    report: Option<GeneratedReport>,
}

impl ReportEntry {
    pub fn new() -> ReportEntry {
        ReportEntry {
            created: SystemTime::now(),
            inblob: [0; INBLOB_MAX],
            inblob_len: 0,
            write_generation: 0,
            read_generation: 0,
            report: None,
        }
    }

    /// What configfs hands the `inblob` store when the writer's file is done with (at most
    /// [`INBLOB_MAX`] bytes: longer writes were refused with EFBIG as they came).
    pub fn store_inblob(&mut self, data: &[u8]) -> Result<(), Errno> {
        if data.len() > INBLOB_MAX {
            return Err(Errno::EFBIG);
        }
        // The kernel refuses a store that would bring write_generation round to read_generation
        // without a read in between: a reader would then take a stale report for a fresh one.
        if self.write_generation == self.read_generation.wrapping_sub(1) {
            return Err(Errno::EBUSY);
        }
        self.write_generation = self.write_generation.wrapping_add(1);
        self.inblob = [0; INBLOB_MAX];
        self.inblob[..data.len()].copy_from_slice(data);
        self.inblob_len = data.len();
        Ok(())
    }

    /// The content a reader of `attribute` gets now; `None` for write-only attributes.
    /// Returns whether a report was generated for this read alongside the content.
    pub fn read(
        &mut self,
        attribute: Attribute,
        signer: &dyn ReportSigner,
    ) -> Result<(Vec<u8>, bool), Errno> {
        match attribute {
            Attribute::Inblob => Err(Errno::EACCES),
            Attribute::Generation => {
                Ok((format!("{}\n", self.write_generation).into_bytes(), false))
            }
            Attribute::Provider => Ok((format!("{}\n", signer.provider()).into_bytes(), false)),
            Attribute::Outblob | Attribute::Auxblob => {
                let generated = self.ensure_report(signer)?;
                let report = self.report.as_ref().ok_or(Errno::EIO)?;
                let blob = if attribute == Attribute::Outblob {
                    &report.outblob
                } else {
                    &report.auxblob
                };
                Ok((blob.clone(), generated))
            }
        }
    }

    /// Generates the report once per generation, like `tsm_report_read`'s slow path.
    fn ensure_report(&mut self, signer: &dyn ReportSigner) -> Result<bool, Errno> {
        // Reading a report before any REPORT_DATA was written is EINVAL in the kernel.
        if self.inblob_len == 0 {
            return Err(Errno::EINVAL);
        }
        if self.report.is_some() && self.read_generation == self.write_generation {
            return Ok(false);
        }
        let outblob = signer.report(&self.inblob);
        let auxblob = signer.auxblob();
        if outblob.len() > OUTBLOB_MAX || auxblob.len() > OUTBLOB_MAX {
            return Err(Errno::EFBIG);
        }
        self.report = Some(GeneratedReport { outblob, auxblob });
        self.read_generation = self.write_generation;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct FixedSigner(usize);

    impl ReportSigner for FixedSigner {
        fn provider(&self) -> &str {
            "sev_guest"
        }
        fn report(&self, report_data: &[u8; 64]) -> Vec<u8> {
            let mut report = report_data.to_vec();
            report.resize(self.0, 0);
            report
        }
        fn auxblob(&self) -> Vec<u8> {
            Vec::new()
        }
    }

    #[test]
    fn a_store_that_would_wrap_generation_onto_the_unread_report_is_busy() {
        let mut entry = ReportEntry::new();
        entry.write_generation = u64::MAX - 1;
        entry.read_generation = u64::MAX;
        assert_eq!(entry.store_inblob(b"data"), Err(Errno::EBUSY));
        assert_eq!(entry.write_generation, u64::MAX - 1);
        entry.read_generation = 0;
        assert_eq!(entry.store_inblob(b"data"), Ok(()));
        assert_eq!(entry.write_generation, u64::MAX);
        // One short of read_generation 0 again: busy until the report is read.
        assert_eq!(entry.store_inblob(b"data"), Err(Errno::EBUSY));
        entry.read_generation = 5;
        assert_eq!(entry.store_inblob(b"data"), Ok(()));
        assert_eq!(
            entry.write_generation, 0,
            "generation wraps like the kernel's counter"
        );
    }

    #[test]
    fn a_report_larger_than_configfs_allows_is_refused_and_not_kept() {
        let mut entry = ReportEntry::new();
        entry.store_inblob(&[1; INBLOB_MAX]).unwrap();
        let too_large = FixedSigner(OUTBLOB_MAX + 1);
        assert_eq!(
            entry.read(Attribute::Outblob, &too_large),
            Err(Errno::EFBIG)
        );
        let (report, generated) = entry
            .read(Attribute::Outblob, &FixedSigner(OUTBLOB_MAX))
            .unwrap();
        assert!(generated);
        assert_eq!(report.len(), OUTBLOB_MAX);
    }

    #[test]
    fn a_store_longer_than_inblob_is_refused() {
        let mut entry = ReportEntry::new();
        assert_eq!(entry.store_inblob(&[0; INBLOB_MAX + 1]), Err(Errno::EFBIG));
        assert_eq!(entry.write_generation, 0);
    }
}
