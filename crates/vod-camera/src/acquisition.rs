//! The acquisition task of one camera: waits for each trigger's time, takes its burst of
//! frames and hands the burst on; takes up new settings between bursts. A trigger whose exposures all fail still yields a burst,
//! an empty one, so that the vehicle is stored as "no image" instead of vanishing.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;
use vod_core::config::CameraConfig;
use vod_core::log_budget::LogBudget;
use vod_core::{Burst, Component, SharedReceiver, TaskError, TriggerCommand, VEHICLE_LOG};

use crate::{Camera, CameraMetrics};

/// How often a camera's failed exposures and bad frames are logged at most (`unlogged`
/// says how many went unsaid; `vod_camera_grab_errors_total` and `vod_camera_no_image_total`
/// count each).
const FAILURE_LOG_EVERY: Duration = Duration::from_secs(10);

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
    // A camera that fails at every trigger is counted at every trigger, logged once an
    // interval.
    let mut failures_log = LogBudget::new(FAILURE_LOG_EVERY);
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
        #[cfg(feature = "failpoints")]
        if crate::faults::stall_before_burst(&name) {
            std::future::pending::<()>().await;
        }
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
                    if let Some(unlogged) = failures_log.allow(Instant::now()) {
                        tracing::warn!(camera = %name, got = frame.pixels.len(), expected = frame.expected_len(), unlogged, "Frame has the wrong size; dropped.");
                    }
                }
                Err(error) => {
                    metrics.grab_errors_total.with_label_values(&[&name]).inc();
                    if let Some(unlogged) = failures_log.allow(Instant::now()) {
                        tracing::warn!(camera = %name, vehicle_id = %trigger.vehicle_id, %error, unlogged, "Exposure failed.");
                    }
                }
            }
        }
        if frames.is_empty() {
            metrics.no_image_total.with_label_values(&[&name]).inc();
            if let Some(unlogged) = failures_log.allow(Instant::now()) {
                tracing::warn!(camera = %name, vehicle_id = %trigger.vehicle_id, unlogged, "Trigger produced no image.");
            }
        }
        tracing::debug!(target: VEHICLE_LOG, vehicle_id = %trigger.vehicle_id, camera = %name, frames = frames.len(), "Burst taken.");
        let burst = Burst { trigger, frames };
        // Waiting here (rather than dropping) keeps every capture; the trigger channel in
        // front of this task is where overload is shed, with a counter.
        if bursts.send(burst).await.is_err() {
            return Err("vision stage is gone".into());
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use chrono::Utc;
    use prometheus::Registry;
    use vod_core::VehicleId;
    use vod_core::config::{CameraSource, CameraTrigger, SimSource};
    use vod_core::supervisor::channel;

    use super::*;
    use crate::SimCamera;

    /// A trigger whose moment passed while it waited (a busy box) is still taken, at once and
    /// whole: the vehicle is late in the frame, never missing.
    #[tokio::test]
    async fn a_trigger_whose_moment_has_passed_is_taken_at_once() {
        let camera: Box<dyn Camera> = Box::new(SimCamera::new("cam-1".into(), 320, 240).unwrap());
        let (triggers, trigger_inbox) = channel(4);
        let (bursts, mut burst_outbox) = mpsc::channel(4);
        let config = CameraConfig {
            name: "cam-1".into(),
            lane: "lane-1".into(),
            source: CameraSource::Sim(SimSource::sized(320, 240)),
            trigger: CameraTrigger::DelayMs(20),
            burst_frames: 2,
            burst_interval_ms: 40,
        };
        let task = CameraTask {
            camera: Arc::new(std::sync::Mutex::new(camera)),
            triggers: trigger_inbox,
            bursts,
            settings: watch::channel(config).1,
            metrics: CameraMetrics::register(&Registry::new()).unwrap(),
        };
        let stop = CancellationToken::new();
        let shutdown = stop.clone();
        let running = tokio::spawn(async move { task.run(shutdown).await });
        let long_ago = Instant::now() - Duration::from_secs(5);
        triggers
            .send(TriggerCommand {
                camera: "cam-1".into(),
                vehicle_id: VehicleId::new(Utc::now(), 1, 1),
                lane: "lane-1".into(),
                fire_at: long_ago,
                frames: 2,
                interval_ms: 40,
                detected_at: long_ago,
                detected_utc: Utc::now(),
                test: false,
            })
            .await
            .unwrap();
        let burst = tokio::time::timeout(Duration::from_secs(30), burst_outbox.recv())
            .await
            .expect("a burst within 30 s")
            .unwrap();
        assert_eq!(burst.frames.len(), 2);
        assert_eq!(
            burst
                .frames
                .iter()
                .map(|f| f.burst_index)
                .collect::<Vec<_>>(),
            [0, 1]
        );
        stop.cancel();
        running.await.unwrap().unwrap();
    }
}
