//! The vehicle detector: background subtraction on each scan, objects given to lanes, then a
//! presence state machine per lane. Pure: no I/O and no clock; all time comes from the scans.
//!
//! Each scan's object points are grouped into objects (`scene`); an object goes to the lane
//! whose vehicle it continues (the lane whose current vehicle it overlaps, or nearly, across
//! the road), else to the lane holding most of its width, so a vehicle straddling two lanes
//! while it changes lanes is one vehicle of one lane. A lane shows a vehicle in a scan when at least
//! `min_object_beams` of its objects' points fall in it; else the road (empty), or, when a
//! good part of its road is hidden behind another lane's objects, nothing it can tell.
//! `lane` turns these views into vehicles entering and leaving.

mod background;
mod lane;
mod scene;

use vod_core::config::{DetectorConfig, LaneConfig, ScannerConfig};
use vod_core::scanner_view::{PlanePoint, SnapshotLane, SnapshotObject};
use vod_core::{Scan, ScanSnapshot, VehicleEvent, VehicleId};

use background::Background;
use lane::LaneTracker;
use scene::{Object, Tally};

/// How far beyond a vehicle's last extent across the road an object may be and still
/// continue it: less than the ~230 mm that at least separate vehicles side by side in
/// neighbouring lanes.
const CONTINUITY_MARGIN_MM: f64 = 150.0;

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
    scanner: String,
    mount_height_mm: f64,
    threshold_mm: f32,
    min_object_beams: usize,
    background: Background,
    lanes: Vec<LaneTracker>,
    /// Settings waiting for a moment without a vehicle in any lane.
    pending: Option<(Vec<LaneConfig>, DetectorConfig)>,
    source_tag: u32,
    sequence: u32,
}

impl VehicleDetector {
    /// A detector for `scanner`'s lanes among `lanes`.
    pub fn new(scanner: &ScannerConfig, lanes: &[LaneConfig], config: &DetectorConfig) -> Self {
        let mut detector = VehicleDetector {
            scanner: scanner.name.clone(),
            mount_height_mm: scanner.mount_height_mm.into(),
            threshold_mm: 0.0,
            min_object_beams: 1,
            background: Background::new(config.background_scans),
            lanes: Vec::new(),
            pending: None,
            source_tag: fnv1a(scanner.name.as_bytes()),
            sequence: 0,
        };
        detector.configure(lanes, config);
        detector
    }

    /// New lane zones and thresholds, taken up by [`VehicleDetector::apply_pending`] once no
    /// lane holds a vehicle or one about to enter: a vehicle in the plane finishes with the
    /// settings it entered with. A new `background_scans` applies when the road is next
    /// learned (a scan geometry change).
    pub fn reconfigure(&mut self, lanes: &[LaneConfig], config: &DetectorConfig) {
        self.pending = Some((lanes.to_vec(), config.clone()));
    }

    /// Takes up the settings of [`VehicleDetector::reconfigure`] if no lane is busy; true
    /// when it did.
    pub fn apply_pending(&mut self) -> bool {
        if !self.lanes.iter().all(LaneTracker::is_idle) {
            return false;
        }
        let Some((lanes, config)) = self.pending.take() else {
            return false;
        };
        self.configure(&lanes, &config);
        true
    }

    fn configure(&mut self, lanes: &[LaneConfig], config: &DetectorConfig) {
        self.threshold_mm = config.foreground_threshold_mm as f32;
        self.min_object_beams = config.min_object_beams.max(1) as usize;
        self.background.set_scans_needed(config.background_scans);
        self.lanes = lanes
            .iter()
            .filter(|lane| lane.scanner == self.scanner)
            .map(|lane| {
                LaneTracker::new(
                    &lane.name,
                    (lane.lateral_from_mm, lane.lateral_to_mm),
                    config.enter_scans,
                    config.leave_scans,
                )
            })
            .collect();
    }

    /// Feeds one scan; returns the vehicles that entered or left a lane with it. The first
    /// `background_scans` scans only teach the detector the empty road.
    pub fn process(&mut self, scan: &Scan) -> Result<Vec<VehicleEvent>, DetectorError> {
        let healed = self.background.heal(scan, self.threshold_mm);
        if healed > 0 {
            tracing::info!(
                scanner = %scan.scanner,
                beams = healed,
                "The road was learned with something on it that has left; those beams now see \
                 the road."
            );
        }
        let background = match self.background.observe(scan) {
            Ok(Some(background)) => background,
            Ok(None) => return Ok(Vec::new()),
            Err(error) => {
                self.lanes.iter_mut().for_each(LaneTracker::reset);
                return Err(error);
            }
        };
        let beams = scene::beams(scan, background, self.threshold_mm, self.mount_height_mm);
        let (objects, owners) = scene::objects(&beams);
        let object_lanes = self.object_lanes(&objects);
        let mut tallies: Vec<Tally> = self
            .lanes
            .iter()
            .map(|lane| Tally::new(lane.last_lateral_mm()))
            .collect();
        for (object, lane) in objects.iter().zip(&object_lanes) {
            if let Some(lane) = lane {
                object.points.iter().for_each(|p| tallies[*lane].point(p));
            }
        }
        for (beam, owner) in beams.iter().zip(&owners) {
            if let Some(lane) = self
                .lanes
                .iter()
                .position(|l| l.contains(beam.road_lateral_mm))
            {
                let hidden = owner.is_some_and(|object| object_lanes[object] != Some(lane));
                tallies[lane].road_beam(beam.road_lateral_mm, &beam.echo, hidden);
            }
        }
        let mut events = Vec::new();
        for (lane, tally) in self.lanes.iter_mut().zip(&tallies) {
            let sequence = &mut self.sequence;
            let source_tag = self.source_tag;
            let new_id = || {
                *sequence = sequence.wrapping_add(1);
                VehicleId::new(scan.received_utc, *sequence, source_tag)
            };
            events.extend(lane.step(scan, tally.view(self.min_object_beams), new_id));
        }
        Ok(events)
    }

    /// Forgets the learned road: the next `background_scans` scans teach it again, and no lane
    /// holds a vehicle meanwhile.
    pub fn relearn(&mut self) {
        self.background.forget();
        self.lanes.iter_mut().for_each(LaneTracker::reset);
    }

    /// `scan` as this detector sees it, for a person to look at: its echoes, the learned
    /// road, the objects with their lanes, the lanes and whether each holds a vehicle.
    pub fn snapshot(&self, scan: &Scan) -> ScanSnapshot {
        let mount_mm = self.mount_height_mm;
        let plane_point = |range_mm: f32, beam: usize| {
            let (sin, cos) = scan.angle_deg(beam).to_radians().sin_cos();
            let range = f64::from(range_mm);
            PlanePoint {
                lateral_mm: (range * cos) as f32,
                height_mm: (mount_mm - range * sin) as f32,
            }
        };
        let echoes = |ranges: &[f32]| -> Vec<PlanePoint> {
            ranges
                .iter()
                .enumerate()
                .filter(|(_, range)| **range > 0.0)
                .map(|(beam, range)| plane_point(*range, beam))
                .collect()
        };
        let points = echoes(&scan.ranges_mm);
        let (road, objects) = match self.background.road() {
            Some(road) if road.ranges_mm.len() == scan.ranges_mm.len() => {
                let beams = scene::beams(scan, road, self.threshold_mm, mount_mm);
                let (objects, _) = scene::objects(&beams);
                let lanes = self.object_lanes(&objects);
                let road_points = echoes(&road.ranges_mm);
                let seen = objects
                    .iter()
                    .zip(lanes)
                    .filter(|(object, _)| !object.points.is_empty())
                    .map(|(object, lane)| SnapshotObject {
                        lateral_from_mm: object.lateral_from_mm as f32,
                        lateral_to_mm: object.lateral_to_mm as f32,
                        max_height_mm: object
                            .points
                            .iter()
                            .map(|point| point.height_mm)
                            .fold(0.0, f64::max) as f32,
                        lane: lane.map(|lane| self.lanes[lane].name.to_string()),
                    })
                    .collect();
                (road_points, seen)
            }
            _ => (Vec::new(), Vec::new()),
        };
        ScanSnapshot {
            scanner: self.scanner.clone(),
            received_utc: scan.received_utc,
            mount_height_mm: mount_mm as f32,
            points,
            road,
            learning: self.background.learning(),
            objects,
            lanes: self
                .lanes
                .iter()
                .map(|lane| SnapshotLane {
                    name: lane.name.to_string(),
                    lateral_from_mm: lane.lateral_from_mm as f32,
                    lateral_to_mm: lane.lateral_to_mm as f32,
                    occupied: !lane.is_idle(),
                })
                .collect(),
        }
    }

    /// Each object's lane. First each lane's vehicle (present or about to enter) claims the
    /// objects that overlap its last extent across the road and, if none does, the one
    /// nearest within `CONTINUITY_MARGIN_MM` of it (a motorcycle changing lanes fast may move
    /// its own width between two scans); an object two lanes claim goes to the one it overlaps
    /// more. The others go to the lane holding most of their width; `None` outside every lane.
    fn object_lanes(&self, objects: &[Object]) -> Vec<Option<usize>> {
        let mut claims: Vec<Option<(usize, f64)>> = vec![None; objects.len()];
        let claim = |claims: &mut [Option<(usize, f64)>], index: usize, lane, overlap_mm: f64| {
            if claims[index].is_none_or(|(_, best_mm)| overlap_mm > best_mm) {
                claims[index] = Some((lane, overlap_mm));
            }
        };
        for (lane, tracker) in self.lanes.iter().enumerate() {
            let Some((from_mm, to_mm)) = tracker.last_lateral_mm() else {
                continue;
            };
            let widened = (from_mm - CONTINUITY_MARGIN_MM, to_mm + CONTINUITY_MARGIN_MM);
            let mut nearest: Option<(usize, f64)> = None;
            for (index, object) in objects.iter().enumerate() {
                if object.points.is_empty() {
                    continue;
                }
                let overlap_mm = object.overlap_mm((from_mm, to_mm));
                if overlap_mm >= 0.0 {
                    claim(&mut claims, index, lane, overlap_mm);
                }
                let near_mm = object.overlap_mm(widened);
                if near_mm >= 0.0 && nearest.is_none_or(|(_, best_mm)| near_mm > best_mm) {
                    nearest = Some((index, near_mm));
                }
            }
            if let Some((index, near_mm)) = nearest
                && claims
                    .iter()
                    .all(|claimed| claimed.is_none_or(|(owner, _)| owner != lane))
            {
                claim(
                    &mut claims,
                    index,
                    lane,
                    near_mm - 2.0 * CONTINUITY_MARGIN_MM,
                );
            }
        }
        objects
            .iter()
            .zip(claims)
            .map(|(object, claim)| {
                claim
                    .map(|(lane, _)| lane)
                    .or_else(|| self.widest_lane(object))
            })
            .collect()
    }

    /// The lane holding most of `object`'s width; `None` outside every lane.
    fn widest_lane(&self, object: &Object) -> Option<usize> {
        self.lanes
            .iter()
            .enumerate()
            .map(|(lane, tracker)| {
                let zone = (tracker.lateral_from_mm, tracker.lateral_to_mm);
                (lane, object.overlap_mm(zone))
            })
            .filter(|(_, overlap_mm)| *overlap_mm >= 0.0)
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(lane, _)| lane)
    }
}

/// Tells apart vehicle ids of different scanners seen in the same millisecond.
fn fnv1a(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5, |hash, &b| {
        (hash ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}
