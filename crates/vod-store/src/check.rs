//! The start-up file check: image rows whose file is gone, and files no row references
//! (temporary files of a write cut short by a crash, files of a transaction that never
//! committed, files left by a retention sweep cut short).
//!
//! Repairs only what is safe: files older than a minimum age, so that a capture being written
//! now is never touched, are removed; rows whose file is gone are marked, not deleted, since
//! their metadata still counts.

use std::collections::HashSet;
use std::fs;
use std::path::Path;
use std::time::{Duration, SystemTime};

use crate::error::StoreError;
use crate::jobs::now_ms;
use crate::store::Store;

/// What the file check found and did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FileCheckReport {
    pub files_seen: u64,
    pub rows_seen: u64,
    pub temporary_files_removed: u64,
    pub unreferenced_files_removed: u64,
    /// Temporary or unreferenced, but younger than the minimum age: left alone.
    pub young_files_kept: u64,
    /// Image rows whose file was not found; each is marked with `missing_since_ms`.
    pub rows_missing_file: u64,
}

impl Store {
    /// Compares the image rows with the files under the images directory; removes temporary
    /// and unreferenced files last modified more than `min_age` ago, and marks rows whose file
    /// is missing.
    pub async fn check_files(&self, min_age: Duration) -> Result<FileCheckReport, StoreError> {
        let referenced: HashSet<String> =
            sqlx::query_scalar("SELECT relative_path FROM capture_images")
                .fetch_all(&self.reader)
                .await
                .map_err(StoreError::database("listing image paths"))?
                .into_iter()
                .collect();
        let rows_seen = referenced.len() as u64;
        let images_dir = self.images_dir.clone();
        let walked = tokio::task::spawn_blocking(move || {
            let mut walk = Walk {
                referenced,
                oldest_kept: SystemTime::now()
                    .checked_sub(min_age)
                    .unwrap_or(SystemTime::UNIX_EPOCH),
                report: FileCheckReport::default(),
            };
            walk.dir(&images_dir, "")?;
            Ok::<_, StoreError>(walk)
        })
        .await
        .map_err(StoreError::ImageTask)??;
        let mut report = walked.report;
        report.rows_seen = rows_seen;
        // Rows listed before the walk may have gone since with their files (retention deletes
        // rows first, then files): only the rows still there count as missing.
        let missing: Vec<String> = walked.referenced.into_iter().collect();
        let now = now_ms();
        for batch in missing.chunks(1_000) {
            let paths = serde_json::to_string(batch).map_err(StoreError::Json)?;
            let still_there: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM capture_images \
                 WHERE relative_path IN (SELECT value FROM json_each(?))",
            )
            .bind(&paths)
            .fetch_one(&self.writer)
            .await
            .map_err(StoreError::database(
                "counting images whose file is missing",
            ))?;
            report.rows_missing_file += u64::try_from(still_there).unwrap_or(0);
            sqlx::query(
                "UPDATE capture_images SET missing_since_ms = ? \
                 WHERE missing_since_ms IS NULL \
                   AND relative_path IN (SELECT value FROM json_each(?))",
            )
            .bind(now)
            .bind(paths)
            .execute(&self.writer)
            .await
            .map_err(StoreError::database("marking images whose file is missing"))?;
        }

        let metrics = &self.metrics;
        metrics
            .check_files_removed_total
            .with_label_values(&["temporary"])
            .inc_by(report.temporary_files_removed);
        metrics
            .check_files_removed_total
            .with_label_values(&["unreferenced"])
            .inc_by(report.unreferenced_files_removed);
        metrics
            .check_images_missing
            .set(i64::try_from(report.rows_missing_file).unwrap_or(i64::MAX));
        if report.rows_missing_file > 0 {
            tracing::error!(
                rows = report.rows_missing_file,
                "Image files referenced by captures are missing; their rows are marked."
            );
        }
        if report.temporary_files_removed + report.unreferenced_files_removed > 0 {
            tracing::warn!(
                temporary = report.temporary_files_removed,
                unreferenced = report.unreferenced_files_removed,
                "Removed image files that no capture references."
            );
        }
        Ok(report)
    }
}

struct Walk {
    /// Shrinks as files are found: what is left at the end has no file.
    referenced: HashSet<String>,
    oldest_kept: SystemTime,
    report: FileCheckReport,
}

impl Walk {
    fn dir(&mut self, dir: &Path, relative_dir: &str) -> Result<(), StoreError> {
        let entries = fs::read_dir(dir).map_err(StoreError::io("listing directory", dir))?;
        for entry in entries {
            let entry = entry.map_err(StoreError::io("listing directory", dir))?;
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            let relative = if relative_dir.is_empty() {
                name.clone()
            } else {
                format!("{relative_dir}/{name}")
            };
            let file_type = entry
                .file_type()
                .map_err(StoreError::io("reading the type of", &path))?;
            if file_type.is_dir() {
                self.dir(&path, &relative)?;
                continue;
            }
            self.report.files_seen += 1;
            let temporary = name.starts_with('.') && name.ends_with(".tmp");
            if !temporary && self.referenced.remove(&relative) {
                continue;
            }
            // The box runs beside the check: retention may remove a file between the listing
            // and here.
            let modified = match entry.metadata().and_then(|metadata| metadata.modified()) {
                Ok(modified) => modified,
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => continue,
                Err(error) => {
                    return Err(StoreError::io("reading the modification time of", &path)(
                        error,
                    ));
                }
            };
            if modified > self.oldest_kept {
                self.report.young_files_kept += 1;
                continue;
            }
            match fs::remove_file(&path) {
                Ok(()) => {}
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => continue,
                Err(error) => return Err(StoreError::io("removing the stray file", &path)(error)),
            }
            if temporary {
                self.report.temporary_files_removed += 1;
            } else {
                self.report.unreferenced_files_removed += 1;
            }
        }
        Ok(())
    }
}
