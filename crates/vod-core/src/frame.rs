//! A frame as a camera delivered it (raw pixels, held in memory only), and the burst of
//! frames one trigger produced.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::trigger::TriggerCommand;
use crate::vehicle::VehicleId;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PixelFormat {
    Mono8,
    /// Three bytes per pixel, blue first (OpenCV's order).
    Bgr8,
}

impl PixelFormat {
    pub fn bytes_per_pixel(self) -> usize {
        match self {
            PixelFormat::Mono8 => 1,
            PixelFormat::Bgr8 => 3,
        }
    }
}

/// Raw pixels of one exposure. Shared through `Arc` between stages, never copied.
#[derive(Debug, PartialEq)]
pub struct Frame {
    pub camera: Arc<str>,
    pub vehicle_id: VehicleId,
    pub lane: Arc<str>,
    /// Position within the trigger's burst, from 0.
    pub burst_index: u32,
    /// When the host received the frame.
    pub captured_utc: DateTime<Utc>,
    /// The camera's own exposure timestamp in nanoseconds (its epoch is the camera's), for
    /// cameras that report one (GigE Vision); the spacing of a burst's frames is exact in it.
    pub device_timestamp_ns: Option<u64>,
    pub width: u32,
    pub height: u32,
    pub pixel_format: PixelFormat,
    /// Rows top to bottom, no padding.
    pub pixels: Vec<u8>,
}

impl Frame {
    /// The byte count that `width`, `height` and `pixel_format` call for.
    pub fn expected_len(&self) -> usize {
        self.width as usize * self.height as usize * self.pixel_format.bytes_per_pixel()
    }
}

/// The frames one trigger produced, in burst order; empty when the camera delivered none.
/// A clone shares the frames.
#[derive(Debug, Clone)]
pub struct Burst {
    pub trigger: TriggerCommand,
    pub frames: Vec<Arc<Frame>>,
}
