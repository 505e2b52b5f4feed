//! The vision task: bursts in, captures out.

use std::sync::Arc;

use tokio::sync::{Mutex, mpsc};
use tokio_util::sync::CancellationToken;
use vod_camera::Burst;
use vod_core::{Capture, CaptureImage, TaskError};

use crate::{VisionMetrics, encode_jpeg};

/// Runs until shutdown. Encoding runs on a blocking thread so it never stalls the runtime.
pub async fn run_vision(
    bursts: Arc<Mutex<mpsc::Receiver<Burst>>>,
    captures: mpsc::Sender<Capture>,
    metrics: VisionMetrics,
    shutdown: CancellationToken,
) -> Result<(), TaskError> {
    let mut bursts = bursts.lock().await;
    loop {
        let burst = tokio::select! {
            () = shutdown.cancelled() => return Ok(()),
            burst = bursts.recv() => burst.ok_or("burst channel closed")?,
        };
        let metrics = metrics.clone();
        let capture = tokio::task::spawn_blocking(move || process(burst, &metrics)).await?;
        captures
            .send(capture)
            .await
            .map_err(|_| "store stage is gone")?;
    }
}

fn process(burst: Burst, metrics: &VisionMetrics) -> Capture {
    let trigger = burst.trigger;
    let mut images = Vec::with_capacity(burst.frames.len());
    for frame in &burst.frames {
        metrics.frames_total.inc();
        let timer = metrics.encode_seconds.start_timer();
        match encode_jpeg(frame) {
            Ok(jpeg) => images.push(CaptureImage {
                burst_index: frame.burst_index,
                captured_utc: frame.captured_utc,
                width: frame.width,
                height: frame.height,
                jpeg,
            }),
            Err(error) => {
                metrics.encode_errors_total.inc();
                tracing::warn!(camera = %frame.camera, %error, "Frame dropped: could not encode it.");
            }
        }
        timer.observe_duration();
    }
    Capture {
        vehicle_id: trigger.vehicle_id,
        lane: trigger.lane,
        camera: trigger.camera,
        detected_utc: trigger.detected_utc,
        images,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use chrono::Utc;
    use prometheus::Registry;
    use vod_core::{Frame, PixelFormat, TriggerCommand, VehicleId};

    use super::*;

    #[test]
    fn a_burst_becomes_one_capture_and_bad_frames_are_counted() {
        let metrics = VisionMetrics::register(&Registry::new()).unwrap();
        let vehicle_id = VehicleId::new(Utc::now(), 1, 1);
        let frame = |burst_index, pixels: Vec<u8>| {
            Arc::new(Frame {
                camera: Arc::from("cam-1"),
                vehicle_id,
                lane: Arc::from("lane-1"),
                burst_index,
                captured_utc: Utc::now(),
                width: 8,
                height: 8,
                pixel_format: PixelFormat::Mono8,
                pixels,
            })
        };
        let burst = Burst {
            trigger: TriggerCommand {
                camera: Arc::from("cam-1"),
                vehicle_id,
                lane: Arc::from("lane-1"),
                fire_at: Instant::now(),
                frames: 2,
                interval_ms: 0,
                detected_at: Instant::now(),
                detected_utc: Utc::now(),
            },
            frames: vec![frame(0, vec![7; 64]), frame(1, vec![7; 3])],
        };
        let capture = process(burst, &metrics);
        assert_eq!(capture.images.len(), 1);
        assert_eq!(capture.images[0].burst_index, 0);
        assert_eq!(metrics.frames_total.get(), 2);
        assert_eq!(metrics.encode_errors_total.get(), 1);
    }
}
