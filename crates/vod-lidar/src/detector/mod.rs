//! The vehicle detector: background subtraction on each scan, then a presence state machine
//! per lane. Pure: no I/O and no clock; all time comes from the scans.
//!
//! Geometry: a beam at angle `a` (90 deg straight down) whose echo is `r` away hits the point
//! at lateral position `r cos a` and height `mount_height - r sin a` above the road.
//!
//! A beam is an object beam when its range is shorter than its background by more than
//! `foreground_threshold_mm`. A beam without echo counts as an object beam only when both its
//! neighbours are object beams (a dark or glassy spot on a vehicle, such as a windshield),
//! at the point midway between theirs; without echo anywhere else it is ignored: over an
//! empty road it is rain, spray or a wet patch, not a vehicle. A lane is occupied in a scan
//! when at least `min_object_beams` object points fall within its zone.

mod background;
mod lane;

use vod_core::config::{DetectorConfig, LaneConfig, ScannerConfig};
use vod_core::{Scan, VehicleEvent, VehicleId};

use background::Background;
use lane::{Extent, LaneTracker};

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DetectorError {
    #[error(
        "scan geometry changed from {known_beams} beams at {known_start_deg} deg + \
         {known_step_deg} deg to {beams} beams at {start_deg} deg + {step_deg} deg; \
         learning the road again"
    )]
    GeometryChanged {
        known_beams: usize,
        known_start_deg: f64,
        known_step_deg: f64,
        beams: usize,
        start_deg: f64,
        step_deg: f64,
    },
}

/// Detects vehicles in the lanes of one scanner.
#[derive(Debug)]
pub struct VehicleDetector {
    mount_height_mm: f64,
    threshold_mm: f32,
    min_object_beams: usize,
    background: Background,
    lanes: Vec<LaneTracker>,
    source_tag: u32,
    sequence: u32,
}

/// An object point in the scan plane.
#[derive(Debug, Clone, Copy)]
struct Point {
    lateral_mm: f64,
    height_mm: f64,
}

impl VehicleDetector {
    /// A detector for `scanner`'s lanes among `lanes`.
    pub fn new(scanner: &ScannerConfig, lanes: &[LaneConfig], config: &DetectorConfig) -> Self {
        VehicleDetector {
            mount_height_mm: scanner.mount_height_mm.into(),
            threshold_mm: config.foreground_threshold_mm as f32,
            min_object_beams: config.min_object_beams.max(1) as usize,
            background: Background::new(config.background_scans),
            lanes: lanes
                .iter()
                .filter(|lane| lane.scanner == scanner.name)
                .map(|lane| {
                    LaneTracker::new(
                        &lane.name,
                        (lane.lateral_from_mm, lane.lateral_to_mm),
                        config.enter_scans,
                        config.leave_scans,
                    )
                })
                .collect(),
            source_tag: fnv1a(scanner.name.as_bytes()),
            sequence: 0,
        }
    }

    /// Feeds one scan; returns the vehicles that entered or left a lane with it. The first
    /// `background_scans` scans only teach the detector the empty road.
    pub fn process(&mut self, scan: &Scan) -> Result<Vec<VehicleEvent>, DetectorError> {
        let background = match self.background.observe(scan) {
            Ok(Some(background)) => background,
            Ok(None) => return Ok(Vec::new()),
            Err(error) => {
                self.lanes.iter_mut().for_each(LaneTracker::reset);
                return Err(error);
            }
        };
        let points = object_points(scan, background, self.threshold_mm, self.mount_height_mm);
        let mut events = Vec::new();
        for lane in &mut self.lanes {
            let in_lane = points.iter().filter(|p| lane.contains(p.lateral_mm));
            let extent = extent(in_lane, self.min_object_beams);
            let sequence = &mut self.sequence;
            let source_tag = self.source_tag;
            let new_id = || {
                *sequence = sequence.wrapping_add(1);
                VehicleId::new(scan.received_utc, *sequence, source_tag)
            };
            events.extend(lane.step(scan, extent, new_id));
        }
        Ok(events)
    }
}

fn object_points(scan: &Scan, background: &[f32], threshold_mm: f32, mount_mm: f64) -> Vec<Point> {
    let ranges = &scan.ranges_mm;
    let is_object = |i: usize| {
        let (range, road) = (ranges[i], background[i]);
        road > 0.0 && range > 0.0 && range < road - threshold_mm
    };
    let point = |i: usize| {
        let (sin, cos) = scan.angle_deg(i).to_radians().sin_cos();
        let range = f64::from(ranges[i]);
        Point {
            lateral_mm: range * cos,
            height_mm: mount_mm - range * sin,
        }
    };
    (0..ranges.len())
        .filter_map(|i| {
            if is_object(i) {
                return Some(point(i));
            }
            let dropout = ranges[i] == 0.0
                && i > 0
                && i + 1 < ranges.len()
                && is_object(i - 1)
                && is_object(i + 1);
            dropout.then(|| {
                let (a, b) = (point(i - 1), point(i + 1));
                Point {
                    lateral_mm: (a.lateral_mm + b.lateral_mm) / 2.0,
                    height_mm: (a.height_mm + b.height_mm) / 2.0,
                }
            })
        })
        .collect()
}

/// The lane's extent in this scan, or `None` when too few object points fall in it.
fn extent<'a>(points: impl Iterator<Item = &'a Point>, min_points: usize) -> Option<Extent> {
    let mut count = 0;
    let mut max_height_mm = f64::NEG_INFINITY;
    let (mut left_mm, mut right_mm) = (f64::INFINITY, f64::NEG_INFINITY);
    for point in points {
        count += 1;
        max_height_mm = max_height_mm.max(point.height_mm);
        left_mm = left_mm.min(point.lateral_mm);
        right_mm = right_mm.max(point.lateral_mm);
    }
    (count >= min_points).then_some(Extent {
        max_height_mm,
        width_mm: right_mm - left_mm,
    })
}

/// Tells apart vehicle ids of different scanners seen in the same millisecond.
fn fnv1a(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5, |hash, &b| {
        (hash ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

#[cfg(test)]
mod tests;
