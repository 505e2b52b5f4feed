//! Periodic jobs: each one enqueued once per period. A period is either a fixed interval,
//! aligned on the Unix epoch (an interval of 3600 s runs at the top of each hour, UTC), or the
//! time from one firing of a cron expression (UTC) to the next. A period's job carries the
//! idempotency key `periodic:<kind>:<period start>`, so restarts, or two schedulers, enqueue
//! it only once; at start-up the current period's job is enqueued unless it ran already.

use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use vod_core::{Component, TaskError};

use super::{NewJob, now_ms};
use crate::store::Store;

/// When a periodic job runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Schedule {
    /// At the start of every period of this many seconds (at least 1).
    Every { seconds: u64 },
    /// At every firing of a cron expression, evaluated in UTC.
    Cron(Box<croner::Cron>),
}

impl Schedule {
    /// Parses a cron expression (`sec min hour day month weekday`, seconds optional).
    pub fn cron(expression: &str) -> Result<Schedule, croner::errors::CronError> {
        Ok(Schedule::Cron(Box::new(expression.parse()?)))
    }

    /// The start of the period that contains `now_ms`; `None` for a cron expression that
    /// never fired before `now_ms`.
    fn period_start_ms(&self, now_ms: i64) -> Option<i64> {
        match self {
            Schedule::Every { seconds } => {
                let every_ms = every_ms(*seconds);
                Some(now_ms - now_ms.rem_euclid(every_ms))
            }
            Schedule::Cron(cron) => cron
                .find_previous_occurrence(&utc(now_ms)?, true)
                .ok()
                .map(|at| at.timestamp_millis()),
        }
    }

    /// The start of the next period after `now_ms`; `None` when there is none.
    fn next_start_ms(&self, now_ms: i64) -> Option<i64> {
        match self {
            Schedule::Every { seconds } => self
                .period_start_ms(now_ms)
                .map(|start| start.saturating_add(every_ms(*seconds))),
            Schedule::Cron(cron) => cron
                .find_next_occurrence(&utc(now_ms)?, false)
                .ok()
                .map(|at| at.timestamp_millis()),
        }
    }
}

fn every_ms(seconds: u64) -> i64 {
    i64::try_from(seconds.max(1).saturating_mul(1_000)).unwrap_or(i64::MAX)
}

fn utc(ms: i64) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp_millis(ms)
}

/// A job enqueued at the start of every period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeriodicJob {
    pub queue: String,
    pub kind: String,
    pub args: String,
    pub schedule: Schedule,
    pub max_attempts: u32,
}

impl PeriodicJob {
    /// The job of the period that contains `now_ms`; `None` before a cron expression's first
    /// firing.
    pub fn job_at(&self, now_ms: i64) -> Option<NewJob> {
        let period_start_ms = self.schedule.period_start_ms(now_ms)?;
        Some(NewJob {
            queue: self.queue.clone(),
            kind: self.kind.clone(),
            args: self.args.clone(),
            max_attempts: self.max_attempts,
            run_at_ms: Some(period_start_ms),
            unique_key: Some(format!("periodic:{}", self.kind)),
            idempotency_key: Some(format!("periodic:{}:{period_start_ms}", self.kind)),
        })
    }

    /// When the next period after `now_ms` starts; `None` when none will.
    pub fn next_at_ms(&self, now_ms: i64) -> Option<i64> {
        self.schedule.next_start_ms(now_ms)
    }
}

/// How long the scheduler sleeps at most, so a clock step (NTP) delays a job by no more.
const MAX_SLEEP: Duration = Duration::from_secs(60);

/// Enqueues each periodic job when its period starts, until shutdown; the current period's job
/// at start-up too, unless it ran already. The jobs come from the running config: a new
/// schedule takes effect at once.
#[derive(Debug)]
pub struct Scheduler {
    pub store: Store,
    pub jobs: watch::Receiver<Vec<PeriodicJob>>,
}

impl Component for Scheduler {
    async fn run(&self, shutdown: CancellationToken) -> Result<(), TaskError> {
        let mut jobs = self.jobs.clone();
        loop {
            let now = now_ms();
            let due: Vec<PeriodicJob> = jobs.borrow_and_update().clone();
            for job in &due {
                if let Some(new_job) = job.job_at(now) {
                    self.store.enqueue(&new_job).await?;
                }
            }
            let next_ms = due
                .iter()
                .filter_map(|job| job.next_at_ms(now))
                .min()
                .unwrap_or(i64::MAX);
            let wait =
                Duration::from_millis(u64::try_from(next_ms - now).unwrap_or(0)).min(MAX_SLEEP);
            tokio::select! {
                () = shutdown.cancelled() => return Ok(()),
                () = tokio::time::sleep(wait) => {}
                Ok(()) = jobs.changed() => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sweep(schedule: Schedule) -> PeriodicJob {
        PeriodicJob {
            queue: "retention".into(),
            kind: "retention.sweep".into(),
            args: "{}".into(),
            schedule,
            max_attempts: 3,
        }
    }

    fn ms(rfc3339: &str) -> i64 {
        DateTime::parse_from_rfc3339(rfc3339)
            .unwrap()
            .timestamp_millis()
    }

    #[test]
    fn periods_align_on_the_epoch() {
        let hourly = Schedule::Every { seconds: 3_600 };
        assert_eq!(hourly.period_start_ms(7_200_000), Some(7_200_000));
        assert_eq!(hourly.period_start_ms(7_200_001), Some(7_200_000));
        assert_eq!(hourly.period_start_ms(10_799_999), Some(7_200_000));
        assert_eq!(hourly.next_start_ms(10_799_999), Some(10_800_000));
        let minutely = Schedule::Every { seconds: 60 };
        assert_eq!(minutely.period_start_ms(-1), Some(-60_000));
    }

    #[test]
    fn one_idempotency_key_per_period() {
        let sweep = sweep(Schedule::Every { seconds: 600 });
        let first = sweep.job_at(1_800_000_000_123).unwrap();
        assert_eq!(
            first.idempotency_key,
            sweep.job_at(1_800_000_599_999).unwrap().idempotency_key
        );
        assert_ne!(
            first.idempotency_key,
            sweep.job_at(1_800_000_600_000).unwrap().idempotency_key
        );
        assert_eq!(first.run_at_ms, Some(1_800_000_000_000));
    }

    #[test]
    fn a_cron_period_runs_from_one_firing_to_the_next() {
        let sweep = sweep(Schedule::cron("0 */10 * * * *").unwrap());
        let job = sweep.job_at(ms("2026-11-21T19:37:12.5Z")).unwrap();
        assert_eq!(job.run_at_ms, Some(ms("2026-11-21T19:30:00Z")));
        assert_eq!(
            job.idempotency_key,
            sweep
                .job_at(ms("2026-11-21T19:39:59Z"))
                .unwrap()
                .idempotency_key
        );
        assert_eq!(
            sweep.next_at_ms(ms("2026-11-21T19:37:12.5Z")),
            Some(ms("2026-11-21T19:40:00Z"))
        );
        // At a firing itself the new period has begun.
        let at_firing = sweep.job_at(ms("2026-11-21T19:40:00Z")).unwrap();
        assert_eq!(at_firing.run_at_ms, Some(ms("2026-11-21T19:40:00Z")));
        assert_eq!(
            sweep.next_at_ms(ms("2026-11-21T19:40:00Z")),
            Some(ms("2026-11-21T19:50:00Z"))
        );
    }

    #[test]
    fn a_daily_cron_without_seconds_fires_once_a_day_in_utc() {
        let nightly = sweep(Schedule::cron("30 3 * * *").unwrap());
        let job = nightly.job_at(ms("2026-11-21T02:00:00Z")).unwrap();
        assert_eq!(job.run_at_ms, Some(ms("2026-11-20T03:30:00Z")));
        assert_eq!(
            nightly.next_at_ms(ms("2026-11-21T02:00:00Z")),
            Some(ms("2026-11-21T03:30:00Z"))
        );
    }

    #[test]
    fn bad_cron_expressions_are_refused() {
        assert!(Schedule::cron("0 */10 * *").is_err());
        assert!(Schedule::cron("61 * * * *").is_err());
    }
}
