//! Detection accuracy against the emulator's ground truth: the emulator's scans go through
//! the codec (encoded, decoded) and the detector, in process and as fast as they are made;
//! each lane's detections are then matched one to one against the vehicles that passed.
//!
//! A detection spans from the first occupied scan (its `Entered` scan less the confirming
//! scans) to its `Left` scan (or the end of the run). Vehicles that reach the plane, and
//! detections that begin, too late to be confirmed before the end are left out. It matches the earliest unmatched vehicle of its lane whose
//! passage overlaps that span; a detection that overlaps none is a false detection (a false
//! trigger), and a vehicle that no detection matched is missed (also when two vehicles were
//! merged into one detection).

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use serde::Serialize;
use vod_core::VehicleClass;
use vod_core::VehicleEventKind;
use vod_core::config::DetectorConfig;

use crate::emulator::scanner::ScanSource;
use crate::emulator::{EmulatorConfig, EmulatorConfigError, VehiclePass, ground_truth};
use vod_lidar::cola::{ColaError, ScanData};
use vod_lidar::detector::{DetectorError, VehicleDetector};

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
    /// Why each missed vehicle was missed, in time order.
    pub misses: Vec<Miss>,
    /// The false detections, in time order.
    pub extras: Vec<Extra>,
}

/// A detection that matched no vehicle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Extra {
    /// Its span, from the start of the stream.
    pub from_ms: u64,
    pub to_ms: u64,
    /// It overlapped a vehicle that another detection had matched: a vehicle counted twice.
    pub split: bool,
}

/// A vehicle that no detection matched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Miss {
    /// When its front reached the scan plane, from the start of the stream.
    pub arrival_ms: u64,
    pub class: VehicleClass,
    pub length_mm: u32,
    pub speed_kmh: u32,
    pub cause: MissCause,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum MissCause {
    /// The detection that overlapped it had matched the vehicle ahead: the two merged.
    /// `gap_mm` and `gap_ms`: from the rear of the one ahead to its front.
    MergedWithAhead { gap_mm: u32, gap_ms: u32 },
    /// No detection overlapped it; `behind_taller` when a taller vehicle passed in a lane
    /// nearer the scanner at the same time (it may have been hidden).
    Unseen { behind_taller: bool },
    /// The detections that overlapped it had matched other vehicles.
    Taken,
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
    let (scanner, lanes) = emulator.site("emulated", String::new());
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
    // Vehicles that reached this scanner's plane early enough to be confirmed before the
    // end, and the detections that began as early.
    let cutoff = end.saturating_sub(confirm + period);
    spans
        .iter_mut()
        .for_each(|lane| lane.retain(|(from, _)| *from < cutoff));
    let offset_mm = emulator.plane_offset_mm;
    let passes: Vec<VehiclePass> = ground_truth(emulator, duration)
        .into_iter()
        .filter(|p| p.arrival + p.delay_to(offset_mm) < cutoff)
        .collect();
    let zones: Vec<(f64, f64)> = emulator
        .lanes
        .iter()
        .map(|l| (l.lateral_from_mm.into(), l.lateral_to_mm.into()))
        .collect();
    let lanes = spans
        .iter()
        .enumerate()
        .map(|(lane, spans)| {
            let in_lane: Vec<Passage> = passes
                .iter()
                .filter(|p| p.lane == lane)
                .map(|p| Passage::of(p, offset_mm, &passes, &zones))
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

/// A vehicle's passage through one lane's zone of the scan plane, as the matching needs it.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Passage {
    arrival: Duration,
    departure: Duration,
    tailgating: bool,
    speed_kmh: f64,
    class: VehicleClass,
    length_mm: f64,
    /// A taller vehicle passed in a lane nearer the scanner at the same time.
    behind_taller: bool,
}

impl Passage {
    fn of(pass: &VehiclePass, offset_mm: u32, all: &[VehiclePass], lanes: &[(f64, f64)]) -> Self {
        let delay = pass.delay_to(offset_mm);
        let nearness = |lane: usize| {
            let (from, to) = lanes[lane];
            (from.abs().min(to.abs()), from + to > 0.0)
        };
        let (distance_mm, positive) = nearness(pass.lane);
        let behind_taller = all.iter().any(|other| {
            let (other_mm, other_positive) = nearness(other.lane);
            other_positive == positive
                && other_mm < distance_mm
                && other.height_mm > pass.height_mm
                && other.arrival < pass.departure
                && pass.arrival < other.departure
        });
        Passage {
            arrival: pass.arrival + delay,
            departure: pass.departure + delay,
            tailgating: pass.tailgating,
            speed_kmh: pass.speed_kmh,
            class: pass.class,
            length_mm: pass.length_mm,
            behind_taller,
        }
    }
}

fn lane_name(index: usize) -> String {
    format!("lane-{}", index + 1)
}

/// Matches detections to vehicles, both in time order.
fn match_lane(
    lane: String,
    vehicles: &[Passage],
    detections: &[(Duration, Duration)],
) -> LaneAccuracy {
    let overlaps =
        |v: &Passage, (from, to): (Duration, Duration)| v.arrival <= to && from <= v.departure;
    let mut matched: Vec<Option<usize>> = vec![None; vehicles.len()];
    let mut extras = Vec::new();
    for (d, &span) in detections.iter().enumerate() {
        let candidate =
            (0..vehicles.len()).find(|&i| matched[i].is_none() && overlaps(&vehicles[i], span));
        match candidate {
            Some(i) => matched[i] = Some(d),
            None => extras.push(Extra {
                from_ms: span.0.as_millis() as u64,
                to_ms: span.1.as_millis() as u64,
                split: vehicles.iter().any(|v| overlaps(v, span)),
            }),
        }
    }
    let misses = (0..vehicles.len())
        .filter(|&i| matched[i].is_none())
        .map(|i| {
            let vehicle = &vehicles[i];
            let overlapping: Vec<usize> = (0..detections.len())
                .filter(|&d| overlaps(vehicle, detections[d]))
                .collect();
            let ahead = i.checked_sub(1).and_then(|a| matched[a]);
            let cause = match ahead {
                _ if overlapping.is_empty() => MissCause::Unseen {
                    behind_taller: vehicle.behind_taller,
                },
                Some(d) if overlapping.contains(&d) => {
                    let gap = vehicle.arrival.saturating_sub(vehicles[i - 1].departure);
                    MissCause::MergedWithAhead {
                        gap_mm: (gap.as_secs_f64() * vehicle.speed_kmh / 3.6 * 1000.0).round()
                            as u32,
                        gap_ms: gap.as_millis() as u32,
                    }
                }
                _ => MissCause::Taken,
            };
            Miss {
                arrival_ms: vehicle.arrival.as_millis() as u64,
                class: vehicle.class,
                length_mm: vehicle.length_mm.round() as u32,
                speed_kmh: vehicle.speed_kmh.round() as u32,
                cause,
            }
        })
        .collect();
    let matched_count = matched.iter().filter(|m| m.is_some()).count();
    LaneAccuracy {
        lane,
        vehicles: vehicles.len(),
        tailgaters: vehicles.iter().filter(|v| v.tailgating).count(),
        detections: detections.len(),
        matched: matched_count,
        matched_tailgaters: vehicles
            .iter()
            .zip(&matched)
            .filter(|(v, m)| v.tailgating && m.is_some())
            .count(),
        missed: vehicles.len() - matched_count,
        false_detections: extras.len(),
        misses,
        extras,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matching_counts_misses_merges_and_false_detections() {
        let s = Duration::from_secs;
        let vehicle = |from, to, tailgating| Passage {
            arrival: s(from),
            departure: s(to),
            tailgating,
            speed_kmh: 72.0,
            class: VehicleClass::Car,
            length_mm: 4500.0,
            behind_taller: false,
        };
        let vehicles = [
            vehicle(1, 2, false),
            vehicle(3, 4, false),
            vehicle(5, 6, true),
        ];
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
                // The third vehicle, 1 s (20 m at 72 km/h) behind the second.
                misses: vec![Miss {
                    arrival_ms: 5000,
                    class: VehicleClass::Car,
                    length_mm: 4500,
                    speed_kmh: 72,
                    cause: MissCause::MergedWithAhead {
                        gap_mm: 20_000,
                        gap_ms: 1000
                    }
                }],
                extras: vec![Extra {
                    from_ms: 8000,
                    to_ms: 9000,
                    split: false
                }],
            }
        );
        assert_eq!(lane.count_accuracy(), 2.0 / 3.0);
        assert_eq!(lane.false_trigger_rate(), 1.0 / 3.0);
    }

    #[test]
    fn light_traffic_on_a_dry_road_is_counted_exactly() {
        let mut config = EmulatorConfig::bench_rig();
        config.flow_per_hour = 600.0;
        let report = measure(
            &config,
            &DetectorConfig::BENCH_RIG,
            Duration::from_secs(120),
        )
        .unwrap();
        assert_eq!(report.scans, 3000);
        let vehicles: usize = report.lanes.iter().map(|l| l.vehicles).sum();
        assert!(vehicles > 20, "{vehicles}");
        for lane in &report.lanes {
            assert_eq!(lane.matched, lane.vehicles, "{lane:?}");
            assert_eq!(lane.false_detections, 0, "{lane:?}");
        }
    }
}
