//! The bounded job queue in front of the proving workers.
//!
//! Proving is CPU-bound and blocking: each job runs on a blocking thread, at most `workers` at once.
//! Jobs wait for a worker in a queue of at most `capacity` (0 = unbounded); a full queue refuses new
//! jobs at once (429) and makes /ready answer 503 so load balancers move on. A request whose job has
//! not finished within the timeout fails; the proof itself cannot be interrupted, so its worker stays
//! busy until it ends and is only then given to the next job (never more than `workers` proofs run).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;

/// Why a job produced no result.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum JobError {
    #[error("the job queue is full ({capacity} jobs waiting); retry later or use another server")]
    QueueFull { capacity: usize },
    #[error("the job did not finish within {0:?}")]
    TimedOut(Duration),
    #[error("the proving worker failed: {0}")]
    WorkerFailed(String),
    #[error("the server is shutting down")]
    ShuttingDown,
}

/// What /ready reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueStatus {
    pub pending: usize,
    pub processing: usize,
    pub capacity: usize,
}

impl QueueStatus {
    /// The official server's rule: busy when a capacity is set and that many jobs wait.
    pub fn is_busy(&self) -> bool {
        self.capacity != 0 && self.pending >= self.capacity
    }
}

pub struct JobQueue {
    workers: Arc<Semaphore>,
    capacity: usize,
    timeout: Duration,
    pending: Arc<AtomicUsize>,
    processing: Arc<AtomicUsize>,
}

/// Decrements a counter when dropped, so every exit path (errors, cancelled requests) keeps it right.
struct Counted(Arc<AtomicUsize>);

impl Counted {
    fn new(counter: &Arc<AtomicUsize>) -> Counted {
        counter.fetch_add(1, Ordering::SeqCst);
        Counted(Arc::clone(counter))
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl JobQueue {
    pub fn new(workers: usize, capacity: usize, timeout: Duration) -> JobQueue {
        JobQueue {
            workers: Arc::new(Semaphore::new(workers.max(1))),
            capacity,
            timeout,
            pending: Arc::new(AtomicUsize::new(0)),
            processing: Arc::new(AtomicUsize::new(0)),
        }
    }

    pub fn status(&self) -> QueueStatus {
        QueueStatus {
            pending: self.pending.load(Ordering::SeqCst),
            processing: self.processing.load(Ordering::SeqCst),
            capacity: self.capacity,
        }
    }

    /// Runs `job` on a worker once one is free; its error type is the caller's (e.g. bad input).
    pub async fn run<T, E>(
        &self,
        job: impl FnOnce() -> Result<T, E> + Send + 'static,
    ) -> Result<Result<T, E>, JobError>
    where
        T: Send + 'static,
        E: Send + 'static,
    {
        let waiting = {
            // Check and count in one step so concurrent submissions cannot overfill the queue.
            let pending = self.pending.fetch_add(1, Ordering::SeqCst);
            let guard = Counted(Arc::clone(&self.pending));
            if self.capacity != 0 && pending >= self.capacity {
                drop(guard);
                return Err(JobError::QueueFull {
                    capacity: self.capacity,
                });
            }
            guard
        };
        let work = async {
            let permit = Arc::clone(&self.workers)
                .acquire_owned()
                .await
                .map_err(|_| JobError::ShuttingDown)?;
            drop(waiting);
            let processing = Counted::new(&self.processing);
            let handle = tokio::task::spawn_blocking(move || {
                // Held until the proof ends, even if the request gave up waiting for it.
                let _worker = permit;
                let _processing = processing;
                job()
            });
            handle
                .await
                .map_err(|e| JobError::WorkerFailed(e.to_string()))
        };
        tokio::time::timeout(self.timeout, work)
            .await
            .map_err(|_| JobError::TimedOut(self.timeout))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn runs_jobs_and_passes_their_errors_through() {
        let queue = JobQueue::new(2, 0, Duration::from_secs(5));
        assert_eq!(queue.run(|| Ok::<_, String>(7)).await, Ok(Ok(7)));
        assert_eq!(
            queue.run(|| Err::<u8, _>("bad".to_string())).await,
            Ok(Err("bad".to_string()))
        );
        assert_eq!(queue.status().pending, 0);
        assert_eq!(queue.status().processing, 0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_full_queue_refuses_new_jobs_and_reports_busy() {
        let queue = Arc::new(JobQueue::new(1, 1, Duration::from_secs(10)));
        let (release, blocker) = mpsc::channel::<()>();
        let running = {
            let queue = Arc::clone(&queue);
            tokio::spawn(async move {
                queue
                    .run(move || blocker.recv().map_err(|e| e.to_string()))
                    .await
            })
        };
        wait_until(|| queue.status().processing == 1).await;
        let waiting = {
            let queue = Arc::clone(&queue);
            tokio::spawn(async move { queue.run(|| Ok::<_, String>(())).await })
        };
        wait_until(|| queue.status().pending == 1).await;
        assert!(queue.status().is_busy());
        assert_eq!(
            queue.run(|| Ok::<_, String>(())).await,
            Err(JobError::QueueFull { capacity: 1 })
        );
        release.send(()).unwrap();
        assert_eq!(running.await.unwrap(), Ok(Ok(())));
        assert_eq!(waiting.await.unwrap(), Ok(Ok(())));
        assert!(!queue.status().is_busy());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_slow_job_times_out_but_keeps_its_worker_until_it_ends() {
        let queue = JobQueue::new(1, 0, Duration::from_millis(50));
        let (release, blocker) = mpsc::channel::<()>();
        let result = queue
            .run(move || blocker.recv().map_err(|e| e.to_string()))
            .await;
        assert_eq!(result, Err(JobError::TimedOut(Duration::from_millis(50))));
        // Still proving: the single worker is taken, so the next job waits and times out too.
        assert_eq!(queue.status().processing, 1);
        assert!(matches!(
            queue.run(|| Ok::<_, String>(())).await,
            Err(JobError::TimedOut(_))
        ));
        release.send(()).unwrap();
        wait_until(|| queue.status().processing == 0).await;
        assert_eq!(queue.run(|| Ok::<_, String>(1)).await, Ok(Ok(1)));
    }

    async fn wait_until(condition: impl Fn() -> bool) {
        for _ in 0..500 {
            if condition() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("condition not reached within 5 s");
    }
}
