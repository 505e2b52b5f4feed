//! Speed from two scan planes a known distance apart along the road (two scanners, or one
//! emulator per plane): a vehicle that enters a lane in the upstream plane and then the same
//! lane in the downstream plane took `distance / (t_down - t_up)`; with the time it occupied a
//! plane, that gives its length. Pure: the times are the events' socket-read instants.
//! [`pairing`] holds the state the two scanner tasks of a lane share.

pub mod pairing;

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use vod_core::{VehicleEvent, VehicleEventKind, VehicleId};

/// Vehicles slower than this between the planes are not paired (they would be another one).
const MIN_SPEED_KMH: f64 = 5.0;

/// A vehicle's speed, measured between the planes, keyed by its upstream id.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SpeedMeasurement {
    pub vehicle_id: VehicleId,
    pub speed_kmh: f64,
}

impl SpeedMeasurement {
    /// The vehicle's length from how long it occupied a plane at this speed.
    pub fn length_mm(&self, occupancy_ms: u64) -> f64 {
        self.speed_kmh / 3.6 * occupancy_ms as f64
    }
}

/// Pairs the `Entered` events of the two planes, lane by lane, first in first out.
#[derive(Debug)]
pub struct SpeedEstimator {
    distance_mm: f64,
    max_travel: Duration,
    waiting: HashMap<Arc<str>, VecDeque<(VehicleId, Instant)>>,
}

impl SpeedEstimator {
    /// Planes `distance_mm` apart; lanes must have the same names in both.
    pub fn new(distance_mm: u32) -> Self {
        let distance_mm = f64::from(distance_mm);
        SpeedEstimator {
            distance_mm,
            max_travel: Duration::from_secs_f64(distance_mm / 1000.0 / (MIN_SPEED_KMH / 3.6)),
            waiting: HashMap::new(),
        }
    }

    /// The longest plausible travel between the planes (at the slowest speed paired).
    pub fn max_travel(&self) -> Duration {
        self.max_travel
    }

    /// An event of the upstream plane.
    pub fn upstream(&mut self, event: &VehicleEvent) {
        if event.kind == VehicleEventKind::Entered {
            self.waiting
                .entry(event.lane.clone())
                .or_default()
                .push_back((event.vehicle_id, event.at));
        }
    }

    /// An event of the downstream plane: the speed of the upstream vehicle it completes.
    pub fn downstream(&mut self, event: &VehicleEvent) -> Option<SpeedMeasurement> {
        if event.kind != VehicleEventKind::Entered {
            return None;
        }
        let waiting = self.waiting.get_mut(&event.lane)?;
        // Vehicles that never reached the downstream plane in time are forgotten.
        while let Some(&(_, at)) = waiting.front() {
            if event.at.saturating_duration_since(at) <= self.max_travel {
                break;
            }
            waiting.pop_front();
        }
        let (vehicle_id, at) = waiting.pop_front()?;
        let travel_s = event.at.checked_duration_since(at)?.as_secs_f64();
        (travel_s > 0.0).then(|| SpeedMeasurement {
            vehicle_id,
            speed_kmh: self.distance_mm / 1000.0 / travel_s * 3.6,
        })
    }
}
