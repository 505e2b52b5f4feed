//! One lane's presence state machine. A vehicle enters after `enter_scans` consecutive scans
//! showing it (at least one at body height). It leaves with the first scan that shows the
//! lane's road (one scan of road between two vehicles is a real gap) or only bumper-high
//! points (the dip between a vehicle's rear and a tailgater's front, where the road between
//! them falls between two scans); a truck's chassis between cab and box stands above bumper
//! height and does not split it. While the lane is hidden behind another lane's vehicle it
//! stays for up to `MAX_HIDDEN_US`; after `leave_scans` consecutive scans of lost echoes
//! (noise, not a gap) it leaves too.

use std::sync::Arc;

use vod_core::{
    Scan, VehicleClass, VehicleEvent, VehicleEventKind, VehicleId, VehicleMeasurements,
};

use super::scene::{Extent, View};

/// The longest a vehicle stays while its lane is hidden: a 16.5 m truck passing a car at
/// 60 km/h hides it for about 1 s.
const MAX_HIDDEN_US: u32 = 2_000_000;

/// A motorcycle is 700 mm wide or more; rain and spray make no object this wide.
const SHORT_VEHICLE_MIN_WIDTH_MM: f64 = 500.0;

/// A run of scans showing a vehicle: when it began (scanner clock), the largest extent seen,
/// and where it was last seen across the road.
#[derive(Debug, Clone, Copy)]
struct Track {
    first_us: u32,
    scans: u32,
    body: bool,
    max_height_mm: f64,
    max_width_mm: f64,
    last_lateral_mm: (f64, f64),
}

impl Track {
    fn start(scan: &Scan, extent: Extent) -> Self {
        Track {
            first_us: scan.time_since_power_up_us,
            scans: 1,
            body: extent.body,
            max_height_mm: extent.max_height_mm,
            max_width_mm: extent.width_mm,
            last_lateral_mm: (extent.lateral_from_mm, extent.lateral_to_mm),
        }
    }

    fn extend(&mut self, extent: Extent) {
        self.scans += 1;
        self.body |= extent.body;
        self.max_height_mm = self.max_height_mm.max(extent.max_height_mm);
        self.max_width_mm = self.max_width_mm.max(extent.width_mm);
        self.last_lateral_mm = (extent.lateral_from_mm, extent.lateral_to_mm);
    }
}

/// Scans without the vehicle while it is present (hidden, or lost echoes).
#[derive(Debug, Clone, Copy)]
struct Gap {
    first_us: u32,
    lost_scans: u32,
}

#[derive(Debug)]
enum Presence {
    Empty {
        candidate: Option<Track>,
    },
    Occupied {
        vehicle_id: VehicleId,
        track: Track,
        gap: Option<Gap>,
    },
}

#[derive(Debug)]
pub(super) struct LaneTracker {
    pub(super) name: Arc<str>,
    pub(super) lateral_from_mm: f64,
    pub(super) lateral_to_mm: f64,
    enter_scans: u32,
    leave_scans: u32,
    presence: Presence,
}

impl LaneTracker {
    pub(super) fn new(
        name: &str,
        lateral_mm: (i32, i32),
        enter_scans: u32,
        leave_scans: u32,
    ) -> Self {
        LaneTracker {
            name: name.into(),
            lateral_from_mm: lateral_mm.0.into(),
            lateral_to_mm: lateral_mm.1.into(),
            enter_scans: enter_scans.max(1),
            leave_scans: leave_scans.max(1),
            presence: Presence::Empty { candidate: None },
        }
    }

    pub(super) fn contains(&self, lateral_mm: f64) -> bool {
        (self.lateral_from_mm..self.lateral_to_mm).contains(&lateral_mm)
    }

    /// No vehicle present and none about to enter.
    pub(super) fn is_idle(&self) -> bool {
        matches!(self.presence, Presence::Empty { candidate: None })
    }

    pub(super) fn reset(&mut self) {
        self.presence = Presence::Empty { candidate: None };
    }

    /// Where the vehicle being tracked (present or about to enter) was last seen across the
    /// road.
    pub(super) fn last_lateral_mm(&self) -> Option<(f64, f64)> {
        match &self.presence {
            Presence::Empty { candidate } => candidate.map(|track| track.last_lateral_mm),
            Presence::Occupied { track, .. } => Some(track.last_lateral_mm),
        }
    }

    /// Advances by one scan showing `view` of the lane. A vehicle fast and short enough to
    /// show in fewer than `enter_scans` scans enters and leaves at once when the road shows
    /// behind it: a body-high object at least `SHORT_VEHICLE_MIN_WIDTH_MM` wide is no noise.
    pub(super) fn step(
        &mut self,
        scan: &Scan,
        view: View,
        new_id: impl FnOnce() -> VehicleId,
    ) -> Vec<VehicleEvent> {
        let now_us = scan.time_since_power_up_us;
        match (&mut self.presence, view) {
            (Presence::Empty { candidate }, View::Vehicle(extent)) => {
                let track = match candidate.take() {
                    Some(mut track) => {
                        track.extend(extent);
                        track
                    }
                    None => Track::start(scan, extent),
                };
                if track.scans < self.enter_scans || !track.body {
                    *candidate = Some(track);
                    return Vec::new();
                }
                let vehicle_id = new_id();
                self.presence = Presence::Occupied {
                    vehicle_id,
                    track,
                    gap: None,
                };
                vec![self.event(scan, vehicle_id, VehicleEventKind::Entered)]
            }
            (Presence::Empty { .. }, View::Hidden) => Vec::new(),
            (Presence::Empty { candidate }, View::Road) => {
                let short = candidate
                    .take()
                    .filter(|track| track.body && track.max_width_mm >= SHORT_VEHICLE_MIN_WIDTH_MM);
                let Some(track) = short else {
                    return Vec::new();
                };
                let vehicle_id = new_id();
                let entered = self.event(scan, vehicle_id, VehicleEventKind::Entered);
                self.presence = Presence::Occupied {
                    vehicle_id,
                    track,
                    gap: None,
                };
                let left = self.leave(scan, now_us);
                self.reset();
                [Some(entered), left].into_iter().flatten().collect()
            }
            (Presence::Empty { candidate }, View::Unknown) => {
                *candidate = None;
                Vec::new()
            }
            (Presence::Occupied { track, gap, .. }, View::Vehicle(extent)) if extent.body => {
                track.extend(extent);
                *gap = None;
                Vec::new()
            }
            (Presence::Occupied { .. }, View::Vehicle(extent)) => {
                // A dip to bumper height: this vehicle's rear; the next one may follow.
                let left = self.leave(scan, now_us);
                self.presence = Presence::Empty {
                    candidate: Some(Track::start(scan, extent)),
                };
                left.into_iter().collect()
            }
            (Presence::Occupied { .. }, View::Road) => {
                let left = self.leave(scan, now_us);
                self.reset();
                left.into_iter().collect()
            }
            (Presence::Occupied { gap, .. }, View::Hidden | View::Unknown) => {
                let gap = gap.get_or_insert(Gap {
                    first_us: now_us,
                    lost_scans: 0,
                });
                gap.lost_scans += u32::from(view == View::Unknown);
                let (first_us, lost_scans) = (gap.first_us, gap.lost_scans);
                if lost_scans < self.leave_scans && now_us.wrapping_sub(first_us) < MAX_HIDDEN_US {
                    return Vec::new();
                }
                let left = self.leave(scan, first_us);
                self.reset();
                left.into_iter().collect()
            }
        }
    }

    fn event(&self, scan: &Scan, vehicle_id: VehicleId, kind: VehicleEventKind) -> VehicleEvent {
        VehicleEvent {
            vehicle_id,
            lane: self.name.clone(),
            kind,
            at_utc: scan.received_utc,
            at: scan.received_at,
        }
    }

    /// The present vehicle's `Left` event, gone since `gone_us` (scanner clock); `None` when
    /// no vehicle is present.
    fn leave(&self, scan: &Scan, gone_us: u32) -> Option<VehicleEvent> {
        let Presence::Occupied {
            vehicle_id, track, ..
        } = &self.presence
        else {
            return None;
        };
        let (max_height_mm, max_width_mm) = (
            track.max_height_mm.round() as u32,
            track.max_width_mm.round() as u32,
        );
        let left = VehicleEventKind::Left(VehicleMeasurements {
            occupancy_ms: u64::from(gone_us.wrapping_sub(track.first_us) / 1000),
            max_height_mm,
            max_width_mm,
            class: VehicleClass::from_size(max_height_mm, max_width_mm),
            // Known only where two scan planes meet; the pipeline fills them in.
            speed_kmh: None,
            length_mm: None,
        });
        Some(self.event(scan, *vehicle_id, left))
    }
}
