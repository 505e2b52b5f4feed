//! The rules that separate vehicles: a dip to bumper height, one scan of road, lost echoes,
//! a lane hidden behind a taller vehicle, an object straddling two lanes, a vehicle seen in
//! one scan only. Scans as in `main.rs`: an LMS511 6 m above the lanes, vehicles as boxes.

use super::{CAR_1, Frame, Seen, coarse, detector_over, frames, run, run_with};
use vod_sim::emulator::geometry::Section;

/// `CAR_1`'s place cut at `height_mm` (its bumpers, a truck's chassis).
const fn car_1_at(height_mm: f64) -> Section {
    Section { height_mm, ..CAR_1 }
}

/// Lane 1 between scans: lane 1's beams (all towards negative lateral) without echo.
fn lane_1_dark() -> Vec<usize> {
    (571..1141).collect()
}

#[test]
fn a_dip_to_bumper_height_splits_tailgaters() {
    let bumpers = car_1_at(550.0);
    let seen = run(&frames(&[
        (2, &[], &[]),
        (5, &[CAR_1], &[]),
        (1, &[bumpers], &[]),
        (5, &[CAR_1], &[]),
        (2, &[], &[]),
    ]));
    assert_eq!(
        coarse(seen),
        vec![
            (8, Seen::Entered("lane-1")),
            (12, Seen::Left("lane-1", 200, 1500, 1800)),
            // The bumper-high scan may be the tailgater's front: its vehicle starts there.
            (13, Seen::Entered("lane-1")),
            (18, Seen::Left("lane-1", 240, 1500, 1800)),
        ]
    );
}

#[test]
fn a_truck_with_a_trailer_is_one_vehicle() {
    let cab = car_1_at(3300.0);
    let chassis = car_1_at(1200.0);
    let trailer = car_1_at(4000.0);
    let seen = run(&frames(&[
        (2, &[], &[]),
        (3, &[cab], &[]),
        (1, &[chassis], &[]),
        (8, &[trailer], &[]),
        (2, &[], &[]),
    ]));
    assert_eq!(
        coarse(seen),
        vec![
            (8, Seen::Entered("lane-1")),
            (19, Seen::Left("lane-1", 480, 4000, 1800)),
        ]
    );
}

#[test]
fn one_scan_of_road_ends_a_vehicle_but_lost_echoes_do_not() {
    let road_between = frames(&[
        (5, &[CAR_1], &[]),
        (1, &[], &[]),
        (5, &[CAR_1], &[]),
        (1, &[], &[]),
    ]);
    assert_eq!(
        coarse(run(&road_between)),
        vec![
            (6, Seen::Entered("lane-1")),
            (10, Seen::Left("lane-1", 200, 1500, 1800)),
            (12, Seen::Entered("lane-1")),
            (16, Seen::Left("lane-1", 200, 1500, 1800)),
        ]
    );
    // The same with no echo at all from lane 1 in between: noise, not a gap (the detector
    // leaves after `leave_scans`, 3, such scans).
    let dark = lane_1_dark();
    let lost_between: Vec<Frame> = frames(&[(5, &[CAR_1], &[]), (2, &[], &dark)])
        .into_iter()
        .chain(frames(&[(5, &[CAR_1], &[]), (1, &[], &[])]))
        .collect();
    assert_eq!(
        coarse(run(&lost_between)),
        vec![
            (6, Seen::Entered("lane-1")),
            (17, Seen::Left("lane-1", 480, 1500, 1800)),
        ]
    );
}

/// A near lane (0 to 3.7 m) and a far one (3.7 to 7.4 m) on the same side of the scanner.
fn near_and_far() -> Vec<(u32, Seen)> {
    // Alone, visible; then a 4 m truck in the near lane hides the whole far lane from the
    // scanner 6 m up (the beam over its top far corner reaches the road 10.5 m out).
    let far_car = Section {
        lateral_from_mm: 4200.0,
        lateral_to_mm: 6000.0,
        height_mm: 1500.0,
    };
    let near_truck = Section {
        lateral_from_mm: 1000.0,
        lateral_to_mm: 3500.0,
        height_mm: 4000.0,
    };
    let detector = detector_over(&[("lane-2", 0, 3700), ("lane-3", 3700, 7400)]);
    run_with(
        detector,
        &frames(&[
            (3, &[far_car], &[]),
            (6, &[far_car, near_truck], &[]),
            (3, &[far_car], &[]),
            (1, &[], &[]),
        ]),
    )
}

#[test]
fn a_far_lane_vehicle_hidden_for_a_few_scans_stays_one_vehicle() {
    let seen = coarse(near_and_far());
    let far: Vec<_> = seen
        .iter()
        .filter(|(_, s)| matches!(s, Seen::Entered("lane-3") | Seen::Left("lane-3", ..)))
        .collect();
    assert_eq!(
        far,
        [
            &(6, Seen::Entered("lane-3")),
            &(17, Seen::Left("lane-3", 480, 1500, 1750))
        ]
    );
    let near = seen.len() - far.len();
    assert_eq!(near, 2, "{seen:?}");
}

#[test]
fn a_vehicle_changing_lanes_counts_once_in_the_lane_it_came_from() {
    // From lane 1 (-3000..-1200) across the boundary at 0 into lane 2, 300 mm a scan.
    let frames: Vec<Frame> = (0..16)
        .map(|step| {
            let shift_mm = 300.0 * f64::from(step);
            let section = Section {
                lateral_from_mm: CAR_1.lateral_from_mm + shift_mm,
                lateral_to_mm: CAR_1.lateral_to_mm + shift_mm,
                height_mm: 1500.0,
            };
            (vec![section], vec![])
        })
        .chain([(vec![], vec![])])
        .collect();
    let seen = run(&frames);
    let lanes: Vec<&str> = seen
        .iter()
        .map(|(_, s)| match s {
            Seen::Entered(lane) | Seen::Left(lane, ..) => *lane,
        })
        .collect();
    assert_eq!(lanes, ["lane-1", "lane-1"], "{seen:?}");
}

#[test]
fn a_vehicle_straddling_two_lanes_belongs_to_the_one_with_most_of_its_width() {
    let straddler = Section {
        lateral_from_mm: -600.0,
        lateral_to_mm: 1200.0,
        height_mm: 1500.0,
    };
    let seen = coarse(run(&frames(&[(4, &[straddler], &[]), (1, &[], &[])])));
    assert_eq!(
        seen,
        vec![
            (6, Seen::Entered("lane-2")),
            (9, Seen::Left("lane-2", 160, 1500, 1800)),
        ]
    );
}

#[test]
fn a_vehicle_seen_in_one_scan_counts_but_a_narrow_blip_does_not() {
    let seen = coarse(run(&frames(&[
        (2, &[], &[]),
        (1, &[CAR_1], &[]),
        (2, &[], &[]),
    ])));
    assert_eq!(
        seen,
        vec![
            (8, Seen::Entered("lane-1")),
            (8, Seen::Left("lane-1", 40, 1500, 1800)),
        ]
    );
    let debris = Section {
        lateral_from_mm: -2000.0,
        lateral_to_mm: -1700.0,
        height_mm: 1000.0,
    };
    assert_eq!(
        run(&frames(&[
            (2, &[], &[]),
            (1, &[debris], &[]),
            (2, &[], &[])
        ])),
        vec![]
    );
}

#[test]
fn a_motorcycle_crossing_into_the_next_lane_between_two_scans_counts_once() {
    let motorcycle = |from_mm: f64| Section {
        lateral_from_mm: from_mm,
        lateral_to_mm: from_mm + 800.0,
        height_mm: 1300.0,
    };
    // 50 mm short of the boundary at 0, then wholly in lane 2 just past it.
    let frames: Vec<Frame> = vec![
        (vec![motorcycle(-850.0)], vec![]),
        (vec![motorcycle(0.0)], vec![]),
        (vec![], vec![]),
    ];
    let seen = coarse(run(&frames));
    assert_eq!(
        seen,
        vec![
            (6, Seen::Entered("lane-1")),
            (7, Seen::Left("lane-1", 80, 1300, 800)),
        ]
    );
}
