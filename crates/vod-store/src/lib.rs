//! Durable storage of captures: rows in SQLite (through sqlx) and image files under the data
//! directory. A capture is acknowledged only after its files are synced and its transaction has
//! committed, so a kill -9 or a power cut loses nothing that was acknowledged.

mod captures;
mod check;
mod error;
mod health;
mod images;
mod jobs;
mod metrics;
mod occupancy;
mod records;
mod retention;
mod store;
mod writer;

pub use captures::{CaptureId, CaptureStatus, CaptureSummary};
pub use check::FileCheckReport;
pub use error::StoreError;
pub use health::ImageWrites;
pub use jobs::{
    Enqueued, Job, JobAction, JobActionOutcome, JobAttempt, JobError, JobFilter, JobHandler, JobId,
    JobState, JobWithAttempts, NewJob, PeriodicJob, QueueRunner, QueueSpec, RetryPolicy, Schedule,
    Scheduler, retry_delay_ms,
};
pub use metrics::StoreMetrics;
pub use records::push::{NewPushEndpoint, PushEndpoint};
pub use records::users::{Role, User};
pub use records::vehicles::{VehicleRecorder, VehicleRow};
pub use retention::{
    EvictionCandidate, RETENTION_QUEUE, RetentionSweeper, SWEEP_KIND, SweepReport,
    choose_evictions, retention_queue, sweep_schedule,
};
pub use store::Store;
pub use writer::Writer;
