//! Whether image files can be written. When they cannot (disk full, failing disk), captures
//! are kept as metadata without images; every capture tries again, so the store recovers by
//! itself once space returns.

use std::sync::{Arc, Mutex, PoisonError};

use crate::error::StoreError;
use crate::metrics::StoreMetrics;

/// The state of image writes, for readiness and the technician's page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageWrites {
    Ok,
    /// Since the first failure in a row (ms since the epoch, UTC); the reason is the latest.
    Failing {
        since_ms: i64,
        reason: String,
    },
}

/// Shared between the clones of a store.
#[derive(Debug, Clone)]
pub(crate) struct ImageHealth {
    state: Arc<Mutex<ImageWrites>>,
    metrics: StoreMetrics,
}

impl ImageHealth {
    pub(crate) fn new(metrics: StoreMetrics) -> ImageHealth {
        metrics.images_writable.set(1);
        ImageHealth {
            state: Arc::new(Mutex::new(ImageWrites::Ok)),
            metrics,
        }
    }

    pub(crate) fn current(&self) -> ImageWrites {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub(crate) fn written(&self) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if let ImageWrites::Failing { since_ms, .. } = &*state {
            tracing::warn!(
                failing_since_ms = since_ms,
                "Image files are written again; captures keep their images."
            );
            *state = ImageWrites::Ok;
            self.metrics.images_writable.set(1);
        }
    }

    pub(crate) fn failed(&self, error: &StoreError, images_dropped: usize, now_ms: i64) {
        let reason = vod_core::error_chain(error);
        self.metrics
            .images_dropped_total
            .inc_by(images_dropped as u64);
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let since_ms = match &*state {
            ImageWrites::Ok => {
                tracing::error!(error = %reason, "Image files cannot be written; captures are stored without their images.");
                self.metrics.images_writable.set(0);
                now_ms
            }
            ImageWrites::Failing { since_ms, .. } => *since_ms,
        };
        *state = ImageWrites::Failing { since_ms, reason };
    }
}

/// Free and total space of a file system.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiskSpace {
    pub free_bytes: u64,
    pub total_bytes: u64,
}

/// The space of the file system that holds `dir` (the data directory).
pub fn disk_space(dir: &std::path::Path) -> std::io::Result<DiskSpace> {
    let stats = rustix::fs::statvfs(dir)?;
    Ok(DiskSpace {
        free_bytes: stats.f_bavail * stats.f_frsize,
        total_bytes: stats.f_blocks * stats.f_frsize,
    })
}
