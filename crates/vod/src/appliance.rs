//! The whole appliance, in-process: [`Appliance::start`] builds every stage from the config
//! file as read and the sockets it should serve, under one supervisor; [`Appliance::run`] runs
//! them until the future it is given completes (a stop signal, or a test's word). Tests bind
//! port 0 and start the box as `vod run` does.
//!
//! The stages, from the back: store writer <- vision <- cameras <- scanners, joined by bounded
//! channels (docs/ARCHITECTURE.md); beside them the vehicle recorder, the job queues and their
//! scheduler, the bus and the two HTTP servers. Each is a value that runs itself
//! ([`vod_core::Component`]); what it reads of the config comes from the live configuration
//! handle, so a change reaches it without a restart where the config allows.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use prometheus::{IntCounterVec, Opts, Registry};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use vod_camera::{Camera, CameraMetrics, CameraTask, SimCamera};
use vod_core::config::live::{ConfigHandle, HandleSetup, LivePart};
use vod_core::config::{CameraConfig, CameraSource, Config, LoadedConfig};
use vod_core::control::BoxControl;
use vod_core::log_ring::LogRing;
use vod_core::supervisor::{Component, Supervisor, SupervisorError, channel};
use vod_core::{Hub, ScannerView, TaskError, TestTriggers, TriggerCommand};
use vod_lidar::recording::TelegramRecorder;
use vod_lidar::{LidarMetrics, ScannerSetup, SpeedPlanes};
use vod_store::{
    Outbound, QueueRunner, RetentionSweeper, Scheduler, Store, StoreMetrics, VehicleRecorder,
    Writer,
};
use vod_uplink::UplinkMetrics;
use vod_uplink::cloud::{Backlog, Uploader, upload_queue};
use vod_uplink::jetstream::{Exporter, jetstream_queue};
use vod_uplink::push::Dispatcher;
use vod_vision::bursts::BurstRecorder;
use vod_vision::{Vision, VisionMetrics, VisionSet, VisionStage};
use vod_web::Server;

use crate::control::{ApplianceControl, Depth, Input, Sampler, Samples, depth_of};
use crate::record::Recorders;
use crate::telemetry::LogFilter;

/// Bounds of the channels between stages (see docs/ARCHITECTURE.md for their policies).
const TRIGGER_QUEUE: usize = 16;
const BURST_QUEUE: usize = 8;
const CAPTURE_QUEUE: usize = 8;
/// About half an hour of vehicle records at 8 lanes of 2,000 vehicles an hour, in case the
/// database stalls.
const VEHICLE_QUEUE: usize = 16_384;
const HUB_CAPACITY: usize = 1024;
/// Connections the metrics port holds at once: scrapers, not people.
const METRICS_CONNECTIONS: u32 = 64;
/// How long components get to finish after a stop is asked for.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(4);
/// Image files younger than this may belong to a capture being written by another process.
const FILE_CHECK_MIN_AGE: Duration = Duration::from_secs(600);

/// The start-up file check ([`Store::check_files`]), once, beside the running box rather than
/// before it is ready: with a million captures it lists millions of rows and files. Safe
/// beside new captures: it lists the rows before the files, and leaves young files alone.
struct FileCheck(Store);

impl Component for FileCheck {
    async fn run(&self, shutdown: CancellationToken) -> Result<(), TaskError> {
        let started = std::time::Instant::now();
        let report = tokio::select! {
            () = shutdown.cancelled() => return Ok(()),
            report = self.0.check_files(FILE_CHECK_MIN_AGE) => report?,
        };
        tracing::info!(
            files = report.files_seen,
            rows = report.rows_seen,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "Checked the image files."
        );
        shutdown.cancelled().await;
        Ok(())
    }
}

/// The sockets the appliance serves, bound before it starts.
#[derive(Debug)]
pub struct Listeners {
    pub web: std::net::TcpListener,
    pub metrics: std::net::TcpListener,
}

impl Listeners {
    /// Binds the addresses the config names.
    pub fn bind(config: &Config) -> anyhow::Result<Listeners> {
        let bind = |address: SocketAddr, key: &str| {
            std::net::TcpListener::bind(address)
                .with_context(|| format!("{key}: cannot listen on {address}"))
        };
        Ok(Listeners {
            web: bind(config.web.listen, "web.listen")?,
            metrics: bind(config.metrics.listen, "metrics.listen")?,
        })
    }
}

/// What the appliance starts from.
#[derive(Debug)]
pub struct Setup {
    /// The config file; every change through the live configuration handle is written back
    /// into it.
    pub path: PathBuf,
    /// The file as read and validated.
    pub loaded: LoadedConfig,
    pub listeners: Listeners,
    /// The binary's logger, which follows `log.filter` and which the bus may set until the
    /// next restart; none in tests that keep their own.
    pub log_filter: Option<LogFilter>,
    /// The ring the process's logger fills, shown on the web page.
    pub logs: LogRing,
}

/// A started appliance.
#[derive(Debug)]
pub struct Appliance {
    /// The one way to read and change the running configuration.
    pub config: ConfigHandle,
    pub store: Store,
    pub hub: Hub,
    pub web_address: SocketAddr,
    pub metrics_address: SocketAddr,
    supervisor: Supervisor,
    shutdown: CancellationToken,
}

/// How a run ended.
#[derive(Debug)]
pub enum Outcome {
    /// Asked to stop; every component stopped (or the grace period ran out).
    Stopped,
    /// A component failed past its restart intensity; the others were stopped.
    GaveUp(SupervisorError),
}

impl Appliance {
    /// Opens the store, loads the models and starts every stage. A model, a camera or a
    /// database that cannot be opened stops the start with an error.
    pub async fn start(setup: Setup) -> anyhow::Result<Appliance> {
        let Setup {
            path,
            loaded,
            listeners,
            log_filter,
            logs,
        } = setup;
        let config = loaded.config.clone();
        let registry = Registry::new();
        let metrics = Metrics::register(&registry)?;
        let recorders = match &config.record {
            Some(record) => {
                let (dir, recorders) = crate::record::start(
                    record,
                    &config,
                    &loaded.text,
                    &metrics.lidar,
                    &metrics.vision,
                )
                .context("starting the recording")?;
                tracing::info!(dir = %dir.display(), bursts = record.bursts, "Recording the scanners.");
                recorders
            }
            None => Recorders::default(),
        };
        let vision_config = config.vision.clone();
        let vision = Vision::new(
            tokio::task::spawn_blocking(move || VisionSet::load(&vision_config))
                .await?
                .context("loading the vision models")?,
        );
        let store = Store::open(&config.storage, metrics.store.clone())
            .await
            .context("opening the store")?;
        let hub = Hub::new(HUB_CAPACITY);
        let mut parts: Vec<Arc<dyn LivePart>> = vec![Arc::new(vision.clone())];
        if let Some(log_filter) = &log_filter {
            parts.push(Arc::new(log_filter.clone()));
        }
        let handle = ConfigHandle::new(
            HandleSetup {
                path,
                loaded,
                parts,
                history: Arc::new(store.clone()),
                hub: hub.clone(),
            },
            &registry,
        )?;
        handle.record_start().await;
        let shutdown = CancellationToken::new();
        let mut supervisor = Supervisor::new(
            config.supervisor.restart_policy(),
            metrics.restarts_total.clone(),
            hub.clone(),
            shutdown.clone(),
        );
        let stages = Stages {
            config: &config,
            handle: &handle,
            store: &store,
            hub: &hub,
            metrics: &metrics,
        };
        stages.start_store(&mut supervisor)?;
        stages.start_uplink(&mut supervisor);
        let mut inputs = BTreeMap::new();
        let input = |depth, feeds: Option<&str>| Input {
            depth,
            feeds: feeds.map(str::to_owned),
        };
        let (bursts, captures_depth) =
            stages.start_vision(&mut supervisor, vision, recorders.bursts.clone());
        inputs.insert("vision".to_owned(), input(depth_of(&bursts), Some("store")));
        inputs.insert("store".to_owned(), input(captures_depth, None));
        let triggers = stages.start_cameras(&mut supervisor, &bursts)?;
        drop(bursts);
        for (camera, sender) in &triggers {
            inputs.insert(
                format!("camera:{camera}"),
                input(depth_of(sender), Some("vision")),
            );
        }
        let test_triggers = TestTriggers::new(triggers.clone());
        let (scanner_views, vehicles_depth) =
            stages.start_scanners(&mut supervisor, triggers, &recorders.scanners);
        inputs.insert("vehicles".to_owned(), input(vehicles_depth, None));
        let control = ApplianceControl {
            config: handle.clone(),
            store: store.clone(),
            registry: registry.clone(),
            children: supervisor.children(),
            scanners: scanner_views.clone(),
            triggers: test_triggers.clone(),
            inputs,
            log_filter,
            samples: Samples::default(),
        };
        supervisor.start("control:sampler", Sampler(control.clone()));
        stages.start_bus(&mut supervisor, Arc::new(control));
        let web_address = listeners.web.local_addr()?;
        let metrics_address = listeners.metrics.local_addr()?;
        let access = Arc::new(vod_web::Access::new(metrics.web_access.clone()));
        if store.user_count().await? == 0 {
            let token = access.issue_setup_token();
            tracing::warn!(
                "No user exists yet: open http://{web_address}/setup and create the first admin \
                 with the first-run token {token} (it works once, until vod restarts; or add one \
                 with `vod user add NAME --role admin`)."
            );
        }
        let state = vod_web::AppState::new(
            store.clone(),
            hub.clone(),
            handle.clone(),
            registry.clone(),
            access,
            shutdown.clone(),
        )
        .with_scanners(scanner_views)
        .with_logs(logs)
        .with_test_triggers(test_triggers);
        let mut web = Server::new(
            "web",
            listeners.web,
            vod_web::app(state.clone()),
            vod_web::ConnectionLimits {
                max_connections: config.web.max_connections,
                header_timeout: Duration::from_secs(u64::from(config.web.header_timeout_s)),
            },
            metrics.servers.clone(),
        )?;
        if let (Some(cert), Some(key)) = (&config.web.tls_cert_file, &config.web.tls_key_file) {
            web = web.with_tls(vod_web::tls_acceptor(cert, key).map_err(anyhow::Error::msg)?);
        }
        supervisor.start("web", web);
        supervisor.start(
            "metrics",
            Server::new(
                "metrics",
                listeners.metrics,
                vod_web::metrics_app(state),
                vod_web::ConnectionLimits {
                    max_connections: METRICS_CONNECTIONS,
                    header_timeout: Duration::from_secs(u64::from(config.web.header_timeout_s)),
                },
                metrics.servers.clone(),
            )?,
        );
        tracing::info!(
            site = %config.site.id,
            web = %web_address,
            metrics = %metrics_address,
            data_dir = %config.storage.data_dir.display(),
            "Appliance started."
        );
        Ok(Appliance {
            config: handle,
            store,
            hub,
            web_address,
            metrics_address,
            supervisor,
            shutdown,
        })
    }

    /// Runs until `stop` completes, then gives the components [`SHUTDOWN_GRACE`] to finish;
    /// or until a component gives up.
    pub async fn run(self, stop: impl Future<Output = ()>) -> Outcome {
        let Appliance {
            store,
            supervisor,
            shutdown,
            ..
        } = self;
        let result = supervisor.wait();
        tokio::pin!(result);
        let result = tokio::select! {
            result = &mut result => result,
            () = stop => {
                shutdown.cancel();
                tokio::select! {
                    result = &mut result => result,
                    () = tokio::time::sleep(SHUTDOWN_GRACE) => {
                        tracing::warn!(grace_s = SHUTDOWN_GRACE.as_secs(), "Components still busy after the grace period; stopping anyway.");
                        Ok(())
                    }
                }
            }
        };
        store.close().await;
        match result {
            Ok(()) => Outcome::Stopped,
            Err(error) => Outcome::GaveUp(error),
        }
    }
}

/// Every component's metrics, in one registry.
#[derive(Debug)]
struct Metrics {
    restarts_total: IntCounterVec,
    lidar: LidarMetrics,
    camera: CameraMetrics,
    vision: VisionMetrics,
    store: StoreMetrics,
    bus: vod_bus::BusMetrics,
    uplink: UplinkMetrics,
    servers: vod_web::ServerMetrics,
    web_access: vod_web::AccessMetrics,
}

impl Metrics {
    fn register(registry: &Registry) -> Result<Metrics, prometheus::Error> {
        let restarts_total = IntCounterVec::new(
            Opts::new(
                "vod_supervisor_restarts_total",
                "Restarts of a component after it failed or panicked.",
            ),
            &["component"],
        )?;
        registry.register(Box::new(restarts_total.clone()))?;
        // Memory, CPU, open files and threads of the process, from /proc.
        registry.register(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        ))?;
        let build_info = prometheus::IntGaugeVec::new(
            Opts::new(
                "vod_build_info",
                "Always 1: the version and the commit of the running binary.",
            ),
            &["version", "commit"],
        )?;
        build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION"), env!("VOD_COMMIT")])
            .set(1);
        registry.register(Box::new(build_info))?;
        Ok(Metrics {
            restarts_total,
            lidar: LidarMetrics::register(registry)?,
            camera: CameraMetrics::register(registry)?,
            vision: VisionMetrics::register(registry)?,
            store: StoreMetrics::register(registry)?,
            bus: vod_bus::BusMetrics::register(registry)?,
            uplink: UplinkMetrics::register(registry)?,
            servers: vod_web::ServerMetrics::register(registry)?,
            web_access: vod_web::AccessMetrics::register(registry)?,
        })
    }
}

/// What the stages are built from.
struct Stages<'a> {
    /// The config at start: the box's structure (which cameras, scanners, bus) comes from it.
    config: &'a Config,
    handle: &'a ConfigHandle,
    store: &'a Store,
    hub: &'a Hub,
    metrics: &'a Metrics,
}

impl Stages<'_> {
    /// The store writer, the vehicle recorder, the retention queue and the scheduler.
    fn start_store(&self, supervisor: &mut Supervisor) -> anyhow::Result<()> {
        let (store, hub) = (self.store, self.hub);
        // Checked with the config; an error here is a bug.
        vod_store::sweep_schedule(&self.config.retention, &self.config.jobs)
            .context("retention.sweep_cron")?;
        let sweeper = RetentionSweeper {
            store: store.clone(),
            config: self.handle.section(|config| config.retention.clone()),
            hub: hub.clone(),
        };
        supervisor.start(
            "jobs:retention",
            QueueRunner {
                store: store.clone(),
                queue: self
                    .handle
                    .section(|config| vod_store::retention_queue(&config.jobs)),
                handler: Arc::new(sweeper),
            },
        );
        supervisor.start("store:file-check", FileCheck(store.clone()));
        supervisor.start(
            "jobs:periodic",
            Scheduler {
                store: store.clone(),
                jobs: self.handle.section(|config| {
                    vod_store::sweep_schedule(&config.retention, &config.jobs)
                        .into_iter()
                        .collect()
                }),
            },
        );
        Ok(())
    }

    /// The uplink: the upload queue (idle without a cloud target, which may come while the box
    /// runs), its backlog gauges, a queue per push endpoint, and the JetStream export when the
    /// config has it.
    fn start_uplink(&self, supervisor: &mut Supervisor) {
        let site: Arc<str> = Arc::from(self.config.site.id.as_str());
        let uploader = Uploader::new(
            self.store.clone(),
            site.clone(),
            self.handle.section(|config| config.uplink.cloud.clone()),
            self.metrics.uplink.clone(),
        );
        supervisor.start(
            "jobs:upload",
            QueueRunner {
                store: self.store.clone(),
                queue: self.handle.section(upload_queue),
                handler: Arc::new(uploader),
            },
        );
        supervisor.start(
            "uplink:backlog",
            Backlog {
                store: self.store.clone(),
                metrics: self.metrics.uplink.clone(),
            },
        );
        supervisor.start(
            "push",
            Dispatcher {
                store: self.store.clone(),
                site: site.clone(),
                hub: self.hub.clone(),
                config: self.handle.section(|config| config.uplink.push.clone()),
                metrics: self.metrics.uplink.clone(),
            },
        );
        if let (Some(bus), Some(jetstream)) = (&self.config.bus, &self.config.uplink.jetstream) {
            let exporter = Exporter::new(
                self.store.clone(),
                site,
                bus.clone(),
                jetstream.clone(),
                self.metrics.uplink.clone(),
            );
            supervisor.start(
                "jobs:jetstream",
                QueueRunner {
                    store: self.store.clone(),
                    queue: self.handle.section(jetstream_queue),
                    handler: Arc::new(exporter),
                },
            );
        }
    }

    /// The vision stage and, behind it, the store writer; returns the vision stage's inbox
    /// and the depth of the store writer's.
    fn start_vision(
        &self,
        supervisor: &mut Supervisor,
        vision: Vision,
        raw_bursts: Option<BurstRecorder>,
    ) -> (mpsc::Sender<vod_core::Burst>, Depth) {
        let (captures, capture_inbox) = channel(CAPTURE_QUEUE);
        let captures_depth = depth_of(&captures);
        supervisor.start(
            "store",
            Writer {
                store: self.store.clone(),
                captures: capture_inbox,
                hub: self.hub.clone(),
                outbound: self.handle.section(|config| Outbound {
                    upload: config.uplink.cloud.is_some(),
                    jetstream: config.uplink.jetstream.is_some(),
                    push_attempts: Some(config.uplink.push.retry_schedule_s.len() as u32 + 1),
                }),
            },
        );
        let (bursts, burst_inbox) = channel(BURST_QUEUE);
        supervisor.start(
            "vision",
            VisionStage {
                bursts: burst_inbox,
                captures,
                vision,
                metrics: self.metrics.vision.clone(),
                raw_bursts,
                views_by_lane: self.handle.section(vod_vision::views_by_lane),
            },
        );
        (bursts, captures_depth)
    }

    /// A task per camera; returns each camera's trigger channel by name.
    fn start_cameras(
        &self,
        supervisor: &mut Supervisor,
        bursts: &mpsc::Sender<vod_core::Burst>,
    ) -> anyhow::Result<HashMap<String, mpsc::Sender<TriggerCommand>>> {
        let mut triggers = HashMap::new();
        for camera_config in &self.config.cameras {
            let camera = open_camera(camera_config, &self.metrics.camera)?;
            let (trigger_tx, trigger_inbox) = channel(TRIGGER_QUEUE);
            triggers.insert(camera_config.name.clone(), trigger_tx);
            let (name, at_start) = (camera_config.name.clone(), camera_config.clone());
            let settings = self.handle.section(move |config| {
                config
                    .cameras
                    .iter()
                    .find(|camera| camera.name == name)
                    .unwrap_or(&at_start)
                    .clone()
            });
            supervisor.start(
                format!("camera:{}", camera_config.name),
                CameraTask {
                    camera: Arc::new(std::sync::Mutex::new(camera)),
                    triggers: trigger_inbox,
                    bursts: bursts.clone(),
                    settings,
                    metrics: self.metrics.camera.clone(),
                },
            );
        }
        Ok(triggers)
    }

    /// The vehicle recorder, and a pipeline per scanner, each on a thread of its own; returns
    /// each scanner's view and the depth of the recorder's inbox.
    fn start_scanners(
        &self,
        supervisor: &mut Supervisor,
        triggers: HashMap<String, mpsc::Sender<TriggerCommand>>,
        recorders: &HashMap<String, TelegramRecorder>,
    ) -> (Vec<ScannerView>, Depth) {
        let (vehicles, vehicle_inbox) = channel(VEHICLE_QUEUE);
        let vehicles_depth = depth_of(&vehicles);
        supervisor.start(
            "vehicles",
            VehicleRecorder {
                store: self.store.clone(),
                vehicles: vehicle_inbox,
            },
        );
        let speed_planes = SpeedPlanes::new(&self.config.speed_planes);
        let mut views = Vec::new();
        for scanner in &self.config.scanners {
            let view = ScannerView::new(&scanner.name);
            views.push(view.clone());
            supervisor.start(
                format!("lidar:{}", scanner.name),
                ScannerSetup {
                    scanner: scanner.name.clone(),
                    config: self.handle.subscribe(),
                    speed_planes: speed_planes.clone(),
                    cameras: triggers.clone(),
                    vehicles: vehicles.clone(),
                    metrics: self.metrics.lidar.clone(),
                    hub: self.hub.clone(),
                    view,
                    recorder: recorders.get(&scanner.name).cloned(),
                },
            );
        }
        (views, vehicles_depth)
    }

    /// The event publisher and the control plane's service, when the config has a bus.
    fn start_bus(&self, supervisor: &mut Supervisor, control: Arc<dyn BoxControl>) {
        let Some(bus) = &self.config.bus else {
            return;
        };
        let site: Arc<str> = Arc::from(self.config.site.id.as_str());
        supervisor.start(
            "bus",
            vod_bus::Publisher {
                config: bus.clone(),
                site: site.clone(),
                hub: self.hub.clone(),
                metrics: self.metrics.bus.clone(),
            },
        );
        supervisor.start(
            "bus:service",
            vod_bus::Service {
                config: bus.clone(),
                site,
                commands: vod_bus::Commands {
                    store: self.store.clone(),
                    config: self.handle.clone(),
                    control,
                },
                metrics: self.metrics.bus.clone(),
            },
        );
    }
}

fn open_camera(config: &CameraConfig, metrics: &CameraMetrics) -> anyhow::Result<Box<dyn Camera>> {
    let name: Arc<str> = Arc::from(config.name.as_str());
    Ok(match &config.source {
        CameraSource::Sim(sim) => Box::new(SimCamera::from_source(name, sim)?),
        CameraSource::Gige(gige) => Box::new(vod_camera::gige::GigeCamera::start(
            name,
            gige.into(),
            metrics.clone(),
        )),
        CameraSource::Usb(usb) => Box::new(vod_camera::usb::ReopeningUsbCamera::new(
            name,
            &usb.device,
            usb.ring_frames as usize,
            Duration::from_millis(u64::from(usb.tolerance_ms)),
        )),
    })
}
