//! The retention queue, its periodic sweep, and the handler that performs the sweep.

use std::num::NonZeroU32;

use tokio::sync::watch;
use vod_core::config::{JobsConfig, RetentionConfig, SweepSchedule};
use vod_core::{Event, Hub};

use crate::jobs::{
    Job, JobError, JobHandler, PeriodicJob, QueueSpec, RetryPolicy, Schedule, now_ms,
};
use crate::store::Store;
use vod_core::error_chain;

pub const RETENTION_QUEUE: &str = "retention";
pub const SWEEP_KIND: &str = "retention.sweep";

/// Attempts of a sweep unless `[jobs.queues.retention]` says otherwise.
const SWEEP_MAX_ATTEMPTS: u32 = 3;

/// The retention queue: one sweep at a time, unless `[jobs.queues.retention]` says otherwise.
pub fn retention_queue(jobs: &JobsConfig) -> QueueSpec {
    QueueSpec {
        name: RETENTION_QUEUE.into(),
        concurrency: NonZeroU32::MIN,
        max_starts_per_minute: None,
        retry: RetryPolicy {
            base_ms: 10_000,
            max_ms: 600_000,
        },
        poll_ms: 5_000,
    }
    .with_config(&jobs.queue(RETENTION_QUEUE))
}

/// The sweep, enqueued every `sweep_every_s` or at each firing of `sweep_cron`.
pub fn sweep_schedule(
    retention: &RetentionConfig,
    jobs: &JobsConfig,
) -> Result<PeriodicJob, croner::errors::CronError> {
    let schedule = match &retention.sweep {
        SweepSchedule::Cron(expression) => Schedule::cron(expression)?,
        SweepSchedule::EverySeconds(seconds) => Schedule::Every { seconds: *seconds },
    };
    Ok(PeriodicJob {
        queue: RETENTION_QUEUE.into(),
        kind: SWEEP_KIND.into(),
        args: "{}".into(),
        schedule,
        max_attempts: jobs
            .queue(RETENTION_QUEUE)
            .max_attempts
            .unwrap_or(SWEEP_MAX_ATTEMPTS),
    })
}

/// Performs retention sweeps with the running config's `[retention]`; announces on the hub
/// when the quota forced out captures that were still waiting for their upload.
#[derive(Debug, Clone)]
pub struct RetentionSweeper {
    pub store: Store,
    pub config: watch::Receiver<RetentionConfig>,
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
        let config = self.config.borrow().clone();
        let report = self
            .store
            .sweep_retention(&config, now_ms())
            .await
            .map_err(|error| JobError::Retry(error_chain(&error)))?;
        if report.captures_expired
            + report.captures_over_quota
            + report.jobs_purged
            + report.vehicles_expired
            > 0
        {
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

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use vod_core::config::QueueConfig;

    use super::*;

    fn retention(sweep: SweepSchedule) -> RetentionConfig {
        RetentionConfig {
            captures_max_age_days: 30,
            vehicles_max_age_days: 90,
            job_history_days: 7,
            image_quota_bytes: 1,
            sweep,
        }
    }

    #[test]
    fn the_queue_and_the_sweep_take_their_limits_from_config() {
        let defaults = JobsConfig::default();
        let queue = retention_queue(&defaults);
        assert_eq!(queue.concurrency.get(), 1);
        assert_eq!(queue.max_starts_per_minute, None);
        let sweep =
            sweep_schedule(&retention(SweepSchedule::EverySeconds(600)), &defaults).unwrap();
        assert_eq!(sweep.max_attempts, SWEEP_MAX_ATTEMPTS);
        assert_eq!(sweep.schedule, Schedule::Every { seconds: 600 });

        let jobs = JobsConfig {
            queues: BTreeMap::from([(
                RETENTION_QUEUE.to_owned(),
                QueueConfig {
                    concurrency: Some(2),
                    rate_per_minute: Some(6),
                    max_attempts: Some(9),
                },
            )]),
        };
        let queue = retention_queue(&jobs);
        assert_eq!(queue.concurrency.get(), 2);
        assert_eq!(queue.max_starts_per_minute.map(NonZeroU32::get), Some(6));
        let sweep = sweep_schedule(
            &retention(SweepSchedule::Cron("0 */10 * * * *".into())),
            &jobs,
        )
        .unwrap();
        assert_eq!(sweep.max_attempts, 9);
        assert_eq!(sweep.schedule, Schedule::cron("0 */10 * * * *").unwrap());
        assert!(
            sweep_schedule(
                &retention(SweepSchedule::Cron("every tuesday".into())),
                &jobs
            )
            .is_err()
        );
    }
}
