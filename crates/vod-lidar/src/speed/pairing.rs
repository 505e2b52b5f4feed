//! Where the two planes of a lane meet. The lane's own scanner task and the second scanner's
//! task share one [`LanePairing`] per lane (a mutex held for microseconds, never across an
//! await): the first plane's vehicles wait in it, the second plane's entries complete them
//! with a speed, and the first plane's `Left` events leave it with speed and length once known.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use vod_core::config::SpeedPlaneConfig;
use vod_core::{VehicleEvent, VehicleEventKind, VehicleId};

use super::{SpeedEstimator, SpeedMeasurement};

/// A measured speed waits this long for its vehicle's `Left` (a long vehicle in slow traffic
/// occupies the first plane after its front reached the second).
const SPEED_KEPT: Duration = Duration::from_secs(60);

/// A vehicle that reached the second plane.
#[derive(Debug)]
pub struct Measured {
    /// The first plane's `Entered` event: the vehicle's id and entry instant.
    pub entered: VehicleEvent,
    pub speed_kmh: f64,
    /// The first plane's `Left` event, completed, if it came before the speed.
    pub left: Option<VehicleEvent>,
}

/// The pairing state of one lane with two planes.
#[derive(Debug)]
pub struct LanePairing {
    estimator: SpeedEstimator,
    /// The longest plausible travel between the planes.
    max_travel: Duration,
    /// First-plane `Entered` events not yet seen by the second plane.
    entered: HashMap<VehicleId, VehicleEvent>,
    /// Speeds whose first-plane `Left` has not come yet, with when they were measured.
    speeds: HashMap<VehicleId, (SpeedMeasurement, Instant)>,
    /// First-plane `Left` events waiting for their vehicle to reach the second plane.
    lefts: Vec<VehicleEvent>,
}

impl LanePairing {
    pub fn new(plane_distance_mm: u32) -> Self {
        let estimator = SpeedEstimator::new(plane_distance_mm);
        LanePairing {
            max_travel: estimator.max_travel(),
            estimator,
            entered: HashMap::new(),
            speeds: HashMap::new(),
            lefts: Vec::new(),
        }
    }

    /// An event of the lane's first plane; the `Left` events now complete (this one, if its
    /// speed is known).
    pub fn first_plane(&mut self, event: VehicleEvent) -> Option<VehicleEvent> {
        match event.kind {
            VehicleEventKind::Entered => {
                self.estimator.upstream(&event);
                self.entered.insert(event.vehicle_id, event);
                None
            }
            VehicleEventKind::Left(_) => match self.speeds.remove(&event.vehicle_id) {
                Some((speed, _)) => Some(with_speed(event, &speed)),
                None => {
                    self.lefts.push(event);
                    None
                }
            },
        }
    }

    /// An event of the second plane: the vehicle of the first plane it completes, if any.
    pub fn second_plane(&mut self, event: &VehicleEvent) -> Option<Measured> {
        let speed = self.estimator.downstream(event)?;
        let entered = self.entered.remove(&speed.vehicle_id)?;
        let left = match self
            .lefts
            .iter()
            .position(|left| left.vehicle_id == speed.vehicle_id)
        {
            Some(index) => Some(with_speed(self.lefts.swap_remove(index), &speed)),
            None => {
                self.speeds.insert(speed.vehicle_id, (speed, event.at));
                None
            }
        };
        Some(Measured {
            entered,
            speed_kmh: speed.speed_kmh,
            left,
        })
    }

    /// Forgets what can no longer pair by `now`; the first plane's `Left` events whose
    /// vehicle never reached the second plane in time come back without a speed.
    pub fn expire(&mut self, now: Instant) -> Vec<VehicleEvent> {
        let max_travel = self.max_travel;
        let too_old = |entered_at: Instant| now.saturating_duration_since(entered_at) > max_travel;
        self.entered.retain(|_, entered| !too_old(entered.at));
        self.speeds.retain(|_, (_, measured_at)| {
            now.saturating_duration_since(*measured_at) <= SPEED_KEPT
        });
        let mut expired = Vec::new();
        let mut index = 0;
        while index < self.lefts.len() {
            if too_old(entered_at(&self.lefts[index])) {
                expired.push(self.lefts.swap_remove(index));
            } else {
                index += 1;
            }
        }
        expired
    }
}

/// When the vehicle of a `Left` event entered: its occupancy before it left.
fn entered_at(left: &VehicleEvent) -> Instant {
    let occupancy_ms = match left.kind {
        VehicleEventKind::Left(measured) => measured.occupancy_ms,
        VehicleEventKind::Entered => 0,
    };
    left.at
        .checked_sub(Duration::from_millis(occupancy_ms))
        .unwrap_or(left.at)
}

fn with_speed(mut left: VehicleEvent, speed: &SpeedMeasurement) -> VehicleEvent {
    if let VehicleEventKind::Left(measured) = &mut left.kind {
        measured.speed_kmh = Some(speed.speed_kmh as f32);
        measured.length_mm = Some(speed.length_mm(measured.occupancy_ms).round() as u32);
    }
    left
}

/// The lanes with two planes, each with its pairing state shared by the two scanner tasks;
/// cheap to clone (clones share the state).
#[derive(Debug, Clone, Default)]
pub struct SpeedPlanes {
    lanes: HashMap<String, (SpeedPlaneConfig, Arc<Mutex<LanePairing>>)>,
}

impl SpeedPlanes {
    pub fn new(planes: &[SpeedPlaneConfig]) -> Self {
        SpeedPlanes {
            lanes: planes
                .iter()
                .map(|plane| {
                    let pairing = LanePairing::new(plane.plane_distance_mm);
                    (
                        plane.lane.clone(),
                        (plane.clone(), Arc::new(Mutex::new(pairing))),
                    )
                })
                .collect(),
        }
    }

    /// The lane's second plane and its pairing state, if the lane has one.
    pub fn of_lane(&self, lane: &str) -> Option<(&SpeedPlaneConfig, &Arc<Mutex<LanePairing>>)> {
        self.lanes
            .get(lane)
            .map(|(plane, pairing)| (plane, pairing))
    }

    /// The lanes whose second plane is `scanner`'s.
    pub fn second_planes_of<'a>(
        &'a self,
        scanner: &'a str,
    ) -> impl Iterator<Item = (&'a SpeedPlaneConfig, &'a Arc<Mutex<LanePairing>>)> + 'a {
        self.lanes
            .values()
            .filter(move |(plane, _)| plane.second_scanner == scanner)
            .map(|(plane, pairing)| (plane, pairing))
    }
}

/// Locks a pairing; nothing panics while holding it, and its state stays consistent if
/// something did, so a poisoned lock is used as it is.
pub fn lock(pairing: &Mutex<LanePairing>) -> MutexGuard<'_, LanePairing> {
    pairing.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use chrono::DateTime;
    use vod_core::{VehicleClass, VehicleMeasurements};

    use super::*;

    fn event(sequence: u32, kind: VehicleEventKind, at: Instant) -> VehicleEvent {
        let at_utc = DateTime::from_timestamp_millis(1_700_000_000_000).unwrap();
        VehicleEvent {
            vehicle_id: VehicleId::new(at_utc, sequence, 0),
            lane: "lane-1".into(),
            kind,
            at_utc,
            at,
        }
    }

    fn left(occupancy_ms: u64) -> VehicleEventKind {
        VehicleEventKind::Left(VehicleMeasurements {
            occupancy_ms,
            max_height_mm: 1500,
            max_width_mm: 1800,
            class: VehicleClass::Car,
            speed_kmh: None,
            length_mm: None,
        })
    }

    fn speed_and_length(event: &VehicleEvent) -> (Option<f32>, Option<u32>) {
        match event.kind {
            VehicleEventKind::Left(measured) => (measured.speed_kmh, measured.length_mm),
            VehicleEventKind::Entered => panic!("not a Left event"),
        }
    }

    #[test]
    fn a_left_before_or_after_the_speed_gets_speed_and_length() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut pairing = LanePairing::new(5000);
        // Vehicle 1, 4 m long at 90 km/h (25 m/s): leaves the first plane 160 ms after entry,
        // before it reaches the second plane at 200 ms.
        assert!(
            pairing
                .first_plane(event(1, VehicleEventKind::Entered, t0))
                .is_none()
        );
        assert!(
            pairing
                .first_plane(event(1, left(160), t0 + ms(160)))
                .is_none()
        );
        // Vehicle 2, 16 m long: reaches the second plane at 400 ms, leaves the first at 640.
        let entered_2 = event(2, VehicleEventKind::Entered, t0 + ms(200));
        assert!(pairing.first_plane(entered_2.clone()).is_none());
        let measured_1 = pairing
            .second_plane(&event(9, VehicleEventKind::Entered, t0 + ms(200)))
            .unwrap();
        assert_eq!(
            measured_1.entered.vehicle_id,
            event(1, VehicleEventKind::Entered, t0).vehicle_id
        );
        assert!((measured_1.speed_kmh - 90.0).abs() < 1e-6);
        let left_1 = measured_1.left.unwrap();
        assert_eq!(speed_and_length(&left_1), (Some(90.0), Some(4000)));
        let measured_2 = pairing
            .second_plane(&event(10, VehicleEventKind::Entered, t0 + ms(400)))
            .unwrap();
        assert_eq!(measured_2.entered.vehicle_id, entered_2.vehicle_id);
        assert!(measured_2.left.is_none());
        let left_2 = pairing
            .first_plane(event(2, left(640), t0 + ms(840)))
            .unwrap();
        assert_eq!(speed_and_length(&left_2), (Some(90.0), Some(16000)));
        // Second-plane events without a vehicle in the first plane pair with nothing.
        assert!(
            pairing
                .second_plane(&event(11, VehicleEventKind::Entered, t0 + ms(900)))
                .is_none()
        );
        assert!(pairing.expire(t0 + ms(900)).is_empty());
    }

    #[test]
    fn a_vehicle_that_misses_the_second_plane_leaves_without_a_speed() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        // 5 m at 5 km/h take 3.6 s.
        let mut pairing = LanePairing::new(5000);
        pairing.first_plane(event(1, VehicleEventKind::Entered, t0));
        assert!(
            pairing
                .first_plane(event(1, left(300), t0 + ms(300)))
                .is_none()
        );
        assert!(pairing.expire(t0 + ms(3500)).is_empty());
        let expired = pairing.expire(t0 + ms(3700));
        assert_eq!(expired.len(), 1);
        assert_eq!(speed_and_length(&expired[0]), (None, None));
        // Too late for the second plane now.
        assert!(
            pairing
                .second_plane(&event(9, VehicleEventKind::Entered, t0 + ms(3800)))
                .is_none()
        );
    }
}
