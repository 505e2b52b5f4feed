//! Synthetic traffic: vehicles of random class and size arriving in each lane as a Poisson
//! process, some tailgating the one ahead, some changing lanes, and which of them stand in
//! the scan plane at a given time. Deterministic for a seed, so tests know the ground truth.

use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;

use super::EmulatorConfig;
use super::geometry::Section;
use super::schedule::Schedule;

use vod_core::VehicleClass;

/// Share of each class in the traffic, and each one's size ranges in millimetres:
/// (class, share, width, height, length).
type ClassSpec = (VehicleClass, f64, (f64, f64), (f64, f64), (f64, f64));
const CLASSES: [ClassSpec; 4] = [
    (
        VehicleClass::Car,
        0.70,
        (1700.0, 1900.0),
        (1400.0, 1600.0),
        (4000.0, 5000.0),
    ),
    (
        VehicleClass::Van,
        0.15,
        (1900.0, 2100.0),
        (1900.0, 2700.0),
        (5000.0, 6500.0),
    ),
    (
        VehicleClass::Truck,
        0.10,
        (2450.0, 2550.0),
        (3500.0, 4000.0),
        (10_000.0, 16_500.0),
    ),
    (
        VehicleClass::Motorcycle,
        0.05,
        (700.0, 900.0),
        (1200.0, 1400.0),
        (2000.0, 2400.0),
    ),
];

/// How far bumpers reach beyond the body, and how high they stand.
const BUMPER_MM: f64 = 200.0;
const BUMPER_HEIGHT_MM: f64 = 550.0;
/// A truck's cab (from its front) and the chassis behind it, before the box or trailer.
const TRUCK_CAB_MM: f64 = 2400.0;
const TRUCK_CHASSIS_HEIGHT_MM: f64 = 1200.0;
/// Trucks longer than this are tractors with a semi-trailer (a longer coupling gap).
const SEMI_TRAILER_FROM_MM: f64 = 13_000.0;
/// A motorcycle's wheels, at each end, below the rider.
const WHEEL_MM: f64 = 300.0;
const WHEEL_HEIGHT_MM: f64 = 650.0;

/// One vehicle passing through the scan plane: the emulator's ground truth.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VehiclePass {
    /// Index into [`EmulatorConfig::lanes`].
    pub lane: usize,
    pub class: VehicleClass,
    /// When the front reaches the scan plane, from the start of the client's scan stream.
    pub arrival: Duration,
    /// When the rear leaves the scan plane.
    pub departure: Duration,
    pub center_lateral_mm: f64,
    pub width_mm: f64,
    /// The roof (the highest point of the side profile, [`VehiclePass::height_at_mm`]).
    pub height_mm: f64,
    pub length_mm: f64,
    pub speed_kmh: f64,
    /// Whether it follows the vehicle ahead 1 to 5 m behind.
    pub tailgating: bool,
    /// How far its centre moves across the road between arrival and departure (a lane
    /// change); 0 for a vehicle keeping its lane.
    pub lateral_drift_mm: f64,
}

impl VehiclePass {
    /// The cross-section at arrival.
    #[cfg(test)]
    pub(crate) fn section(&self) -> Section {
        self.section_at(self.arrival)
    }

    /// The cross-section at `at` (for the reference plane): as high as the vehicle's side
    /// profile where the plane cuts it, on its way across the road if it changes lanes.
    pub(crate) fn section_at(&self, at: Duration) -> Section {
        let span = (self.departure - self.arrival).as_secs_f64();
        let done = if span > 0.0 {
            (at.saturating_sub(self.arrival).as_secs_f64() / span).min(1.0)
        } else {
            0.0
        };
        let center_mm = self.center_lateral_mm + self.lateral_drift_mm * done;
        let from_front_mm =
            at.saturating_sub(self.arrival).as_secs_f64() * self.speed_kmh / 3.6 * 1000.0;
        Section {
            lateral_from_mm: center_mm - self.width_mm / 2.0,
            lateral_to_mm: center_mm + self.width_mm / 2.0,
            height_mm: self.height_at_mm(from_front_mm),
        }
    }

    /// The side profile: the height `from_front_mm` behind the front. `height_mm` is the
    /// roof; bumpers, bonnet, boot, a truck's chassis between cab and box (a longer gap before
    /// a semi-trailer) and a motorcycle's wheels stand lower.
    pub fn height_at_mm(&self, from_front_mm: f64) -> f64 {
        let (x, length, roof) = (from_front_mm, self.length_mm, self.height_mm);
        let from_rear = length - x;
        let ramp = |from: f64, to: f64, low: f64, high: f64| {
            low + (high - low) * ((x - from) / (to - from)).clamp(0.0, 1.0)
        };
        match self.class {
            VehicleClass::Car if x < BUMPER_MM || from_rear < BUMPER_MM => BUMPER_HEIGHT_MM,
            VehicleClass::Car if x < 0.3 * length => 0.65 * roof,
            VehicleClass::Car if x < 0.42 * length => {
                ramp(0.3 * length, 0.42 * length, 0.65 * roof, roof)
            }
            VehicleClass::Car if x < 0.72 * length => roof,
            VehicleClass::Car if x < 0.85 * length => {
                ramp(0.85 * length, 0.72 * length, 0.72 * roof, roof)
            }
            VehicleClass::Car => 0.72 * roof,
            VehicleClass::Van if x < BUMPER_MM || from_rear < BUMPER_MM => BUMPER_HEIGHT_MM,
            VehicleClass::Van if x < 900.0 => 0.5 * roof,
            VehicleClass::Van => ramp(900.0, 1500.0, 0.5 * roof, roof),
            VehicleClass::Truck => {
                let coupling_mm = if length > SEMI_TRAILER_FROM_MM {
                    1000.0
                } else {
                    600.0
                };
                if x < BUMPER_MM {
                    BUMPER_HEIGHT_MM
                } else if x < TRUCK_CAB_MM {
                    0.85 * roof
                } else if x < TRUCK_CAB_MM + coupling_mm {
                    TRUCK_CHASSIS_HEIGHT_MM
                } else {
                    roof
                }
            }
            VehicleClass::Motorcycle if x < WHEEL_MM || from_rear < WHEEL_MM => WHEEL_HEIGHT_MM,
            VehicleClass::Motorcycle => roof,
        }
    }

    /// How long after the reference plane the vehicle reaches a plane `offset_mm` downstream.
    pub fn delay_to(&self, offset_mm: u32) -> Duration {
        Duration::from_secs_f64(f64::from(offset_mm) / 1000.0 / (self.speed_kmh / 3.6))
    }
}

/// The vehicles of one lane, one after the other.
#[derive(Debug)]
pub(super) struct LaneTraffic {
    lane: usize,
    zone_mm: (f64, f64),
    /// Which ways a lane change can go: (towards lower lateral, towards higher lateral).
    neighbours: (bool, bool),
    rng: StdRng,
    /// The Poisson process's clock, in seconds.
    poisson_s: f64,
    /// When the lane is free again for the next front, in seconds.
    free_at_s: f64,
    /// The vehicle ahead's departure (s) and speed, for a tailgater.
    ahead: Option<(f64, f64)>,
}

impl LaneTraffic {
    pub(super) fn new(config: &EmulatorConfig, lane: usize) -> Self {
        let zone = &config.lanes[lane];
        let lane_seed = (lane as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let warmup_s = f64::from(config.warmup_ms) / 1000.0;
        LaneTraffic {
            lane,
            zone_mm: (zone.lateral_from_mm.into(), zone.lateral_to_mm.into()),
            neighbours: (
                config
                    .lanes
                    .iter()
                    .any(|other| other.lateral_to_mm == zone.lateral_from_mm),
                config
                    .lanes
                    .iter()
                    .any(|other| other.lateral_from_mm == zone.lateral_to_mm),
            ),
            rng: StdRng::seed_from_u64(config.seed ^ lane_seed),
            poisson_s: warmup_s,
            free_at_s: warmup_s,
            ahead: None,
        }
    }

    pub(super) fn next(&mut self, config: &EmulatorConfig) -> Option<VehiclePass> {
        // Tailgaters come on top of the Poisson arrivals; together they make the flow.
        let rate_per_s = config.flow_per_hour / 3600.0 * (1.0 - config.tailgating_share);
        if rate_per_s <= 0.0 {
            return None;
        }
        let tailgate = match self.ahead {
            Some(ahead) if self.rng.random_bool(config.tailgating_share) => Some(ahead),
            _ => None,
        };
        let (arrival_s, speed_kmh) = match tailgate {
            Some((departure_s, speed_kmh)) => {
                let gap_m = self.rng.random_range(1.0..=5.0);
                (departure_s + gap_m / (speed_kmh / 3.6), Some(speed_kmh))
            }
            None => {
                let uniform: f64 = self.rng.random();
                self.poisson_s += -(1.0 - uniform).ln() / rate_per_s;
                (self.poisson_s.max(self.free_at_s), None)
            }
        };
        let ends_ms = config.traffic_duration_ms.unwrap_or(u64::MAX);
        if arrival_s * 1000.0 >= ends_ms as f64 {
            return None;
        }
        let mut pick: f64 = self.rng.random();
        let (class, _, width, height, length) = CLASSES
            .iter()
            .find(|(_, share, ..)| {
                pick -= share;
                pick < 0.0
            })
            .unwrap_or(&CLASSES[0]);
        let width_mm = self.rng.random_range(width.0..=width.1);
        let height_mm = self.rng.random_range(height.0..=height.1);
        let length_mm = self.rng.random_range(length.0..=length.1);
        let speed_kmh = speed_kmh.unwrap_or_else(|| {
            self.rng
                .random_range(config.speed_min_kmh..=config.speed_max_kmh)
        });
        let (from, to) = self.zone_mm;
        // Keep the vehicle inside its lane, wandering over most of the room it has.
        let room = ((to - from - width_mm) / 2.0).max(0.0) * 0.8;
        let center_lateral_mm = (from + to) / 2.0 + self.rng.random_range(-room..=room);
        let lateral_drift_mm = match self.neighbours {
            _ if !self.rng.random_bool(config.lane_change_share) => 0.0,
            (false, false) => 0.0,
            (lower, higher) => {
                let towards_higher = higher && (!lower || self.rng.random_bool(0.5));
                let drift_mm = self.rng.random_range(1500.0..=3000.0);
                if towards_higher { drift_mm } else { -drift_mm }
            }
        };
        let departure_s = arrival_s + length_mm / 1000.0 / (speed_kmh / 3.6);
        self.free_at_s = departure_s + f64::from(config.min_gap_ms) / 1000.0;
        self.ahead = Some((departure_s, speed_kmh));
        Some(VehiclePass {
            lane: self.lane,
            class: *class,
            arrival: Duration::from_secs_f64(arrival_s),
            departure: Duration::from_secs_f64(departure_s),
            center_lateral_mm,
            width_mm,
            height_mm,
            length_mm,
            speed_kmh,
            tailgating: tailgate.is_some(),
            lateral_drift_mm,
        })
    }
}

/// Every vehicle that arrives before `until` in a client's stream, by arrival time.
pub fn ground_truth(config: &EmulatorConfig, until: Duration) -> Vec<VehiclePass> {
    Schedule::new(config)
        .take_while(|pass| pass.arrival < until)
        .collect()
}

/// The traffic of one client's stream, followed through time.
#[derive(Debug)]
pub(crate) struct Traffic {
    schedule: std::iter::Peekable<Schedule>,
    /// Arrived at the reference plane, not yet at the scan plane.
    coming: Vec<VehiclePass>,
    present: Vec<VehiclePass>,
}

impl Traffic {
    pub(crate) fn new(config: &EmulatorConfig) -> Self {
        Traffic {
            schedule: Schedule::new(config).peekable(),
            coming: Vec::new(),
            present: Vec::new(),
        }
    }

    /// The cross-sections of the vehicles in the scan plane (`plane_offset_mm` downstream of
    /// the reference plane) at `at`; `at` must not go back.
    pub(crate) fn sections_at(&mut self, config: &EmulatorConfig, at: Duration) -> Vec<Section> {
        let offset_mm = config.plane_offset_mm;
        while let Some(pass) = self.schedule.next_if(|pass| pass.arrival <= at) {
            self.coming.push(pass);
        }
        let (arrived, coming) = std::mem::take(&mut self.coming)
            .into_iter()
            .partition(|pass| pass.arrival + pass.delay_to(offset_mm) <= at);
        self.coming = coming;
        self.present.extend::<Vec<VehiclePass>>(arrived);
        self.present
            .retain(|pass| pass.departure + pass.delay_to(offset_mm) > at);
        self.present
            .iter()
            .map(|pass| pass.section_at(at.saturating_sub(pass.delay_to(offset_mm))))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traffic_is_deterministic_and_respects_its_bounds() {
        let mut config = EmulatorConfig::bench_rig();
        config.flow_per_hour = 3600.0;
        config.traffic_duration_ms = Some(60_000);
        let passes = ground_truth(&config, Duration::MAX);
        assert_eq!(passes, ground_truth(&config, Duration::MAX));
        // About one vehicle a second in each of two lanes, for a minute.
        assert!((80..=140).contains(&passes.len()), "{}", passes.len());
        for pass in &passes {
            let zone = &config.lanes[pass.lane];
            let section = pass.section();
            assert!(section.lateral_from_mm >= f64::from(zone.lateral_from_mm));
            assert!(section.lateral_to_mm <= f64::from(zone.lateral_to_mm));
            assert!(pass.arrival >= Duration::from_millis(config.warmup_ms.into()));
            assert!(pass.arrival < Duration::from_secs(60));
            assert!((config.speed_min_kmh..=config.speed_max_kmh).contains(&pass.speed_kmh));
        }
        for lane in 0..2 {
            let in_lane: Vec<_> = passes.iter().filter(|p| p.lane == lane).collect();
            for pair in in_lane.windows(2) {
                let gap = pair[1].arrival - pair[0].departure;
                assert!(
                    gap >= Duration::from_millis(config.min_gap_ms.into())
                        - Duration::from_micros(1)
                );
            }
        }
        config.seed += 1;
        assert_ne!(passes, ground_truth(&config, Duration::MAX));
    }

    #[test]
    fn sections_follow_the_ground_truth() {
        let mut config = EmulatorConfig::bench_rig();
        config.flow_per_hour = 3600.0;
        let passes = ground_truth(&config, Duration::from_secs(20));
        let mut traffic = Traffic::new(&config);
        for step in 0..2000 {
            let at = Duration::from_millis(step * 10);
            let expected: Vec<_> = passes
                .iter()
                .filter(|p| p.arrival <= at && at < p.departure)
                .map(|p| p.section_at(at))
                .collect();
            let mut actual = traffic.sections_at(&config, at);
            actual.sort_by(|a, b| a.lateral_from_mm.total_cmp(&b.lateral_from_mm));
            let mut expected = expected;
            expected.sort_by(|a, b| a.lateral_from_mm.total_cmp(&b.lateral_from_mm));
            assert_eq!(actual, expected, "at {at:?}");
        }
    }

    #[test]
    fn tailgaters_follow_closely_and_lane_changers_cross_into_a_neighbour() {
        let mut config = EmulatorConfig::bench_rig();
        config.flow_per_hour = 2000.0;
        config.tailgating_share = 0.3;
        config.lane_change_share = 0.2;
        config.traffic_duration_ms = Some(600_000);
        let passes = ground_truth(&config, Duration::MAX);
        let per_lane_per_hour = passes.len() as f64 / 2.0 * 6.0;
        assert!(
            (1700.0..2300.0).contains(&per_lane_per_hour),
            "{per_lane_per_hour}"
        );
        let mut tailgaters = 0;
        for lane in 0..2 {
            let in_lane: Vec<_> = passes.iter().filter(|p| p.lane == lane).collect();
            for pair in in_lane.windows(2) {
                let (ahead, behind) = (pair[0], pair[1]);
                if behind.tailgating {
                    tailgaters += 1;
                    assert_eq!(behind.speed_kmh, ahead.speed_kmh);
                    let gap_m =
                        (behind.arrival - ahead.departure).as_secs_f64() * behind.speed_kmh / 3.6;
                    assert!((0.999..=5.001).contains(&gap_m), "{gap_m}");
                }
            }
        }
        assert!(tailgaters > passes.len() / 5, "{tailgaters}");
        // Lane 0 (-3700..0) can only change to lane 1 and the other way round.
        let changers: Vec<_> = passes
            .iter()
            .filter(|p| p.lateral_drift_mm != 0.0)
            .collect();
        assert!(changers.len() > passes.len() / 10, "{}", changers.len());
        for pass in changers {
            let toward_higher = pass.lateral_drift_mm > 0.0;
            assert_eq!(toward_higher, pass.lane == 0);
            let at_rear = pass.section_at(pass.departure);
            let center_mm = (at_rear.lateral_from_mm + at_rear.lateral_to_mm) / 2.0;
            assert!((center_mm - pass.center_lateral_mm - pass.lateral_drift_mm).abs() < 1e-6);
        }
    }

    #[test]
    fn a_downstream_plane_sees_each_vehicle_later_by_its_speed() {
        let mut config = EmulatorConfig::bench_rig();
        config.flow_per_hour = 1800.0;
        config.plane_offset_mm = 5000;
        let passes = ground_truth(&config, Duration::from_secs(30));
        let mut traffic = Traffic::new(&config);
        for step in 0..3000 {
            let at = Duration::from_millis(step * 10);
            let mut expected: Vec<_> = passes
                .iter()
                .filter(|p| {
                    let delay = p.delay_to(5000);
                    p.arrival + delay <= at && at < p.departure + delay
                })
                .map(|p| p.section_at(at - p.delay_to(5000)))
                .collect();
            let mut actual = traffic.sections_at(&config, at);
            actual.sort_by(|a, b| a.lateral_from_mm.total_cmp(&b.lateral_from_mm));
            expected.sort_by(|a, b| a.lateral_from_mm.total_cmp(&b.lateral_from_mm));
            assert_eq!(actual, expected, "at {at:?}");
        }
        // 5 m at 90 km/h (25 m/s) is 200 ms.
        let pass = VehiclePass {
            speed_kmh: 90.0,
            ..passes[0].clone()
        };
        assert_eq!(pass.delay_to(5000), Duration::from_millis(200));
    }

    #[test]
    fn side_profiles_dip_at_bumpers_and_between_cab_and_trailer() {
        let pass = |class, length_mm| VehiclePass {
            lane: 0,
            class,
            arrival: Duration::ZERO,
            departure: Duration::from_secs(1),
            center_lateral_mm: 0.0,
            width_mm: 1800.0,
            height_mm: 1500.0,
            length_mm,
            speed_kmh: 72.0,
            tailgating: false,
            lateral_drift_mm: 0.0,
        };
        let car = pass(VehicleClass::Car, 4500.0);
        let heights = |pass: &VehiclePass, at_mm: &[f64]| -> Vec<f64> {
            at_mm.iter().map(|&x| pass.height_at_mm(x)).collect()
        };
        // Bumper, bonnet, roof, boot, bumper.
        assert_eq!(
            heights(&car, &[100.0, 1000.0, 2500.0, 4000.0, 4400.0]),
            [550.0, 975.0, 1500.0, 1080.0, 550.0]
        );
        let semi = VehiclePass {
            height_mm: 4000.0,
            ..pass(VehicleClass::Truck, 16_000.0)
        };
        // Bumper, cab, the tractor's chassis in the coupling gap, trailer to the very end.
        assert_eq!(
            heights(&semi, &[100.0, 1000.0, 3000.0, 3500.0, 15_999.0]),
            [550.0, 3400.0, 1200.0, 4000.0, 4000.0]
        );
        let rigid = VehiclePass {
            height_mm: 4000.0,
            ..pass(VehicleClass::Truck, 10_000.0)
        };
        assert_eq!(heights(&rigid, &[2800.0, 3100.0]), [1200.0, 4000.0]);
        // The scan plane cuts the profile as the vehicle drives through at 20 m/s: 75 ms
        // after arrival 1.5 m behind the front, up the windscreen.
        let windscreen_mm = car.section_at(Duration::from_millis(75)).height_mm;
        assert!((windscreen_mm - 1120.833).abs() < 0.01, "{windscreen_mm}");
        assert_eq!(car.section_at(Duration::from_millis(5)).height_mm, 550.0);
    }

    #[test]
    fn no_flow_no_vehicles() {
        let mut config = EmulatorConfig::bench_rig();
        config.flow_per_hour = 0.0;
        assert_eq!(ground_truth(&config, Duration::from_secs(3600)), []);
    }
}
