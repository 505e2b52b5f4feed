//! What the trigger planner asks of a camera.

use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Utc};

use crate::vehicle::VehicleId;

/// Take `frames` pictures, `interval_ms` apart, starting at `fire_at`.
#[derive(Debug, Clone)]
pub struct TriggerCommand {
    pub camera: Arc<str>,
    pub vehicle_id: VehicleId,
    pub lane: Arc<str>,
    pub fire_at: Instant,
    pub frames: u32,
    pub interval_ms: u32,
    /// When the vehicle was detected (the socket read that completed the detection).
    pub detected_at: Instant,
    pub detected_utc: DateTime<Utc>,
    /// A test capture a person asked for, not a vehicle's: stored and shown, never uploaded
    /// or pushed.
    pub test: bool,
}
