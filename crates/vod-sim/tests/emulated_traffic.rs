//! End to end on loopback: the scanner emulator streams seeded traffic, `run_scanner` detects
//! it, and what comes out (hub events, trigger commands, metrics) must match the emulator's
//! ground truth; also across the emulator going away and coming back.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use prometheus::Registry;
use tokio::net::TcpListener;
use tokio::sync::{broadcast, mpsc};
use tokio::task::JoinHandle;
use tokio::time::timeout;
use tokio_util::sync::CancellationToken;
use vod_core::config::CameraConfig;
use vod_core::{Event, Hub, TriggerCommand, VehicleEvent, VehicleEventKind};
use vod_lidar::{LidarMetrics, run_scanner};
use vod_sim::emulator::{self, EmulatorConfig, VehiclePass, ground_truth};
use vod_sim::site::Site;

mod common;

use common::{LANES, PATIENCE};

fn emulator_config() -> EmulatorConfig {
    EmulatorConfig {
        seed: 42,
        ..common::dense_traffic(5000)
    }
}

struct Rig {
    metrics: LidarMetrics,
    events: broadcast::Receiver<std::sync::Arc<Event>>,
    triggers: HashMap<&'static str, mpsc::Receiver<TriggerCommand>>,
    /// What the pipeline hands the vehicle recorder: the same events as the hub's.
    records: mpsc::Receiver<VehicleEvent>,
    recorded: Vec<VehicleEvent>,
    shutdown: CancellationToken,
    task: JoinHandle<Result<(), vod_core::TaskError>>,
}

fn start_pipeline(address: SocketAddr) -> Rig {
    let cameras: Vec<CameraConfig> = LANES
        .iter()
        .zip(["cam-1", "cam-2"])
        .map(|(lane, name)| common::camera(name, lane, 2))
        .collect();
    let mut senders = HashMap::new();
    let mut triggers = HashMap::new();
    for name in ["cam-1", "cam-2"] {
        let (sender, receiver) = mpsc::channel(64);
        senders.insert(name.to_owned(), sender);
        triggers.insert(name, receiver);
    }
    let metrics = LidarMetrics::register(&Registry::new()).expect("fresh registry");
    let hub = Hub::new(1024);
    let events = hub.subscribe();
    let shutdown = CancellationToken::new();
    let (mut scanner, lanes) = emulator_config().site("gantry", address.to_string());
    // A pause of the emulator on a loaded machine is not a stall here: the tests count
    // reconnections (a stopped emulator closes the connection, which is seen at once).
    scanner.stall_timeout_ms = Some(10_000);
    let (vehicles, records) = mpsc::channel(1024);
    let setup = Site {
        scanners: vec![scanner],
        lanes,
        cameras,
        ..Site::default()
    }
    .scanner_setup("gantry", senders, vehicles, metrics.clone(), hub)
    .expect("the bench rig with the emulated site is a valid config");
    let task = tokio::spawn(run_scanner(setup, shutdown.clone()));
    Rig {
        metrics,
        events,
        triggers,
        records,
        recorded: Vec::new(),
        shutdown,
        task,
    }
}

fn start_emulator(listener: TcpListener) -> (CancellationToken, JoinHandle<std::io::Result<()>>) {
    let shutdown = CancellationToken::new();
    let server = tokio::spawn(emulator::serve(
        listener,
        emulator_config(),
        shutdown.clone(),
    ));
    (shutdown, server)
}

/// Vehicles per lane and, per lane in order, their heights.
fn truth() -> (usize, HashMap<&'static str, Vec<f64>>) {
    let passes: Vec<VehiclePass> = ground_truth(&emulator_config(), Duration::MAX);
    let mut heights: HashMap<&'static str, Vec<f64>> = HashMap::new();
    for pass in &passes {
        heights
            .entry(LANES[pass.lane])
            .or_default()
            .push(pass.height_mm);
    }
    assert!(
        LANES
            .iter()
            .all(|lane| heights.get(lane).is_some_and(|h| h.len() >= 2)),
        "the seeded traffic should put a few vehicles in each lane: {heights:?}"
    );
    (passes.len(), heights)
}

/// Collects hub events until `left` vehicles have left, then a little longer for strays.
async fn vehicles_left(rig: &mut Rig, left: usize) -> Vec<Event> {
    let mut seen = Vec::new();
    let mut left_so_far = 0;
    let collect = async {
        while left_so_far < left {
            let event = rig.events.recv().await.expect("the hub keeps up");
            left_so_far += usize::from(matches!(*event, Event::VehicleLeft { .. }));
            seen.push((*event).clone());
        }
    };
    timeout(PATIENCE, collect)
        .await
        .unwrap_or_else(|_| panic!("only {left_so_far} of {left} vehicles left in time"));
    while let Ok(Ok(event)) = timeout(Duration::from_millis(500), rig.events.recv()).await {
        seen.push((*event).clone());
    }
    seen
}

/// Per lane: vehicles entered, and the heights of those that left, in order.
fn per_lane(events: &[Event]) -> HashMap<String, (usize, Vec<u32>)> {
    let mut lanes: HashMap<String, (usize, Vec<u32>)> = HashMap::new();
    for event in events {
        match event {
            Event::VehicleEntered { lane, .. } => lanes.entry(lane.to_string()).or_default().0 += 1,
            Event::VehicleLeft { lane, measured, .. } => lanes
                .entry(lane.to_string())
                .or_default()
                .1
                .push(measured.max_height_mm),
            _ => {}
        }
    }
    lanes
}

fn assert_matches_truth(events: &[Event], heights: &HashMap<&str, Vec<f64>>, rounds: usize) {
    let lanes = per_lane(events);
    for lane in LANES {
        let expected: Vec<f64> = heights[lane].repeat(rounds);
        let (entered, measured) = &lanes[lane];
        assert_eq!(*entered, expected.len(), "{lane}: vehicles entered");
        assert_eq!(measured.len(), expected.len(), "{lane}: vehicles left");
        for (measured, truth) in measured.iter().zip(&expected) {
            assert!(
                (f64::from(*measured) - truth).abs() < 100.0,
                "{lane}: measured {measured} mm for a vehicle {truth} mm high"
            );
        }
    }
}

fn assert_counted(rig: &mut Rig, heights: &HashMap<&str, Vec<f64>>, rounds: usize) {
    while let Ok(record) = rig.records.try_recv() {
        rig.recorded.push(record);
    }
    for (lane, camera) in LANES.iter().zip(["cam-1", "cam-2"]) {
        let expected = heights[lane].len() * rounds;
        let vehicles = rig.metrics.vehicles_total.with_label_values(&[*lane]).get();
        assert_eq!(vehicles, expected as u64, "{lane}: vehicles_total");
        let records = |entered: bool| {
            rig.recorded
                .iter()
                .filter(|record| {
                    *record.lane == **lane && (record.kind == VehicleEventKind::Entered) == entered
                })
                .count()
        };
        assert_eq!(
            (records(true), records(false)),
            (expected, expected),
            "{lane}: vehicle records (entered, left)"
        );
        let receiver = rig.triggers.get_mut(camera).expect("a channel per camera");
        let mut commands = Vec::new();
        while let Ok(command) = receiver.try_recv() {
            commands.push(command);
        }
        assert_eq!(commands.len(), expected, "{camera}: trigger commands");
        for command in commands {
            assert_eq!(&*command.lane, *lane);
            assert_eq!(
                command.fire_at - command.detected_at,
                Duration::from_millis(20)
            );
            assert_eq!((command.frames, command.interval_ms), (2, 40));
        }
        let dropped = rig
            .metrics
            .triggers_dropped_total
            .with_label_values(&[camera])
            .get();
        assert_eq!(dropped, 0);
    }
    let label = ["gantry"];
    assert_eq!(
        rig.metrics
            .decode_errors_total
            .with_label_values(&label)
            .get(),
        0
    );
    assert_eq!(
        rig.metrics
            .scans_rejected_total
            .with_label_values(&label)
            .get(),
        0
    );
    assert!(rig.metrics.scans_total.with_label_values(&label).get() > 200);
}

async fn stop(rig: Rig) {
    rig.shutdown.cancel();
    let result = timeout(PATIENCE, rig.task)
        .await
        .expect("run_scanner stops on shutdown")
        .expect("run_scanner does not panic");
    assert!(result.is_ok(), "run_scanner ends cleanly on shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counts_the_emulated_vehicles() {
    let (vehicles, heights) = truth();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (emulator_shutdown, _server) = start_emulator(listener);
    let mut rig = start_pipeline(address);

    let events = vehicles_left(&mut rig, vehicles).await;
    assert_matches_truth(&events, &heights, 1);
    assert_counted(&mut rig, &heights, 1);
    assert!(matches!(
        events.first(),
        Some(Event::ScannerConnected { .. })
    ));
    let connected = rig.metrics.connected.with_label_values(&["gantry"]);
    assert_eq!(connected.get(), 1);
    let reconnects = rig.metrics.reconnects_total.with_label_values(&["gantry"]);
    assert_eq!(reconnects.get(), 0);

    stop(rig).await;
    assert_eq!(connected.get(), 0);
    emulator_shutdown.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnects_when_the_scanner_comes_back() {
    let (vehicles, heights) = truth();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (first_shutdown, first_server) = start_emulator(listener);
    let mut rig = start_pipeline(address);
    let mut events = vehicles_left(&mut rig, vehicles).await;

    // Kill the emulator mid-stream (scans of the empty road are still flowing)...
    first_shutdown.cancel();
    first_server.await.unwrap().unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    // ...and bring up a new one on the same port.
    let listener = rebind(address).await;
    let (second_shutdown, _server) = start_emulator(listener);
    events.extend(vehicles_left(&mut rig, vehicles).await);

    assert_matches_truth(&events, &heights, 2);
    assert_counted(&mut rig, &heights, 2);
    let kinds: Vec<&str> = events
        .iter()
        .map(Event::kind)
        .filter(|kind| kind.starts_with("scanner"))
        .collect();
    assert_eq!(
        kinds,
        [
            "scanner_connected",
            "scanner_disconnected",
            "scanner_connected"
        ]
    );
    let reconnects = rig.metrics.reconnects_total.with_label_values(&["gantry"]);
    assert!(reconnects.get() > 0);
    stop(rig).await;
    second_shutdown.cancel();
}

/// A listener on `address` again, once the server that had it let it go.
async fn rebind(address: SocketAddr) -> TcpListener {
    timeout(PATIENCE, async {
        loop {
            match TcpListener::bind(address).await {
                Ok(listener) => return listener,
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    })
    .await
    .expect("the port is free again")
}

/// Polls `counter` until it reaches `at_least`, or panics after PATIENCE.
async fn wait_count(counter: &prometheus::IntCounter, at_least: u64, what: &str) {
    timeout(PATIENCE, async {
        while counter.get() < at_least {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .unwrap_or_else(|_| {
        panic!(
            "{what}: {} of {at_least} within {PATIENCE:?}",
            counter.get()
        )
    });
}

/// A recording of the repository's, replayed on `listener` until the token is cancelled.
fn replay(
    listener: TcpListener,
    file: &str,
) -> (CancellationToken, JoinHandle<std::io::Result<()>>) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/data/lidar")
        .join(file);
    let recording = vod_lidar::recording::Recording::load(&path).expect("a recording");
    let shutdown = CancellationToken::new();
    let stop = shutdown.clone();
    let server =
        tokio::spawn(async move { emulator::serve_replay(listener, &recording, stop).await });
    (shutdown, server)
}

/// The scanner swapped for one of another geometry while the box runs (an LMS111, 541 beams
/// by 0.5 deg, then an LMS511, 1141 by 0.1667 deg): the pipeline rejects the first scan of the
/// new geometry, counts it, learns the road again and takes the scans after it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scan_of_another_geometry_is_rejected_counted_and_the_road_learnt_again() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (first_shutdown, first_server) = replay(listener, "20210302_lms111.pcapng.json");
    let rig = start_pipeline(address);
    let label = ["gantry"];
    let scans = rig.metrics.scans_total.with_label_values(&label);
    let rejected = rig.metrics.scans_rejected_total.with_label_values(&label);
    wait_count(&scans, 20, "scans of the first scanner").await;
    assert_eq!(rejected.get(), 0);

    first_shutdown.cancel();
    first_server.await.unwrap().unwrap();
    let listener = rebind(address).await;
    let (second_shutdown, _server) = replay(listener, "20210301_lms511.pcapng.json");
    wait_count(&rejected, 1, "the rejected scan").await;
    let after = scans.get();
    wait_count(&scans, after + 20, "scans of the new scanner").await;
    assert_eq!(
        rejected.get(),
        1,
        "only the first scan of the new geometry is rejected"
    );
    second_shutdown.cancel();
    stop(rig).await;
}
