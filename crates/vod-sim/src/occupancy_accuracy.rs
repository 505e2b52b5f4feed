//! Counting accuracy against the simulated camera's ground truth: each simulated vehicle's
//! burst goes through the stage, and its counts per row are compared with the occupants the
//! camera drew.

use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, TimeDelta};
use vod_camera::{Camera, SimCamera};
use vod_core::{Burst, SeatRow, TriggerCommand, VehicleId};

use vod_vision::VisionMetrics;
use vod_vision::VisionSet;
use vod_vision::process;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccuracyReport {
    pub vehicles: u32,
    pub exact_front: u32,
    pub exact_rear: u32,
    /// Every row right.
    pub exact_vehicle: u32,
    pub flagged: u32,
    /// Vehicles not flagged for review, and how many of those were exactly right.
    pub unflagged: u32,
    pub unflagged_exact: u32,
    /// Vehicles and exactly counted vehicles by countability, in bins of
    /// `1 / COUNTABILITY_BINS` from 0 (the last bin holds 1.0 as well).
    pub by_countability: [Bin; COUNTABILITY_BINS],
}

pub const COUNTABILITY_BINS: usize = 10;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Bin {
    pub vehicles: u32,
    pub exact: u32,
}

/// The bin of a countability score.
pub fn bin_of(countability: f32) -> usize {
    ((countability.clamp(0.0, 1.0) * COUNTABILITY_BINS as f32) as usize).min(COUNTABILITY_BINS - 1)
}

#[derive(Debug, thiserror::Error)]
pub enum AccuracyError {
    #[error("simulated camera: {0}")]
    Camera(#[from] vod_camera::CameraError),
    #[error("metrics: {0}")]
    Metrics(#[from] prometheus::Error),
}

/// Runs `vehicles` simulated vehicles of `burst_frames` frames each past a simulated camera
/// named `camera` (its seat rows come from `set`).
pub fn measure(
    set: &VisionSet,
    camera: &str,
    width: u32,
    height: u32,
    burst_frames: u32,
    vehicles: u32,
) -> Result<AccuracyReport, AccuracyError> {
    let name: Arc<str> = Arc::from(camera);
    let mut sim = SimCamera::new(name.clone(), width, height)?;
    let metrics = VisionMetrics::register(&prometheus::Registry::new())?;
    // A fixed start, so that every run sees the same vehicles and occupants.
    let start = DateTime::from_timestamp(1_780_000_000, 0).unwrap_or_default();
    let mut report = AccuracyReport::default();
    for sequence in 0..vehicles {
        let detected_utc = start + TimeDelta::seconds(i64::from(sequence));
        let vehicle_id = VehicleId::new(detected_utc, sequence, 1);
        let trigger = TriggerCommand {
            camera: name.clone(),
            vehicle_id,
            lane: Arc::from("lane"),
            fire_at: Instant::now(),
            frames: burst_frames,
            interval_ms: 0,
            detected_at: Instant::now(),
            detected_utc,
            test: false,
        };
        let frames = (0..burst_frames)
            .map(|i| sim.grab(&trigger, i).map(Arc::new))
            .collect::<Result<Vec<_>, _>>()?;
        let truth = sim.scene(vehicle_id, 0).occupied_rows;
        let want = |row: u8| truth.iter().filter(|r| **r == row).count() as u32;
        let capture = process(Burst { trigger, frames }, set, &metrics);
        let Some(occupancy) = capture.occupancy else {
            continue;
        };
        let got = |row: SeatRow| {
            occupancy
                .rows
                .iter()
                .find(|r| r.row == row)
                .map_or(0, |r| r.people)
        };
        let front = got(SeatRow::Front) == want(1);
        let rear = got(SeatRow::Rear) == want(2);
        let exact = front && rear && got(SeatRow::Third) == want(3);
        report.vehicles += 1;
        report.exact_front += u32::from(front);
        report.exact_rear += u32::from(rear);
        report.exact_vehicle += u32::from(exact);
        let bin = &mut report.by_countability[bin_of(occupancy.countability)];
        bin.vehicles += 1;
        bin.exact += u32::from(exact);
        if occupancy.needs_review {
            report.flagged += 1;
        } else {
            report.unflagged += 1;
            report.unflagged_exact += u32::from(exact);
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_fall_in_tenths_and_one_goes_to_the_last_bin() {
        assert_eq!(bin_of(0.0), 0);
        assert_eq!(bin_of(0.35), 3);
        assert_eq!(bin_of(0.999), 9);
        assert_eq!(bin_of(1.0), 9);
        assert_eq!(bin_of(-1.0), 0);
    }
}
