//! Prometheus metrics of the store.

use prometheus::{
    Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry,
};

/// The store's metrics; cheap to clone (the collectors are shared).
#[derive(Debug, Clone)]
pub struct StoreMetrics {
    pub(crate) captures_total: IntCounter,
    pub(crate) write_errors_total: IntCounter,
    pub(crate) commit_seconds: Histogram,
    pub(crate) images_writable: IntGauge,
    pub(crate) images_dropped_total: IntCounter,
    pub(crate) check_files_removed_total: IntCounterVec,
    pub(crate) check_images_missing: IntGauge,
    pub(crate) vehicles_recorded_total: IntCounter,
    pub(crate) vehicle_errors_total: IntCounter,
    pub(crate) jobs: JobMetrics,
    pub(crate) retention: RetentionMetrics,
}

/// The job queue's metrics, labelled by queue.
#[derive(Debug, Clone)]
pub(crate) struct JobMetrics {
    pub(crate) available: IntGaugeVec,
    pub(crate) running: IntGaugeVec,
    pub(crate) completed_total: IntCounterVec,
    pub(crate) failed_total: IntCounterVec,
    pub(crate) discarded_total: IntCounterVec,
    pub(crate) latency_seconds: HistogramVec,
}

impl JobMetrics {
    fn register(registry: &Registry) -> Result<JobMetrics, prometheus::Error> {
        let queue = &["queue"];
        let gauge = |name: &str, help: &str| IntGaugeVec::new(Opts::new(name, help), queue);
        let counter = |name: &str, help: &str| IntCounterVec::new(Opts::new(name, help), queue);
        let metrics = JobMetrics {
            available: gauge(
                "vod_store_jobs_available",
                "Jobs waiting in the queue (due or scheduled), as of the runner's last look.",
            )?,
            running: gauge("vod_store_jobs_running", "Jobs of the queue running now.")?,
            completed_total: counter("vod_store_jobs_completed_total", "Jobs completed.")?,
            failed_total: counter(
                "vod_store_jobs_failed_total",
                "Failed attempts, whether retried or discarded.",
            )?,
            discarded_total: counter(
                "vod_store_jobs_discarded_total",
                "Jobs discarded: out of attempts, or refused by their handler.",
            )?,
            latency_seconds: HistogramVec::new(
                HistogramOpts::new(
                    "vod_store_jobs_latency_seconds",
                    "Time from when a job was due (enqueued, scheduled or retried) to its start.",
                )
                // 10 ms to about 20 min.
                .buckets(prometheus::exponential_buckets(0.01, 4.0, 10)?),
                queue,
            )?,
        };
        registry.register(Box::new(metrics.available.clone()))?;
        registry.register(Box::new(metrics.running.clone()))?;
        registry.register(Box::new(metrics.completed_total.clone()))?;
        registry.register(Box::new(metrics.failed_total.clone()))?;
        registry.register(Box::new(metrics.discarded_total.clone()))?;
        registry.register(Box::new(metrics.latency_seconds.clone()))?;
        Ok(metrics)
    }
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
        let images_writable = IntGauge::new(
            "vod_store_images_writable",
            "1 while image files can be written; 0 while captures are stored without images \
             (disk full or failing).",
        )?;
        let images_dropped_total = IntCounter::new(
            "vod_store_images_dropped_total",
            "Images not stored because their files could not be written; their captures were \
             kept as metadata.",
        )?;
        registry.register(Box::new(images_writable.clone()))?;
        registry.register(Box::new(images_dropped_total.clone()))?;
        let check_files_removed_total = IntCounterVec::new(
            Opts::new(
                "vod_store_check_files_removed_total",
                "Stray image files removed by the start-up check, by kind: temporary or \
                 unreferenced.",
            ),
            &["kind"],
        )?;
        let check_images_missing = IntGauge::new(
            "vod_store_check_images_missing",
            "Image rows whose file the last start-up check did not find.",
        )?;
        registry.register(Box::new(check_files_removed_total.clone()))?;
        registry.register(Box::new(check_images_missing.clone()))?;
        let vehicles_recorded_total = IntCounter::new(
            "vod_store_vehicles_recorded_total",
            "Vehicle entries and exits recorded.",
        )?;
        let vehicle_errors_total = IntCounter::new(
            "vod_store_vehicle_errors_total",
            "Vehicle entries and exits that could not be recorded (database error).",
        )?;
        registry.register(Box::new(vehicles_recorded_total.clone()))?;
        registry.register(Box::new(vehicle_errors_total.clone()))?;
        Ok(StoreMetrics {
            captures_total,
            vehicles_recorded_total,
            vehicle_errors_total,
            write_errors_total,
            commit_seconds,
            images_writable,
            images_dropped_total,
            check_files_removed_total,
            check_images_missing,
            jobs: JobMetrics::register(registry)?,
            retention: RetentionMetrics::register(registry)?,
        })
    }
}

/// Retention's metrics.
#[derive(Debug, Clone)]
pub(crate) struct RetentionMetrics {
    pub(crate) captures_deleted_total: IntCounterVec,
    pub(crate) pending_evicted_total: IntCounter,
    pub(crate) jobs_purged_total: IntCounter,
    pub(crate) vehicles_deleted_total: IntCounter,
    pub(crate) image_bytes: IntGauge,
}

impl RetentionMetrics {
    fn register(registry: &Registry) -> Result<RetentionMetrics, prometheus::Error> {
        let metrics = RetentionMetrics {
            captures_deleted_total: IntCounterVec::new(
                Opts::new(
                    "vod_store_retention_captures_deleted_total",
                    "Captures deleted by retention, by reason: age or quota.",
                ),
                &["reason"],
            )?,
            pending_evicted_total: IntCounter::new(
                "vod_store_retention_pending_evicted_total",
                "Captures still waiting for an upload that the image quota forced out.",
            )?,
            jobs_purged_total: IntCounter::new(
                "vod_store_retention_jobs_purged_total",
                "Ended jobs removed from the history.",
            )?,
            vehicles_deleted_total: IntCounter::new(
                "vod_store_retention_vehicles_deleted_total",
                "Vehicle records older than their age limit removed.",
            )?,
            image_bytes: IntGauge::new(
                "vod_store_image_bytes",
                "Bytes of image files, as of the last retention sweep.",
            )?,
        };
        registry.register(Box::new(metrics.captures_deleted_total.clone()))?;
        registry.register(Box::new(metrics.pending_evicted_total.clone()))?;
        registry.register(Box::new(metrics.jobs_purged_total.clone()))?;
        registry.register(Box::new(metrics.vehicles_deleted_total.clone()))?;
        registry.register(Box::new(metrics.image_bytes.clone()))?;
        Ok(metrics)
    }
}
