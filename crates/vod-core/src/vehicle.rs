//! Vehicles as the detector reports them.

use std::fmt;
use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A vehicle's identity: a UUIDv7, so ids sort by time and stay unique across restarts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct VehicleId(pub Uuid);

impl VehicleId {
    /// Builds an id from the time the vehicle was seen and bytes that tell apart vehicles
    /// seen in the same millisecond (a per-detector sequence number and a source tag).
    pub fn new(seen_utc: DateTime<Utc>, sequence: u32, source_tag: u32) -> Self {
        let millis = u64::try_from(seen_utc.timestamp_millis()).unwrap_or(0);
        let mut tail = [0u8; 10];
        tail[..4].copy_from_slice(&sequence.to_be_bytes());
        tail[4..8].copy_from_slice(&source_tag.to_be_bytes());
        VehicleId(uuid::Builder::from_unix_timestamp_millis(millis, &tail).into_uuid())
    }
}

impl fmt::Display for VehicleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum VehicleEventKind {
    /// The vehicle's front crossed the scan plane.
    Entered,
    /// The vehicle's rear left the scan plane.
    Left {
        /// How long the vehicle occupied the scan plane.
        occupancy_ms: u64,
        /// Highest point seen above the road.
        max_height_mm: u32,
        /// Widest extent seen across the lane.
        max_width_mm: u32,
    },
}

/// A vehicle entering or leaving one lane's zone of the scan plane.
#[derive(Debug, Clone)]
pub struct VehicleEvent {
    pub vehicle_id: VehicleId,
    pub lane: Arc<str>,
    pub kind: VehicleEventKind,
    /// Wall-clock time of the scan that completed the decision.
    pub at_utc: DateTime<Utc>,
    /// When the socket read that delivered that scan returned (for latency metrics).
    pub at: Instant,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_differ_by_sequence_and_sort_by_time() {
        let t0 = DateTime::from_timestamp_millis(1_700_000_000_000).unwrap();
        let t1 = DateTime::from_timestamp_millis(1_700_000_000_001).unwrap();
        let a = VehicleId::new(t0, 1, 7);
        let b = VehicleId::new(t0, 2, 7);
        let c = VehicleId::new(t1, 0, 7);
        assert_ne!(a, b);
        assert!(a < c && b < c);
        assert_eq!(a.0.get_version_num(), 7);
    }
}
