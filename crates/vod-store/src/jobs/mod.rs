//! The durable job queue: jobs stored in SQLite beside the captures, so that a capture and the
//! jobs that carry it further (uploads, pushes) commit in one transaction, and a crash can
//! neither lose a job nor leave one half-enqueued.
//!
//! Delivery is at least once: a job interrupted by a crash runs again, and its
//! `idempotency_key` lets the handler make the second run harmless.

/// The columns of `jobs` in the order of [`Job`]'s fields, for `concat!` into static SQL.
macro_rules! job_columns {
    () => {
        "id, queue, kind, args, state, attempt, max_attempts, unique_key, idempotency_key, \
         capture_id, inserted_at_ms, run_at_ms, attempted_at_ms, finished_at_ms, last_error"
    };
}

mod admin;
mod backoff;
mod enqueue;
mod periodic;
mod runner;

use std::fmt;

use serde::{Deserialize, Serialize};
use sqlx::FromRow;

pub use admin::{JobAction, JobActionOutcome, JobFilter, JobWithAttempts};
pub use backoff::{RetryPolicy, retry_delay_ms};
pub use periodic::{PeriodicJob, Schedule, Scheduler};
pub use runner::{JobHandler, QueueRunner, QueueSpec};

pub(crate) use enqueue::insert_job;

/// A job's row id.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, sqlx::Type, Serialize, Deserialize,
)]
#[sqlx(transparent)]
#[serde(transparent)]
pub struct JobId(pub i64);

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, sqlx::Type, Serialize)]
#[sqlx(rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    /// Waiting for its run_at time or for a free slot in its queue.
    Available,
    Running,
    Completed,
    /// Failed `max_attempts` times, or refused by its handler; kept for inspection and retry.
    Discarded,
    Cancelled,
}

impl JobState {
    pub const ALL: [JobState; 5] = [
        JobState::Available,
        JobState::Running,
        JobState::Completed,
        JobState::Discarded,
        JobState::Cancelled,
    ];

    /// The state named `name` (as [`JobState::as_str`] writes it).
    pub fn parse(name: &str) -> Option<JobState> {
        JobState::ALL
            .into_iter()
            .find(|state| state.as_str() == name)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Available => "available",
            JobState::Running => "running",
            JobState::Completed => "completed",
            JobState::Discarded => "discarded",
            JobState::Cancelled => "cancelled",
        }
    }
}

/// A job to enqueue.
#[derive(Debug, Clone, PartialEq)]
pub struct NewJob {
    pub queue: String,
    pub kind: String,
    pub args: String,
    pub max_attempts: u32,
    /// Not before this time (ms since the epoch, UTC); `None` runs it as soon as possible.
    pub run_at_ms: Option<i64>,
    /// While a job with this key is available or running in the same queue, enqueueing another
    /// one does nothing.
    pub unique_key: Option<String>,
    /// `None` draws a fresh one. A key already used by any job, ended or not, makes the
    /// enqueue do nothing: periodic jobs use it so each period runs once.
    pub idempotency_key: Option<String>,
}

/// What an enqueue did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enqueued {
    Inserted(JobId),
    /// A job with the same unique key is already waiting or running, or one with the same
    /// idempotency key exists; nothing was inserted.
    Duplicate,
}

/// A stored job, as handlers and the job list see it.
#[derive(Debug, Clone, PartialEq, Eq, FromRow, Serialize)]
pub struct Job {
    pub id: JobId,
    pub queue: String,
    pub kind: String,
    pub args: String,
    pub state: JobState,
    /// Attempts started so far, the current one included.
    pub attempt: u32,
    pub max_attempts: u32,
    pub unique_key: Option<String>,
    pub idempotency_key: String,
    pub capture_id: Option<i64>,
    pub inserted_at_ms: i64,
    pub run_at_ms: i64,
    pub attempted_at_ms: Option<i64>,
    pub finished_at_ms: Option<i64>,
    pub last_error: Option<String>,
}

/// One attempt at a job, for the job's history.
#[derive(Debug, Clone, PartialEq, Eq, FromRow, Serialize)]
pub struct JobAttempt {
    pub attempt: u32,
    pub started_at_ms: i64,
    pub finished_at_ms: Option<i64>,
    /// `None` while running; else completed, failed, discarded or interrupted.
    pub outcome: Option<String>,
    pub error: Option<String>,
}

/// Why a job did not complete.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JobError {
    /// Worth trying again after a backoff, while attempts remain.
    #[error("{0}")]
    Retry(String),
    /// Worth trying again after this long (the handler knows: a schedule, a `Retry-After`),
    /// while attempts remain.
    #[error("{message}")]
    RetryIn { delay_ms: u64, message: String },
    /// Will never succeed (bad arguments, say): discarded at once.
    #[error("{0}")]
    Discard(String),
}

pub(crate) fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}
