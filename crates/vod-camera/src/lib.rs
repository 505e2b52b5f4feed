//! Cameras: what a camera must do ([`Camera`]), and the task that turns trigger commands into
//! bursts of frames ([`CameraTask`], which gives a camera its new settings between bursts).
//!
//! - `gige` (feature `gige`): any GenICam camera through Aravis: discovery, pixel format,
//!   exposure, gain, rate, ROI, software or line trigger, a pool of stream buffers whose frames
//!   are processed in place (`GigeCamera::expose_with`), device and host timestamps, stream
//!   statistics, reconnection.
//! - `usb` (feature `usb`): UVC cameras through nokhwa's V4L2 backend, free-running into a
//!   `ring::FrameRing`; a trigger takes the frame nearest its moment.
//! - `sim`: renders the passing vehicle with occupants from real photos; ground truth in
//!   `SimCamera::scene`.
//! - `imageops`: decoding (Mono8/16, Bayer, RGB8, USB formats), CLAHE, crop, resize.
//!
//! Bench: `cargo bench -p vod-camera --features gige`.

pub mod acquisition;
#[cfg(feature = "failpoints")]
mod faults;
#[cfg(feature = "gige")]
pub mod gige;
pub mod imageops;
pub mod metrics;
pub mod ring;
pub mod sim;
#[cfg(feature = "usb")]
pub mod usb;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use opencv::core::Mat;
use opencv::prelude::*;
use vod_core::config::CameraConfig;
use vod_core::{Frame, TriggerCommand};

pub use acquisition::CameraTask;
pub use metrics::CameraMetrics;
pub use sim::SimCamera;

#[derive(Debug, thiserror::Error)]
pub enum CameraError {
    #[error("camera {camera} failed to render a frame: {source}")]
    Render {
        camera: String,
        source: opencv::Error,
    },
    #[error("camera {camera}: {what} failed: {detail}")]
    Device {
        camera: String,
        what: &'static str,
        detail: String,
    },
    #[error("camera {camera} delivered a bad buffer: {detail}")]
    BadBuffer { camera: String, detail: String },
    #[error("camera {camera}: {source}")]
    Image {
        camera: String,
        source: imageops::ImageError,
    },
}

/// A source of frames that can be told to expose now.
pub trait Camera: Send + 'static {
    /// Takes one exposure for `trigger`; `burst_index` counts from 0 within the burst.
    /// May block for the exposure time: the caller runs it on a blocking thread.
    fn grab(&mut self, trigger: &TriggerCommand, burst_index: u32) -> Result<Frame, CameraError>;

    /// Takes up new settings from the camera's config entry, between bursts; a camera whose
    /// config has no settings it can change while it runs has nothing to do.
    fn apply_settings(&mut self, _config: &CameraConfig) -> Result<(), CameraError> {
        Ok(())
    }
}

/// When a frame was taken: by the host's clock, and by the camera's own where it has one.
#[derive(Debug, Clone, Copy)]
pub struct FrameTimes {
    pub captured_utc: DateTime<Utc>,
    pub device_timestamp_ns: Option<u64>,
}

/// Frame `burst_index` of `trigger`'s burst, from a decoded Mono8 or BGR8 image.
pub fn frame_of(
    camera: &Arc<str>,
    trigger: &TriggerCommand,
    burst_index: u32,
    image: &Mat,
    times: FrameTimes,
) -> Result<Frame, imageops::ImageError> {
    let (pixel_format, pixels) = imageops::into_pixels(image)?;
    Ok(Frame {
        camera: camera.clone(),
        vehicle_id: trigger.vehicle_id,
        lane: trigger.lane.clone(),
        burst_index,
        captured_utc: times.captured_utc,
        device_timestamp_ns: times.device_timestamp_ns,
        width: image.cols() as u32,
        height: image.rows() as u32,
        pixel_format,
        pixels,
    })
}
