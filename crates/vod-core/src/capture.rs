//! A capture: what the box keeps of one vehicle seen by one camera.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::occupancy::Occupancy;
use crate::vehicle::VehicleId;

/// An encoded image ready to be stored.
#[derive(Debug, Clone)]
pub struct CaptureImage {
    pub burst_index: u32,
    pub captured_utc: DateTime<Utc>,
    pub width: u32,
    pub height: u32,
    /// JPEG bytes.
    pub jpeg: Vec<u8>,
}

#[derive(Debug, Clone)]
pub struct Capture {
    pub vehicle_id: VehicleId,
    pub lane: Arc<str>,
    pub camera: Arc<str>,
    pub detected_utc: DateTime<Utc>,
    /// Empty when the camera delivered nothing for the trigger ("no image").
    pub images: Vec<CaptureImage>,
    /// What the vision stage counted; `None` when no frame could be analysed.
    pub occupancy: Option<Occupancy>,
    /// A test capture a person asked for (see [`crate::TriggerCommand::test`]).
    pub test: bool,
}
