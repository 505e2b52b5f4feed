//! Getting data off the box. Every capture's jobs are enqueued in its own transaction (by the
//! store's writer, as `[uplink]` asks), so none is lost and each runs at least once; each job
//! is made harmless to run twice:
//!
//! - `cloud`: the [`cloud::Uploader`] puts a capture's images and then its metadata JSON
//!   under deterministic keys (`metadata`) to S3, an S3-compatible server or a directory,
//!   retrying without end; [`cloud::Backlog`] keeps the backlog gauges.
//! - `push`: the [`push::Dispatcher`] runs a queue per registered endpoint; each
//!   [`push::Delivery`] is signed per the Standard Webhooks specification, with a message id
//!   that stays the same across retries, and is kept in the delivery history.
//! - `jetstream`: the [`jetstream::Exporter`] publishes the metadata with `Nats-Msg-Id`.
//!
//! Only this crate and vod-bus import async-nats.

pub mod cloud;
pub mod jetstream;
pub mod metadata;
mod metrics;
pub mod push;

pub use metrics::UplinkMetrics;
