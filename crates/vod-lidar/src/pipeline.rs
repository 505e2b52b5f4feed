//! The async shell around one scanner: session, detector and trigger planner run inline in
//! one task, so a scan turns into camera triggers without a hop between tasks. A lane with a
//! second scan plane (another scanner downstream) shares a [`LanePairing`] between the two
//! scanners' tasks, which gives its vehicles a speed and its distance cameras their moment.
//! [`run_scanner_on_thread`] gives the task an OS thread of its own, so that no other work of
//! the process runs between a socket read and its triggers. The task watches the running
//! config: new lane zones and detector thresholds go to the detector (taken up between
//! vehicles), new trigger timings and bursts to the planner (for the next vehicle to enter).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{
    mpsc::{self, error::TrySendError},
    oneshot, watch,
};
use tokio_util::sync::CancellationToken;
use vod_core::config::{Config, LaneConfig};
use vod_core::{
    Component, Event, Hub, ScannerView, TaskError, TriggerCommand, VEHICLE_LOG, VehicleEvent,
    VehicleEventKind,
};

use crate::detector::VehicleDetector;
use crate::metrics::LidarMetrics;
use crate::recording::TelegramRecorder;
use crate::session::ScannerSession;
use crate::speed::pairing::{LanePairing, SpeedPlanes, lock};
use crate::trigger::TriggerPlanner;

/// Everything [`run_scanner`] needs; clone it for each (re)start under the supervisor.
#[derive(Debug, Clone)]
pub struct ScannerSetup {
    /// The scanner's name in `config.scanners`.
    pub scanner: String,
    /// The running config: the scanner, its lanes, the detector and the cameras.
    pub config: watch::Receiver<Arc<Config>>,
    /// The lanes with a second plane, shared by every scanner's setup.
    pub speed_planes: SpeedPlanes,
    /// Each camera's trigger channel, by camera name; every camera of the scanner's lanes
    /// needs one.
    pub cameras: HashMap<String, mpsc::Sender<TriggerCommand>>,
    /// Every vehicle event published goes here too, to be recorded. The scanner never waits
    /// for it: a full channel drops the record and counts it.
    pub vehicles: mpsc::Sender<VehicleEvent>,
    pub metrics: LidarMetrics,
    pub hub: Hub,
    /// Where the latest scan is shown and a relearn of the road is asked for.
    pub view: ScannerView,
    /// Where the scan telegrams are recorded too, with `[record]`.
    pub recorder: Option<TelegramRecorder>,
}

/// How often the pipeline publishes a snapshot of its latest scan for a person to look at.
const SNAPSHOT_EVERY: Duration = Duration::from_millis(200);

/// Under the supervisor, a scanner runs on a thread of its own ([`run_scanner_on_thread`]).
impl Component for ScannerSetup {
    async fn run(&self, shutdown: CancellationToken) -> Result<(), TaskError> {
        run_scanner_on_thread(self.clone(), shutdown).await
    }
}

/// Failures that a restart may cure only if the wiring around the task changes.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error("camera {camera} watches lane {lane} of scanner {scanner} but has no trigger channel")]
    MissingCamera {
        camera: String,
        lane: String,
        scanner: String,
    },
    #[error("the trigger channel of camera {camera} is closed: its task is gone")]
    CameraGone { camera: String },
    #[error("the vehicle records channel is closed: the recorder is gone")]
    RecorderGone,
    #[error("scanner {0} is not in the config")]
    UnknownScanner(String),
    #[error("cannot start the thread of scanner {scanner}: {cause}")]
    Thread {
        scanner: String,
        cause: std::io::Error,
    },
    #[error("the thread of scanner {scanner} ended without a result")]
    ThreadLost { scanner: String },
}

/// What a lane is to this scanner.
#[derive(Debug)]
enum Plane {
    /// The lane's only plane.
    Only,
    /// The lane's own plane, with a second one downstream.
    First(Arc<Mutex<LanePairing>>),
    /// The second plane of another scanner's lane: it measures speed, publishes nothing.
    Second(Arc<Mutex<LanePairing>>),
}

/// Runs [`run_scanner`] on an OS thread of its own with a current-thread runtime, and waits
/// for it: the scanner's socket reads, detection and trigger commands never queue behind
/// other tasks of the process. The thread asks for real-time scheduling (SCHED_FIFO at the
/// lowest real-time priority), so that no ordinary thread of the box delays a trigger;
/// without the privilege it runs at normal priority and says so once.
pub async fn run_scanner_on_thread(
    setup: ScannerSetup,
    shutdown: CancellationToken,
) -> Result<(), TaskError> {
    let scanner = setup.scanner.clone();
    let (done, result) = oneshot::channel();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|cause| PipelineError::Thread {
            scanner: scanner.clone(),
            cause,
        })?;
    let realtime = setup.metrics.realtime.with_label_values(&[&scanner]);
    let thread_scanner = scanner.clone();
    std::thread::Builder::new()
        .name(format!("lidar-{scanner}"))
        .spawn(move || {
            match crate::realtime::raise_current_thread() {
                Ok(()) => realtime.set(1),
                Err(error) => {
                    realtime.set(0);
                    tracing::warn!(
                        scanner = %thread_scanner,
                        %error,
                        "Scanner thread runs at normal priority (real-time scheduling needs CAP_SYS_NICE)."
                    );
                }
            }
            let outcome = runtime.block_on(run_scanner(setup, shutdown));
            let _waiter_gone = done.send(outcome);
        })
        .map_err(|cause| PipelineError::Thread {
            scanner: scanner.clone(),
            cause,
        })?;
    result
        .await
        .unwrap_or_else(|_| Err(PipelineError::ThreadLost { scanner }.into()))
}

/// Every camera that watches `lane` must have a trigger channel.
fn check_cameras(
    planner: &TriggerPlanner,
    cameras: &HashMap<String, mpsc::Sender<TriggerCommand>>,
    lane: &str,
    scanner: &str,
) -> Result<(), PipelineError> {
    match planner
        .cameras_of(lane)
        .find(|camera| !cameras.contains_key(*camera))
    {
        Some(camera) => Err(PipelineError::MissingCamera {
            camera: camera.to_owned(),
            lane: lane.to_owned(),
            scanner: scanner.to_owned(),
        }),
        None => Ok(()),
    }
}

/// The lanes `scanner`'s detector watches: its own, and those it is the second plane of (with
/// the scanner named as theirs, since it is mounted the same way over them).
fn detected_lanes(config: &Config, scanner: &str, speed_planes: &SpeedPlanes) -> Vec<LaneConfig> {
    let own = config
        .lanes
        .iter()
        .filter(|lane| lane.scanner == scanner)
        .cloned();
    let second = speed_planes
        .second_planes_of(scanner)
        .filter_map(|(plane, _)| config.lanes.iter().find(|lane| lane.name == plane.lane))
        .map(|lane| LaneConfig {
            scanner: scanner.to_owned(),
            ..lane.clone()
        });
    own.chain(second).collect()
}

/// Runs one scanner until `shutdown`: scans in, vehicle events to the hub and the recorder,
/// trigger commands to the cameras. A scanner that goes away is the session's business and
/// never ends the task; it returns an error only for a wiring bug (a camera or the recorder
/// without a live channel).
pub async fn run_scanner(
    setup: ScannerSetup,
    shutdown: CancellationToken,
) -> Result<(), TaskError> {
    let ScannerSetup {
        scanner: name,
        mut config,
        speed_planes,
        cameras,
        vehicles,
        metrics,
        hub,
        view,
        recorder,
    } = setup;
    let running = config.borrow_and_update().clone();
    let scanner = running
        .scanners
        .iter()
        .find(|scanner| scanner.name == name)
        .ok_or_else(|| PipelineError::UnknownScanner(name.clone()))?;
    let mut planner = TriggerPlanner::new(&running.cameras);
    let mut planes: HashMap<String, Plane> = HashMap::new();
    for lane in running.lanes.iter().filter(|lane| lane.scanner == name) {
        // Present from the start, so that a lane that never sees a vehicle can raise an alert.
        metrics.vehicles_total.with_label_values(&[&lane.name]);
        check_cameras(&planner, &cameras, &lane.name, &name)?;
        let plane = match speed_planes.of_lane(&lane.name) {
            Some((_, pairing)) => Plane::First(pairing.clone()),
            None => Plane::Only,
        };
        planes.insert(lane.name.clone(), plane);
    }
    for (plane, pairing) in speed_planes.second_planes_of(&name) {
        // This task plans the lane's distance cameras.
        check_cameras(&planner, &cameras, &plane.lane, &name)?;
        planes.insert(plane.lane.clone(), Plane::Second(pairing.clone()));
    }
    let first_planes: Vec<_> = planes
        .values()
        .filter_map(|plane| match plane {
            Plane::First(pairing) => Some(pairing.clone()),
            _ => None,
        })
        .collect();
    let label = [name.as_str()];
    let scans_total = metrics.scans_total.with_label_values(&label);
    let scans_rejected_total = metrics.scans_rejected_total.with_label_values(&label);
    let settings_applied_total = metrics
        .detector_settings_applied_total
        .with_label_values(&label);
    let lanes = detected_lanes(&running, &name, &speed_planes);
    let mut detector = VehicleDetector::new(scanner, &lanes, &running.detector);
    let mut session = ScannerSession::new(scanner, &metrics, hub.clone());
    if let Some(recorder) = recorder {
        session.record_to(recorder);
    }
    let mut last_snapshot: Option<Instant> = None;
    loop {
        let scan = tokio::select! {
            () = shutdown.cancelled() => return Ok(()),
            scan = session.next_scan() => scan,
        };
        if config.has_changed().unwrap_or(false) {
            let running = config.borrow_and_update().clone();
            let lanes = detected_lanes(&running, &name, &speed_planes);
            detector.reconfigure(&lanes, &running.detector);
            planner = TriggerPlanner::new(&running.cameras);
        }
        if detector.apply_pending() {
            settings_applied_total.inc();
            tracing::info!(scanner = %name, "Detector settings applied.");
        }
        if view.take_relearn() {
            detector.relearn();
            tracing::info!(scanner = %name, "Learning the road again, as asked.");
        }
        scans_total.inc();
        let processed = detector.process(&scan);
        if last_snapshot.is_none_or(|at| scan.received_at.duration_since(at) >= SNAPSHOT_EVERY) {
            last_snapshot = Some(scan.received_at);
            view.publish(detector.snapshot(&scan));
        }
        let events = match processed {
            Ok(events) => events,
            Err(error) => {
                scans_rejected_total.inc();
                tracing::warn!(scanner = %name, %error, "The detector rejected a scan.");
                continue;
            }
        };
        let output = Output {
            planner: &planner,
            cameras: &cameras,
            vehicles: &vehicles,
            metrics: &metrics,
            hub: &hub,
        };
        for event in events {
            tracing::debug!(target: VEHICLE_LOG, vehicle_id = %event.vehicle_id, lane = %event.lane, kind = ?event.kind, "Vehicle event.");
            match planes.get(&*event.lane) {
                Some(Plane::Second(pairing)) => output.second_plane(pairing, &event)?,
                Some(Plane::First(pairing)) => output.first_plane(pairing, event)?,
                Some(Plane::Only) | None => output.only_plane(event)?,
            }
        }
        for pairing in &first_planes {
            for left in lock(pairing).expire(scan.received_at) {
                output.publish_left(left, true)?;
            }
        }
    }
}

/// Where a scanner's events go.
struct Output<'a> {
    planner: &'a TriggerPlanner,
    cameras: &'a HashMap<String, mpsc::Sender<TriggerCommand>>,
    vehicles: &'a mpsc::Sender<VehicleEvent>,
    metrics: &'a LidarMetrics,
    hub: &'a Hub,
}

impl Output<'_> {
    /// An event of a lane with one plane.
    fn only_plane(&self, event: VehicleEvent) -> Result<(), PipelineError> {
        if event.kind == VehicleEventKind::Entered {
            self.entered(event)
        } else {
            self.publish_left(event, false)
        }
    }

    /// An event of a lane's own plane when a second one lies downstream.
    fn first_plane(
        &self,
        pairing: &Mutex<LanePairing>,
        event: VehicleEvent,
    ) -> Result<(), PipelineError> {
        if event.kind == VehicleEventKind::Entered {
            // The delay cameras first; the pairing only needs the event afterwards.
            self.entered(event.clone())?;
            lock(pairing).first_plane(event);
        } else if let Some(left) = lock(pairing).first_plane(event) {
            self.publish_left(left, true)?;
        }
        Ok(())
    }

    /// An event of a second plane: the speed of the vehicle it completes, its distance
    /// cameras' triggers, and its `Left` if that waited for the speed.
    fn second_plane(
        &self,
        pairing: &Mutex<LanePairing>,
        event: &VehicleEvent,
    ) -> Result<(), PipelineError> {
        let Some(measured) = lock(pairing).second_plane(event) else {
            return Ok(());
        };
        tracing::debug!(lane = %event.lane, vehicle_id = %measured.entered.vehicle_id, speed_kmh = measured.speed_kmh, "Vehicle speed.");
        for command in self
            .planner
            .plan_with_speed(&measured.entered, measured.speed_kmh)
        {
            send_trigger(self.cameras, command, self.metrics)?;
        }
        if let Some(left) = measured.left {
            self.publish_left(left, true)?;
        }
        Ok(())
    }

    fn entered(&self, event: VehicleEvent) -> Result<(), PipelineError> {
        for command in self.planner.plan(&event) {
            send_trigger(self.cameras, command, self.metrics)?;
        }
        self.metrics
            .vehicles_total
            .with_label_values(&[&*event.lane])
            .inc();
        self.publish(event)
    }

    /// Publishes a `Left` event; `speed_lane` where the lane has two planes.
    fn publish_left(&self, event: VehicleEvent, speed_lane: bool) -> Result<(), PipelineError> {
        if let VehicleEventKind::Left(measured) = event.kind {
            self.metrics
                .vehicles_classified_total
                .with_label_values(&[&*event.lane, measured.class.as_str()])
                .inc();
            if speed_lane && measured.speed_kmh.is_none() {
                self.metrics
                    .speed_unmeasured_total
                    .with_label_values(&[&*event.lane])
                    .inc();
            }
        }
        self.publish(event)
    }

    /// Hands a vehicle event to the recorder and to the hub.
    fn publish(&self, event: VehicleEvent) -> Result<(), PipelineError> {
        self.hub.publish(Event::from(&event));
        match self.vehicles.try_send(event) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(event)) => {
                self.metrics.vehicle_records_dropped_total.inc();
                tracing::warn!(lane = %event.lane, vehicle_id = %event.vehicle_id, "Vehicle records channel full; the record is dropped.");
                Ok(())
            }
            Err(TrySendError::Closed(_)) => Err(PipelineError::RecorderGone),
        }
    }
}

fn send_trigger(
    cameras: &HashMap<String, mpsc::Sender<TriggerCommand>>,
    command: TriggerCommand,
    metrics: &LidarMetrics,
) -> Result<(), PipelineError> {
    let camera = command.camera.clone();
    let gone = || PipelineError::CameraGone {
        camera: camera.to_string(),
    };
    let sender = cameras.get(&*camera).ok_or_else(gone)?;
    let (detected_at, vehicle_id) = (command.detected_at, command.vehicle_id);
    match sender.try_send(command) {
        Ok(()) => {
            let latency_s = detected_at.elapsed().as_secs_f64();
            metrics
                .trigger_latency_seconds
                .with_label_values(&[&*camera])
                .observe(latency_s);
            tracing::debug!(target: VEHICLE_LOG, %vehicle_id, %camera, latency_us = (latency_s * 1e6) as u64, "Trigger sent.");
            Ok(())
        }
        Err(TrySendError::Full(command)) => {
            metrics
                .triggers_dropped_total
                .with_label_values(&[&*camera])
                .inc();
            tracing::warn!(%camera, lane = %command.lane, vehicle_id = %command.vehicle_id, "Camera trigger channel full; dropped the trigger.");
            Ok(())
        }
        Err(TrySendError::Closed(_)) => Err(gone()),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use chrono::Utc;
    use prometheus::Registry;
    use vod_core::VehicleId;

    use super::*;

    fn command(camera: &str) -> TriggerCommand {
        TriggerCommand {
            camera: camera.into(),
            vehicle_id: VehicleId::new(Utc::now(), 1, 0),
            lane: "lane-1".into(),
            fire_at: Instant::now(),
            frames: 1,
            interval_ms: 0,
            detected_at: Instant::now(),
            detected_utc: Utc::now(),
            test: false,
        }
    }

    #[test]
    fn a_full_channel_drops_and_counts_a_closed_one_is_an_error() {
        let metrics = LidarMetrics::register(&Registry::new()).unwrap();
        let (full, _kept) = mpsc::channel(1);
        let (closed, receiver) = mpsc::channel(1);
        drop(receiver);
        let cameras = HashMap::from([("cam-1".to_owned(), full), ("cam-2".to_owned(), closed)]);
        send_trigger(&cameras, command("cam-1"), &metrics).unwrap();
        send_trigger(&cameras, command("cam-1"), &metrics).unwrap();
        let dropped = metrics.triggers_dropped_total.with_label_values(&["cam-1"]);
        assert_eq!(dropped.get(), 1);
        // Only the trigger that went out has a latency.
        let latency = metrics
            .trigger_latency_seconds
            .with_label_values(&["cam-1"]);
        assert_eq!(latency.get_sample_count(), 1);
        assert!(matches!(
            send_trigger(&cameras, command("cam-2"), &metrics),
            Err(PipelineError::CameraGone { camera }) if camera == "cam-2"
        ));
    }

    #[tokio::test]
    async fn a_camera_without_a_channel_is_a_wiring_bug() {
        let config = Config::parse(include_str!("../../../deploy/bench/vod.toml")).unwrap();
        let (_config, watched) = watch::channel(Arc::new(config));
        let (vehicles, _records) = mpsc::channel(1);
        let setup = ScannerSetup {
            scanner: "gantry".into(),
            config: watched,
            speed_planes: SpeedPlanes::default(),
            cameras: HashMap::new(),
            vehicles,
            metrics: LidarMetrics::register(&Registry::new()).unwrap(),
            hub: Hub::new(4),
            view: ScannerView::new("gantry"),
            recorder: None,
        };
        let error = run_scanner(setup, CancellationToken::new())
            .await
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "camera cam-1 watches lane lane-1 of scanner gantry but has no trigger channel"
        );
    }
}
