//! Two scan planes on loopback: two scanner emulators stream the same seeded traffic, the
//! second one 20 m downstream, each read by `run_scanner_on_thread`; the lanes' vehicles must
//! leave with the emulator's speed (within 10 %), a length and a class, the camera that fires
//! by distance must be planned from that speed, and the second plane must publish nothing.

#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::time::Duration;

use prometheus::Registry;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::time::timeout;
use tokio_util::sync::CancellationToken;
use vod_core::config::{CameraTrigger, SpeedPlaneConfig};
use vod_core::{Event, Hub, TriggerCommand, VehicleClass, VehicleId};
use vod_lidar::{LidarMetrics, ScannerSetup, run_scanner_on_thread};
use vod_sim::emulator::{self, EmulatorConfig, VehiclePass, ground_truth};
use vod_sim::site::Site;

mod common;

use common::{LANES, PATIENCE};
const PLANE_DISTANCE_MM: u32 = 20_000;
/// cam-1 fires 25 m past the first plane.
const TRIGGER_DISTANCE_MM: u32 = 25_000;

fn emulator_config(plane_offset_mm: u32) -> EmulatorConfig {
    EmulatorConfig {
        plane_offset_mm,
        ..common::dense_traffic(6000)
    }
}

/// A vehicle that left, as the hub saw it.
#[derive(Debug)]
struct Left {
    vehicle_id: VehicleId,
    occupancy_ms: u64,
    class: VehicleClass,
    speed_kmh: Option<f32>,
    length_mm: Option<u32>,
}

#[tokio::test]
async fn two_planes_give_speed_length_and_distance_triggers() {
    let shutdown = CancellationToken::new();
    let mut addresses = Vec::new();
    // One road: both planes' traffic runs on one clock, however far apart the two sessions
    // subscribe (a skew would go straight into the measured speeds).
    let origin = tokio::time::Instant::now();
    for offset_mm in [0, PLANE_DISTANCE_MM] {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        addresses.push(listener.local_addr().unwrap().to_string());
        tokio::spawn(emulator::serve_from(
            listener,
            emulator_config(offset_mm),
            origin,
            shutdown.clone(),
        ));
    }
    let (first_scanner, lanes) = emulator_config(0).site("gantry-a", addresses[0].clone());
    let (second_scanner, _) =
        emulator_config(PLANE_DISTANCE_MM).site("gantry-b", addresses[1].clone());
    let speed_planes: Vec<SpeedPlaneConfig> = LANES
        .iter()
        .map(|lane| SpeedPlaneConfig {
            lane: (*lane).into(),
            second_scanner: "gantry-b".into(),
            plane_distance_mm: PLANE_DISTANCE_MM,
        })
        .collect();
    let mut by_distance = common::camera("cam-1", "lane-1", 1);
    by_distance.trigger = CameraTrigger::DistanceMm(TRIGGER_DISTANCE_MM);
    let cameras = [by_distance, common::camera("cam-2", "lane-2", 1)];
    let (sender, mut triggers) = mpsc::channel::<TriggerCommand>(256);
    let senders: HashMap<String, _> = cameras
        .iter()
        .map(|camera| (camera.name.clone(), sender.clone()))
        .collect();
    drop(sender);
    let metrics = LidarMetrics::register(&Registry::new()).unwrap();
    let hub = Hub::new(1024);
    let mut events = hub.subscribe();
    let (vehicles, _records) = mpsc::channel(1024);
    let setup = Site {
        scanners: vec![first_scanner, second_scanner],
        lanes,
        speed_planes,
        cameras: cameras.to_vec(),
    }
    .scanner_setup("gantry-a", senders, vehicles, metrics.clone(), hub)
    .unwrap();
    let second = ScannerSetup {
        scanner: "gantry-b".into(),
        view: vod_core::ScannerView::new("gantry-b"),
        ..setup.clone()
    };
    let tasks = [
        tokio::spawn(run_scanner_on_thread(setup, shutdown.clone())),
        tokio::spawn(run_scanner_on_thread(second, shutdown.clone())),
    ];

    let passes: Vec<VehiclePass> = ground_truth(&emulator_config(0), Duration::MAX);
    let mut truth: HashMap<&str, Vec<&VehiclePass>> = HashMap::new();
    for pass in &passes {
        truth.entry(LANES[pass.lane]).or_default().push(pass);
    }
    assert!(
        LANES
            .iter()
            .all(|lane| truth.get(lane).is_some_and(|p| p.len() >= 3)),
        "the seeded traffic should put a few vehicles in each lane"
    );

    let mut entered: HashMap<String, Vec<VehicleId>> = HashMap::new();
    let mut left: HashMap<String, Vec<Left>> = HashMap::new();
    let collect = async {
        while left.values().map(Vec::len).sum::<usize>() < passes.len() {
            let event = events.recv().await.unwrap();
            match &*event {
                Event::VehicleEntered {
                    vehicle_id, lane, ..
                } => entered
                    .entry(lane.to_string())
                    .or_default()
                    .push(*vehicle_id),
                Event::VehicleLeft {
                    vehicle_id,
                    lane,
                    measured,
                    ..
                } => left.entry(lane.to_string()).or_default().push(Left {
                    vehicle_id: *vehicle_id,
                    occupancy_ms: measured.occupancy_ms,
                    class: measured.class,
                    speed_kmh: measured.speed_kmh,
                    length_mm: measured.length_mm,
                }),
                _ => {}
            }
        }
    };
    timeout(PATIENCE, collect).await.unwrap();
    shutdown.cancel();
    for task in tasks {
        task.await.unwrap().unwrap();
    }

    let mut speeds: HashMap<VehicleId, f32> = HashMap::new();
    for lane in LANES {
        let (entered, left, truth) = (&entered[lane], &left[lane], &truth[lane]);
        // One vehicle per pass: the second plane publishes nothing of its own.
        assert_eq!(entered.len(), truth.len(), "{lane}");
        assert_eq!(left.len(), truth.len(), "{lane}");
        // Vehicles leave in the order they came (no overtaking within a lane).
        for (vehicle, pass) in left.iter().zip(truth.iter()) {
            assert!(entered.contains(&vehicle.vehicle_id), "{lane} {vehicle:?}");
            let speed_kmh = vehicle.speed_kmh.unwrap_or_else(|| panic!("{vehicle:?}"));
            let error = (f64::from(speed_kmh) - pass.speed_kmh).abs() / pass.speed_kmh;
            assert!(error < 0.1, "{lane}: {vehicle:?} for {pass:?}");
            // The box works the length out from the speed before rounding it to an f32 for
            // the event, so the two may round to neighbouring millimetres.
            let length_mm = f64::from(speed_kmh) / 3.6 * vehicle.occupancy_ms as f64;
            let reported_mm = f64::from(vehicle.length_mm.unwrap_or_else(|| panic!("{vehicle:?}")));
            assert!(
                (reported_mm - length_mm).abs() <= 1.0,
                "{length_mm} mm: {vehicle:?}"
            );
            assert_eq!(
                vehicle.class, pass.class,
                "{lane}: {vehicle:?} for {pass:?}"
            );
            speeds.insert(vehicle.vehicle_id, speed_kmh);
        }
    }
    assert_eq!(
        metrics
            .speed_unmeasured_total
            .with_label_values(&["lane-1"])
            .get(),
        0
    );

    let mut planned = Vec::new();
    while let Ok(command) = triggers.try_recv() {
        planned.push(command);
    }
    let (by_distance, by_delay): (Vec<_>, Vec<_>) = planned
        .iter()
        .partition(|command| &*command.camera == "cam-1");
    assert_eq!(by_distance.len(), truth["lane-1"].len());
    assert_eq!(by_delay.len(), truth["lane-2"].len());
    for command in by_distance {
        // 25 m at the measured speed, counted from the first plane's entry.
        let speed_mm_per_ms = f64::from(speeds[&command.vehicle_id]) / 3.6;
        let expected_ms = f64::from(TRIGGER_DISTANCE_MM) / speed_mm_per_ms;
        let delay_ms = (command.fire_at - command.detected_at).as_secs_f64() * 1000.0;
        assert!(
            (delay_ms - expected_ms).abs() < 1.0,
            "{delay_ms} ms, expected {expected_ms} ms"
        );
        assert!(entered["lane-1"].contains(&command.vehicle_id));
    }
    for command in by_delay {
        assert_eq!(
            command.fire_at - command.detected_at,
            Duration::from_millis(20)
        );
    }
}
