//! Prometheus metrics: proof counts and latencies per endpoint and outcome, and the job queue.

use std::time::Duration;

use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::jobs::QueueStatus;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct JobLabels {
    pub endpoint: &'static str,
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EndpointLabel {
    pub endpoint: &'static str,
}

pub struct Metrics {
    registry: Registry,
    jobs: Family<JobLabels, Counter>,
    job_seconds: Family<EndpointLabel, Histogram>,
    pending: Gauge,
    processing: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("proof_server");
        let jobs = Family::<JobLabels, Counter>::default();
        registry.register("jobs", "Proving jobs by endpoint and outcome", jobs.clone());
        // 10 ms .. ~80 s: /k and /check take milliseconds, k = 14 proofs seconds, k >= 18 a minute.
        let job_seconds = Family::<EndpointLabel, Histogram>::new_with_constructor(|| {
            Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(
                0.01, 2.0, 14,
            ))
        });
        registry.register(
            "job_duration_seconds",
            "Time from submission to answer of proving jobs",
            job_seconds.clone(),
        );
        let pending = Gauge::default();
        registry.register("jobs_pending", "Jobs waiting for a worker", pending.clone());
        let processing = Gauge::default();
        registry.register("jobs_processing", "Jobs being proved", processing.clone());
        Metrics {
            registry,
            jobs,
            job_seconds,
            pending,
            processing,
        }
    }
}

impl Metrics {
    pub fn record_job(&self, endpoint: &'static str, outcome: &'static str, elapsed: Duration) {
        self.jobs
            .get_or_create(&JobLabels { endpoint, outcome })
            .inc();
        self.job_seconds
            .get_or_create(&EndpointLabel { endpoint })
            .observe(elapsed.as_secs_f64());
    }

    /// The text exposition format, with the queue gauges read now.
    pub fn render(&self, queue: QueueStatus) -> String {
        self.pending
            .set(i64::try_from(queue.pending).unwrap_or(i64::MAX));
        self.processing
            .set(i64::try_from(queue.processing).unwrap_or(i64::MAX));
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut text, &self.registry);
        text
    }
}
