//! The scanner emulator: a TCP server that speaks CoLa-B like a SICK LMS511 (our session or
//! sick_scan_xd can talk to it) and streams scans of synthetic traffic: the scanner over the
//! road looking down, vehicles driving through the scan plane, each cut by it as a box as high
//! as its side profile where the plane meets it.

pub mod geometry;
mod replay;
pub mod scanner;
mod schedule;
mod server;
mod sopas;
mod traffic;

use serde::Serialize;
use vod_core::config::{LaneConfig, ScannerConfig};

pub use replay::serve_replay;
pub use server::{serve, serve_from};
pub use traffic::{VehiclePass, ground_truth};

/// A lane's zone across the road, in millimetres from the point below the scanner, positive
/// towards the scanner's 0 deg side (as in `vod_core::config::LaneConfig`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EmulatedLane {
    pub lateral_from_mm: i32,
    pub lateral_to_mm: i32,
}

/// What the emulator emulates. Every client gets its own stream, starting at its
/// `sEN LMDscandata 1`, with the same traffic for the same seed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EmulatorConfig {
    /// Height of the scanner's optical centre above the road; should clear the tallest
    /// vehicle (trucks reach 4000 mm). The bench rig uses 6000.
    pub mount_height_mm: u32,
    /// The lanes vehicles drive in; at least one.
    pub lanes: Vec<EmulatedLane>,
    /// Scans per second, above 0 and at most 1000 (an LMS511 runs at 25 to 100 Hz).
    pub scan_frequency_hz: f64,
    /// Mean vehicle arrivals per hour in each lane (a Poisson process); 0 for an empty road.
    pub flow_per_hour: f64,
    /// Vehicle speeds are drawn uniformly from `speed_min_kmh..=speed_max_kmh`.
    pub speed_min_kmh: f64,
    pub speed_max_kmh: f64,
    /// Shortest time from one vehicle's rear leaving the scan plane to the next one's front
    /// arriving in the same lane (the detector needs a few empty scans to tell them apart).
    pub min_gap_ms: u32,
    /// No vehicle arrives during the first `warmup_ms` of a stream, so that a detector can
    /// learn the empty road.
    pub warmup_ms: u32,
    /// No vehicle arrives after this time into a stream; `None` for endless traffic.
    pub traffic_duration_ms: Option<u64>,
    /// Each range is off by up to this much, uniformly, either way.
    pub range_noise_mm: u32,
    /// Share of vehicles (0 to 1) that tailgate: they follow the vehicle ahead in their lane
    /// at its speed, 1 to 5 m behind its rear, whatever `min_gap_ms` says.
    pub tailgating_share: f64,
    /// Share of vehicles (0 to 1) that change lanes while they cross the scan plane: their
    /// centre drifts 1.5 to 3 m towards a neighbouring lane between front and rear.
    pub lane_change_share: f64,
    /// Where the scan plane lies along the road, downstream of the reference plane that the
    /// ground truth's times are for: a second emulator with another offset is a second
    /// scanner, a known distance away, for speed measurement.
    pub plane_offset_mm: u32,
    /// Chance (0 to 1) that a beam's echo is lost (a dark or specular spot): no echo.
    pub dropout_probability: f64,
    /// Chance (0 to 1) that a beam echoes off a raindrop instead: a short range anywhere
    /// between 0.5 m and the surface.
    pub rain_probability: f64,
    /// A wet road mirrors the vehicles: a beam that hits the road next to a vehicle may go on
    /// to the vehicle and back, an echo from below the road (a ghost).
    pub wet_road: bool,
    /// Seeds the traffic and the noise.
    pub seed: u64,
}

/// Why an [`EmulatorConfig`] cannot be emulated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("emulator config: {field} {reason}")]
pub struct EmulatorConfigError {
    pub field: &'static str,
    pub reason: &'static str,
}

impl EmulatorConfig {
    /// The bench rig's scanner: an LMS511 at 25 Hz, 6 m over two 3.7 m lanes, 600
    /// vehicles/h/lane at 60 to 100 km/h, range noise only; tests vary it from here.
    pub fn bench_rig() -> EmulatorConfig {
        EmulatorConfig {
            mount_height_mm: 6000,
            lanes: vec![
                EmulatedLane {
                    lateral_from_mm: -3700,
                    lateral_to_mm: 0,
                },
                EmulatedLane {
                    lateral_from_mm: 0,
                    lateral_to_mm: 3700,
                },
            ],
            scan_frequency_hz: 25.0,
            flow_per_hour: 600.0,
            speed_min_kmh: 60.0,
            speed_max_kmh: 100.0,
            min_gap_ms: 500,
            warmup_ms: 2000,
            traffic_duration_ms: None,
            range_noise_mm: 10,
            tailgating_share: 0.0,
            lane_change_share: 0.0,
            plane_offset_mm: 0,
            dropout_probability: 0.0,
            rain_probability: 0.0,
            wet_road: false,
            seed: 7,
        }
    }

    /// The appliance's view of this site: a scanner named `scanner` at `address`, mounted
    /// as emulated, and its lanes `lane-1`, `lane-2`, ... across the road.
    pub fn site(&self, scanner: &str, address: String) -> (ScannerConfig, Vec<LaneConfig>) {
        let lanes = self
            .lanes
            .iter()
            .enumerate()
            .map(|(index, lane)| LaneConfig {
                name: format!("lane-{}", index + 1),
                scanner: scanner.into(),
                lateral_from_mm: lane.lateral_from_mm,
                lateral_to_mm: lane.lateral_to_mm,
            })
            .collect();
        let scanner = ScannerConfig {
            name: scanner.into(),
            address,
            mount_height_mm: self.mount_height_mm,
            connect_timeout_ms: 2000,
            stall_timeout_ms: None,
        };
        (scanner, lanes)
    }

    pub fn validate(&self) -> Result<(), EmulatorConfigError> {
        let problem = |field, reason| Err(EmulatorConfigError { field, reason });
        if self.mount_height_mm == 0 {
            return problem("mount_height_mm", "must be above 0");
        }
        if self.lanes.is_empty() {
            return problem("lanes", "must name at least one lane");
        }
        if self
            .lanes
            .iter()
            .any(|lane| lane.lateral_from_mm >= lane.lateral_to_mm)
        {
            return problem("lanes", "must each have lateral_from_mm < lateral_to_mm");
        }
        if !(self.scan_frequency_hz > 0.0 && self.scan_frequency_hz <= 1000.0) {
            return problem("scan_frequency_hz", "must be above 0 and at most 1000");
        }
        if !(self.flow_per_hour >= 0.0 && self.flow_per_hour.is_finite()) {
            return problem("flow_per_hour", "must be 0 or more");
        }
        if !(self.speed_min_kmh > 0.0
            && self.speed_min_kmh <= self.speed_max_kmh
            && self.speed_max_kmh.is_finite())
        {
            return problem("speed_min_kmh", "must be above 0 and at most speed_max_kmh");
        }
        let shares = [
            ("tailgating_share", self.tailgating_share),
            ("lane_change_share", self.lane_change_share),
            ("dropout_probability", self.dropout_probability),
            ("rain_probability", self.rain_probability),
        ];
        if let Some((field, _)) = shares.iter().find(|(_, v)| !(0.0..=1.0).contains(v)) {
            return problem(field, "must be from 0 to 1");
        }
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A test case: name, the change to the bench rig, the field it makes invalid.
    type Case = (&'static str, fn(&mut EmulatorConfig), Option<&'static str>);

    #[test]
    fn validation_names_the_bad_field() {
        let cases: [Case; 9] = [
            ("bench rig", |_| {}, None),
            (
                "no height",
                |c| c.mount_height_mm = 0,
                Some("mount_height_mm"),
            ),
            ("no lanes", |c| c.lanes.clear(), Some("lanes")),
            (
                "inverted lane",
                |c| c.lanes[0].lateral_to_mm = -4000,
                Some("lanes"),
            ),
            (
                "zero frequency",
                |c| c.scan_frequency_hz = 0.0,
                Some("scan_frequency_hz"),
            ),
            (
                "NaN flow",
                |c| c.flow_per_hour = f64::NAN,
                Some("flow_per_hour"),
            ),
            (
                "speeds inverted",
                |c| c.speed_min_kmh = 120.0,
                Some("speed_min_kmh"),
            ),
            (
                "tailgating over 1",
                |c| c.tailgating_share = 1.5,
                Some("tailgating_share"),
            ),
            (
                "NaN rain",
                |c| c.rain_probability = f64::NAN,
                Some("rain_probability"),
            ),
        ];
        for (name, change, expected) in cases {
            let mut config = EmulatorConfig::bench_rig();
            change(&mut config);
            assert_eq!(config.validate().err().map(|e| e.field), expected, "{name}");
        }
    }
}
