//! One sweep of a LIDAR scanner, as the vehicle detector consumes it.

use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Utc};

/// A single scan: ranges along the beams of one sweep, in sensor polar coordinates.
///
/// Angles follow the SICK convention: 90 deg is straight ahead of the scanner's front
/// window, angles grow counter-clockwise seen from above the scanner's top.
#[derive(Debug, Clone)]
pub struct Scan {
    /// The configured name of the scanner that sent it.
    pub scanner: Arc<str>,
    /// The scanner's own scan counter.
    pub scan_counter: u32,
    /// Microseconds since the scanner powered up, when the scan started.
    pub time_since_power_up_us: u32,
    pub scan_frequency_hz: f64,
    /// Angle of the first beam.
    pub start_angle_deg: f64,
    /// Angle between two neighbouring beams.
    pub step_deg: f64,
    /// Range along each beam in millimetres; 0 means no echo.
    pub ranges_mm: Vec<f32>,
    /// When the socket read that completed the scan's telegram returned.
    pub received_at: Instant,
    pub received_utc: DateTime<Utc>,
}

impl Scan {
    /// The angle of beam `index` in degrees.
    pub fn angle_deg(&self, index: usize) -> f64 {
        self.start_angle_deg + self.step_deg * index as f64
    }
}
