//! Hashing a whole firmware image as fast as the machine allows: the SHA-384 of every 4 KiB page (the
//! CONTENTS of its PAGE_INFO) and the SHA-256 of the file, shared out between threads. Only the digest
//! chain over the pages is sequential, and it is cheap (one 112-byte SHA-384 per page).

use std::sync::atomic::{AtomicUsize, Ordering};

use sha2::{Digest, Sha256};

use super::gctx::PAGE_SIZE;
use crate::sha384::sha384;

/// Pages per unit of work: small enough to balance two or four threads, large enough that handing out
/// work costs nothing.
const PAGES_PER_JOB: usize = 16;

/// More threads than this gains nothing on a 2-4 MiB image.
const MAX_THREADS: usize = 4;

/// Below this many pages, starting threads costs more than it saves.
const MIN_PAGES_FOR_THREADS: usize = 64;

pub struct ImageHashes {
    /// Present when asked for.
    pub sha256: Option<[u8; 32]>,
    pub page_hashes: Vec<[u8; 48]>,
}

/// SHA-384 of each page of `image` (whose length is a multiple of 4096) and, if `with_sha256`, the
/// SHA-256 of the whole image.
pub fn hash_image(image: &[u8], with_sha256: bool) -> ImageHashes {
    let pages: Vec<&[u8]> = image.chunks(PAGE_SIZE as usize).collect();
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(MAX_THREADS);
    if threads == 1 || pages.len() < MIN_PAGES_FOR_THREADS {
        return ImageHashes {
            sha256: with_sha256.then(|| Sha256::digest(image).into()),
            page_hashes: PageHasher::default().hash_run(&pages),
        };
    }

    // Job 0 is the file's SHA-256 (if wanted), jobs 1.. are runs of pages; a free thread takes the next.
    let page_jobs: Vec<&[&[u8]]> = pages.chunks(PAGES_PER_JOB).collect();
    let next_job = AtomicUsize::new(if with_sha256 { 0 } else { 1 });
    let worker = || {
        let mut hasher = PageHasher::default();
        let mut sha256 = None;
        let mut done: Vec<(usize, Vec<[u8; 48]>)> = Vec::new();
        loop {
            let job = next_job.fetch_add(1, Ordering::Relaxed);
            if job == 0 {
                sha256 = Some(Sha256::digest(image).into());
                continue;
            }
            let Some(job_pages) = page_jobs.get(job - 1) else {
                break;
            };
            done.push((job - 1, hasher.hash_run(job_pages)));
        }
        (sha256, done)
    };
    type WorkerResult = (Option<[u8; 32]>, Vec<(usize, Vec<[u8; 48]>)>);
    let results: Vec<WorkerResult> = std::thread::scope(|scope| {
        let helpers: Vec<_> = (1..threads).map(|_| scope.spawn(worker)).collect();
        let mut results = vec![worker()];
        // A helper could only fail by panicking inside SHA-2; its share would then be missing and is
        // redone below rather than trusted.
        results.extend(helpers.into_iter().filter_map(|helper| helper.join().ok()));
        results
    });

    let mut sha256 = None;
    let mut by_job: Vec<Option<Vec<[u8; 48]>>> = vec![None; page_jobs.len()];
    for (worker_sha256, done) in results {
        sha256 = sha256.or(worker_sha256);
        for (job, hashes) in done {
            if let Some(slot) = by_job.get_mut(job) {
                *slot = Some(hashes);
            }
        }
    }
    let mut hasher = PageHasher::default();
    let page_hashes = by_job
        .into_iter()
        .zip(&page_jobs)
        .flat_map(|(hashes, job_pages)| hashes.unwrap_or_else(|| hasher.hash_run(job_pages)))
        .collect();
    let sha256 = if with_sha256 {
        sha256.or_else(|| Some(Sha256::digest(image).into()))
    } else {
        None
    };
    ImageHashes {
        sha256,
        page_hashes,
    }
}

/// SHA-384 of pages, remembering the hash of pages made of one repeated byte: erased flash (0xFF) fills
/// a quarter of a typical OVMF image, and those pages all hash alike.
#[derive(Default)]
struct PageHasher {
    uniform: Vec<(u8, [u8; 48])>,
}

impl PageHasher {
    fn hash_run(&mut self, pages: &[&[u8]]) -> Vec<[u8; 48]> {
        pages
            .iter()
            .map(|page| self.known_hash(page).unwrap_or_else(|| sha384(page)))
            .collect()
    }

    /// The hash of a page of one repeated byte, computed once per byte value; `None` for other pages.
    fn known_hash(&mut self, page: &[u8]) -> Option<[u8; 48]> {
        let &first = page.first()?;
        // OR-folding the differences (no early exit) lets the compiler vectorise the scan.
        if page.len() != PAGE_SIZE as usize
            || page.iter().fold(0u8, |acc, byte| acc | (byte ^ first)) != 0
        {
            return None;
        }
        if let Some((_, hash)) = self.uniform.iter().find(|(byte, _)| *byte == first) {
            return Some(*hash);
        }
        let hash = sha384(page);
        self.uniform.push((first, hash));
        Some(hash)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expected(image: &[u8]) -> (Vec<[u8; 48]>, [u8; 32]) {
        let pages = image
            .chunks(4096)
            .map(|page| <sha2::Sha384 as Digest>::digest(page).into())
            .collect();
        (pages, Sha256::digest(image).into())
    }

    #[test]
    fn threaded_hashes_equal_sequential_ones() {
        // Distinct pages, uniform pages of two byte values, and a page that differs in its last byte only.
        let mut image: Vec<u8> = (0..300 * 4096u32)
            .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
            .collect();
        for (index, page) in image.chunks_mut(4096).enumerate() {
            match index % 7 {
                0 => page.fill(0xFF),
                1 => page.fill(0),
                2 => {
                    page.fill(0xFF);
                    page[4095] = 0xFE;
                }
                _ => {}
            }
        }
        let (pages, sha256) = expected(&image);
        let hashes = hash_image(&image, true);
        assert_eq!(hashes.page_hashes, pages);
        assert_eq!(hashes.sha256, Some(sha256));
        let hashes = hash_image(&image, false);
        assert_eq!(hashes.page_hashes, pages);
        assert_eq!(hashes.sha256, None);

        let small = &image[..8 * 4096];
        let hashes = hash_image(small, true);
        let (pages, sha256) = expected(small);
        assert_eq!(hashes.page_hashes, pages);
        assert_eq!(hashes.sha256, Some(sha256));
    }
}
