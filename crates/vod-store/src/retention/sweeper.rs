//! The retention queue, its periodic sweep, and the handler that performs the sweep.

use std::num::NonZeroU32;

use vod_core::config::RetentionConfig;
use vod_core::{Event, Hub};

use crate::health::error_chain;
use crate::jobs::{Job, JobError, JobHandler, PeriodicJob, QueueSpec, RetryPolicy, now_ms};
use crate::store::Store;

pub const RETENTION_QUEUE: &str = "retention";
pub const SWEEP_KIND: &str = "retention.sweep";

/// The retention queue: one sweep at a time.
pub fn retention_queue() -> QueueSpec {
    QueueSpec {
        name: RETENTION_QUEUE.into(),
        concurrency: NonZeroU32::MIN,
        max_starts_per_s: None,
        retry: RetryPolicy {
            base_ms: 10_000,
            max_ms: 600_000,
        },
        poll_ms: 5_000,
    }
}

/// The sweep, enqueued every `sweep_every_s`.
pub fn sweep_schedule(config: &RetentionConfig) -> PeriodicJob {
    PeriodicJob {
        queue: RETENTION_QUEUE.into(),
        kind: SWEEP_KIND.into(),
        args: "{}".into(),
        every_s: config.sweep_every_s,
        max_attempts: 3,
    }
}

/// Performs retention sweeps; announces on the hub when the quota forced out captures that
/// were still waiting for their upload.
#[derive(Debug, Clone)]
pub struct RetentionSweeper {
    pub store: Store,
    pub config: RetentionConfig,
    pub hub: Hub,
}

impl JobHandler for RetentionSweeper {
    async fn perform(&self, job: &Job) -> Result<(), JobError> {
        if job.kind != SWEEP_KIND {
            return Err(JobError::Discard(format!(
                "the retention queue has no job kind {:?}",
                job.kind
            )));
        }
        let report = self
            .store
            .sweep_retention(&self.config, now_ms())
            .await
            .map_err(|error| JobError::Retry(error_chain(&error)))?;
        if report.captures_expired + report.captures_over_quota + report.jobs_purged > 0 {
            tracing::info!(?report, "Retention sweep removed old data.");
        }
        if report.pending_evicted > 0 {
            tracing::error!(
                captures = report.pending_evicted,
                "The image quota forced out captures not yet uploaded."
            );
            self.hub.publish(Event::CapturesEvicted {
                captures: report.captures_over_quota,
                pending_upload: report.pending_evicted,
                bytes: report.image_bytes_freed,
            });
        }
        Ok(())
    }
}
