//! Enqueueing: inside a transaction of the caller's (a capture's) or on its own.

use sqlx::SqliteConnection;
use uuid::Uuid;

use super::{Enqueued, JobId, NewJob, now_ms};
use crate::error::StoreError;
use crate::store::Store;

impl Store {
    /// Enqueues `job` in a transaction of its own; runners see it at once.
    pub async fn enqueue(&self, job: &NewJob) -> Result<Enqueued, StoreError> {
        let error = StoreError::database;
        let mut tx = self
            .writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(error("beginning an enqueue transaction"))?;
        let enqueued = insert_job(&mut tx, job, None, now_ms()).await?;
        tx.commit().await.map_err(error("committing a job"))?;
        self.jobs_notify.notify_waiters();
        Ok(enqueued)
    }
}

/// Inserts `job` on `conn`, which is inside the caller's transaction.
pub(crate) async fn insert_job(
    conn: &mut SqliteConnection,
    job: &NewJob,
    capture_id: Option<i64>,
    now_ms: i64,
) -> Result<Enqueued, StoreError> {
    let idempotency_key = job
        .idempotency_key
        .clone()
        .unwrap_or_else(|| Uuid::now_v7().to_string());
    // DO NOTHING applies to the uniqueness constraints only (the unique key among waiting and
    // running jobs, the idempotency key); a violated CHECK is still an error.
    let id: Option<i64> = sqlx::query_scalar(
        "INSERT INTO jobs \
         (queue, kind, args, state, max_attempts, unique_key, idempotency_key, capture_id, \
          inserted_at_ms, run_at_ms) \
         VALUES (?, ?, ?, 'available', ?, ?, ?, ?, ?, ?) \
         ON CONFLICT DO NOTHING RETURNING id",
    )
    .bind(&job.queue)
    .bind(&job.kind)
    .bind(&job.args)
    .bind(job.max_attempts)
    .bind(&job.unique_key)
    .bind(idempotency_key)
    .bind(capture_id)
    .bind(now_ms)
    .bind(job.run_at_ms.unwrap_or(now_ms))
    .fetch_optional(conn)
    .await
    .map_err(StoreError::database("inserting a job"))?;
    Ok(id.map_or(Enqueued::Duplicate, |id| Enqueued::Inserted(JobId(id))))
}
