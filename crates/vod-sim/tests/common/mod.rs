//! What the scanner tests share: their patience, the bench rig's lane names, and a simulated
//! camera per lane.

use std::time::Duration;

use vod_core::config::{CameraConfig, CameraSource, CameraTrigger, SimSize};

/// Generous: the machine may be busy; nothing here measures how fast the code is.
pub const PATIENCE: Duration = Duration::from_secs(60);
pub const LANES: [&str; 2] = ["lane-1", "lane-2"];

/// A camera fired 20 ms after entry, for `burst_frames` frames 40 ms apart.
pub fn camera(name: &str, lane: &str, burst_frames: u32) -> CameraConfig {
    CameraConfig {
        name: name.into(),
        lane: lane.into(),
        source: CameraSource::Sim(SimSize {
            width: 640,
            height: 480,
        }),
        trigger: CameraTrigger::DelayMs(20),
        burst_frames,
        burst_interval_ms: 40,
    }
}
