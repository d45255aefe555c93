//! Shared by the attestation benches: throughput on every core, and labels naming the backend.

/// Documents verified per measured iteration of a multi-threaded benchmark: enough that
/// spawning the threads is noise next to the work.
pub const BATCH: usize = 256;

/// Runs `work` `BATCH` times, split evenly over `threads` scoped threads.
pub fn batch_on_threads(threads: usize, work: impl Fn() + Sync) {
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                for _ in 0..BATCH / threads {
                    work();
                }
            });
        }
    });
}

/// The threads to use: every core the machine has (2 where BENCHMARKS.md was measured).
pub fn threads() -> usize {
    std::thread::available_parallelism().map_or(2, usize::from)
}

/// "name [backend]", so runs with and without `--features aws-lc` do not share a baseline.
pub fn label(name: &str) -> String {
    format!("{name} [{}]", verifier::signature::BACKEND)
}
