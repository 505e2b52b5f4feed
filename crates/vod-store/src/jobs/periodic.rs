//! Periodic jobs: each one enqueued once per period, periods aligned on the Unix epoch (an
//! `every_s` of 3600 runs at the top of each hour, UTC). A period's job carries the idempotency
//! key `periodic:<kind>:<period start>`, so restarts, or two schedulers, enqueue it only once.

use std::time::Duration;

use tokio_util::sync::CancellationToken;
use vod_core::TaskError;

use super::{NewJob, now_ms};
use crate::store::Store;

/// A job enqueued at the start of every period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeriodicJob {
    pub queue: String,
    pub kind: String,
    pub args: String,
    pub every_s: u64,
    pub max_attempts: u32,
}

impl PeriodicJob {
    /// The job of the period that contains `now_ms`.
    pub fn job_at(&self, now_ms: i64) -> NewJob {
        let period_start_ms = period_start_ms(self.every_s, now_ms);
        NewJob {
            queue: self.queue.clone(),
            kind: self.kind.clone(),
            args: self.args.clone(),
            max_attempts: self.max_attempts,
            run_at_ms: Some(period_start_ms),
            unique_key: Some(format!("periodic:{}", self.kind)),
            idempotency_key: Some(format!("periodic:{}:{period_start_ms}", self.kind)),
        }
    }
}

/// The start of the period of `every_s` seconds that contains `now_ms`.
fn period_start_ms(every_s: u64, now_ms: i64) -> i64 {
    let every_ms = i64::try_from(every_s.max(1).saturating_mul(1_000)).unwrap_or(i64::MAX);
    now_ms - now_ms.rem_euclid(every_ms)
}

/// Enqueues each periodic job when its period starts, until shutdown; the current period's job
/// at start-up too, unless it ran already.
pub async fn run_periodic(
    store: Store,
    jobs: Vec<PeriodicJob>,
    shutdown: CancellationToken,
) -> Result<(), TaskError> {
    loop {
        let now = now_ms();
        for job in &jobs {
            store.enqueue(&job.job_at(now)).await?;
        }
        let next_ms = jobs
            .iter()
            .map(|job| period_start_ms(job.every_s, now) + (job.every_s.max(1) * 1_000) as i64)
            .min()
            .unwrap_or(i64::MAX);
        let wait = Duration::from_millis(u64::try_from(next_ms - now).unwrap_or(0));
        tokio::select! {
            () = shutdown.cancelled() => return Ok(()),
            () = tokio::time::sleep(wait) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_align_on_the_epoch() {
        assert_eq!(period_start_ms(3_600, 7_200_000), 7_200_000);
        assert_eq!(period_start_ms(3_600, 7_200_001), 7_200_000);
        assert_eq!(period_start_ms(3_600, 10_799_999), 7_200_000);
        assert_eq!(period_start_ms(60, -1), -60_000);
    }

    #[test]
    fn one_idempotency_key_per_period() {
        let sweep = PeriodicJob {
            queue: "retention".into(),
            kind: "retention.sweep".into(),
            args: "{}".into(),
            every_s: 600,
            max_attempts: 3,
        };
        let first = sweep.job_at(1_800_000_000_123);
        assert_eq!(
            first.idempotency_key,
            sweep.job_at(1_800_000_599_999).idempotency_key
        );
        assert_ne!(
            first.idempotency_key,
            sweep.job_at(1_800_000_600_000).idempotency_key
        );
        assert_eq!(first.run_at_ms, Some(1_800_000_000_000));
    }
}
