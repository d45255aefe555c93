//! The single place where EIF bytes are hashed: one producer (the caller's thread, reading the file or
//! the build inputs in chunks) fans the chunks out to two hashing threads, so the wall time is about
//! one SHA-384 pass however the data splits between PCR0 and PCR2.
//!
//! - thread 1: PCR0 over kernel ‖ cmdline ‖ ramdisk0 ‖ … ‖ ramdiskN. PCR1's data (kernel ‖ cmdline ‖
//!   ramdisk0) is a prefix of it in every EIF nitro-cli or EifBuilder writes, so PCR1 costs one state
//!   clone instead of a second pass.
//! - thread 2: PCR2 over ramdisk1..N, plus the CRC-32 of every byte the CRC covers (cheap).
//!
//! Chunks travel as `Arc`s through bounded channels, so memory stays at a few chunks whatever the input.

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Arc;

use super::error::EifError;
use crate::digest::Digest384;
use crate::pcr::extend;
use crate::sha384::Sha384;

/// Large enough that per-chunk overhead (syscall, channel, wake-up) vanishes next to hashing it, small
/// enough that the bounded queues hold only a few MiB.
pub(crate) const CHUNK_SIZE: usize = 1 << 20;
/// Chunks that may wait in each hashing thread's queue. Peak memory ≈ (CHANNEL_DEPTH + 3) × CHUNK_SIZE.
const CHANNEL_DEPTH: usize = 8;

/// Which measurements a run of bytes feeds. Every piece also feeds the CRC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Measured {
    /// Headers, metadata, signature: CRC only.
    Unmeasured,
    /// Kernel, cmdline, first ramdisk: PCR0 and PCR1.
    Boot,
    /// Second and later ramdisks: PCR0 and PCR2.
    Application,
}

struct Piece {
    bytes: Arc<Vec<u8>>,
    measured: Measured,
}

/// The PCRs derived from the image contents (PCR8 comes from the certificate, not from here) and the
/// CRC of everything fed, ready to be combined with a header CRC.
pub(crate) struct Measurements {
    pub pcr0: Digest384,
    pub pcr1: Digest384,
    pub pcr2: Digest384,
    pub crc: crc32fast::Hasher,
}

/// Told the running total of bytes fed after each chunk, on the producer's thread: it drives progress
/// bars on multi-gigabyte images.
pub type Progress<'a> = &'a dyn Fn(u64);

/// The producer's handle: everything fed goes to the hashing threads in order.
pub(crate) struct Feeder<'p> {
    pcr0_queue: SyncSender<Piece>,
    pcr2_crc_queue: SyncSender<Piece>,
    /// Chunks handed out recently, reused once both threads have dropped them (saves page faults).
    in_flight: VecDeque<Arc<Vec<u8>>>,
    progress: Progress<'p>,
    fed: u64,
}

impl Feeder<'_> {
    /// Feeds a small in-memory run of bytes.
    pub fn feed(&mut self, bytes: &[u8], measured: Measured) -> Result<(), EifError> {
        self.send(Arc::new(bytes.to_vec()), measured)
    }

    /// Streams exactly `len` bytes from `source` to the hashing threads and to `sink`, one chunk at a
    /// time. `what` names the source in errors (e.g. "kernel /boot/bzImage").
    pub fn copy(
        &mut self,
        source: &mut impl Read,
        len: u64,
        measured: Measured,
        sink: &mut impl Write,
        what: &str,
    ) -> Result<(), EifError> {
        let mut remaining = len;
        while remaining > 0 {
            let want = usize::try_from(remaining).map_or(CHUNK_SIZE, |left| left.min(CHUNK_SIZE));
            let mut chunk = self.take_buffer();
            let buffer = Arc::get_mut(&mut chunk)
                .ok_or_else(|| EifError::HashingThread("chunk still shared".into()))?;
            buffer.resize(want, 0);
            let filled = read_fully(source, buffer)
                .map_err(|e| EifError::io(format!("reading {what}"), e))?;
            if filled < want {
                let read_so_far = len - remaining + filled as u64;
                return Err(EifError::ChangedWhileReading {
                    what: what.to_string(),
                    detail: format!("it ended after {read_so_far} of the expected {len} bytes"),
                });
            }
            sink.write_all(buffer)
                .map_err(|e| EifError::io(format!("writing the copy of {what}"), e))?;
            remaining -= want as u64;
            self.send(chunk, measured)?;
        }
        Ok(())
    }

    fn take_buffer(&mut self) -> Arc<Vec<u8>> {
        if let Some(oldest) = self.in_flight.front_mut() {
            if Arc::get_mut(oldest).is_some() {
                if let Some(free) = self.in_flight.pop_front() {
                    return free;
                }
            }
        }
        Arc::new(Vec::with_capacity(CHUNK_SIZE))
    }

    fn send(&mut self, bytes: Arc<Vec<u8>>, measured: Measured) -> Result<(), EifError> {
        let hung_up = |_| EifError::HashingThread("a hashing thread stopped early".into());
        if measured != Measured::Unmeasured {
            self.pcr0_queue
                .send(Piece {
                    bytes: Arc::clone(&bytes),
                    measured,
                })
                .map_err(hung_up)?;
        }
        self.pcr2_crc_queue
            .send(Piece {
                bytes: Arc::clone(&bytes),
                measured,
            })
            .map_err(hung_up)?;
        // Bounded by the queues anyway; older entries are simply forgotten and freed when consumed.
        if self.in_flight.len() > 2 * CHANNEL_DEPTH + 4 {
            self.in_flight.pop_front();
        }
        self.fed = self.fed.saturating_add(bytes.len() as u64);
        self.in_flight.push_back(bytes);
        (self.progress)(self.fed);
        Ok(())
    }
}

/// Reads until `buffer` is full or the source ends; returns how many bytes were read.
fn read_fully(source: &mut impl Read, buffer: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while let Some(rest) = buffer.get_mut(filled..).filter(|rest| !rest.is_empty()) {
        match source.read(rest) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Runs `produce` with a [`Feeder`] while two threads hash what it feeds; returns its result and the
/// measurements of everything fed. If `produce` fails, its error is returned and the hashes discarded.
pub(crate) fn measure_while<T>(
    progress: Progress<'_>,
    produce: impl FnOnce(&mut Feeder<'_>) -> Result<T, EifError>,
) -> Result<(T, Measurements), EifError> {
    std::thread::scope(|scope| {
        let (pcr0_queue, pcr0_pieces) = sync_channel(CHANNEL_DEPTH);
        let (pcr2_crc_queue, pcr2_crc_pieces) = sync_channel(CHANNEL_DEPTH);
        let pcr0_thread = scope.spawn(move || hash_pcr0_and_pcr1(pcr0_pieces));
        let pcr2_crc_thread = scope.spawn(move || hash_pcr2_and_crc(pcr2_crc_pieces));

        let mut feeder = Feeder {
            pcr0_queue,
            pcr2_crc_queue,
            in_flight: VecDeque::new(),
            progress,
            fed: 0,
        };
        let produced = produce(&mut feeder);
        // Closing the queues is what tells the threads the input is complete.
        drop(feeder);

        let thread_died = |_| EifError::HashingThread("a hashing thread panicked".into());
        let (pcr0, pcr1) = pcr0_thread.join().map_err(thread_died)?;
        let (pcr2, crc) = pcr2_crc_thread.join().map_err(thread_died)?;
        Ok((
            produced?,
            Measurements {
                pcr0,
                pcr1,
                pcr2,
                crc,
            },
        ))
    })
}

fn hash_pcr0_and_pcr1(pieces: Receiver<Piece>) -> (Digest384, Digest384) {
    let mut pcr0 = Sha384::new();
    // None while every byte hashed so far is also PCR1's; forked at the first PCR0-only byte. Only a
    // file with boot data after application data (never written by AWS tools) makes both run.
    let mut pcr1_fork: Option<Sha384> = None;
    for piece in pieces {
        match piece.measured {
            Measured::Boot => {
                if let Some(pcr1) = pcr1_fork.as_mut() {
                    pcr1.update(&piece.bytes);
                }
            }
            Measured::Application => {
                if pcr1_fork.is_none() {
                    pcr1_fork = Some(pcr0.clone());
                }
            }
            Measured::Unmeasured => continue,
        }
        pcr0.update(&piece.bytes);
    }
    let pcr1 = pcr1_fork.unwrap_or_else(|| pcr0.clone());
    (finish(pcr0), finish(pcr1))
}

fn hash_pcr2_and_crc(pieces: Receiver<Piece>) -> (Digest384, crc32fast::Hasher) {
    let mut pcr2 = Sha384::new();
    let mut crc = crc32fast::Hasher::new();
    for piece in pieces {
        crc.update(&piece.bytes);
        if piece.measured == Measured::Application {
            pcr2.update(&piece.bytes);
        }
    }
    (finish(pcr2), crc)
}

fn finish(hasher: Sha384) -> Digest384 {
    extend(&hasher.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain_pcr(data: &[u8]) -> Digest384 {
        extend(&crate::sha384::sha384(data))
    }

    #[test]
    fn fan_out_matches_the_definitions_even_across_chunk_boundaries_and_odd_orders() {
        let boot: Vec<u8> = (0..(CHUNK_SIZE + 77)).map(|i| (i % 251) as u8).collect();
        let app = b"application".to_vec();
        let late_boot = b"late boot".to_vec();
        let (_, m) = measure_while(&|_| {}, |feeder| {
            feeder.feed(b"header", Measured::Unmeasured)?;
            feeder.copy(
                &mut boot.as_slice(),
                boot.len() as u64,
                Measured::Boot,
                &mut std::io::sink(),
                "boot",
            )?;
            feeder.feed(&app, Measured::Application)?;
            feeder.feed(&late_boot, Measured::Boot)
        })
        .unwrap();
        let pcr0_data = [boot.as_slice(), &app, &late_boot].concat();
        let pcr1_data = [boot.as_slice(), &late_boot].concat();
        assert_eq!(m.pcr0, plain_pcr(&pcr0_data));
        assert_eq!(m.pcr1, plain_pcr(&pcr1_data));
        assert_eq!(m.pcr2, plain_pcr(&app));
        let crc_data = [b"header".as_slice(), &pcr0_data].concat();
        assert_eq!(m.crc.finalize(), crc32fast::hash(&crc_data));
    }

    #[test]
    fn a_short_source_is_an_error_not_a_silent_short_hash() {
        let error = measure_while(&|_| {}, |feeder| {
            feeder.copy(
                &mut &b"abc"[..],
                10,
                Measured::Boot,
                &mut std::io::sink(),
                "kernel k",
            )
        })
        .err()
        .unwrap();
        assert!(
            error
                .to_string()
                .contains("ended after 3 of the expected 10 bytes"),
            "{error}"
        );
    }
}
