//! What the trigger planner asks of a camera, and the test captures a person asks for.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Utc};
use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TrySendError;

use crate::config::CameraConfig;
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

/// Tells test captures' ids apart from vehicles' (the detectors tag theirs by scanner name).
const TEST_SOURCE_TAG: u32 = 0x7e57_0000;

/// Why a test capture could not be asked for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TestTriggerError {
    #[error("no camera {0:?}")]
    NoSuchCamera(String),
    #[error("camera {0} has triggers waiting; try again in a moment")]
    Busy(String),
    #[error("camera {0}'s task is not running")]
    NotRunning(String),
}

/// Each camera's trigger channel, for test captures a person asks for (the web page, the
/// bus): fired now, with the camera's configured burst, as if a vehicle had entered its lane.
#[derive(Debug, Clone, Default)]
pub struct TestTriggers(Arc<HashMap<String, mpsc::Sender<TriggerCommand>>>);

impl TestTriggers {
    pub fn new(cameras: HashMap<String, mpsc::Sender<TriggerCommand>>) -> TestTriggers {
        TestTriggers(Arc::new(cameras))
    }

    /// Fires the camera `settings` describes; returns the test capture's vehicle id.
    pub fn fire(&self, settings: &CameraConfig) -> Result<VehicleId, TestTriggerError> {
        let camera = settings.name.clone();
        let sender = self
            .0
            .get(&camera)
            .ok_or_else(|| TestTriggerError::NoSuchCamera(camera.clone()))?;
        let now = Instant::now();
        let utc = Utc::now();
        let vehicle_id = VehicleId::new(utc, rand::random(), TEST_SOURCE_TAG);
        let command = TriggerCommand {
            camera: settings.name.as_str().into(),
            vehicle_id,
            lane: settings.lane.as_str().into(),
            fire_at: now,
            frames: settings.burst_frames,
            interval_ms: settings.burst_interval_ms,
            detected_at: now,
            detected_utc: utc,
            test: true,
        };
        match sender.try_send(command) {
            Ok(()) => Ok(vehicle_id),
            Err(TrySendError::Full(_)) => Err(TestTriggerError::Busy(camera)),
            Err(TrySendError::Closed(_)) => Err(TestTriggerError::NotRunning(camera)),
        }
    }
}
