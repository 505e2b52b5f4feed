//! Durable storage: rows in SQLite (through sqlx; WAL, `synchronous=FULL`, migrations from
//! `migrations/`) and image files under the data directory. A capture is acknowledged only
//! after its files are synced and its transaction has committed, so a kill -9 or a power cut
//! loses nothing that was acknowledged.
//!
//! - `captures`, `images`, `occupancy`: a capture, its image files (written atomically) and its
//!   counts in one transaction; [`Writer`] is the store task (a capture whose images cannot be
//!   written, disk full, is kept as metadata; [`ImageWrites`] says so and recovers by itself).
//! - `jobs`: the durable job queue: named queues with concurrency and start-rate limits taken
//!   from the running config ([`QueueRunner`]), retries with backoff and jitter as a pure
//!   function, unique and idempotency keys, periodic jobs on an interval or a cron expression
//!   ([`Scheduler`]), list, retry and cancel for the page and the bus, per-queue metrics.
//! - `retention`: sweeps captures by age and image quota, vehicles by age, and the job history;
//!   the pure `choose_evictions`.
//! - `records`: vehicles ([`VehicleRecorder`], fed by the scanner pipelines), the config history
//!   (the store is the live configuration handle's `ConfigHistory`), users (Argon2id), push
//!   endpoints.
//! - `check`: the start-up file check.
//!
//! Benchmarks in `benches/store.rs`.

mod captures;
mod check;
mod error;
mod health;
mod images;
mod jobs;
mod metrics;
mod occupancy;
pub mod outbound;
mod records;
mod retention;
mod store;
mod writer;

pub use captures::{
    CaptureId, CaptureListing, CaptureQuery, CaptureStatus, CaptureSummary, ReviewFilter, RowReview,
};
pub use check::FileCheckReport;
pub use error::StoreError;
pub use health::{DiskSpace, ImageWrites, disk_space};
pub use jobs::{
    Enqueued, Job, JobAction, JobActionOutcome, JobAttempt, JobError, JobFilter, JobHandler, JobId,
    JobState, JobWithAttempts, NewJob, PeriodicJob, QueueRunner, QueueSpec, RetryPolicy, Schedule,
    Scheduler, retry_delay_ms,
};
pub use metrics::StoreMetrics;
pub use outbound::{CaptureExport, ExportImage, Outbound, UploadBacklog};
pub use records::push::{Delivery, EndpointProblem, NewDelivery, NewPushEndpoint, PushEndpoint};
pub use records::users::{ApiToken, Role, User};
pub use records::vehicles::{VehicleRecorder, VehicleRow};
pub use retention::{
    EvictionCandidate, RETENTION_QUEUE, RetentionSweeper, SWEEP_KIND, SweepReport,
    choose_evictions, retention_queue, sweep_schedule,
};
pub use store::Store;
pub use writer::Writer;
