//! Cameras: what a camera must do (`Camera`), the simulated camera, and the task that turns
//! trigger commands into bursts of frames.

pub mod acquisition;
#[cfg(feature = "gige")]
pub mod gige;
pub mod imageops;
pub mod metrics;
pub mod ring;
pub mod sim;
#[cfg(feature = "usb")]
pub mod usb;

use vod_core::{Frame, TriggerCommand};

pub use acquisition::{Burst, run_camera};
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
}
