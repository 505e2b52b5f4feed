//! A look into a running scanner pipeline for a person: the latest scan as the detector saw
//! it (every echo, the learned road, the objects and the lanes, in millimetres in the scan
//! plane), and the request to learn the road again. The pipeline publishes a snapshot a few
//! times a second; the web page and the bus read the latest.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::sync::watch;

/// A point in the scan plane: across the road from below the scanner, and above the road.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PlanePoint {
    pub lateral_mm: f32,
    pub height_mm: f32,
}

/// An object the detector found in the scan, and the lane it gave it to.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SnapshotObject {
    pub lateral_from_mm: f32,
    pub lateral_to_mm: f32,
    pub max_height_mm: f32,
    pub lane: Option<String>,
}

/// A lane's zone and whether a vehicle is in it (or about to enter).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SnapshotLane {
    pub name: String,
    pub lateral_from_mm: f32,
    pub lateral_to_mm: f32,
    pub occupied: bool,
}

/// One scan as the detector saw it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScanSnapshot {
    pub scanner: String,
    pub received_utc: DateTime<Utc>,
    pub mount_height_mm: f32,
    /// Every echo of the scan.
    pub points: Vec<PlanePoint>,
    /// The learned road, beam by beam where known; empty while it is being learned.
    pub road: Vec<PlanePoint>,
    /// While the road is being learned: scans seen and scans needed.
    pub learning: Option<(u32, u32)>,
    pub objects: Vec<SnapshotObject>,
    pub lanes: Vec<SnapshotLane>,
}

/// The shared look into one scanner's pipeline; clones share it, so it outlives restarts.
#[derive(Debug, Clone)]
pub struct ScannerView {
    pub scanner: Arc<str>,
    latest: Arc<watch::Sender<Option<Arc<ScanSnapshot>>>>,
    relearn: Arc<AtomicBool>,
}

impl ScannerView {
    pub fn new(scanner: &str) -> ScannerView {
        ScannerView {
            scanner: Arc::from(scanner),
            latest: Arc::new(watch::channel(None).0),
            relearn: Arc::new(AtomicBool::new(false)),
        }
    }

    /// The latest snapshot; `None` before the first scan.
    pub fn latest(&self) -> Option<Arc<ScanSnapshot>> {
        self.latest.borrow().clone()
    }

    pub fn publish(&self, snapshot: ScanSnapshot) {
        self.latest.send_replace(Some(Arc::new(snapshot)));
    }

    /// Asks the pipeline to forget the road and learn it again from the next scans.
    pub fn request_relearn(&self) {
        self.relearn.store(true, Ordering::Relaxed);
    }

    /// Whether a relearn was asked for since the last call; the pipeline's question.
    pub fn take_relearn(&self) -> bool {
        self.relearn.swap(false, Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_relearn_request_is_taken_once_and_clones_share_the_latest_snapshot() {
        let view = ScannerView::new("gantry");
        let reader = view.clone();
        assert!(reader.latest().is_none());
        view.publish(ScanSnapshot {
            scanner: "gantry".into(),
            received_utc: Utc::now(),
            mount_height_mm: 6000.0,
            points: Vec::new(),
            road: Vec::new(),
            learning: Some((1, 25)),
            objects: Vec::new(),
            lanes: Vec::new(),
        });
        assert_eq!(reader.latest().unwrap().learning, Some((1, 25)));
        reader.request_relearn();
        assert!(view.take_relearn());
        assert!(!view.take_relearn());
    }
}
