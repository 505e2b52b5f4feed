//! The running appliance as the control plane sees it ([`BoxControl`]): each component's
//! state, read from the component (the supervisor's table, a scanner's latest scan, its
//! settings, its own counters and their rates, the depth of its input channel), where the
//! time goes (its task's busy time and wake-ups, each thread's CPU time, now and over the
//! last minute, from [`Sampler`]), and what one can make it do. The sampler is also the
//! watchdog: a component whose input waits while it makes no progress (for [`STALL_AFTER`]
//! its queue never shrinks and its task is hardly busy, and what it feeds is not full) is
//! restarted.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use base64::Engine;
use prometheus::Registry;
use prometheus::proto::MetricType;
use serde_json::{Map, Value, json};
use tokio_util::sync::CancellationToken;
use vod_core::config::live::{BoxFuture, ConfigHandle};
use vod_core::config::path::KeyPath;
use vod_core::config::secrets::mask_json;
use vod_core::control::{BoxControl, ControlError};
use vod_core::supervisor::Children;
use vod_core::{Component, ScannerView, TaskError, TestTriggerError, TestTriggers};
use vod_store::Store;

use crate::process::{self, ProcessSample};
use crate::telemetry::LogFilter;

/// How often the sampler takes a sample, and how far back "the last minute" looks.
const SAMPLE_EVERY: Duration = Duration::from_secs(5);
const WINDOW: Duration = Duration::from_secs(60);
/// How long a component may sit on waiting input without progress before the watchdog
/// restarts it.
pub const STALL_AFTER: Duration = Duration::from_secs(15);
/// Busy time below which a component with waiting input counts as making no progress (the
/// polls a stuck task gets when something is sent to it take microseconds).
const STALL_BUSY_MS: u64 = 5;
/// The largest image a snapshot carries (NATS messages are 1 MiB by default).
const SNAPSHOT_IMAGE_MAX_BYTES: u64 = 256 * 1024;

/// How full a component's input channel is.
pub type Depth = Arc<dyn Fn() -> (usize, usize) + Send + Sync>;

/// A component's input channel, and the component it feeds, whose full input is
/// backpressure, not a stall.
#[derive(Clone)]
pub struct Input {
    pub depth: Depth,
    pub feeds: Option<String>,
}

/// The depth of `sender`'s channel: messages waiting, and its bound.
pub fn depth_of<T: Send + 'static>(sender: &tokio::sync::mpsc::Sender<T>) -> Depth {
    let sender = sender.downgrade();
    Arc::new(move || {
        sender.upgrade().map_or((0, 0), |sender| {
            (
                sender.max_capacity() - sender.capacity(),
                sender.max_capacity(),
            )
        })
    })
}

/// One look at where the time went.
#[derive(Debug, Clone)]
struct Sample {
    at: Instant,
    /// Busy time and wake-ups of each component's task.
    tasks: BTreeMap<String, (u64, u64)>,
    process: ProcessSample,
    counters: BTreeMap<String, BTreeMap<String, f64>>,
}

/// The samples of the last minute, newest last.
#[derive(Debug, Clone, Default)]
pub struct Samples(Arc<Mutex<VecDeque<Sample>>>);

impl Samples {
    fn push(&self, sample: Sample) {
        let mut samples = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        samples.push_back(sample);
        while samples
            .front()
            .is_some_and(|oldest| oldest.at.elapsed() > WINDOW + SAMPLE_EVERY)
        {
            samples.pop_front();
        }
    }

    /// The sample closest to a minute ago, or the oldest there is.
    fn minute_ago(&self) -> Option<Sample> {
        let samples = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        samples
            .iter()
            .find(|sample| sample.at.elapsed() <= WINDOW)
            .or(samples.front())
            .cloned()
    }

    /// The newest sample.
    fn latest(&self) -> Option<Sample> {
        let samples = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        samples.back().cloned()
    }
}

/// Everything the control plane reaches.
#[derive(Clone)]
pub struct ApplianceControl {
    pub config: ConfigHandle,
    pub store: Store,
    pub registry: Registry,
    pub children: Children,
    pub scanners: Vec<ScannerView>,
    pub triggers: TestTriggers,
    /// Input channels by component.
    pub inputs: BTreeMap<String, Input>,
    pub log_filter: Option<LogFilter>,
    pub samples: Samples,
}

impl std::fmt::Debug for ApplianceControl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApplianceControl")
            .field("inputs", &self.inputs.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl ApplianceControl {
    fn sample(&self) -> Sample {
        let families = self.registry.gather();
        let config = self.config.current();
        let mut tasks = BTreeMap::new();
        let mut counters = BTreeMap::new();
        for (name, status) in self.children.list() {
            counters.insert(name.clone(), counters_of(&families, &config, &name));
            tasks.insert(name, (status.busy_ms, status.wakeups));
        }
        Sample {
            at: Instant::now(),
            tasks,
            process: process::sample(),
            counters,
        }
    }

    /// The state of `component`, whose supervisor entry is `supervisor`.
    fn component_state(&self, name: &str, supervisor: Value, now: &Sample) -> Value {
        let mut state = Map::new();
        state.insert("supervisor".into(), supervisor);
        let counters = now.counters.get(name).cloned().unwrap_or_default();
        if let Some(before) = self.samples.latest() {
            let seconds = now.at.duration_since(before.at).as_secs_f64();
            let before = before.counters.get(name).cloned().unwrap_or_default();
            let rates: Map<String, Value> = counters
                .iter()
                .filter(|(key, _)| key.contains("_total"))
                .filter_map(|(key, value)| {
                    let earlier = before.get(key)?;
                    (seconds > 0.5)
                        .then(|| (key.clone(), json!(round2((value - earlier) / seconds))))
                })
                .collect();
            state.insert("rates_per_s".into(), Value::Object(rates));
        }
        state.insert("counters".into(), json!(counters));
        if let Some((depth, bound)) = self.inputs.get(name).map(|input| (input.depth)()) {
            state.insert("input".into(), json!({ "queued": depth, "bound": bound }));
        }
        let config = self.config.current();
        if let Some(scanner) = name.strip_prefix("lidar:") {
            if let Some(settings) = config.scanners.iter().find(|s| s.name == scanner) {
                state.insert("settings".into(), masked(json!(settings)));
            }
            if let Some(view) = self.scanners.iter().find(|view| &*view.scanner == scanner) {
                state.insert("detector".into(), detector_state(view));
            }
        }
        if let Some(camera) = name.strip_prefix("camera:")
            && let Some(settings) = config.cameras.iter().find(|c| c.name == camera)
        {
            state.insert("settings".into(), masked(json!(settings)));
        }
        if name == "vision" {
            state.insert("settings".into(), masked(json!(config.vision)));
        }
        if name == "store" {
            state.insert("settings".into(), masked(json!(config.storage)));
            state.insert("disk".into(), disk(&config.storage.data_dir));
        }
        Value::Object(state)
    }
}

/// What a scanner's detector saw in its latest scan.
fn detector_state(view: &ScannerView) -> Value {
    let Some(scan) = view.latest() else {
        return json!({ "scans": 0 });
    };
    json!({
        "latest_scan_utc": scan.received_utc,
        "background_learned": scan.learning.is_none(),
        "learning": scan.learning.map(|(seen, needed)| json!({ "scans": seen, "needed": needed })),
        "lanes": scan.lanes.iter().map(|lane| json!({
            "lane": lane.name,
            "occupied": lane.occupied,
        })).collect::<Vec<_>>(),
        "vehicles_in_progress": scan.lanes.iter().filter(|lane| lane.occupied).count(),
        "objects": scan.objects.len(),
    })
}

/// Free and total bytes of the file system that holds the data directory.
fn disk(data_dir: &std::path::Path) -> Value {
    match vod_store::disk_space(data_dir) {
        Ok(space) => json!({
            "free_bytes": space.free_bytes,
            "total_bytes": space.total_bytes,
        }),
        Err(error) => json!({ "error": error.to_string() }),
    }
}

/// Settings as shown: secrets masked.
fn masked(mut settings: Value) -> Value {
    mask_json(&KeyPath::default(), &mut settings);
    settings
}

fn round2(value: f64) -> f64 {
    (value * 100.0).round() / 100.0
}

/// The metric families that belong to `component`, flattened to `name{labels}` and value:
/// a scanner's by its label and its lanes', a camera's by its label, the others' by their
/// name's prefix.
fn counters_of(
    families: &[prometheus::proto::MetricFamily],
    config: &vod_core::config::Config,
    component: &str,
) -> BTreeMap<String, f64> {
    let (label, owners, prefixes): (Option<(&str, &str)>, Vec<&str>, &[&str]) =
        if let Some(scanner) = component.strip_prefix("lidar:") {
            let lanes = config
                .lanes
                .iter()
                .filter(|lane| lane.scanner == scanner)
                .map(|lane| lane.name.as_str())
                .collect();
            (Some(("scanner", scanner)), lanes, &["vod_lidar_"])
        } else if let Some(camera) = component.strip_prefix("camera:") {
            (
                Some(("camera", camera)),
                Vec::new(),
                &["vod_camera_", "vod_lidar_triggers_dropped"],
            )
        } else {
            let prefixes: &[&str] = match component {
                "vision" => &["vod_vision_"],
                "store" | "vehicles" | "jobs:retention" | "jobs:periodic" => &["vod_store_"],
                "jobs:upload" | "push" | "uplink:backlog" | "jobs:jetstream" => &["vod_uplink_"],
                "bus" | "bus:service" => &["vod_bus_"],
                "web" | "metrics" => &["vod_web_"],
                _ => &[],
            };
            (None, Vec::new(), prefixes)
        };
    let mut counters = BTreeMap::new();
    for family in families {
        if !prefixes
            .iter()
            .any(|prefix| family.name().starts_with(prefix))
        {
            continue;
        }
        for metric in family.get_metric() {
            let labels = metric.get_label();
            let owned = labels.iter().any(|pair| {
                label.is_some_and(|(key, value)| pair.name() == key && pair.value() == value)
                    || (pair.name() == "lane" && owners.contains(&pair.value()))
            });
            if label.is_some() && !owned {
                continue;
            }
            let others: Vec<String> = labels
                .iter()
                .filter(|pair| label.is_none_or(|(key, _)| pair.name() != key))
                .map(|pair| format!("{}=\"{}\"", pair.name(), pair.value()))
                .collect();
            let key = if others.is_empty() {
                family.name().to_owned()
            } else {
                format!("{}{{{}}}", family.name(), others.join(","))
            };
            match family.get_field_type() {
                MetricType::COUNTER => {
                    counters.insert(key, metric.get_counter().get_value());
                }
                MetricType::GAUGE => {
                    counters.insert(key, metric.get_gauge().get_value());
                }
                MetricType::HISTOGRAM => {
                    let histogram = metric.get_histogram();
                    let count = histogram.get_sample_count();
                    counters.insert(format!("{key}_count"), count as f64);
                    if count > 0 {
                        let mean_ms = histogram.get_sample_sum() / count as f64 * 1000.0;
                        counters.insert(format!("{key}_mean_ms"), round2(mean_ms));
                    }
                }
                _ => {}
            }
        }
    }
    counters
}

impl BoxControl for ApplianceControl {
    fn state<'a>(
        &'a self,
        component: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Value, ControlError>> {
        Box::pin(async move {
            let now = self.sample();
            let children = self.children.list();
            let mut states = Map::new();
            for (name, status) in &children {
                if component.is_some_and(|wanted| wanted != name) {
                    continue;
                }
                let supervisor = json!(status);
                states.insert(name.clone(), self.component_state(name, supervisor, &now));
            }
            match component {
                Some(name) if states.is_empty() => Err(ControlError::NotFound(format!(
                    "no component {name:?}; there are: {}",
                    children.keys().cloned().collect::<Vec<_>>().join(", ")
                ))),
                _ => Ok(Value::Object(states)),
            }
        })
    }

    fn top(&self) -> Value {
        let now = self.sample();
        let before = self.samples.minute_ago();
        let window_s = before
            .as_ref()
            .map_or(0.0, |before| now.at.duration_since(before.at).as_secs_f64());
        let mut components = Map::new();
        for (name, (busy_ms, wakeups)) in &now.tasks {
            let (busy_then, wakeups_then) = before
                .as_ref()
                .and_then(|before| before.tasks.get(name).copied())
                .unwrap_or((0, 0));
            let mut row = json!({
                "busy_ms": busy_ms,
                "wakeups": wakeups,
                "busy_ms_last_minute": busy_ms.saturating_sub(busy_then),
                "wakeups_last_minute": wakeups.saturating_sub(wakeups_then),
            });
            if let Some((queued, bound)) = self.inputs.get(name).map(|input| (input.depth)()) {
                row["input_queued"] = json!(queued);
                row["input_bound"] = json!(bound);
            }
            components.insert(name.clone(), row);
        }
        let threads: Map<String, Value> = now
            .process
            .thread_cpu_ms
            .iter()
            .map(|(name, cpu_ms)| {
                let then = before
                    .as_ref()
                    .and_then(|before| before.process.thread_cpu_ms.get(name).copied())
                    .unwrap_or(0);
                (
                    name.clone(),
                    json!({ "cpu_ms": cpu_ms, "cpu_ms_last_minute": cpu_ms.saturating_sub(then) }),
                )
            })
            .collect();
        json!({
            "window_s": round2(window_s),
            "components": components,
            "threads": threads,
            "process": {
                "rss_mb": round2(now.process.rss_bytes as f64 / 1_048_576.0),
                "open_files": now.process.open_files,
                "threads": now.process.threads,
                "cpu_ms": now.process.cpu_ms,
            },
        })
    }

    fn trigger(&self, lane: &str, actor: &str) -> Result<Value, ControlError> {
        let config = self.config.current();
        let cameras: Vec<_> = config
            .cameras
            .iter()
            .filter(|camera| camera.lane == lane)
            .collect();
        if cameras.is_empty() {
            return Err(ControlError::NotFound(format!(
                "no camera watches lane {lane:?}"
            )));
        }
        let mut fired = Map::new();
        for camera in cameras {
            let vehicle_id = self.triggers.fire(camera).map_err(|error| match error {
                TestTriggerError::NoSuchCamera(_) => ControlError::NotFound(error.to_string()),
                TestTriggerError::Busy(_) | TestTriggerError::NotRunning(_) => {
                    ControlError::Busy(error.to_string())
                }
            })?;
            fired.insert(camera.name.clone(), json!(vehicle_id.to_string()));
        }
        tracing::info!(%lane, %actor, "A test capture was asked for over the bus.");
        Ok(Value::Object(fired))
    }

    fn relearn(&self, scanner: Option<&str>, actor: &str) -> Result<Value, ControlError> {
        let views: Vec<_> = self
            .scanners
            .iter()
            .filter(|view| scanner.is_none_or(|name| &*view.scanner == name))
            .collect();
        if views.is_empty() {
            return Err(ControlError::NotFound(format!(
                "no scanner {:?}",
                scanner.unwrap_or_default()
            )));
        }
        for view in &views {
            view.request_relearn();
            tracing::info!(scanner = %view.scanner, %actor, "The road's background is learnt again, as asked over the bus.");
        }
        Ok(json!(
            views.iter().map(|view| &*view.scanner).collect::<Vec<_>>()
        ))
    }

    fn restart(&self, component: &str, actor: &str) -> Result<(), ControlError> {
        self.children
            .restart(component, actor)
            .map_err(|error| ControlError::NotFound(error.to_string()))
    }

    fn set_log_filter(&self, filter: &str, actor: &str) -> Result<(), ControlError> {
        let Some(log_filter) = &self.log_filter else {
            return Err(ControlError::NotFound(
                "this process has no logger of its own".into(),
            ));
        };
        log_filter
            .replace(filter)
            .map_err(ControlError::BadRequest)?;
        tracing::warn!(%filter, %actor, "Log filter replaced until the next restart.");
        Ok(())
    }

    fn snapshot(&self) -> BoxFuture<'_, Result<Value, ControlError>> {
        Box::pin(async move {
            let scans: Map<String, Value> = self
                .scanners
                .iter()
                .map(|view| {
                    let scan = view.latest().map(|scan| json!(*scan));
                    (view.scanner.to_string(), scan.unwrap_or(Value::Null))
                })
                .collect();
            let mut cameras = Map::new();
            for camera in &self.config.current().cameras {
                let latest = self
                    .store
                    .latest_capture_of(&camera.name)
                    .await
                    .map_err(|error| {
                        tracing::error!(%error, "Snapshot: the store could not be read.");
                        ControlError::Internal(
                            "the store could not be read; see the box's log".into(),
                        )
                    })?;
                cameras.insert(camera.name.clone(), self.frame_of(latest).await);
            }
            Ok(json!({ "scans": scans, "cameras": cameras }))
        })
    }
}

impl ApplianceControl {
    /// The first image of a camera's latest capture (anonymized, as every stored image),
    /// base64 when it is small enough to travel.
    async fn frame_of(&self, latest: Option<vod_store::CaptureSummary>) -> Value {
        let Some(capture) = latest else {
            return Value::Null;
        };
        let mut frame = json!({
            "capture_id": capture.id.0,
            "vehicle_id": capture.vehicle_id.to_string(),
            "taken_utc": capture.first_image_utc,
            "test": capture.test,
        });
        let Some(path) = capture
            .first_image
            .as_deref()
            .and_then(|relative| self.store.image_path(relative))
        else {
            return frame;
        };
        match tokio::fs::read(&path).await {
            Ok(jpeg) if jpeg.len() as u64 <= SNAPSHOT_IMAGE_MAX_BYTES => {
                frame["jpeg_base64"] =
                    json!(base64::engine::general_purpose::STANDARD.encode(&jpeg));
            }
            Ok(jpeg) => {
                frame["jpeg_omitted"] = json!(format!(
                    "{} bytes, over the {SNAPSHOT_IMAGE_MAX_BYTES} a snapshot carries",
                    jpeg.len()
                ));
            }
            Err(error) => frame["jpeg_omitted"] = json!(error.to_string()),
        }
        frame
    }
}

/// Samples where the time goes every [`SAMPLE_EVERY`], for `top`'s last minute and `state`'s
/// rates, and restarts a component that stalls.
#[derive(Debug)]
pub struct Sampler(pub ApplianceControl);

impl Component for Sampler {
    async fn run(&self, shutdown: CancellationToken) -> Result<(), TaskError> {
        let mut ticks = tokio::time::interval(SAMPLE_EVERY);
        let mut progress = HashMap::new();
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return Ok(()),
                _ = ticks.tick() => {}
            }
            let control = self.0.clone();
            let sample = tokio::task::spawn_blocking(move || control.sample()).await?;
            if watch(&self.0, &sample, &mut progress) {
                crate::systemd::watchdog();
            }
            self.0.samples.push(sample);
        }
    }
}

/// Since when a component has been seen without progress: its busy time and queue then, and
/// how often the watchdog restarted it since it last made progress.
#[derive(Debug, Clone, Copy)]
struct NoProgress {
    since: Instant,
    busy_ms: u64,
    queued: usize,
    restarts: u32,
}

/// A component restarted this often without progress in between is beyond the watchdog:
/// systemd's watchdog is no longer fed, and restarts the whole process.
const RESTARTS_BEFORE_GIVING_UP: u32 = 2;

/// The watchdog's look at one sample: restarts each component whose input has waited for
/// [`STALL_AFTER`] with its queue never shrinking and its task busy less than
/// [`STALL_BUSY_MS`], unless what it feeds is full (backpressure, not a stall). True while
/// no component was restarted [`RESTARTS_BEFORE_GIVING_UP`] times in a row without progress:
/// the pipeline makes progress (or has nothing to do), and systemd's watchdog is fed.
fn watch(
    control: &ApplianceControl,
    sample: &Sample,
    progress: &mut HashMap<String, NoProgress>,
) -> bool {
    let mut healthy = true;
    for (name, input) in &control.inputs {
        let busy_ms = sample.tasks.get(name).map_or(0, |(busy_ms, _)| *busy_ms);
        let (queued, _) = (input.depth)();
        let backpressure = input
            .feeds
            .as_ref()
            .and_then(|next| control.inputs.get(next))
            .is_some_and(|next| {
                let (queued, bound) = (next.depth)();
                queued >= bound
            });
        let now = NoProgress {
            since: sample.at,
            busy_ms,
            queued,
            restarts: 0,
        };
        let seen = progress.entry(name.clone()).or_insert(now);
        let shrank = queued < seen.queued;
        seen.queued = queued;
        if queued == 0 || backpressure || shrank || busy_ms >= seen.busy_ms + STALL_BUSY_MS {
            *seen = now;
            continue;
        }
        let stalled = sample.at.duration_since(seen.since);
        if stalled >= STALL_AFTER {
            tracing::error!(component = %name, queued, stalled_s = stalled.as_secs(), "Component makes no progress with input waiting; restarting it.");
            let actor = format!(
                "the watchdog ({queued} waiting, no progress for {} s)",
                stalled.as_secs()
            );
            if let Err(error) = control.children.restart(name, &actor) {
                tracing::warn!(%error, "The watchdog could not restart a component.");
            }
            *seen = NoProgress {
                restarts: seen.restarts + 1,
                ..now
            };
        }
        if seen.restarts >= RESTARTS_BEFORE_GIVING_UP {
            healthy = false;
        }
    }
    healthy
}
