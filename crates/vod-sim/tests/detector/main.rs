//! Detector tests over generated scans: an LMS511 6 m above two lanes, vehicles as boxes.
#![allow(clippy::unwrap_used)] // a failing test may panic

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use vod_core::VehicleEventKind;

use vod_core::Scan;
use vod_core::config::{DetectorConfig, LaneConfig, ScannerConfig};
use vod_lidar::{DetectorError, VehicleDetector};
use vod_sim::emulator::geometry::{Section, cast};

mod rules;

const MOUNT_MM: f64 = 6000.0;

fn detector() -> VehicleDetector {
    detector_over(&[("lane-1", -3700, 0), ("lane-2", 0, 3700)])
}

/// A detector for the gantry scanner over `lanes` (name, lateral from, lateral to), and a
/// lane of another scanner.
pub fn detector_over(lanes: &[(&str, i32, i32)]) -> VehicleDetector {
    let scanner = ScannerConfig {
        name: "gantry".into(),
        address: "127.0.0.1:2112".into(),
        mount_height_mm: 6000,
        connect_timeout_ms: 1000,
        stall_timeout_ms: None,
    };
    let lane = |name: &str, scanner: &str, from, to| LaneConfig {
        name: name.into(),
        scanner: scanner.into(),
        lateral_from_mm: from,
        lateral_to_mm: to,
    };
    let lanes: Vec<LaneConfig> = lanes
        .iter()
        .map(|(name, from, to)| lane(name, "gantry", *from, *to))
        .chain([lane("elsewhere", "other-scanner", -3700, 3700)])
        .collect();
    let config = DetectorConfig {
        background_scans: 5,
        foreground_threshold_mm: 300,
        min_object_beams: 4,
        enter_scans: 2,
        leave_scans: 3,
    };
    VehicleDetector::new(&scanner, &lanes, &config)
}

/// Scan number `index` (25 Hz) of the road with `sections` on it; `dropouts` beams get no echo.
fn scan(index: u32, sections: &[Section], dropouts: &[usize]) -> Scan {
    let (start_angle_deg, step_deg) = (-5.0, 0.1667);
    let ranges_mm = (0..1141)
        .map(|beam| {
            let angle_deg = start_angle_deg + step_deg * f64::from(beam);
            match cast(MOUNT_MM, angle_deg, sections, 65_000.0) {
                Some((range, _)) if !dropouts.contains(&(beam as usize)) => range as f32,
                _ => 0.0,
            }
        })
        .collect();
    Scan {
        scanner: Arc::from("gantry"),
        scan_counter: index,
        time_since_power_up_us: index * 40_000,
        scan_frequency_hz: 25.0,
        start_angle_deg,
        step_deg,
        ranges_mm,
        received_at: Instant::now(),
        received_utc: DateTime::<Utc>::from_timestamp_millis(1_700_000_000_000).unwrap_or_default()
            + Duration::from_millis(u64::from(index) * 40),
    }
}

pub const CAR_1: Section = Section {
    lateral_from_mm: -3000.0,
    lateral_to_mm: -1200.0,
    height_mm: 1500.0,
};
const VAN_2: Section = Section {
    lateral_from_mm: 800.0,
    lateral_to_mm: 2800.0,
    height_mm: 2500.0,
};

/// What happened in a scan: the lane and, for `Left`, occupancy, height and width.
#[derive(Debug, Clone, PartialEq)]
pub enum Seen {
    Entered(&'static str),
    Left(&'static str, u64, u32, u32),
}

/// The vehicles on the road in a scan, and the beams without echo.
pub type Frame = (Vec<Section>, Vec<usize>);

/// A scan's index and what happened in it.
type Event = (u32, Seen);

/// Runs `frames` (after 5 learning scans of the empty road) and reports events by scan index.
pub fn run(frames: &[Frame]) -> Vec<(u32, Seen)> {
    run_with(detector(), frames)
}

/// The lane names the tests use.
const LANE_NAMES: [&str; 3] = ["lane-1", "lane-2", "lane-3"];

/// Runs `frames` through `detector` (after 5 learning scans of the empty road).
pub fn run_with(mut detector: VehicleDetector, frames: &[Frame]) -> Vec<(u32, Seen)> {
    let mut seen = Vec::new();
    let learning = std::iter::repeat_n((vec![], vec![]), 5);
    for (index, (sections, dropouts)) in learning.chain(frames.iter().cloned()).enumerate() {
        let index = index as u32;
        for event in detector
            .process(&scan(index, &sections, &dropouts))
            .unwrap()
        {
            let lane = LANE_NAMES
                .into_iter()
                .find(|name| **name == *event.lane)
                .unwrap();
            seen.push((
                index,
                match event.kind {
                    VehicleEventKind::Entered => Seen::Entered(lane),
                    VehicleEventKind::Left(measured) => Seen::Left(
                        lane,
                        measured.occupancy_ms,
                        measured.max_height_mm,
                        measured.max_width_mm,
                    ),
                },
            ));
        }
    }
    seen
}

pub fn frames(parts: &[(usize, &[Section], &[usize])]) -> Vec<Frame> {
    parts
        .iter()
        .flat_map(|(count, sections, dropouts)| {
            std::iter::repeat_n((sections.to_vec(), dropouts.to_vec()), *count)
        })
        .collect()
}

/// Rounds heights and widths to 50 mm, so that beam spacing does not matter.
pub fn coarse(seen: Vec<(u32, Seen)>) -> Vec<(u32, Seen)> {
    seen.into_iter()
        .map(|(index, seen)| match seen {
            Seen::Left(lane, ms, h, w) => (
                index,
                Seen::Left(lane, ms, (h + 25) / 50 * 50, (w + 25) / 50 * 50),
            ),
            other => (index, other),
        })
        .collect()
}

#[test]
fn detects_vehicles_as_they_pass() {
    let road_dropouts: Vec<usize> = (700..760).collect();
    // VAN_2's roof spans beams 338 to 492.
    let windshield: Vec<usize> = (380..440).filter(|b| b % 2 == 0).collect();
    let cases: Vec<(&str, Vec<Frame>, Vec<Event>)> = vec![
        ("empty road", frames(&[(20, &[], &[])]), vec![]),
        (
            "one car",
            frames(&[(2, &[], &[]), (10, &[CAR_1], &[]), (5, &[], &[])]),
            vec![
                (8, Seen::Entered("lane-1")),
                // Gone with the first scan of road.
                (17, Seen::Left("lane-1", 400, 1500, 1800)),
            ],
        ),
        (
            "two lanes at once",
            frames(&[(6, &[CAR_1, VAN_2], &[]), (3, &[], &[])]),
            vec![
                (6, Seen::Entered("lane-1")),
                (6, Seen::Entered("lane-2")),
                (11, Seen::Left("lane-1", 240, 1500, 1800)),
                (11, Seen::Left("lane-2", 240, 2500, 2000)),
            ],
        ),
        (
            "no echo over the empty road is no vehicle",
            frames(&[(10, &[], &road_dropouts)]),
            vec![],
        ),
        (
            "no echo from a windshield keeps the vehicle whole",
            frames(&[(4, &[VAN_2], &windshield), (3, &[], &[])]),
            vec![
                (6, Seen::Entered("lane-2")),
                (9, Seen::Left("lane-2", 160, 2500, 2000)),
            ],
        ),
    ];
    for (name, frames, expected) in cases {
        assert_eq!(coarse(run(&frames)), expected, "{name}");
    }
}

#[test]
fn a_road_learned_under_a_van_heals_once_the_van_has_left() {
    // The van stands in lane 2 through all 5 learning scans, as a slow truck after a restart
    // in traffic does; a car lower than the van, in its place later, is no nearer than that
    // "road".
    let mut detector = detector();
    let car_2 = Section {
        lateral_from_mm: 1000.0,
        lateral_to_mm: 2600.0,
        height_mm: 1500.0,
    };
    let frames = std::iter::repeat_n(vec![VAN_2], 5)
        .chain(std::iter::repeat_n(vec![], 6))
        .chain(std::iter::repeat_n(vec![car_2], 4))
        .chain(std::iter::repeat_n(vec![], 4));
    let mut entered = Vec::new();
    for (index, sections) in frames.enumerate() {
        for event in detector
            .process(&scan(index as u32, &sections, &[]))
            .unwrap()
        {
            if event.kind == VehicleEventKind::Entered {
                entered.push((index, event.lane.to_string()));
            }
        }
    }
    // The van's leaving is nothing (the road seems farther); five scans of that heal it, and
    // the car (from scan 11) enters at its second scan.
    assert_eq!(entered, [(12, "lane-2".to_owned())]);
}

#[test]
fn echoes_from_below_the_road_heal_nothing() {
    // A wet road mirrors a vehicle stopped beside the beams: echoes from a metre below the
    // road for longer than learning takes, so the road heals down there; the real road, once
    // the mirror image goes, is nearer than that but at road level, and no vehicle.
    let mut detector = detector();
    let below_road = |index: u32| {
        let mut scan = scan(index, &[], &[]);
        for range in &mut scan.ranges_mm[470..500] {
            *range += 1000.0;
        }
        scan
    };
    let mut entered = Vec::new();
    for index in 0..25u32 {
        let scan = match index {
            5..15 => below_road(index),
            _ => scan(index, &[], &[]),
        };
        for event in detector.process(&scan).unwrap() {
            entered.push((index, event.lane.to_string(), event.kind));
        }
    }
    assert_eq!(entered, []);
}

#[test]
fn vehicle_ids_are_unique_and_name_the_scanner() {
    let mut detector = detector();
    let mut ids = Vec::new();
    let pattern = frames(&[(5, &[], &[]), (3, &[CAR_1, VAN_2], &[]), (3, &[], &[])]);
    for (index, (sections, _)) in pattern.iter().chain(&pattern[5..]).enumerate() {
        for event in detector
            .process(&scan(index as u32, sections, &[]))
            .unwrap()
        {
            if event.kind == VehicleEventKind::Entered {
                ids.push(event.vehicle_id);
            }
        }
    }
    assert_eq!(ids.len(), 4);
    let mut unique = ids.clone();
    unique.dedup();
    assert_eq!(unique, ids);
    // UUIDv7 bytes 6..10 hold the sequence number (under the version and variant bits),
    // bytes 10..14 the source tag: the 32-bit FNV-1a hash of the scanner's name.
    assert_eq!(ids[0].0.as_bytes()[9], 1);
    assert_eq!(ids[3].0.as_bytes()[9], 4);
    assert_eq!(
        ids[0].0.as_bytes()[10..14],
        0xf941_da8a_u32.to_be_bytes()[..]
    );
}

#[test]
fn a_geometry_change_is_reported_and_the_road_learned_again() {
    let mut detector = detector();
    for index in 0..5 {
        assert_eq!(detector.process(&scan(index, &[], &[])).unwrap().len(), 0);
    }
    let mut shorter = scan(5, &[CAR_1], &[]);
    shorter.ranges_mm.truncate(541);
    let error = detector.process(&shorter).unwrap_err();
    assert!(matches!(
        error,
        DetectorError::GeometryChanged {
            known_beams: 1141,
            beams: 541,
            ..
        }
    ));
    assert!(error.to_string().contains("learning the road again"));
    // Back to the old geometry: another change, then 5 learning scans, then detection.
    assert!(detector.process(&scan(6, &[], &[])).is_err());
    let mut entered = None;
    for index in 7..20 {
        let sections = if index >= 11 { vec![CAR_1] } else { vec![] };
        if !detector
            .process(&scan(index, &sections, &[]))
            .unwrap()
            .is_empty()
        {
            entered.get_or_insert(index);
        }
    }
    assert_eq!(entered, Some(12));
}

#[test]
fn a_snapshot_shows_the_road_the_car_its_lane_and_a_relearn_forgets_the_road() {
    let mut detector = detector();
    let first = detector.snapshot(&scan(0, &[], &[]));
    assert_eq!(first.learning, Some((0, 5)));
    assert!(first.road.is_empty() && first.objects.is_empty());
    for index in 0..5 {
        detector.process(&scan(index, &[], &[])).unwrap();
    }
    for index in 5..8 {
        detector.process(&scan(index, &[CAR_1], &[])).unwrap();
    }
    let last = scan(8, &[CAR_1], &[]);
    let snapshot = detector.snapshot(&last);
    assert_eq!(snapshot.learning, None);
    let echoes = last.ranges_mm.iter().filter(|range| **range > 0.0).count();
    assert_eq!(snapshot.points.len(), echoes, "every echo is a point");
    assert!(!snapshot.road.is_empty());
    assert!(
        snapshot
            .road
            .iter()
            .all(|point| point.height_mm.abs() < 50.0),
        "the road is flat"
    );
    assert_eq!(snapshot.objects.len(), 1, "{:?}", snapshot.objects);
    let car = &snapshot.objects[0];
    assert_eq!(car.lane.as_deref(), Some("lane-1"));
    assert!((car.max_height_mm - 1500.0).abs() < 50.0, "{car:?}");
    assert!(
        car.lateral_from_mm > -3100.0 && car.lateral_to_mm < -1100.0,
        "{car:?}"
    );
    let occupied: Vec<(&str, bool)> = snapshot
        .lanes
        .iter()
        .map(|lane| (lane.name.as_str(), lane.occupied))
        .collect();
    assert_eq!(occupied, [("lane-1", true), ("lane-2", false)]);

    detector.relearn();
    let relearning = detector.snapshot(&scan(9, &[], &[]));
    assert_eq!(relearning.learning, Some((0, 5)));
    assert!(relearning.lanes.iter().all(|lane| !lane.occupied));
    for index in 9..14 {
        assert!(detector.process(&scan(index, &[], &[])).unwrap().is_empty());
    }
    assert_eq!(detector.snapshot(&scan(14, &[], &[])).learning, None);
}
