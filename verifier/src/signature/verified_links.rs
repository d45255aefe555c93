//! Remembered certificate signatures. Whether a certificate's signature verifies under its
//! issuer's key depends on nothing but those bytes, so a success can be remembered under a hash
//! of both and skipped the next time the same pair comes by: a fleet's documents share their
//! intermediates, and one enclave's documents share their leaf. Only the signature is skipped;
//! names, validity at the verification time, extensions and pinning are checked on every use.

use std::collections::HashSet;
use std::sync::Mutex;

use sha2::{Digest, Sha256};

/// How many (issuer key, certificate) pairs a cache holds before it starts over: enough for
/// every intermediate of every AWS region and thousands of enclaves' leaves, 32 bytes each.
pub const DEFAULT_CAPACITY: usize = 16 * 1024;

/// A bounded set of verified (issuer key, signed certificate) pairs, shareable across threads.
#[derive(Debug)]
pub struct VerifiedLinks {
    seen: Mutex<HashSet<[u8; 32]>>,
    capacity: usize,
}

impl VerifiedLinks {
    pub fn new(capacity: usize) -> Self {
        VerifiedLinks {
            seen: Mutex::new(HashSet::new()),
            capacity,
        }
    }

    /// Remembers nothing: every signature is verified.
    pub fn disabled() -> Self {
        Self::new(0)
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Runs `verify` unless this exact `issuer_key` has already been seen to sign this exact
    /// `certificate` (its whole DER, so its signature too); remembers a success.
    pub(crate) fn verify<E>(
        &self,
        issuer_key: &[u8],
        certificate: &[u8],
        verify: impl FnOnce() -> Result<(), E>,
    ) -> Result<(), E> {
        if self.capacity == 0 {
            return verify();
        }
        let id = link_id(issuer_key, certificate);
        if self.lock().contains(&id) {
            return Ok(());
        }
        // Verified outside the lock, so threads do not queue behind each other's signatures.
        verify()?;
        let mut seen = self.lock();
        if seen.len() >= self.capacity {
            // Starting over is simpler than an LRU and costs one verification per pair in use.
            seen.clear();
        }
        seen.insert(id);
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashSet<[u8; 32]>> {
        // The set is only ever left whole (insert and clear do not panic midway), so a panic
        // elsewhere while it was held leaves nothing to repair.
        self.seen
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Default for VerifiedLinks {
    fn default() -> Self {
        Self::new(DEFAULT_CAPACITY)
    }
}

/// Length-prefixed, so no (key, certificate) pair can collide with another by shifting bytes.
fn link_id(issuer_key: &[u8], certificate: &[u8]) -> [u8; 32] {
    let mut hash = Sha256::new();
    hash.update(b"mpr verified link v1\0");
    hash.update((issuer_key.len() as u64).to_be_bytes());
    hash.update(issuer_key);
    hash.update((certificate.len() as u64).to_be_bytes());
    hash.update(certificate);
    hash.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_success_is_remembered_and_a_failure_is_not() {
        let links = VerifiedLinks::new(8);
        let mut calls = 0;
        let ok = |calls: &mut i32| {
            *calls += 1;
            Ok::<(), ()>(())
        };
        links.verify(b"key", b"cert", || ok(&mut calls)).unwrap();
        links.verify(b"key", b"cert", || ok(&mut calls)).unwrap();
        assert_eq!(calls, 1);
        // Another key, or another certificate, is another link.
        links.verify(b"key2", b"cert", || ok(&mut calls)).unwrap();
        links.verify(b"key", b"cert2", || ok(&mut calls)).unwrap();
        assert_eq!(calls, 3);

        assert_eq!(
            links.verify(b"bad", b"cert", || Err::<(), _>("no")),
            Err("no")
        );
        assert_eq!(
            links.verify(b"bad", b"cert", || Err::<(), _>("still no")),
            Err("still no")
        );
        assert_eq!(links.len(), 3);
    }

    #[test]
    fn the_cache_stays_within_its_capacity() {
        let links = VerifiedLinks::new(2);
        for i in 0u8..5 {
            links.verify(&[i], b"cert", || Ok::<(), ()>(())).unwrap();
            assert!(links.len() <= 2);
        }
        let disabled = VerifiedLinks::disabled();
        let mut calls = 0;
        for _ in 0..2 {
            disabled
                .verify(b"k", b"c", || {
                    calls += 1;
                    Ok::<(), ()>(())
                })
                .unwrap();
        }
        assert_eq!(calls, 2);
        assert!(disabled.is_empty());
    }

    #[test]
    fn shifting_bytes_between_key_and_certificate_is_another_link() {
        assert_ne!(link_id(b"ab", b"c"), link_id(b"a", b"bc"));
    }
}
