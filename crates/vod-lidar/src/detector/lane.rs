//! One lane's presence state machine: a vehicle enters after `enter_scans` consecutive
//! occupied scans and leaves after `leave_scans` consecutive empty ones.

use std::sync::Arc;

use vod_core::{Scan, VehicleEvent, VehicleEventKind, VehicleId};

/// What the object beams within the lane showed in one occupied scan.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Extent {
    pub(super) max_height_mm: f64,
    pub(super) width_mm: f64,
}

/// A run of occupied scans: when it began (scanner clock) and the largest extent seen.
#[derive(Debug, Clone, Copy)]
struct Track {
    first_us: u32,
    scans: u32,
    max_height_mm: f64,
    max_width_mm: f64,
}

impl Track {
    fn start(scan: &Scan, extent: Extent) -> Self {
        Track {
            first_us: scan.time_since_power_up_us,
            scans: 1,
            max_height_mm: extent.max_height_mm,
            max_width_mm: extent.width_mm,
        }
    }

    fn extend(&mut self, extent: Extent) {
        self.scans += 1;
        self.max_height_mm = self.max_height_mm.max(extent.max_height_mm);
        self.max_width_mm = self.max_width_mm.max(extent.width_mm);
    }
}

/// A run of empty scans while a vehicle is present.
#[derive(Debug, Clone, Copy)]
struct Gap {
    first_us: u32,
    scans: u32,
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

    pub(super) fn reset(&mut self) {
        self.presence = Presence::Empty { candidate: None };
    }

    /// Advances by one scan; `extent` is `None` when the lane was empty in it.
    pub(super) fn step(
        &mut self,
        scan: &Scan,
        extent: Option<Extent>,
        new_id: impl FnOnce() -> VehicleId,
    ) -> Option<VehicleEvent> {
        let event = |vehicle_id, kind| VehicleEvent {
            vehicle_id,
            lane: self.name.clone(),
            kind,
            at_utc: scan.received_utc,
            at: scan.received_at,
        };
        match (&mut self.presence, extent) {
            (Presence::Empty { candidate }, Some(extent)) => {
                let track = match candidate.take() {
                    Some(mut track) => {
                        track.extend(extent);
                        track
                    }
                    None => Track::start(scan, extent),
                };
                if track.scans < self.enter_scans {
                    *candidate = Some(track);
                    return None;
                }
                let vehicle_id = new_id();
                self.presence = Presence::Occupied {
                    vehicle_id,
                    track,
                    gap: None,
                };
                Some(event(vehicle_id, VehicleEventKind::Entered))
            }
            (Presence::Empty { candidate }, None) => {
                *candidate = None;
                None
            }
            (Presence::Occupied { track, gap, .. }, Some(extent)) => {
                track.extend(extent);
                *gap = None;
                None
            }
            (
                Presence::Occupied {
                    vehicle_id,
                    track,
                    gap,
                },
                None,
            ) => {
                let gap = gap.get_or_insert(Gap {
                    first_us: scan.time_since_power_up_us,
                    scans: 0,
                });
                gap.scans += 1;
                if gap.scans < self.leave_scans {
                    return None;
                }
                let left = event(
                    *vehicle_id,
                    VehicleEventKind::Left {
                        occupancy_ms: u64::from(gap.first_us.wrapping_sub(track.first_us) / 1000),
                        max_height_mm: track.max_height_mm.round() as u32,
                        max_width_mm: track.max_width_mm.round() as u32,
                    },
                );
                self.presence = Presence::Empty { candidate: None };
                Some(left)
            }
        }
    }
}
