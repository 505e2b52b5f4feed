//! Durable storage of captures: rows in SQLite (through sqlx) and image files under the data
//! directory. A capture is acknowledged only after its files are synced and its transaction has
//! committed, so a kill -9 or a power cut loses nothing that was acknowledged.

mod captures;
mod error;
mod images;
mod metrics;
mod store;
mod writer;

pub use captures::{CaptureId, CaptureStatus, CaptureSummary};
pub use error::StoreError;
pub use metrics::StoreMetrics;
pub use store::Store;
pub use writer::run_writer;
