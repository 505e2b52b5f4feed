//! The acquisition task of one camera: waits for each trigger's time, takes its burst of
//! frames and hands the burst on; takes up new settings between bursts. A trigger whose exposures all fail still yields a burst,
//! an empty one, so that the vehicle is stored as "no image" instead of vanishing.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;
use vod_core::config::CameraConfig;
use vod_core::{Burst, Component, SharedReceiver, TaskError, TriggerCommand};

use crate::{Camera, CameraMetrics};

/// The acquisition task of one camera. `camera` outlives restarts of the task; the camera
/// runs on a blocking thread because real exposures block. `settings` is the camera's entry of
/// the running config: new settings (exposure, gain) go to the camera before the next burst,
/// never in the middle of one.
pub struct CameraTask {
    pub camera: Arc<std::sync::Mutex<Box<dyn Camera>>>,
    pub triggers: SharedReceiver<TriggerCommand>,
    pub bursts: mpsc::Sender<Burst>,
    pub settings: watch::Receiver<CameraConfig>,
    pub metrics: CameraMetrics,
}

impl std::fmt::Debug for CameraTask {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CameraTask")
            .field("camera", &self.settings.borrow().name)
            .finish_non_exhaustive()
    }
}

impl Component for CameraTask {
    async fn run(&self, shutdown: CancellationToken) -> Result<(), TaskError> {
        run_camera(self, shutdown).await
    }
}

async fn run_camera(task: &CameraTask, shutdown: CancellationToken) -> Result<(), TaskError> {
    let CameraTask {
        camera,
        triggers,
        bursts,
        settings,
        metrics,
    } = task;
    let mut settings = settings.clone();
    let mut triggers = triggers.lock().await;
    loop {
        let trigger = tokio::select! {
            () = shutdown.cancelled() => return Ok(()),
            trigger = triggers.recv() => match trigger {
                Some(trigger) => trigger,
                None => return Err("trigger channel closed".into()),
            },
        };
        if settings.has_changed().unwrap_or(false) {
            let config = settings.borrow_and_update().clone();
            let camera = camera.clone();
            let applied = tokio::task::spawn_blocking(move || {
                let mut camera = camera.lock().map_err(|_| "camera lock poisoned")?;
                camera
                    .apply_settings(&config)
                    .map_err(|e| -> TaskError { e.into() })
            })
            .await?;
            if let Err(error) = applied {
                // The camera keeps its old settings; the burst is taken with them.
                tracing::warn!(camera = %trigger.camera, %error, "New camera settings not applied.");
            }
        }
        let name = trigger.camera.to_string();
        let mut frames = Vec::with_capacity(trigger.frames as usize);
        for burst_index in 0..trigger.frames {
            let due = trigger.fire_at
                + Duration::from_millis(u64::from(trigger.interval_ms) * u64::from(burst_index));
            tokio::time::sleep_until(due.into()).await;
            let camera = camera.clone();
            let exposure = trigger.clone();
            let grabbed = tokio::task::spawn_blocking(move || {
                let mut camera = camera.lock().map_err(|_| "camera lock poisoned")?;
                camera
                    .grab(&exposure, burst_index)
                    .map_err(|e| -> TaskError { e.into() })
            })
            .await?;
            match grabbed {
                Ok(frame) if frame.pixels.len() == frame.expected_len() => {
                    metrics.frames_total.with_label_values(&[&name]).inc();
                    frames.push(Arc::new(frame));
                }
                Ok(frame) => {
                    metrics.grab_errors_total.with_label_values(&[&name]).inc();
                    tracing::warn!(camera = %name, got = frame.pixels.len(), expected = frame.expected_len(), "Frame has the wrong size; dropped.");
                }
                Err(error) => {
                    metrics.grab_errors_total.with_label_values(&[&name]).inc();
                    tracing::warn!(camera = %name, %error, "Exposure failed.");
                }
            }
        }
        if frames.is_empty() {
            metrics.no_image_total.with_label_values(&[&name]).inc();
            tracing::warn!(camera = %name, vehicle = %trigger.vehicle_id, "Trigger produced no image.");
        }
        let burst = Burst { trigger, frames };
        // Waiting here (rather than dropping) keeps every capture; the trigger channel in
        // front of this task is where overload is shed, with a counter.
        if bursts.send(burst).await.is_err() {
            return Err("vision stage is gone".into());
        }
    }
}
