//! Synthetic traffic: vehicles of random class and size arriving in each lane as a Poisson
//! process, and which of them stand in the scan plane at a given time. Deterministic for a
//! seed, so tests know the ground truth.

use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;

use super::EmulatorConfig;
use super::geometry::Section;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum VehicleClass {
    Car,
    Van,
    Truck,
    Motorcycle,
}

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
    pub height_mm: f64,
    pub length_mm: f64,
    pub speed_kmh: f64,
}

impl VehiclePass {
    pub(crate) fn section(&self) -> Section {
        Section {
            lateral_from_mm: self.center_lateral_mm - self.width_mm / 2.0,
            lateral_to_mm: self.center_lateral_mm + self.width_mm / 2.0,
            height_mm: self.height_mm,
        }
    }
}

/// The vehicles of one lane, one after the other.
#[derive(Debug)]
struct LaneTraffic {
    lane: usize,
    zone_mm: (f64, f64),
    rng: StdRng,
    /// The Poisson process's clock, in seconds.
    poisson_s: f64,
    /// When the lane is free again for the next front, in seconds.
    free_at_s: f64,
}

impl LaneTraffic {
    fn new(config: &EmulatorConfig, lane: usize) -> Self {
        let zone = &config.lanes[lane];
        let lane_seed = (lane as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let warmup_s = f64::from(config.warmup_ms) / 1000.0;
        LaneTraffic {
            lane,
            zone_mm: (zone.lateral_from_mm.into(), zone.lateral_to_mm.into()),
            rng: StdRng::seed_from_u64(config.seed ^ lane_seed),
            poisson_s: warmup_s,
            free_at_s: warmup_s,
        }
    }

    fn next(&mut self, config: &EmulatorConfig) -> Option<VehiclePass> {
        let rate_per_s = config.flow_per_hour / 3600.0;
        if rate_per_s <= 0.0 {
            return None;
        }
        let uniform: f64 = self.rng.random();
        self.poisson_s += -(1.0 - uniform).ln() / rate_per_s;
        let arrival_s = self.poisson_s.max(self.free_at_s);
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
        let speed_kmh = self
            .rng
            .random_range(config.speed_min_kmh..=config.speed_max_kmh);
        let (from, to) = self.zone_mm;
        // Keep the vehicle inside its lane, wandering over most of the room it has.
        let room = ((to - from - width_mm) / 2.0).max(0.0) * 0.8;
        let center_lateral_mm = (from + to) / 2.0 + self.rng.random_range(-room..=room);
        let departure_s = arrival_s + length_mm / 1000.0 / (speed_kmh / 3.6);
        self.free_at_s = departure_s + f64::from(config.min_gap_ms) / 1000.0;
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
        })
    }
}

/// Every vehicle that arrives before `until` in a client's stream, by arrival time.
pub fn ground_truth(config: &EmulatorConfig, until: Duration) -> Vec<VehiclePass> {
    let mut passes: Vec<VehiclePass> = (0..config.lanes.len())
        .flat_map(|lane| {
            let mut traffic = LaneTraffic::new(config, lane);
            std::iter::from_fn(move || traffic.next(config))
                .take_while(move |pass| pass.arrival < until)
        })
        .collect();
    passes.sort_by_key(|pass| pass.arrival);
    passes
}

/// The traffic of one client's stream, followed through time.
#[derive(Debug)]
pub(crate) struct Traffic {
    lanes: Vec<LaneTraffic>,
    upcoming: Vec<Option<VehiclePass>>,
    present: Vec<VehiclePass>,
}

impl Traffic {
    pub(crate) fn new(config: &EmulatorConfig) -> Self {
        let mut lanes: Vec<LaneTraffic> = (0..config.lanes.len())
            .map(|lane| LaneTraffic::new(config, lane))
            .collect();
        let upcoming = lanes.iter_mut().map(|lane| lane.next(config)).collect();
        Traffic {
            lanes,
            upcoming,
            present: Vec::new(),
        }
    }

    /// The cross-sections of the vehicles in the scan plane at `at`; `at` must not go back.
    pub(crate) fn sections_at(&mut self, config: &EmulatorConfig, at: Duration) -> Vec<Section> {
        for (lane, upcoming) in self.lanes.iter_mut().zip(&mut self.upcoming) {
            while let Some(pass) = upcoming.take_if(|pass| pass.arrival <= at) {
                self.present.push(pass);
                *upcoming = lane.next(config);
            }
        }
        self.present.retain(|pass| pass.departure > at);
        self.present.iter().map(VehiclePass::section).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::emulator::tests::config;

    #[test]
    fn traffic_is_deterministic_and_respects_its_bounds() {
        let mut config = config();
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
        let mut config = config();
        config.flow_per_hour = 3600.0;
        let passes = ground_truth(&config, Duration::from_secs(20));
        let mut traffic = Traffic::new(&config);
        for step in 0..2000 {
            let at = Duration::from_millis(step * 10);
            let expected: Vec<_> = passes
                .iter()
                .filter(|p| p.arrival <= at && at < p.departure)
                .map(VehiclePass::section)
                .collect();
            let mut actual = traffic.sections_at(&config, at);
            actual.sort_by(|a, b| a.lateral_from_mm.total_cmp(&b.lateral_from_mm));
            let mut expected = expected;
            expected.sort_by(|a, b| a.lateral_from_mm.total_cmp(&b.lateral_from_mm));
            assert_eq!(actual, expected, "at {at:?}");
        }
    }

    #[test]
    fn no_flow_no_vehicles() {
        let mut config = config();
        config.flow_per_hour = 0.0;
        assert_eq!(ground_truth(&config, Duration::from_secs(3600)), []);
    }
}
