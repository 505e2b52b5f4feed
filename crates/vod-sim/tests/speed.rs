//! Speed between two emulated planes, against the emulator's ground truth.
#![allow(clippy::unwrap_used)] // a failing test may panic

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use vod_core::config::DetectorConfig;
use vod_core::{VehicleEvent, VehicleEventKind, VehicleId};
use vod_lidar::detector::VehicleDetector;
use vod_lidar::speed::SpeedEstimator;
use vod_sim::emulator::scanner::ScanSource;
use vod_sim::emulator::{EmulatorConfig, ground_truth};

fn detector(scanner: &str, emulator: &vod_sim::emulator::EmulatorConfig) -> VehicleDetector {
    let (scanner, lanes) = emulator.site(scanner, String::new());
    VehicleDetector::new(&scanner, &lanes, &DetectorConfig::BENCH_RIG)
}

#[test]
fn two_planes_6_m_apart_measure_each_vehicles_speed() {
    let mut upstream_config = EmulatorConfig::bench_rig();
    upstream_config.scan_frequency_hz = 100.0;
    upstream_config.flow_per_hour = 1200.0;
    upstream_config.speed_min_kmh = 40.0;
    upstream_config.speed_max_kmh = 130.0;
    let mut downstream_config = upstream_config.clone();
    downstream_config.plane_offset_mm = 6000;
    let mut planes = [
        (
            ScanSource::new(&upstream_config),
            detector("up", &upstream_config),
        ),
        (
            ScanSource::new(&downstream_config),
            detector("down", &downstream_config),
        ),
    ];
    let mut estimator = SpeedEstimator::new(6000);
    let base = Instant::now();
    let mut entered: HashMap<VehicleId, (Arc<str>, Duration)> = HashMap::new();
    let mut measured = Vec::new();
    for index in 0..6000u32 {
        let at = Duration::from_millis(u64::from(index) * 10);
        for (plane, (source, detector)) in planes.iter_mut().enumerate() {
            let scan = source
                .next_scan()
                .to_scan("emulated".into(), base + at, Utc::now())
                .unwrap();
            for event in detector.process(&scan).unwrap() {
                if plane == 0 {
                    if event.kind == VehicleEventKind::Entered {
                        entered.insert(event.vehicle_id, (event.lane.clone(), at));
                    }
                    estimator.upstream(&event);
                } else if let Some(speed) = estimator.downstream(&event) {
                    measured.push(speed);
                }
            }
        }
    }
    let passes = ground_truth(&upstream_config, Duration::from_secs(60));
    assert!(
        measured.len() >= passes.len() - 2,
        "{} of {}",
        measured.len(),
        passes.len()
    );
    for speed in measured {
        let (lane, at) = &entered[&speed.vehicle_id];
        let truth = passes
            .iter()
            .find(|p| {
                **lane == *format!("lane-{}", p.lane + 1) && p.arrival <= *at && *at <= p.departure
            })
            .expect("a measured vehicle passed");
        let error = (speed.speed_kmh - truth.speed_kmh).abs() / truth.speed_kmh;
        assert!(error < 0.1, "{} km/h for {truth:?}", speed.speed_kmh);
        let length_error = (speed.length_mm(1000) - truth.speed_kmh / 3.6 * 1000.0).abs();
        assert!(length_error < 0.1 * truth.speed_kmh / 3.6 * 1000.0);
    }
}

#[test]
fn a_vehicle_that_never_reaches_the_second_plane_is_forgotten() {
    let utc = chrono::DateTime::from_timestamp_millis(1_700_000_000_000).unwrap();
    let id = |sequence| VehicleId::new(utc, sequence, 1);
    let event = |lane: &str, at: Instant, sequence: u32| VehicleEvent {
        vehicle_id: id(sequence),
        lane: lane.into(),
        kind: VehicleEventKind::Entered,
        at_utc: utc,
        at,
    };
    let t0 = Instant::now();
    let ms = Duration::from_millis;
    let mut estimator = SpeedEstimator::new(5000);
    estimator.upstream(&event("a", t0, 1));
    // 5 m at 5 km/h take 3.6 s: the first vehicle is too old by the time this one arrives.
    estimator.upstream(&event("a", t0 + ms(4000), 2));
    let second = estimator.downstream(&event("a", t0 + ms(4200), 3)).unwrap();
    assert_eq!(second.vehicle_id, id(2));
    assert!(
        (second.speed_kmh - 90.0).abs() < 1e-9,
        "{}",
        second.speed_kmh
    );
    // Nothing waits in lane a any more, and lane b never had anyone.
    assert_eq!(estimator.downstream(&event("a", t0 + ms(4300), 4)), None);
    assert_eq!(estimator.downstream(&event("b", t0 + ms(4300), 5)), None);
}
