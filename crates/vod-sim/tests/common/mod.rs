//! What the scanner tests share: their patience, the bench rig's lane names, dense traffic
//! that ends, and a simulated camera per lane.

use std::time::Duration;

use vod_core::config::{CameraConfig, CameraSource, CameraTrigger, SimSource};
use vod_sim::emulator::EmulatorConfig;

/// Generous: the machine may be busy; nothing here measures how fast the code is.
pub const PATIENCE: Duration = Duration::from_secs(60);
pub const LANES: [&str; 2] = ["lane-1", "lane-2"];

/// A camera fired 20 ms after entry, for `burst_frames` frames 40 ms apart.
pub fn camera(name: &str, lane: &str, burst_frames: u32) -> CameraConfig {
    CameraConfig {
        name: name.into(),
        lane: lane.into(),
        source: CameraSource::Sim(SimSource::sized(640, 480)),
        trigger: CameraTrigger::DelayMs(20),
        burst_frames,
        burst_interval_ms: 40,
    }
}

/// The bench rig's two lanes at 3,600 vehicles an hour each, scanned at 50 Hz, for
/// `duration_ms` after a second of empty road.
pub fn dense_traffic(duration_ms: u64) -> EmulatorConfig {
    EmulatorConfig {
        scan_frequency_hz: 50.0,
        flow_per_hour: 3600.0,
        speed_max_kmh: 110.0,
        min_gap_ms: 400,
        warmup_ms: 1000,
        traffic_duration_ms: Some(duration_ms),
        ..EmulatorConfig::bench_rig()
    }
}
