//! The job list and its actions, for the web page and the bus: list, history, retry, cancel.

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
