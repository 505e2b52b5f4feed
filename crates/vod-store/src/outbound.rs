//! The jobs that carry a capture off the box (vod-uplink runs them), enqueued in the capture's
//! own transaction: an upload to the cloud, a message to JetStream, and one delivery per push
//! endpoint that wants the event. What a capture holds for them is read back whole by
//! [`Store::capture_export`].

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::{Row, SqliteConnection};
use vod_core::Occupancy;

use crate::captures::CaptureSummary;
use crate::error::StoreError;
use crate::jobs::{self, NewJob};
use crate::records::vehicles::VehicleRow;
use crate::store::Store;

pub const UPLOAD_QUEUE: &str = "upload";
pub const UPLOAD_KIND: &str = "upload.capture";
pub const JETSTREAM_QUEUE: &str = "jetstream";
pub const JETSTREAM_KIND: &str = "jetstream.capture";
pub const PUSH_KIND: &str = "push.capture";

/// An upload or a JetStream export retries without end: the capture waits (and retention keeps
/// it) until its target takes it.
const WITHOUT_END: u32 = i32::MAX as u32;

/// The events a push endpoint may ask for.
pub const PUSH_EVENTS: &[&str] = &[CAPTURE_STORED, CAPTURE_FLAGGED];
/// Every capture stored.
pub const CAPTURE_STORED: &str = "capture.stored";
/// A capture whose count is flagged for review.
pub const CAPTURE_FLAGGED: &str = "capture.flagged";

/// The queue of one push endpoint: each endpoint's deliveries wait and run apart from the
/// others'.
pub fn push_queue(endpoint_id: i64) -> String {
    format!("push:{endpoint_id}")
}

/// Which jobs each new capture gets; follows `[uplink]`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Outbound {
    pub upload: bool,
    pub jetstream: bool,
    /// Attempts of a push delivery (the first and its retries); `None` for no push at all.
    pub push_attempts: Option<u32>,
}

/// The arguments of an upload or JetStream job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaptureJob {
    pub capture_uuid: String,
}

/// The arguments of a push delivery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushJob {
    pub endpoint_id: i64,
    pub capture_uuid: String,
    pub event: String,
    /// The Standard Webhooks message id, the same across retries and replays.
    pub webhook_id: String,
}

impl PushJob {
    pub fn new(endpoint_id: i64, capture_uuid: &str, event: &str) -> PushJob {
        let suffix = if event == CAPTURE_STORED {
            String::new()
        } else {
            format!("_{}", event.replace('.', "_"))
        };
        PushJob {
            endpoint_id,
            capture_uuid: capture_uuid.to_owned(),
            event: event.to_owned(),
            webhook_id: format!("msg_{capture_uuid}{suffix}"),
        }
    }
}

fn job(queue: String, kind: &str, args: &impl Serialize, attempts: u32, key: String) -> NewJob {
    NewJob {
        queue,
        kind: kind.to_owned(),
        // Plain data: serializing it cannot fail.
        args: serde_json::to_string(args).unwrap_or_default(),
        max_attempts: attempts,
        run_at_ms: None,
        unique_key: None,
        idempotency_key: Some(key),
    }
}

/// The jobs `outbound` calls for, for the capture `capture_uuid` just inserted on `conn`.
pub(crate) async fn outbound_jobs(
    conn: &mut SqliteConnection,
    outbound: &Outbound,
    capture_uuid: &str,
    flagged: bool,
) -> Result<Vec<NewJob>, StoreError> {
    let capture = CaptureJob {
        capture_uuid: capture_uuid.to_owned(),
    };
    let mut jobs = Vec::new();
    if outbound.upload {
        let key = format!("upload:{capture_uuid}");
        jobs.push(job(
            UPLOAD_QUEUE.into(),
            UPLOAD_KIND,
            &capture,
            WITHOUT_END,
            key,
        ));
    }
    if outbound.jetstream {
        let key = format!("jetstream:{capture_uuid}");
        jobs.push(job(
            JETSTREAM_QUEUE.into(),
            JETSTREAM_KIND,
            &capture,
            WITHOUT_END,
            key,
        ));
    }
    if let Some(attempts) = outbound.push_attempts {
        let endpoints =
            sqlx::query("SELECT id, events FROM push_endpoints WHERE enabled = 1 ORDER BY id")
                .fetch_all(&mut *conn)
                .await
                .map_err(StoreError::database(
                    "listing the push endpoints of a capture",
                ))?;
        for endpoint in endpoints {
            let id: i64 = endpoint.get("id");
            let events: Vec<String> =
                serde_json::from_str(endpoint.get("events")).unwrap_or_default();
            for event in events {
                if event == CAPTURE_STORED || (event == CAPTURE_FLAGGED && flagged) {
                    let push = PushJob::new(id, capture_uuid, &event);
                    let key = format!("push:{id}:{}", push.webhook_id);
                    jobs.push(job(push_queue(id), PUSH_KIND, &push, attempts.max(1), key));
                }
            }
        }
    }
    Ok(jobs)
}

/// One stored image of a capture, for an upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportImage {
    pub burst_index: u32,
    pub captured_utc: DateTime<Utc>,
    pub width: u32,
    pub height: u32,
    pub byte_len: u64,
    pub sha256: String,
    /// The image file.
    pub path: PathBuf,
}

/// Everything the box tells the cloud and the push endpoints about a capture.
#[derive(Debug, Clone, PartialEq)]
pub struct CaptureExport {
    /// The capture as the capture list shows it.
    pub capture: CaptureSummary,
    pub images: Vec<ExportImage>,
    pub occupancy: Option<Occupancy>,
    /// The vehicle's record, once it left the scan plane.
    pub vehicle: Option<VehicleRow>,
}

impl Store {
    /// The capture `uuid` with its images, counts and vehicle; `None` when it is not (or no
    /// longer) stored.
    pub async fn capture_export(&self, uuid: &str) -> Result<Option<CaptureExport>, StoreError> {
        let Some(capture) = self.capture_summary(uuid).await? else {
            return Ok(None);
        };
        let corrupt = |what: &str| StoreError::Corrupt(format!("capture {uuid}: {what}"));
        let images = sqlx::query(
            "SELECT burst_index, captured_at_ms, width, height, byte_len, sha256, relative_path \
             FROM capture_images WHERE capture_id = ? ORDER BY burst_index",
        )
        .bind(capture.id.0)
        .fetch_all(&self.reader)
        .await
        .map_err(StoreError::database("reading a capture's images"))?
        .into_iter()
        .map(|image| {
            let relative: String = image.get("relative_path");
            Ok(ExportImage {
                burst_index: image.get("burst_index"),
                captured_utc: DateTime::from_timestamp_millis(image.get("captured_at_ms"))
                    .ok_or_else(|| corrupt("an image's time"))?,
                width: image.get("width"),
                height: image.get("height"),
                byte_len: image.get::<i64, _>("byte_len").max(0) as u64,
                sha256: image.get("sha256"),
                path: self
                    .image_path(&relative)
                    .ok_or_else(|| corrupt("an image path"))?,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
        Ok(Some(CaptureExport {
            occupancy: self.occupancy(capture.id).await?,
            vehicle: self.vehicle(capture.vehicle_id).await?,
            capture,
            images,
        }))
    }
}

/// The captures waiting for their upload.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UploadBacklog {
    pub captures: u64,
    /// When the oldest of them was stored.
    pub oldest_ms: Option<i64>,
    /// Their images' bytes.
    pub bytes: u64,
}

impl Store {
    pub async fn upload_backlog(&self) -> Result<UploadBacklog, StoreError> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS captures, MIN(j.inserted_at_ms) AS oldest_ms, \
                    COALESCE(SUM((SELECT SUM(i.byte_len) FROM capture_images i \
                                  WHERE i.capture_id = j.capture_id)), 0) AS bytes \
             FROM jobs j WHERE j.queue = ? AND j.state IN ('available', 'running')",
        )
        .bind(UPLOAD_QUEUE)
        .fetch_one(&self.reader)
        .await
        .map_err(StoreError::database("measuring the upload backlog"))?;
        Ok(UploadBacklog {
            captures: row.get::<i64, _>("captures").max(0) as u64,
            oldest_ms: row.get("oldest_ms"),
            bytes: row.get::<i64, _>("bytes").max(0) as u64,
        })
    }
}

/// Inserts the jobs of `outbound` for the capture in the transaction on `conn`.
pub(crate) async fn enqueue(
    conn: &mut SqliteConnection,
    outbound: &Outbound,
    capture_id: i64,
    capture_uuid: &str,
    flagged: bool,
    now_ms: i64,
) -> Result<usize, StoreError> {
    let jobs = outbound_jobs(conn, outbound, capture_uuid, flagged).await?;
    for job in &jobs {
        jobs::insert_job(conn, job, Some(capture_id), now_ms).await?;
    }
    Ok(jobs.len())
}
