//! Camera metrics, each emitted in one place.

use prometheus::{IntCounterVec, Opts, Registry};

#[derive(Debug, Clone)]
pub struct CameraMetrics {
    pub frames_total: IntCounterVec,
    pub grab_errors_total: IntCounterVec,
    pub no_image_total: IntCounterVec,
    pub bursts_dropped_total: IntCounterVec,
    pub stream_completed_total: IntCounterVec,
    pub stream_failures_total: IntCounterVec,
    pub stream_underruns_total: IntCounterVec,
    pub reconnects_total: IntCounterVec,
}

impl CameraMetrics {
    pub fn register(registry: &Registry) -> Result<Self, prometheus::Error> {
        let counter = |name: &str, help: &str| -> Result<IntCounterVec, prometheus::Error> {
            let counter = IntCounterVec::new(Opts::new(name, help), &["camera"])?;
            registry.register(Box::new(counter.clone()))?;
            Ok(counter)
        };
        Ok(CameraMetrics {
            frames_total: counter("vod_camera_frames_total", "Frames acquired.")?,
            grab_errors_total: counter(
                "vod_camera_grab_errors_total",
                "Exposures that delivered no frame.",
            )?,
            no_image_total: counter(
                "vod_camera_no_image_total",
                "Triggers for which the camera delivered no frame at all.",
            )?,
            bursts_dropped_total: counter(
                "vod_camera_bursts_dropped_total",
                "Bursts dropped because the vision stage was full.",
            )?,
            stream_completed_total: counter(
                "vod_camera_stream_completed_total",
                "Buffers the camera stream completed (Aravis stream statistics).",
            )?,
            stream_failures_total: counter(
                "vod_camera_stream_failures_total",
                "Buffers the camera stream failed to fill (missing packets, timeouts).",
            )?,
            stream_underruns_total: counter(
                "vod_camera_stream_underruns_total",
                "Frames lost because no empty buffer was queued.",
            )?,
            reconnects_total: counter(
                "vod_camera_reconnects_total",
                "Times a camera was opened again after dropping out.",
            )?,
        })
    }
}
