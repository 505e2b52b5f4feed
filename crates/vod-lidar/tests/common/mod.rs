//! The bench rig's site as the scanner tests configure it: two 3.7 m lanes under one
//! scanner, a simulated camera per lane, the bench rig's detector settings.

use std::time::Duration;

use vod_core::config::{CameraConfig, CameraSource, DetectorConfig, LaneConfig, ScannerConfig};

/// Generous: the machine may be busy; nothing here measures how fast the code is.
pub const PATIENCE: Duration = Duration::from_secs(60);
pub const LANES: [&str; 2] = ["lane-1", "lane-2"];

pub fn scanner(name: &str, address: String) -> ScannerConfig {
    ScannerConfig {
        name: name.into(),
        address,
        mount_height_mm: 6000,
        connect_timeout_ms: 2000,
    }
}

/// Both lanes, watched by `scanner`.
pub fn lanes(scanner: &str) -> Vec<LaneConfig> {
    LANES
        .iter()
        .zip([(-3700, 0), (0, 3700)])
        .map(|(name, (from, to))| LaneConfig {
            name: (*name).into(),
            scanner: scanner.into(),
            lateral_from_mm: from,
            lateral_to_mm: to,
        })
        .collect()
}

/// A camera fired 20 ms after entry, for `burst_frames` frames 40 ms apart.
pub fn camera(name: &str, lane: &str, burst_frames: u32) -> CameraConfig {
    CameraConfig {
        name: name.into(),
        lane: lane.into(),
        source: CameraSource::Sim,
        width: 640,
        height: 480,
        trigger_delay_ms: Some(20),
        trigger_distance_mm: None,
        burst_frames,
        burst_interval_ms: 40,
    }
}

pub fn detector() -> DetectorConfig {
    DetectorConfig {
        background_scans: 25,
        foreground_threshold_mm: 300,
        min_object_beams: 4,
        enter_scans: 2,
        leave_scans: 3,
    }
}
