//! Prometheus metrics of the store.

use prometheus::{Histogram, HistogramOpts, IntCounter, Registry};

/// The store's metrics; cheap to clone (the collectors are shared).
#[derive(Debug, Clone)]
pub struct StoreMetrics {
    pub(crate) captures_total: IntCounter,
    pub(crate) write_errors_total: IntCounter,
    pub(crate) commit_seconds: Histogram,
}

impl StoreMetrics {
    /// Creates the metrics and registers them in `registry`.
    pub fn register(registry: &Registry) -> Result<StoreMetrics, prometheus::Error> {
        let captures_total = IntCounter::new(
            "vod_store_captures_total",
            "Captures committed to the database.",
        )?;
        let write_errors_total = IntCounter::new(
            "vod_store_write_errors_total",
            "Captures that could not be stored (file or database error); nothing of them was kept.",
        )?;
        let commit_seconds = Histogram::with_opts(
            HistogramOpts::new(
                "vod_store_commit_seconds",
                "Time from beginning a capture's transaction to its durable commit, waiting for the \
                 writer connection included.",
            )
            // 1 ms to about 4 s: a synced commit on flash storage can stall for seconds.
            .buckets(prometheus::exponential_buckets(0.001, 2.0, 13)?),
        )?;
        registry.register(Box::new(captures_total.clone()))?;
        registry.register(Box::new(write_errors_total.clone()))?;
        registry.register(Box::new(commit_seconds.clone()))?;
        Ok(StoreMetrics {
            captures_total,
            write_errors_total,
            commit_seconds,
        })
    }
}
