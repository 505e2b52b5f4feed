//! Retention: expiring captures by age and by the image quota, vehicles and ended jobs by age,
//! as a periodic job of the `retention` queue.
//!
//! Rows go first, in one transaction per batch, then their files: a crash in between leaves
//! unreferenced files, which the start-up check removes, and never a row without its file.

mod evict;
mod sweeper;

use std::path::PathBuf;

use vod_core::config::RetentionConfig;

pub use evict::{EvictionCandidate, choose_evictions};
pub use sweeper::{RETENTION_QUEUE, RetentionSweeper, SWEEP_KIND, retention_queue, sweep_schedule};

use crate::error::StoreError;
use crate::images;
use crate::jobs::now_ms;
use crate::store::Store;

/// Captures deleted per transaction: keeps the writer free for new captures between batches.
const BATCH: u32 = 1_000;
const DAY_MS: i64 = 86_400_000;

/// What one sweep removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SweepReport {
    pub captures_expired: u64,
    pub captures_over_quota: u64,
    /// Of `captures_over_quota`, those still waiting for an upload (their jobs are cancelled).
    pub pending_evicted: u64,
    pub image_bytes_freed: u64,
    pub image_files_removed: u64,
    pub jobs_purged: u64,
    pub vehicles_expired: u64,
}

impl Store {
    /// Applies `config` once, as of `now_ms`.
    pub async fn sweep_retention(
        &self,
        config: &RetentionConfig,
        now_ms: i64,
    ) -> Result<SweepReport, StoreError> {
        let mut report = SweepReport::default();
        let capture_cutoff_ms =
            now_ms.saturating_sub(i64::from(config.captures_max_age_days) * DAY_MS);
        // Captures skipped because an upload waits for them stay behind the cursor, so that
        // each batch starts where the last one ended instead of scanning them again.
        let mut after = Cursor::START;
        loop {
            let rows: Vec<(i64, i64)> = sqlx::query_as(
                "SELECT c.detected_at_ms, c.id FROM captures c \
                 WHERE c.detected_at_ms < ?1 AND (c.detected_at_ms, c.id) > (?2, ?3) \
                   AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.capture_id = c.id \
                                   AND j.state IN ('available', 'running')) \
                 ORDER BY c.detected_at_ms, c.id LIMIT ?4",
            )
            .bind(capture_cutoff_ms)
            .bind(after.detected_at_ms)
            .bind(after.id)
            .bind(BATCH)
            .fetch_all(&self.writer)
            .await
            .map_err(StoreError::database("finding expired captures"))?;
            let Some(&(detected_at_ms, id)) = rows.last() else {
                break;
            };
            after = Cursor { detected_at_ms, id };
            let ids: Vec<i64> = rows.iter().map(|(_, id)| *id).collect();
            let deleted = self.delete_captures(&ids, "expired").await?;
            report.captures_expired += ids.len() as u64;
            report.image_bytes_freed += deleted.bytes;
            report.image_files_removed += deleted.files;
        }

        let mut used_bytes = self.image_bytes().await?;
        let mut after = [Cursor::START; 2];
        while used_bytes > config.image_quota_bytes {
            let mut candidates = self.eviction_candidates(false, after[0]).await?;
            // Waiting captures are candidates only once no uploaded one is left.
            if candidates.len() < BATCH as usize {
                candidates.extend(self.eviction_candidates(true, after[1]).await?);
            }
            let chosen = choose_evictions(&candidates, used_bytes - config.image_quota_bytes);
            if chosen.is_empty() {
                break;
            }
            for candidate in &chosen {
                after[usize::from(candidate.pending)] = Cursor {
                    detected_at_ms: candidate.detected_at_ms,
                    id: candidate.capture_id,
                };
            }
            let ids: Vec<i64> = chosen.iter().map(|c| c.capture_id).collect();
            let pending = chosen.iter().filter(|c| c.pending).count() as u64;
            let deleted = self.delete_captures(&ids, "over quota").await?;
            report.captures_over_quota += ids.len() as u64;
            report.pending_evicted += pending;
            report.image_bytes_freed += deleted.bytes;
            report.image_files_removed += deleted.files;
            used_bytes = used_bytes.saturating_sub(deleted.bytes);
        }

        let vehicle_cutoff_ms =
            now_ms.saturating_sub(i64::from(config.vehicles_max_age_days) * DAY_MS);
        loop {
            let deleted = self
                .delete_vehicles_before(vehicle_cutoff_ms, BATCH * 5)
                .await?;
            if deleted == 0 {
                break;
            }
            report.vehicles_expired += deleted;
        }

        let history_cutoff_ms = now_ms.saturating_sub(i64::from(config.job_history_days) * DAY_MS);
        loop {
            let purged = sqlx::query(
                "DELETE FROM jobs WHERE id IN (SELECT id FROM jobs \
                 WHERE finished_at_ms < ? AND state IN ('completed', 'discarded', 'cancelled') \
                 LIMIT ?)",
            )
            .bind(history_cutoff_ms)
            .bind(BATCH * 5)
            .execute(&self.writer)
            .await
            .map_err(StoreError::database("purging job history"))?
            .rows_affected();
            if purged == 0 {
                break;
            }
            report.jobs_purged += purged;
        }
        // The deliveries' history is kept as long as the jobs' history.
        loop {
            let purged = sqlx::query(
                "DELETE FROM push_deliveries WHERE id IN \
                 (SELECT id FROM push_deliveries WHERE at_ms < ? LIMIT ?)",
            )
            .bind(history_cutoff_ms)
            .bind(BATCH * 5)
            .execute(&self.writer)
            .await
            .map_err(StoreError::database("purging the delivery history"))?
            .rows_affected();
            if purged == 0 {
                break;
            }
        }

        let metrics = &self.metrics.retention;
        metrics
            .captures_deleted_total
            .with_label_values(&["age"])
            .inc_by(report.captures_expired);
        metrics
            .captures_deleted_total
            .with_label_values(&["quota"])
            .inc_by(report.captures_over_quota);
        metrics.pending_evicted_total.inc_by(report.pending_evicted);
        metrics.jobs_purged_total.inc_by(report.jobs_purged);
        metrics
            .vehicles_deleted_total
            .inc_by(report.vehicles_expired);
        metrics
            .image_bytes
            .set(i64::try_from(used_bytes).unwrap_or(i64::MAX));
        Ok(report)
    }

    /// The oldest captures with images, a batch of them, that jobs wait for or not.
    async fn eviction_candidates(
        &self,
        pending: bool,
        after: Cursor,
    ) -> Result<Vec<EvictionCandidate>, StoreError> {
        sqlx::query_as(
            "SELECT c.id AS capture_id, c.detected_at_ms, \
                    coalesce((SELECT sum(i.byte_len) FROM capture_images i \
                              WHERE i.capture_id = c.id), 0) AS image_bytes, \
                    ?1 AS pending \
             FROM captures c \
             WHERE (c.detected_at_ms, c.id) > (?2, ?3) AND c.image_count > 0 AND ?1 = EXISTS \
                   (SELECT 1 FROM jobs j WHERE j.capture_id = c.id \
                    AND j.state IN ('available', 'running')) \
             ORDER BY c.detected_at_ms, c.id LIMIT ?4",
        )
        .bind(pending)
        .bind(after.detected_at_ms)
        .bind(after.id)
        .bind(BATCH)
        .fetch_all(&self.writer)
        .await
        .map_err(StoreError::database("finding captures over the quota"))
    }

    /// The bytes of all image files, as recorded in their rows.
    pub async fn image_bytes(&self) -> Result<u64, StoreError> {
        let bytes: i64 =
            sqlx::query_scalar("SELECT coalesce(sum(byte_len), 0) FROM capture_images")
                .fetch_one(&self.reader)
                .await
                .map_err(StoreError::database("summing image sizes"))?;
        Ok(u64::try_from(bytes).unwrap_or(0))
    }

    /// Deletes the captures `ids` (rows in one transaction, cancelling their waiting jobs),
    /// then their image files.
    async fn delete_captures(&self, ids: &[i64], why: &str) -> Result<Deleted, StoreError> {
        let error = StoreError::database;
        let ids_json = format!(
            "[{}]",
            ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",")
        );
        let mut tx = self
            .writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(error("beginning a retention transaction"))?;
        let files: Vec<(String, i64)> = sqlx::query_as(
            "SELECT relative_path, byte_len FROM capture_images \
             WHERE capture_id IN (SELECT value FROM json_each(?))",
        )
        .bind(&ids_json)
        .fetch_all(&mut *tx)
        .await
        .map_err(error("listing the images of expiring captures"))?;
        sqlx::query(
            "UPDATE jobs SET state = 'cancelled', finished_at_ms = ?, last_error = ? \
             WHERE capture_id IN (SELECT value FROM json_each(?)) \
               AND state IN ('available', 'running')",
        )
        .bind(now_ms())
        .bind(format!("capture deleted: {why}"))
        .bind(&ids_json)
        .execute(&mut *tx)
        .await
        .map_err(error("cancelling the jobs of expiring captures"))?;
        sqlx::query("DELETE FROM captures WHERE id IN (SELECT value FROM json_each(?))")
            .bind(&ids_json)
            .execute(&mut *tx)
            .await
            .map_err(error("deleting captures"))?;
        tx.commit()
            .await
            .map_err(error("committing a retention batch"))?;

        let images_dir = self.images_dir.clone();
        let bytes = files.iter().map(|(_, len)| *len as u64).sum();
        let paths: Vec<PathBuf> = files
            .iter()
            .filter_map(|(relative, _)| images::resolve(&images_dir, relative))
            .collect();
        let files = tokio::task::spawn_blocking(move || images::remove_files(&paths))
            .await
            .map_err(StoreError::ImageTask)?;
        Ok(Deleted { bytes, files })
    }
}

/// Where the next batch starts: after this capture, in (detection time, id) order.
#[derive(Debug, Clone, Copy)]
struct Cursor {
    detected_at_ms: i64,
    id: i64,
}

impl Cursor {
    const START: Cursor = Cursor {
        detected_at_ms: i64::MIN,
        id: i64::MIN,
    };
}

struct Deleted {
    bytes: u64,
    files: u64,
}
