//! `vod run`: builds telemetry, metrics and every task from the validated config, runs them
//! under the supervisor, reloads its config file on SIGHUP, and stops cleanly on Ctrl-C or
//! SIGTERM.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use prometheus::{IntCounterVec, Opts, Registry};
use tokio::net::TcpListener;
use tokio::sync::{Mutex, mpsc};
use tokio_util::sync::CancellationToken;
use vod_camera::{Camera, CameraMetrics, SimCamera};
use vod_core::config::{CameraSource, LoadedConfig};
use vod_core::supervisor::Supervisor;
use vod_core::{Hub, TriggerCommand};
use vod_lidar::{LidarMetrics, ScannerSetup, SpeedPlanes};
use vod_store::{ConfigSource, Store, StoreMetrics};
use vod_vision::{Vision, VisionMetrics, VisionSet};

use crate::reload::Reloader;
use crate::{EX_SOFTWARE, EX_USAGE, signals, telemetry};

/// Bounds of the channels between stages (see docs/ARCHITECTURE.md for their policies).
const TRIGGER_QUEUE: usize = 16;
const BURST_QUEUE: usize = 8;
const CAPTURE_QUEUE: usize = 8;
const VEHICLE_QUEUE: usize = 4096;
const HUB_CAPACITY: usize = 1024;
/// How long components get to finish after a stop is asked for.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(4);

/// `config_path` is where `loaded` was read from; SIGHUP (or the bus command
/// `config.reload`) reads it again.
pub fn main(loaded: LoadedConfig, config_path: PathBuf) -> ExitCode {
    if let Err(error) = telemetry::init(&loaded.config.log) {
        eprintln!("log.filter: {error:#}");
        return ExitCode::from(EX_USAGE);
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            tracing::error!(%error, "Cannot start the async runtime.");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(loaded, config_path)) {
        Ok(Outcome::Stopped) => {
            tracing::info!("Stopped.");
            ExitCode::SUCCESS
        }
        Ok(Outcome::GaveUp) => ExitCode::from(EX_SOFTWARE),
        Err(error) => {
            tracing::error!("Cannot start: {error:#}");
            ExitCode::FAILURE
        }
    }
}

enum Outcome {
    Stopped,
    GaveUp,
}

async fn run(loaded: LoadedConfig, config_path: PathBuf) -> anyhow::Result<Outcome> {
    let LoadedConfig { config, text } = loaded;
    // From here on a SIGHUP is a reload request, not the end of the process.
    let mut hangups = signals::hangups().context("listening for SIGHUP")?;
    let registry = Registry::new();
    let restarts_total = IntCounterVec::new(
        Opts::new(
            "vod_supervisor_restarts_total",
            "Restarts of a component after it failed or panicked.",
        ),
        &["component"],
    )?;
    registry.register(Box::new(restarts_total.clone()))?;
    let lidar_metrics = LidarMetrics::register(&registry)?;
    let camera_metrics = CameraMetrics::register(&registry)?;
    let vision_metrics = VisionMetrics::register(&registry)?;
    let store_metrics = StoreMetrics::register(&registry)?;
    let bus_metrics = vod_bus::BusMetrics::register(&registry)?;
    // Models are loaded and checked before any port is bound: a bad one stops the start.
    let vision = Vision::new(VisionSet::load(&config.vision).context("loading the vision models")?);

    let web_listener = bind(config.web.listen).context("web.listen")?;
    let metrics_listener = bind(config.metrics.listen).context("metrics.listen")?;
    let store = Store::open(&config.storage, store_metrics)
        .await
        .context("opening the store")?;
    // Files younger than this may belong to a capture being written by another process.
    store
        .check_files(Duration::from_secs(600))
        .await
        .context("checking the image files")?;
    record_config(&store, &text, ConfigSource::Start).await;

    let hub = Hub::new(HUB_CAPACITY);
    let shutdown = CancellationToken::new();
    let mut supervisor = Supervisor::new(
        config.supervisor.restart_policy(),
        restarts_total,
        hub.clone(),
        shutdown.clone(),
    );
    let site_id: Arc<str> = Arc::from(config.site.id.as_str());

    // Stages from the back: store <- vision <- cameras <- lidar.
    let (capture_tx, capture_rx) = mpsc::channel(CAPTURE_QUEUE);
    let capture_rx = Arc::new(Mutex::new(capture_rx));
    {
        let (store, hub) = (store.clone(), hub.clone());
        supervisor.spawn("store", move |stop| {
            vod_store::run_writer(store.clone(), capture_rx.clone(), hub.clone(), stop)
        });
    }
    {
        let sweeper = Arc::new(vod_store::RetentionSweeper {
            store: store.clone(),
            config: config.retention.clone(),
            hub: hub.clone(),
        });
        let (store, queue) = (store.clone(), vod_store::retention_queue(&config.jobs));
        supervisor.spawn("jobs:retention", move |stop| {
            vod_store::run_queue(store.clone(), queue.clone(), sweeper.clone(), stop)
        });
    }
    let (vehicles, vehicle_events) = vod_core::supervisor::channel(VEHICLE_QUEUE);
    supervisor.start(
        "vehicles",
        vod_store::VehicleRecorder {
            store: store.clone(),
            vehicles: vehicle_events,
        },
    );
    {
        // The expression was checked with the config; an error here is a bug.
        let sweep = vod_store::sweep_schedule(&config.retention, &config.jobs)
            .context("retention.sweep_cron")?;
        let (store, schedule) = (store.clone(), vec![sweep]);
        supervisor.spawn("jobs:periodic", move |stop| {
            vod_store::run_periodic(store.clone(), schedule.clone(), stop)
        });
    }
    let (burst_tx, burst_rx) = mpsc::channel(BURST_QUEUE);
    let burst_rx = Arc::new(Mutex::new(burst_rx));
    {
        let (metrics, vision) = (vision_metrics.clone(), vision.clone());
        supervisor.spawn("vision", move |stop| {
            vod_vision::run_vision(
                burst_rx.clone(),
                capture_tx.clone(),
                vision.clone(),
                metrics.clone(),
                stop,
            )
        });
    }
    let mut triggers: HashMap<String, mpsc::Sender<TriggerCommand>> = HashMap::new();
    for camera_config in &config.cameras {
        let name: Arc<str> = Arc::from(camera_config.name.as_str());
        let camera: Box<dyn Camera> = match &camera_config.source {
            CameraSource::Sim(size) => {
                Box::new(SimCamera::new(name.clone(), size.width, size.height)?)
            }
            CameraSource::Gige(gige) => Box::new(vod_camera::gige::GigeCamera::start(
                name.clone(),
                gige.into(),
                camera_metrics.clone(),
            )),
            CameraSource::Usb(usb) => Box::new(
                vod_camera::usb::UsbCamera::open(
                    name.clone(),
                    &usb.device,
                    usb.ring_frames as usize,
                    Duration::from_millis(u64::from(usb.tolerance_ms)),
                )
                .with_context(|| format!("camera {name}"))?,
            ),
        };
        let camera = Arc::new(std::sync::Mutex::new(camera));
        let (trigger_tx, trigger_rx) = mpsc::channel(TRIGGER_QUEUE);
        triggers.insert(camera_config.name.clone(), trigger_tx);
        let trigger_rx = Arc::new(Mutex::new(trigger_rx));
        let (bursts, metrics) = (burst_tx.clone(), camera_metrics.clone());
        supervisor.spawn(format!("camera:{name}"), move |stop| {
            vod_camera::run_camera(
                camera.clone(),
                trigger_rx.clone(),
                bursts.clone(),
                metrics.clone(),
                stop,
            )
        });
    }
    drop(burst_tx);
    let speed_planes = SpeedPlanes::new(&config.speed_planes);
    let (_running_config, watched_config) = tokio::sync::watch::channel(Arc::new(config.clone()));
    for scanner in &config.scanners {
        let setup = ScannerSetup {
            scanner: scanner.name.clone(),
            config: watched_config.clone(),
            speed_planes: speed_planes.clone(),
            cameras: triggers.clone(),
            vehicles: vehicles.clone(),
            metrics: lidar_metrics.clone(),
            hub: hub.clone(),
        };
        // Each scanner on a thread of its own: its triggers never wait behind vision or
        // store work on the shared runtime.
        supervisor.spawn(format!("lidar:{}", scanner.name), move |stop| {
            vod_lidar::run_scanner_on_thread(setup.clone(), stop)
        });
    }
    let reloader = Arc::new(Reloader::new(
        config_path,
        config.clone(),
        vision.clone(),
        hub.clone(),
        store.clone(),
        &registry,
    )?);
    if let Some(bus) = config.bus.clone() {
        let (publisher_site, hub) = (site_id.clone(), hub.clone());
        let (publisher_bus, publisher_metrics) = (bus.clone(), bus_metrics.clone());
        supervisor.spawn("bus", move |stop| {
            vod_bus::run_publisher(
                publisher_bus.clone(),
                publisher_site.clone(),
                hub.clone(),
                publisher_metrics.clone(),
                stop,
            )
        });
        let site_id = site_id.clone();
        let commands = vod_bus::Commands {
            store: store.clone(),
            reload_config: reload_command(reloader.clone()),
        };
        supervisor.spawn("bus:commands", move |stop| {
            vod_bus::run_commands(
                bus.clone(),
                site_id.clone(),
                commands.clone(),
                bus_metrics.clone(),
                stop,
            )
        });
    }
    let reloads = tokio::spawn(async move {
        while hangups.recv().await.is_some() {
            tracing::info!(signal = "SIGHUP", "Reloading the config file.");
            // Logged, counted and published by the reloader.
            let _outcome = reloader.reload().await;
        }
    });
    let web = vod_web::app(vod_web::AppState {
        site_id: site_id.clone(),
        store: store.clone(),
        hub: hub.clone(),
    });
    serve(&mut supervisor, "web", web_listener, web);
    serve(
        &mut supervisor,
        "metrics",
        metrics_listener,
        vod_web::metrics_app(registry),
    );

    tracing::info!(
        site = %site_id,
        web = %config.web.listen,
        metrics = %config.metrics.listen,
        data_dir = %config.storage.data_dir.display(),
        "Appliance started."
    );
    let stopping = shutdown.clone();
    let signals = tokio::spawn(async move {
        match signals::stop_signal().await {
            Ok(signal) => tracing::info!(signal, "Stopping."),
            Err(error) => tracing::error!(%error, "Cannot listen for stop signals; stopping."),
        }
        stopping.cancel();
    });
    let result = supervisor.wait();
    tokio::pin!(result);
    let outcome = tokio::select! {
        result = &mut result => result,
        () = async {
            shutdown.cancelled().await;
            tokio::time::sleep(SHUTDOWN_GRACE).await;
        } => {
            tracing::warn!(grace_s = SHUTDOWN_GRACE.as_secs(), "Components still busy after the grace period; stopping anyway.");
            Ok(())
        }
    };
    signals.abort();
    reloads.abort();
    store.close().await;
    Ok(match outcome {
        Ok(()) => Outcome::Stopped,
        Err(error) => {
            tracing::error!(%error, "Giving up.");
            Outcome::GaveUp
        }
    })
}

/// Serves `router` on a socket bound before start-up; each restart serves a duplicate of
/// that socket, so the port is never released while the process lives.
fn serve(
    supervisor: &mut Supervisor,
    component: &str,
    listener: std::net::TcpListener,
    router: vod_web::Router,
) {
    supervisor.spawn(component, move |stop| {
        let socket = listener.try_clone();
        let router = router.clone();
        async move {
            let socket = TcpListener::from_std(socket?)?;
            vod_web::serve(socket, router, stop).await?;
            Ok(())
        }
    });
}

fn bind(address: std::net::SocketAddr) -> anyhow::Result<std::net::TcpListener> {
    let listener = std::net::TcpListener::bind(address)
        .with_context(|| format!("cannot listen on {address}"))?;
    listener.set_nonblocking(true)?;
    Ok(listener)
}

/// Records the config file's text as the one in effect at start, unless it is the one
/// recorded last. A failure is logged: the history is for inspection, not for running.
/// The bus command `config.reload`: the same reload as SIGHUP, its report as the reply.
fn reload_command(reloader: Arc<Reloader>) -> vod_bus::ReloadConfig {
    Arc::new(move || {
        let reloader = reloader.clone();
        Box::pin(async move {
            reloader
                .reload()
                .await
                .map(|report| {
                    serde_json::json!({
                        "applied": report.applied,
                        "restart_needed": report.restart_needed,
                    })
                })
                .map_err(|error| error.to_string())
        })
    })
}

/// Keeps `text` in the config history; a failure is logged, never fatal.
pub async fn record_config(store: &Store, text: &str, source: ConfigSource) {
    if let Err(error) = store.record_config(text, source).await {
        tracing::warn!(%error, "Could not record the configuration in effect.");
    }
}
