//! Captures: storing one with its image files, and listing the recent ones.

use std::fmt;
use std::time::Instant;

use chrono::{DateTime, Utc};
use sqlx::sqlite::SqliteRow;
use sqlx::{FromRow, Row};
use uuid::Uuid;
use vod_core::{Capture, VehicleId};

use crate::error::StoreError;
use crate::images::{self, ImageToWrite, WrittenImage};
use crate::jobs::{self, NewJob};
use crate::occupancy;
use crate::outbound::{self, Outbound};
use crate::store::Store;

/// A capture's row id in the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CaptureId(pub i64);

impl fmt::Display for CaptureId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::Type)]
#[sqlx(rename_all = "snake_case")]
pub enum CaptureStatus {
    /// At least one image was stored.
    Ok,
    /// The camera delivered nothing for the trigger.
    NoImage,
    /// The camera delivered images but their files could not be written (disk full): only
    /// the capture's metadata was kept.
    ImagesDropped,
}

impl CaptureStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CaptureStatus::Ok => "ok",
            CaptureStatus::NoImage => "no_image",
            CaptureStatus::ImagesDropped => "images_dropped",
        }
    }
}

/// The columns and tables of a [`CaptureSummary`], for `concat!` (queries are static strings).
macro_rules! summary_columns {
    () => {
        "c.id, c.uuid, c.vehicle_id, c.lane, c.camera, c.detected_at_ms, \
         CASE WHEN c.images_dropped > 0 THEN 'images_dropped' ELSE c.status END AS status, \
         c.image_count, c.test, \
         i.relative_path AS first_image, i.captured_at_ms AS first_image_at_ms"
    };
}

macro_rules! summary_from {
    () => {
        " FROM captures c \
         LEFT JOIN capture_images i ON i.capture_id = c.id AND i.burst_index = \
             (SELECT MIN(burst_index) FROM capture_images WHERE capture_id = c.id)"
    };
}

macro_rules! summary_select {
    () => {
        concat!("SELECT ", summary_columns!(), summary_from!())
    };
}

/// What the technician's page shows of a capture.
#[derive(Debug, Clone, PartialEq)]
pub struct CaptureSummary {
    pub id: CaptureId,
    /// Names its files and objects.
    pub uuid: String,
    pub vehicle_id: VehicleId,
    pub lane: String,
    pub camera: String,
    pub detected_utc: DateTime<Utc>,
    pub status: CaptureStatus,
    pub image_count: u32,
    /// The image with the lowest burst index, relative to the images directory; resolve it
    /// with [`Store::image_path`].
    pub first_image: Option<String>,
    /// When the camera took that image.
    pub first_image_utc: Option<DateTime<Utc>>,
    /// A test capture a person asked for, not a vehicle's.
    pub test: bool,
}

impl Store {
    /// Stores `capture`: its image files first, synced, then its rows in one transaction.
    /// Returns only after the commit, so an id returned is never lost; on error nothing of the
    /// capture is kept (image files already written are removed). When the image files cannot
    /// be written (disk full), the capture is still stored, without images, as
    /// [`CaptureStatus::ImagesDropped`], and [`Store::image_writes`] says so until a later
    /// capture's images are written again.
    ///
    /// If the future is dropped midway, the transaction rolls back and image files already
    /// written stay as orphans, as after a crash; no row ever references them.
    pub async fn insert_capture(&self, capture: &Capture) -> Result<CaptureId, StoreError> {
        self.insert_capture_with_jobs(capture, &[]).await
    }

    /// As [`Store::insert_capture`], and enqueues `jobs` in the capture's transaction, each
    /// linked to the capture: both commit, or neither.
    pub async fn insert_capture_with_jobs(
        &self,
        capture: &Capture,
        jobs: &[NewJob],
    ) -> Result<CaptureId, StoreError> {
        self.store_capture(capture, jobs, &Outbound::default())
            .await
    }

    /// As [`Store::insert_capture`], and enqueues the jobs that carry it off the box
    /// (`outbound`) in the capture's transaction; a test capture gets none: it never leaves.
    pub async fn insert_outbound_capture(
        &self,
        capture: &Capture,
        outbound: &Outbound,
    ) -> Result<CaptureId, StoreError> {
        let outbound = if capture.test {
            Outbound::default()
        } else {
            *outbound
        };
        self.store_capture(capture, &[], &outbound).await
    }

    async fn store_capture(
        &self,
        capture: &Capture,
        jobs: &[NewJob],
        outbound: &Outbound,
    ) -> Result<CaptureId, StoreError> {
        let result = self.write_capture(capture, jobs, outbound).await;
        match &result {
            Ok(_) => {
                self.metrics.captures_total.inc();
                if !jobs.is_empty() || *outbound != Outbound::default() {
                    self.jobs_notify.notify_waiters();
                }
            }
            Err(_) => self.metrics.write_errors_total.inc(),
        }
        result
    }

    /// The `limit` most recently detected captures, newest first.
    pub async fn recent_captures(&self, limit: u32) -> Result<Vec<CaptureSummary>, StoreError> {
        sqlx::query_as(concat!(
            summary_select!(),
            " ORDER BY c.detected_at_ms DESC, c.id DESC LIMIT ?"
        ))
        .bind(limit)
        .fetch_all(&self.reader)
        .await
        .map_err(StoreError::database("listing recent captures"))
    }

    /// The capture `uuid`, if stored.
    pub async fn capture_summary(&self, uuid: &str) -> Result<Option<CaptureSummary>, StoreError> {
        sqlx::query_as(concat!(summary_select!(), " WHERE c.uuid = ?"))
            .bind(uuid)
            .fetch_optional(&self.reader)
            .await
            .map_err(StoreError::database("reading a capture"))
    }

    /// Camera `camera`'s newest capture, if it stored one.
    pub async fn latest_capture_of(
        &self,
        camera: &str,
    ) -> Result<Option<CaptureSummary>, StoreError> {
        sqlx::query_as(concat!(
            summary_select!(),
            " WHERE c.camera = ? ORDER BY c.id DESC LIMIT 1"
        ))
        .bind(camera)
        .fetch_optional(&self.reader)
        .await
        .map_err(StoreError::database("reading a camera's newest capture"))
    }

    /// How many captures the database holds.
    pub async fn capture_count(&self) -> Result<u64, StoreError> {
        sqlx::query_scalar("SELECT COUNT(*) FROM captures")
            .fetch_one(&self.reader)
            .await
            .map_err(StoreError::database("counting captures"))
    }

    async fn write_capture(
        &self,
        capture: &Capture,
        jobs: &[NewJob],
        outbound: &Outbound,
    ) -> Result<CaptureId, StoreError> {
        let capture_uuid = Uuid::now_v7();
        let to_write: Vec<ImageToWrite> = capture
            .images
            .iter()
            .map(|image| ImageToWrite {
                burst_index: image.burst_index,
                jpeg: image.jpeg.clone(),
            })
            .collect();
        let images_dir = self.images_dir.clone();
        let detected_utc = capture.detected_utc;
        // Hashing and fsync block; keep them off the async workers.
        let outcome = tokio::task::spawn_blocking(move || {
            images::write_capture_images(&images_dir, detected_utc, capture_uuid, &to_write)
        })
        .await
        .map_err(StoreError::ImageTask)?;
        // Images that cannot be written do not stop the capture: its metadata still counts.
        let written = match outcome {
            Ok(written) => {
                if !written.is_empty() {
                    self.image_health.written();
                }
                written
            }
            Err(error) => {
                let now_ms = Utc::now().timestamp_millis();
                self.image_health
                    .failed(&error, capture.images.len(), now_ms);
                Vec::new()
            }
        };

        match self
            .commit_capture(capture, capture_uuid, &written, jobs, outbound)
            .await
        {
            Ok(id) => Ok(id),
            Err(error) => {
                images::remove_images(&self.images_dir, &written);
                Err(error)
            }
        }
    }

    async fn commit_capture(
        &self,
        capture: &Capture,
        capture_uuid: Uuid,
        written: &[WrittenImage],
        jobs: &[NewJob],
        outbound: &Outbound,
    ) -> Result<CaptureId, StoreError> {
        let started = Instant::now();
        let error = StoreError::database;
        let status = if written.is_empty() {
            CaptureStatus::NoImage
        } else {
            CaptureStatus::Ok
        };
        // IMMEDIATE takes the write lock up front, so the transaction cannot fail halfway on a
        // lock held by another process (a maintenance shell, say); it waits BUSY_TIMEOUT instead.
        let mut tx = self
            .writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(error("beginning the capture transaction"))?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO captures \
             (uuid, vehicle_id, lane, camera, detected_at_ms, stored_at_ms, status, image_count, \
              images_dropped, test) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        )
        .bind(capture_uuid.to_string())
        .bind(capture.vehicle_id.to_string())
        .bind(capture.lane.as_ref())
        .bind(capture.camera.as_ref())
        .bind(capture.detected_utc.timestamp_millis())
        .bind(Utc::now().timestamp_millis())
        .bind(status)
        // A Vec never holds more than isize::MAX elements, so its length always fits an i64.
        .bind(written.len() as i64)
        .bind((capture.images.len() - written.len()) as i64)
        .bind(capture.test)
        .fetch_one(&mut *tx)
        .await
        .map_err(error("inserting a capture"))?;
        for (image, file) in capture.images.iter().zip(written) {
            sqlx::query(
                "INSERT INTO capture_images \
                 (capture_id, burst_index, captured_at_ms, width, height, byte_len, sha256, \
                  relative_path) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(id)
            .bind(image.burst_index)
            .bind(image.captured_utc.timestamp_millis())
            .bind(image.width)
            .bind(image.height)
            .bind(image.jpeg.len() as i64)
            .bind(&file.sha256_hex)
            .bind(&file.relative_path)
            .execute(&mut *tx)
            .await
            .map_err(error("inserting a capture image"))?;
        }
        if let Some(occupancy) = &capture.occupancy {
            occupancy::insert(&mut tx, id, occupancy).await?;
        }
        let now_ms = Utc::now().timestamp_millis();
        for job in jobs {
            jobs::insert_job(&mut tx, job, Some(id), now_ms).await?;
        }
        let flagged = capture.occupancy.as_ref().is_some_and(|o| o.needs_review);
        outbound::enqueue(
            &mut tx,
            outbound,
            id,
            &capture_uuid.to_string(),
            flagged,
            now_ms,
        )
        .await?;
        tx.commit().await.map_err(error("committing a capture"))?;
        self.metrics
            .commit_seconds
            .observe(started.elapsed().as_secs_f64());
        Ok(CaptureId(id))
    }
}

impl FromRow<'_, SqliteRow> for CaptureSummary {
    fn from_row(row: &SqliteRow) -> Result<Self, sqlx::Error> {
        let vehicle_id: String = row.try_get("vehicle_id")?;
        let vehicle_id = Uuid::parse_str(&vehicle_id)
            .map(VehicleId)
            .map_err(|error| decode_error("vehicle_id", error.into()))?;
        let utc = |column: &str, ms: i64| {
            DateTime::from_timestamp_millis(ms).ok_or_else(|| {
                decode_error(
                    column,
                    format!("{ms} ms is outside the range of dates").into(),
                )
            })
        };
        let detected_utc = utc("detected_at_ms", row.try_get("detected_at_ms")?)?;
        let first_image_utc = row
            .try_get::<Option<i64>, _>("first_image_at_ms")?
            .map(|ms| utc("first_image_at_ms", ms))
            .transpose()?;
        Ok(CaptureSummary {
            id: CaptureId(row.try_get("id")?),
            uuid: row.try_get("uuid")?,
            vehicle_id,
            lane: row.try_get("lane")?,
            camera: row.try_get("camera")?,
            detected_utc,
            status: row.try_get("status")?,
            image_count: row.try_get("image_count")?,
            first_image: row.try_get("first_image")?,
            first_image_utc,
            test: row.try_get("test")?,
        })
    }
}

fn decode_error(column: &str, source: sqlx::error::BoxDynError) -> sqlx::Error {
    sqlx::Error::ColumnDecode {
        index: column.to_owned(),
        source,
    }
}

mod listing;
pub use listing::{CaptureListing, CaptureQuery, ReviewFilter, RowReview};
