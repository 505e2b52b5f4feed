//! The runner of one queue: claims due jobs, up to the queue's concurrency and start rate, runs
//! each through the handler, and records the outcome (completed, retried later, discarded).

use std::future::Future;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use vod_core::config::QueueConfig;
use vod_core::{Component, TaskError};

use super::{Job, JobError, RetryPolicy, now_ms, retry_delay_ms};
use crate::error::StoreError;
use crate::store::Store;

/// Executes jobs of the kinds a queue carries.
pub trait JobHandler: Send + Sync + 'static {
    /// Runs `job` once; the runner records the outcome. The job may have run before (a crash
    /// during an earlier attempt): use `job.idempotency_key` to make that harmless.
    fn perform(&self, job: &Job) -> impl Future<Output = Result<(), JobError>> + Send;
}

/// A named queue and its limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueSpec {
    pub name: String,
    /// Jobs of this queue that run at the same time.
    pub concurrency: NonZeroU32,
    /// Job starts per minute at most; `None` starts them as fast as slots free up.
    pub max_starts_per_minute: Option<NonZeroU32>,
    pub retry: RetryPolicy,
    /// How often the runner looks for due jobs when nothing wakes it sooner (an enqueue in this
    /// process wakes it at once; scheduled jobs and retries become due on their own).
    pub poll_ms: u64,
}

impl QueueSpec {
    /// These limits with those `config` sets instead.
    pub fn with_config(self, config: &QueueConfig) -> QueueSpec {
        QueueSpec {
            concurrency: config
                .concurrency
                .and_then(NonZeroU32::new)
                .unwrap_or(self.concurrency),
            max_starts_per_minute: config
                .rate_per_minute
                .and_then(NonZeroU32::new)
                .or(self.max_starts_per_minute),
            ..self
        }
    }
}

/// Runs the jobs of one queue until shutdown. At start, jobs of the queue left `running` (a
/// crash, or a restart of this task) are made available again. At shutdown, attempts in
/// flight are abandoned and made available again, to run at the next start. The queue's
/// limits come from the running config: new limits apply to the next jobs claimed.
#[derive(Debug)]
pub struct QueueRunner<H> {
    pub store: Store,
    pub queue: watch::Receiver<QueueSpec>,
    pub handler: Arc<H>,
}

impl<H: JobHandler> Component for QueueRunner<H> {
    async fn run(&self, shutdown: CancellationToken) -> Result<(), TaskError> {
        run_queue(
            self.store.clone(),
            self.queue.clone(),
            self.handler.clone(),
            shutdown,
        )
        .await
    }
}

async fn run_queue<H: JobHandler>(
    store: Store,
    mut spec: watch::Receiver<QueueSpec>,
    handler: Arc<H>,
    shutdown: CancellationToken,
) -> Result<(), TaskError> {
    let mut queue = spec.borrow_and_update().clone();
    let rescued = store.rescue_jobs(&queue.name).await?;
    if rescued > 0 {
        tracing::warn!(queue = %queue.name, jobs = rescued, "Jobs interrupted by a stop run again.");
    }
    let metrics = store.metrics.jobs.clone();
    let mut running = JoinSet::new();
    let mut pacer = StartPacer::new(queue.max_starts_per_minute);
    loop {
        let next = spec.borrow_and_update().clone();
        if next != queue {
            if next.max_starts_per_minute != queue.max_starts_per_minute {
                pacer = StartPacer::new(next.max_starts_per_minute);
            }
            tracing::info!(queue = %next.name, concurrency = next.concurrency.get(), rate_per_minute = next.max_starts_per_minute.map(NonZeroU32::get), "Queue limits applied.");
            queue = next;
        }
        // Register for enqueue wake-ups before looking, so none is missed in between.
        let notified = store.jobs_notify.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();

        let free_slots = (queue.concurrency.get() as usize).saturating_sub(running.len());
        let wanted = pacer.allowed(free_slots, Instant::now());
        if wanted > 0 {
            let claimed = store.claim_jobs(&queue.name, wanted, now_ms()).await?;
            pacer.started(claimed.len(), Instant::now());
            for job in claimed {
                let latency_ms = job.attempted_at_ms.unwrap_or(job.run_at_ms) - job.run_at_ms;
                metrics
                    .latency_seconds
                    .with_label_values(&[&queue.name])
                    .observe(latency_ms.max(0) as f64 / 1_000.0);
                let (store, handler, retry) = (store.clone(), handler.clone(), queue.retry);
                running.spawn(async move {
                    let outcome = handler.perform(&job).await;
                    if let Err(error) = store.finish_job(&job, outcome, retry).await {
                        // The job stays `running` and runs again at the next start.
                        tracing::error!(%error, job = %job.id, queue = %job.queue, "Job outcome not recorded.");
                    }
                });
            }
        }
        store.refresh_queue_gauges(&queue.name).await?;

        let wait = pacer
            .wait_for_start(Instant::now())
            .filter(|_| running.len() < queue.concurrency.get() as usize)
            .unwrap_or(Duration::from_millis(queue.poll_ms));
        tokio::select! {
            biased;
            () = shutdown.cancelled() => break,
            Some(joined) = running.join_next() => {
                if let Err(error) = joined && error.is_panic() {
                    tracing::error!(%error, queue = %queue.name, "A job handler panicked.");
                }
            }
            () = &mut notified => {}
            () = tokio::time::sleep(wait) => {}
            Ok(()) = spec.changed() => {}
        }
    }
    running.shutdown().await;
    store.rescue_jobs(&queue.name).await?;
    store.refresh_queue_gauges(&queue.name).await?;
    Ok(())
}

/// Spaces job starts so that a queue never starts more than its rate per minute.
#[derive(Debug)]
struct StartPacer {
    interval: Option<Duration>,
    next_start: Option<Instant>,
}

impl StartPacer {
    fn new(max_starts_per_minute: Option<NonZeroU32>) -> StartPacer {
        StartPacer {
            interval: max_starts_per_minute.map(|rate| Duration::from_secs(60) / rate.get()),
            next_start: None,
        }
    }

    /// How many of `free_slots` may start now.
    fn allowed(&self, free_slots: usize, now: Instant) -> usize {
        match (self.interval, self.next_start) {
            (None, _) => free_slots,
            (Some(_), Some(next)) if now < next => 0,
            (Some(_), _) => free_slots.min(1),
        }
    }

    fn started(&mut self, count: usize, now: Instant) {
        if let Some(interval) = self.interval
            && count > 0
        {
            self.next_start = Some(now + interval);
        }
    }

    /// How long until the next start is allowed, when starts are being held back.
    fn wait_for_start(&self, now: Instant) -> Option<Duration> {
        let next = self.next_start?;
        (next > now).then(|| next - now)
    }
}

impl Store {
    /// Marks up to `limit` due jobs of `queue` as running, oldest due first, recording the start
    /// of their attempt.
    pub(crate) async fn claim_jobs(
        &self,
        queue: &str,
        limit: usize,
        now_ms: i64,
    ) -> Result<Vec<Job>, StoreError> {
        let error = StoreError::database;
        let mut tx = self
            .writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(error("beginning a claim transaction"))?;
        let jobs: Vec<Job> = sqlx::query_as(concat!(
            "UPDATE jobs SET state = 'running', attempt = attempt + 1, attempted_at_ms = ?1 \
             WHERE id IN (SELECT id FROM jobs \
                          WHERE queue = ?2 AND state = 'available' AND run_at_ms <= ?1 \
                          ORDER BY run_at_ms, id LIMIT ?3) \
             RETURNING ",
            job_columns!()
        ))
        .bind(now_ms)
        .bind(queue)
        .bind(limit as i64)
        .fetch_all(&mut *tx)
        .await
        .map_err(error("claiming jobs"))?;
        for job in &jobs {
            sqlx::query(
                "INSERT INTO job_attempts (job_id, attempt, started_at_ms) VALUES (?, ?, ?)",
            )
            .bind(job.id)
            .bind(job.attempt)
            .bind(now_ms)
            .execute(&mut *tx)
            .await
            .map_err(error("recording a job attempt"))?;
        }
        tx.commit().await.map_err(error("committing a claim"))?;
        Ok(jobs)
    }

    /// Records the outcome of `job`'s current attempt. A job cancelled while it ran stays
    /// cancelled.
    pub(crate) async fn finish_job(
        &self,
        job: &Job,
        outcome: Result<(), JobError>,
        retry: RetryPolicy,
    ) -> Result<(), StoreError> {
        let error = StoreError::database;
        let now = now_ms();
        let labels = [job.queue.as_str()];
        let jobs_metrics = &self.metrics.jobs;
        let (state, run_at_ms, finished_at_ms, attempt_outcome, message) = match &outcome {
            Ok(()) => ("completed", job.run_at_ms, Some(now), "completed", None),
            Err(JobError::Retry(message)) if job.attempt < job.max_attempts => {
                let seed = (job.id.0 as u64) ^ (u64::from(job.attempt) << 48);
                let delay_ms = retry_delay_ms(retry, job.attempt, seed);
                let run_at = now.saturating_add(i64::try_from(delay_ms).unwrap_or(i64::MAX));
                ("available", run_at, None, "failed", Some(message))
            }
            Err(JobError::RetryIn { delay_ms, message }) if job.attempt < job.max_attempts => {
                let run_at = now.saturating_add(i64::try_from(*delay_ms).unwrap_or(i64::MAX));
                ("available", run_at, None, "failed", Some(message))
            }
            Err(
                JobError::Retry(message)
                | JobError::RetryIn { message, .. }
                | JobError::Discard(message),
            ) => (
                "discarded",
                job.run_at_ms,
                Some(now),
                "discarded",
                Some(message),
            ),
        };
        let mut tx = self
            .writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(error("beginning a job outcome transaction"))?;
        sqlx::query(
            "UPDATE jobs SET state = ?, run_at_ms = ?, finished_at_ms = ?, last_error = ? \
             WHERE id = ? AND state = 'running'",
        )
        .bind(state)
        .bind(run_at_ms)
        .bind(finished_at_ms)
        .bind(message)
        .bind(job.id)
        .execute(&mut *tx)
        .await
        .map_err(error("recording a job outcome"))?;
        sqlx::query(
            "UPDATE job_attempts SET finished_at_ms = ?, outcome = ?, error = ? \
             WHERE job_id = ? AND attempt = ?",
        )
        .bind(now)
        .bind(attempt_outcome)
        .bind(message)
        .bind(job.id)
        .bind(job.attempt)
        .execute(&mut *tx)
        .await
        .map_err(error("recording a job attempt outcome"))?;
        tx.commit()
            .await
            .map_err(error("committing a job outcome"))?;
        match attempt_outcome {
            "completed" => jobs_metrics
                .completed_total
                .with_label_values(&labels)
                .inc(),
            "failed" => jobs_metrics.failed_total.with_label_values(&labels).inc(),
            _ => {
                jobs_metrics.failed_total.with_label_values(&labels).inc();
                jobs_metrics
                    .discarded_total
                    .with_label_values(&labels)
                    .inc();
                tracing::warn!(job = %job.id, queue = %job.queue, kind = %job.kind, error = message.map_or("", String::as_str), "Job discarded.");
            }
        }
        Ok(())
    }

    /// Makes the jobs of `queue` left running available again, closing their attempts as
    /// interrupted; returns how many there were.
    pub(crate) async fn rescue_jobs(&self, queue: &str) -> Result<u64, StoreError> {
        let error = StoreError::database;
        let now = now_ms();
        let mut tx = self
            .writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(error("beginning a rescue transaction"))?;
        sqlx::query(
            "UPDATE job_attempts SET finished_at_ms = ?, outcome = 'interrupted' \
             WHERE outcome IS NULL AND job_id IN \
                   (SELECT id FROM jobs WHERE queue = ? AND state = 'running')",
        )
        .bind(now)
        .bind(queue)
        .execute(&mut *tx)
        .await
        .map_err(error("closing interrupted attempts"))?;
        // An interrupted attempt still counts; the job keeps at least one more.
        let rescued = sqlx::query(
            "UPDATE jobs SET state = 'available', run_at_ms = ?, \
                             max_attempts = max(max_attempts, attempt + 1) \
             WHERE queue = ? AND state = 'running'",
        )
        .bind(now)
        .bind(queue)
        .execute(&mut *tx)
        .await
        .map_err(error("rescuing interrupted jobs"))?
        .rows_affected();
        tx.commit().await.map_err(error("committing a rescue"))?;
        Ok(rescued)
    }

    /// Sets the queue's depth and running gauges from the database.
    pub(crate) async fn refresh_queue_gauges(&self, queue: &str) -> Result<(), StoreError> {
        let (available, running): (i64, i64) = sqlx::query_as(
            "SELECT coalesce(sum(state = 'available'), 0), coalesce(sum(state = 'running'), 0) \
             FROM jobs WHERE queue = ? AND state IN ('available', 'running')",
        )
        .bind(queue)
        .fetch_one(&self.reader)
        .await
        .map_err(StoreError::database("counting a queue's jobs"))?;
        let labels = [queue];
        self.metrics
            .jobs
            .available
            .with_label_values(&labels)
            .set(available);
        self.metrics
            .jobs
            .running
            .with_label_values(&labels)
            .set(running);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pacer_without_rate_fills_every_free_slot() {
        let pacer = StartPacer::new(None);
        assert_eq!(pacer.allowed(7, Instant::now()), 7);
        assert_eq!(pacer.wait_for_start(Instant::now()), None);
    }

    #[test]
    fn pacer_spaces_starts_by_the_rate() {
        let mut pacer = StartPacer::new(NonZeroU32::new(240));
        let t0 = Instant::now();
        assert_eq!(pacer.allowed(3, t0), 1);
        pacer.started(1, t0);
        assert_eq!(pacer.allowed(3, t0 + Duration::from_millis(249)), 0);
        assert_eq!(
            pacer.wait_for_start(t0 + Duration::from_millis(100)),
            Some(Duration::from_millis(150))
        );
        assert_eq!(pacer.allowed(3, t0 + Duration::from_millis(250)), 1);
        assert_eq!(pacer.wait_for_start(t0 + Duration::from_millis(250)), None);
        pacer.started(0, t0 + Duration::from_millis(300));
        assert_eq!(pacer.allowed(3, t0 + Duration::from_millis(260)), 1);
    }
}
