//! Vehicles as the detector reports them, and their size classes.

use std::fmt;
use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The log target of each vehicle's story, from the scanner to the upload: one debug line per
/// stage, each with the vehicle's `vehicle_id` (and its `capture` uuid once stored), so that
/// `log.filter = "info,vod::vehicle=debug"` and one grep for the id tell it whole.
pub const VEHICLE_LOG: &str = "vod::vehicle";

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

/// Motorcycles are narrower than this; cars and vans are wider.
const MOTORCYCLE_MAX_WIDTH_MM: u32 = 1300;
/// Vans are at least this tall, cars lower.
const VAN_MIN_HEIGHT_MM: u32 = 1750;
/// Trucks and buses are at least this tall, vans lower.
const TRUCK_MIN_HEIGHT_MM: u32 = 3000;

/// A vehicle's size class, told from its measured height and width (the thresholds follow
/// European vehicles).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VehicleClass {
    Car,
    Van,
    Truck,
    Motorcycle,
}

impl VehicleClass {
    /// The class of a vehicle whose highest point and widest extent were measured.
    pub fn from_size(max_height_mm: u32, max_width_mm: u32) -> Self {
        if max_height_mm >= TRUCK_MIN_HEIGHT_MM {
            VehicleClass::Truck
        } else if max_width_mm < MOTORCYCLE_MAX_WIDTH_MM {
            VehicleClass::Motorcycle
        } else if max_height_mm >= VAN_MIN_HEIGHT_MM {
            VehicleClass::Van
        } else {
            VehicleClass::Car
        }
    }

    /// The name used in metrics labels and messages.
    pub fn as_str(self) -> &'static str {
        match self {
            VehicleClass::Car => "car",
            VehicleClass::Van => "van",
            VehicleClass::Truck => "truck",
            VehicleClass::Motorcycle => "motorcycle",
        }
    }
}

/// What the detector measured of a vehicle by the time its rear left the scan plane: the one
/// spelling of these numbers, from the detector's event through the hub to the store.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct VehicleMeasurements {
    /// How long the vehicle occupied the scan plane.
    pub occupancy_ms: u64,
    /// Highest point seen above the road.
    pub max_height_mm: u32,
    /// Widest extent seen across the lane.
    pub max_width_mm: u32,
    /// The size class from the height and width.
    pub class: VehicleClass,
    /// Measured between two scan planes; `None` where the lane has one plane or the vehicle
    /// was not seen in both.
    pub speed_kmh: Option<f32>,
    /// Occupancy time times speed, when the speed is known.
    pub length_mm: Option<u32>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum VehicleEventKind {
    /// The vehicle's front crossed the scan plane.
    Entered,
    /// The vehicle's rear left the scan plane.
    Left(VehicleMeasurements),
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

    #[test]
    fn sizes_give_classes() {
        let cases = [
            ((1500, 1800), VehicleClass::Car),
            ((1749, 2000), VehicleClass::Car),
            ((1750, 2000), VehicleClass::Van),
            ((2600, 2050), VehicleClass::Van),
            ((3000, 2500), VehicleClass::Truck),
            ((1300, 800), VehicleClass::Motorcycle),
            ((1300, 1299), VehicleClass::Motorcycle),
            ((1300, 1300), VehicleClass::Car),
        ];
        for ((height, width), class) in cases {
            assert_eq!(
                VehicleClass::from_size(height, width),
                class,
                "{height} {width}"
            );
        }
    }
}
