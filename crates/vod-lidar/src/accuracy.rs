//! Detection accuracy against the emulator's ground truth: the emulator's scans go through
//! the codec (encoded, decoded) and the detector, in process and as fast as they are made;
//! each lane's detections are then matched one to one against the vehicles that passed.
//!
//! A detection spans from the first occupied scan (its `Entered` scan less the confirming
//! scans) to its `Left` scan. It matches the earliest unmatched vehicle of its lane whose
//! passage overlaps that span; a detection that overlaps none is a false detection (a false
//! trigger), and a vehicle that no detection matched is missed (also when two vehicles were
//! merged into one detection).

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use serde::Serialize;
use vod_core::VehicleEventKind;
use vod_core::config::{DetectorConfig, LaneConfig, ScannerConfig};

use crate::cola::{ColaError, ScanData};
use crate::detector::{DetectorError, VehicleDetector};
use crate::emulator::scanner::ScanSource;
use crate::emulator::{EmulatorConfig, EmulatorConfigError, VehiclePass, ground_truth};

#[derive(Debug, thiserror::Error)]
pub enum AccuracyError {
    #[error(transparent)]
    Config(#[from] EmulatorConfigError),
    #[error("an emulated scan did not go through the codec: {0}")]
    Codec(#[from] ColaError),
    #[error(transparent)]
    Detector(#[from] DetectorError),
}

/// How the detector did in one lane.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LaneAccuracy {
    pub lane: String,
    /// Vehicles that passed.
    pub vehicles: usize,
    /// Of them, the tailgaters (1 to 5 m behind the one ahead).
    pub tailgaters: usize,
    pub detections: usize,
    /// Detections matched one to one with a vehicle.
    pub matched: usize,
    pub matched_tailgaters: usize,
    pub missed: usize,
    /// Detections that matched no vehicle.
    pub false_detections: usize,
}

impl LaneAccuracy {
    /// Matched vehicles over vehicles that passed.
    pub fn count_accuracy(&self) -> f64 {
        ratio(self.matched, self.vehicles)
    }

    /// False detections over detections.
    pub fn false_trigger_rate(&self) -> f64 {
        ratio(self.false_detections, self.detections)
    }
}

fn ratio(part: usize, whole: usize) -> f64 {
    if whole == 0 {
        return 0.0;
    }
    part as f64 / whole as f64
}

/// The result of one run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AccuracyReport {
    pub lanes: Vec<LaneAccuracy>,
    pub scans: u64,
    /// CPU time of decoding and detecting, per scan (the emulator's own time excluded).
    pub decode_and_detect_per_scan: Duration,
}

/// Runs `duration` of emulated traffic through the codec and a detector with `detector`'s
/// settings, its lanes the emulator's, and matches the result against the ground truth.
pub fn measure(
    emulator: &EmulatorConfig,
    detector: &DetectorConfig,
    duration: Duration,
) -> Result<AccuracyReport, AccuracyError> {
    emulator.validate()?;
    let scanner = ScannerConfig {
        name: "emulated".into(),
        address: String::new(),
        mount_height_mm: emulator.mount_height_mm,
        connect_timeout_ms: 0,
    };
    let lanes: Vec<LaneConfig> = emulator
        .lanes
        .iter()
        .enumerate()
        .map(|(index, lane)| LaneConfig {
            name: lane_name(index),
            scanner: scanner.name.clone(),
            lateral_from_mm: lane.lateral_from_mm,
            lateral_to_mm: lane.lateral_to_mm,
        })
        .collect();
    let mut vehicle_detector = VehicleDetector::new(&scanner, &lanes, detector);
    let mut source = ScanSource::new(emulator);
    let period = source.period();
    let name: Arc<str> = scanner.name.as_str().into();
    let scans = (duration.as_secs_f64() * emulator.scan_frequency_hz).ceil() as u64;
    // Per lane: the open detection's first occupied scan, and the closed spans.
    let mut open: Vec<Option<Duration>> = vec![None; lanes.len()];
    let mut spans: Vec<Vec<(Duration, Duration)>> = vec![Vec::new(); lanes.len()];
    let confirm = period * detector.enter_scans.max(1).saturating_sub(1);
    let mut busy = Duration::ZERO;
    for index in 0..scans {
        let at = period.mul_f64(index as f64);
        let payload = source.next_scan().encode()?;
        let started = Instant::now();
        let scan = ScanData::decode(&payload)?.to_scan(name.clone(), started, Utc::now())?;
        let events = vehicle_detector.process(&scan)?;
        busy += started.elapsed();
        for event in events {
            let Some(lane) = lanes.iter().position(|l| *l.name == *event.lane) else {
                continue;
            };
            match event.kind {
                VehicleEventKind::Entered => open[lane] = Some(at.saturating_sub(confirm)),
                VehicleEventKind::Left { .. } => {
                    if let Some(from) = open[lane].take() {
                        spans[lane].push((from, at));
                    }
                }
            }
        }
    }
    let end = period.mul_f64(scans as f64);
    for (lane, from) in open.iter().enumerate() {
        if let Some(from) = from {
            spans[lane].push((*from, end));
        }
    }
    // Vehicles whose passage is over before the end, at this scanner's plane.
    let offset_mm = emulator.plane_offset_mm;
    let passes: Vec<VehiclePass> = ground_truth(emulator, duration)
        .into_iter()
        .filter(|p| p.departure + p.delay_to(offset_mm) < end)
        .collect();
    let lanes = spans
        .iter()
        .enumerate()
        .map(|(lane, spans)| {
            let in_lane: Vec<(Duration, Duration, bool)> = passes
                .iter()
                .filter(|p| p.lane == lane)
                .map(|p| {
                    let delay = p.delay_to(offset_mm);
                    (p.arrival + delay, p.departure + delay, p.tailgating)
                })
                .collect();
            match_lane(lane_name(lane), &in_lane, spans)
        })
        .collect();
    Ok(AccuracyReport {
        lanes,
        scans,
        decode_and_detect_per_scan: busy.checked_div(scans.max(1) as u32).unwrap_or_default(),
    })
}

fn lane_name(index: usize) -> String {
    format!("lane-{}", index + 1)
}

/// Matches detections to vehicles, both in time order.
fn match_lane(
    lane: String,
    vehicles: &[(Duration, Duration, bool)],
    detections: &[(Duration, Duration)],
) -> LaneAccuracy {
    let mut matched = vec![false; vehicles.len()];
    let mut false_detections = 0;
    for &(from, to) in detections {
        let candidate = vehicles
            .iter()
            .enumerate()
            .find(|(i, (arrival, departure, _))| {
                !matched[*i] && *arrival <= to && from <= *departure
            });
        match candidate {
            Some((i, _)) => matched[i] = true,
            None => false_detections += 1,
        }
    }
    let matched_count = matched.iter().filter(|m| **m).count();
    LaneAccuracy {
        lane,
        vehicles: vehicles.len(),
        tailgaters: vehicles.iter().filter(|v| v.2).count(),
        detections: detections.len(),
        matched: matched_count,
        matched_tailgaters: vehicles
            .iter()
            .zip(&matched)
            .filter(|(v, m)| v.2 && **m)
            .count(),
        missed: vehicles.len() - matched_count,
        false_detections,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::emulator::tests::config;

    fn detector() -> DetectorConfig {
        DetectorConfig {
            background_scans: 25,
            foreground_threshold_mm: 300,
            min_object_beams: 4,
            enter_scans: 2,
            leave_scans: 3,
        }
    }

    #[test]
    fn matching_counts_misses_merges_and_false_detections() {
        let s = Duration::from_secs;
        let vehicles = [(s(1), s(2), false), (s(3), s(4), false), (s(5), s(6), true)];
        // One detection for the first, one merging the second and third, one over nothing.
        let detections = [(s(1), s(2)), (s(3), s(6)), (s(8), s(9))];
        let lane = match_lane("lane-1".into(), &vehicles, &detections);
        assert_eq!(
            lane,
            LaneAccuracy {
                lane: "lane-1".into(),
                vehicles: 3,
                tailgaters: 1,
                detections: 3,
                matched: 2,
                matched_tailgaters: 0,
                missed: 1,
                false_detections: 1,
            }
        );
        assert_eq!(lane.count_accuracy(), 2.0 / 3.0);
        assert_eq!(lane.false_trigger_rate(), 1.0 / 3.0);
    }

    #[test]
    fn light_traffic_on_a_dry_road_is_counted_exactly() {
        let mut config = config();
        config.flow_per_hour = 600.0;
        let report = measure(&config, &detector(), Duration::from_secs(120)).unwrap();
        assert_eq!(report.scans, 3000);
        let vehicles: usize = report.lanes.iter().map(|l| l.vehicles).sum();
        assert!(vehicles > 20, "{vehicles}");
        for lane in &report.lanes {
            assert_eq!(lane.matched, lane.vehicles, "{lane:?}");
            assert_eq!(lane.false_detections, 0, "{lane:?}");
        }
    }
}
