//! The filesystem's whole state: report directories by name and id, and the open attribute files.
//! configfs buffers each open file on its own: a reader sees the content as of its first read, a
//! writer's bytes reach the attribute's `store` only when the file is closed.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use fuser::Errno;

use crate::entry::{Attribute, ReportEntry, INBLOB_MAX};
use crate::ReportSigner;

struct OpenAttribute {
    entry: u64,
    attribute: Attribute,
    /// What this file reads, fixed at its first read.
    snapshot: Option<Vec<u8>>,
    /// What this file wrote so far; stored into the attribute at flush.
    written: Vec<u8>,
    unstored_write: bool,
}

pub struct Tree {
    pub signer: Arc<dyn ReportSigner>,
    reports_served: Arc<AtomicUsize>,
    names: BTreeMap<String, u64>,
    entries: HashMap<u64, ReportEntry>,
    next_entry: u64,
    open: HashMap<u64, OpenAttribute>,
    next_handle: u64,
}

impl Tree {
    pub fn new(signer: Arc<dyn ReportSigner>, reports_served: Arc<AtomicUsize>) -> Tree {
        Tree {
            signer,
            reports_served,
            names: BTreeMap::new(),
            entries: HashMap::new(),
            next_entry: 1,
            open: HashMap::new(),
            next_handle: 1,
        }
    }

    pub fn entry(&self, id: u64) -> Option<&ReportEntry> {
        self.entries.get(&id)
    }

    pub fn entry_named(&self, name: &str) -> Option<u64> {
        self.names.get(name).copied()
    }

    /// Report directories in name order, for readdir.
    pub fn entries(&self) -> impl Iterator<Item = (&str, u64)> {
        self.names.iter().map(|(name, id)| (name.as_str(), *id))
    }

    pub fn make_entry(&mut self, name: &str) -> Result<u64, Errno> {
        if self.names.contains_key(name) {
            return Err(Errno::EEXIST);
        }
        let id = self.next_entry;
        self.next_entry += 1;
        self.names.insert(name.to_owned(), id);
        self.entries.insert(id, ReportEntry::new());
        Ok(id)
    }

    /// configfs lets rmdir remove an item together with its attribute files.
    pub fn remove_entry(&mut self, name: &str) -> Result<(), Errno> {
        let id = self.names.remove(name).ok_or(Errno::ENOENT)?;
        self.entries.remove(&id);
        Ok(())
    }

    pub fn open(
        &mut self,
        entry: u64,
        attribute: Attribute,
        read: bool,
        write: bool,
    ) -> Result<u64, Errno> {
        if !self.entries.contains_key(&entry) {
            return Err(Errno::ENOENT);
        }
        // configfs_open_file: EACCES for reading an attribute without show, writing one without store.
        if (read && !attribute.readable()) || (write && !attribute.writable()) {
            return Err(Errno::EACCES);
        }
        let handle = self.next_handle;
        self.next_handle += 1;
        self.open.insert(
            handle,
            OpenAttribute {
                entry,
                attribute,
                snapshot: None,
                written: Vec::new(),
                unstored_write: false,
            },
        );
        Ok(handle)
    }

    pub fn read(&mut self, handle: u64, offset: u64, size: u32) -> Result<Vec<u8>, Errno> {
        let file = self.open.get_mut(&handle).ok_or(Errno::EBADF)?;
        if file.snapshot.is_none() {
            let entry = self.entries.get_mut(&file.entry).ok_or(Errno::ENOENT)?;
            let (content, generated) = entry.read(file.attribute, self.signer.as_ref())?;
            if generated {
                self.reports_served.fetch_add(1, Ordering::SeqCst);
            }
            file.snapshot = Some(content);
        }
        let content = file.snapshot.as_deref().unwrap_or_default();
        let start = usize::try_from(offset)
            .unwrap_or(usize::MAX)
            .min(content.len());
        let end = start.saturating_add(size as usize).min(content.len());
        Ok(content.get(start..end).unwrap_or_default().to_vec())
    }

    pub fn write(&mut self, handle: u64, offset: u64, data: &[u8]) -> Result<usize, Errno> {
        let file = self.open.get_mut(&handle).ok_or(Errno::EBADF)?;
        if !file.attribute.writable() {
            return Err(Errno::EBADF);
        }
        // configfs_bin_write_iter: nothing past the attribute's maximum size.
        let end = usize::try_from(offset)
            .ok()
            .and_then(|o| o.checked_add(data.len()))
            .filter(|end| *end <= INBLOB_MAX)
            .ok_or(Errno::EFBIG)?;
        let start = end - data.len();
        if file.written.len() < end {
            file.written.resize(end, 0);
        }
        file.written[start..end].copy_from_slice(data);
        file.unstored_write = true;
        Ok(data.len())
    }

    /// Hands what a file wrote to the attribute's store. configfs does it when the file is
    /// released; FUSE reports release after close(2) has returned, so it is done at flush, which
    /// close(2) waits for: the writer then sees the new generation as soon as its close returns.
    pub fn store_written(&mut self, handle: u64) -> Result<(), Errno> {
        let Some(file) = self.open.get_mut(&handle) else {
            return Ok(());
        };
        if !file.unstored_write {
            return Ok(());
        }
        file.unstored_write = false;
        // Like configfs, a write to an attribute of a removed directory goes nowhere.
        match self.entries.get_mut(&file.entry) {
            Some(entry) => entry.store_inblob(&file.written),
            None => Ok(()),
        }
    }

    pub fn release(&mut self, handle: u64) {
        // release cannot report an error (configfs ignores the store's result there too).
        let _ = self.store_written(handle);
        self.open.remove(&handle);
    }
}
