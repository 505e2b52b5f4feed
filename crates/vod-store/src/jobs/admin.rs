//! The job list and its actions, for the web page and the bus: list, history, retry, cancel.

use std::collections::HashMap;

use serde::Serialize;
use sqlx::FromRow;

use super::{Job, JobAttempt, JobId, JobState, now_ms};
use crate::error::StoreError;
use crate::store::Store;

/// Which jobs to list: newest first, `limit` at a time; pass the last id of a page as
/// `before` to get the next one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobFilter {
    pub queue: Option<String>,
    pub state: Option<JobState>,
    pub before: Option<JobId>,
    pub limit: u32,
}

impl JobFilter {
    /// Jobs listed when a request names no limit.
    pub const DEFAULT_LIMIT: u32 = 50;
    /// The most jobs one request lists.
    pub const MAX_LIMIT: u32 = 500;

    /// The filter a request of the web page or the bus asks for: an empty queue or state
    /// means any, no limit [`JobFilter::DEFAULT_LIMIT`]. Refuses an unknown state and a limit
    /// of 0 or over [`JobFilter::MAX_LIMIT`], saying why.
    pub fn from_request(
        queue: Option<&str>,
        state: Option<&str>,
        before: Option<i64>,
        limit: Option<u32>,
    ) -> Result<JobFilter, String> {
        let state = match state.filter(|state| !state.is_empty()) {
            None => None,
            Some(name) => Some(JobState::parse(name).ok_or_else(|| {
                let known: Vec<&str> = JobState::ALL.iter().map(|s| s.as_str()).collect();
                format!(
                    "unknown state {name:?}; the states are {}",
                    known.join(", ")
                )
            })?),
        };
        let limit = limit.unwrap_or(JobFilter::DEFAULT_LIMIT);
        if !(1..=JobFilter::MAX_LIMIT).contains(&limit) {
            return Err(format!(
                "limit must be from 1 to {}, not {limit}",
                JobFilter::MAX_LIMIT
            ));
        }
        Ok(JobFilter {
            queue: queue.filter(|queue| !queue.is_empty()).map(str::to_owned),
            state,
            before: before.map(JobId),
            limit,
        })
    }
}

/// A job and its attempts, first first, as the job list shows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JobWithAttempts {
    #[serde(flatten)]
    pub job: Job,
    pub attempts: Vec<JobAttempt>,
}

/// An attempt with the job it belongs to, as the list reads them.
#[derive(FromRow)]
struct AttemptOfJob {
    job_id: JobId,
    #[sqlx(flatten)]
    attempt: JobAttempt,
}

/// What a technician may do to a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobAction {
    /// See [`Store::retry_job`].
    Retry,
    /// See [`Store::cancel_job`].
    Cancel,
}

/// What a [`JobAction`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobActionOutcome {
    /// Done; the job as it is now.
    Done(Job),
    NotFound,
    /// The job's state does not allow the action (retrying a waiting job, cancelling an
    /// ended one, retrying while another job with its unique key waits); the job as it is.
    Refused(Job),
}

impl Store {
    pub async fn list_jobs(&self, filter: &JobFilter) -> Result<Vec<Job>, StoreError> {
        sqlx::query_as(concat!(
            "SELECT ",
            job_columns!(),
            " FROM jobs \
             WHERE (?1 IS NULL OR queue = ?1) AND (?2 IS NULL OR state = ?2) \
               AND (?3 IS NULL OR id < ?3) \
             ORDER BY id DESC LIMIT ?4"
        ))
        .bind(&filter.queue)
        .bind(filter.state)
        .bind(filter.before)
        .bind(filter.limit)
        .fetch_all(&self.reader)
        .await
        .map_err(StoreError::database("listing jobs"))
    }

    /// Like [`Store::list_jobs`], with each job's attempts (read in one more query).
    pub async fn list_jobs_with_attempts(
        &self,
        filter: &JobFilter,
    ) -> Result<Vec<JobWithAttempts>, StoreError> {
        let jobs = self.list_jobs(filter).await?;
        let ids: Vec<i64> = jobs.iter().map(|job| job.id.0).collect();
        let rows: Vec<(JobId, JobAttempt)> = sqlx::query_as::<_, AttemptOfJob>(
            "SELECT job_id, attempt, started_at_ms, finished_at_ms, outcome, error \
             FROM job_attempts WHERE job_id IN (SELECT value FROM json_each(?)) \
             ORDER BY job_id, attempt",
        )
        .bind(serde_json::to_string(&ids).map_err(StoreError::Json)?)
        .fetch_all(&self.reader)
        .await
        .map_err(StoreError::database("reading jobs' attempts"))?
        .into_iter()
        .map(|row| (row.job_id, row.attempt))
        .collect();
        let mut attempts: HashMap<JobId, Vec<JobAttempt>> = HashMap::new();
        for (job_id, attempt) in rows {
            attempts.entry(job_id).or_default().push(attempt);
        }
        Ok(jobs
            .into_iter()
            .map(|job| JobWithAttempts {
                attempts: attempts.remove(&job.id).unwrap_or_default(),
                job,
            })
            .collect())
    }

    /// Retries or cancels job `id`, and tells what came of it.
    pub async fn apply_job_action(
        &self,
        id: JobId,
        action: JobAction,
    ) -> Result<JobActionOutcome, StoreError> {
        let done = match action {
            JobAction::Retry => self.retry_job(id).await?,
            JobAction::Cancel => self.cancel_job(id).await?,
        };
        let job = self.job(id).await?;
        Ok(match (job, done) {
            (None, _) => JobActionOutcome::NotFound,
            (Some(job), true) => JobActionOutcome::Done(job),
            (Some(job), false) => JobActionOutcome::Refused(job),
        })
    }

    pub async fn job(&self, id: JobId) -> Result<Option<Job>, StoreError> {
        sqlx::query_as(concat!(
            "SELECT ",
            job_columns!(),
            " FROM jobs WHERE id = ?"
        ))
        .bind(id)
        .fetch_optional(&self.reader)
        .await
        .map_err(StoreError::database("reading a job"))
    }

    /// The jobs that carry capture `id` further (uploads, pushes), oldest first.
    pub async fn capture_jobs(&self, id: crate::CaptureId) -> Result<Vec<Job>, StoreError> {
        sqlx::query_as(concat!(
            "SELECT ",
            job_columns!(),
            " FROM jobs WHERE capture_id = ? ORDER BY id"
        ))
        .bind(id.0)
        .fetch_all(&self.reader)
        .await
        .map_err(StoreError::database("listing a capture's jobs"))
    }

    /// The attempts at job `id`, first first.
    pub async fn job_attempts(&self, id: JobId) -> Result<Vec<JobAttempt>, StoreError> {
        sqlx::query_as(
            "SELECT attempt, started_at_ms, finished_at_ms, outcome, error FROM job_attempts \
             WHERE job_id = ? ORDER BY attempt",
        )
        .bind(id)
        .fetch_all(&self.reader)
        .await
        .map_err(StoreError::database("reading a job's attempts"))
    }

    /// Makes an ended job (discarded, cancelled or completed) available to run now, with one
    /// more attempt allowed if it had used them all. Returns false when the job does not exist,
    /// has not ended, or another job with its unique key is waiting or running.
    pub async fn retry_job(&self, id: JobId) -> Result<bool, StoreError> {
        let result = sqlx::query(
            "UPDATE OR IGNORE jobs SET state = 'available', run_at_ms = ?, finished_at_ms = NULL, \
                    max_attempts = max(max_attempts, attempt + 1) \
             WHERE id = ? AND state IN ('discarded', 'cancelled', 'completed')",
        )
        .bind(now_ms())
        .bind(id)
        .execute(&self.writer)
        .await
        .map_err(StoreError::database("retrying a job"))?;
        self.jobs_notify.notify_waiters();
        Ok(result.rows_affected() == 1)
    }

    /// Cancels a job that is waiting or running (a running attempt finishes, but its outcome is
    /// not recorded over the cancellation). Returns false when the job does not exist or has
    /// ended.
    pub async fn cancel_job(&self, id: JobId) -> Result<bool, StoreError> {
        let result = sqlx::query(
            "UPDATE jobs SET state = 'cancelled', finished_at_ms = ? \
             WHERE id = ? AND state IN ('available', 'running')",
        )
        .bind(now_ms())
        .bind(id)
        .execute(&self.writer)
        .await
        .map_err(StoreError::database("cancelling a job"))?;
        Ok(result.rows_affected() == 1)
    }
}
