//! The simulated camera's scenes: deterministic per vehicle, occupants where the ground truth
//! says, and large enough for the detectors.

use chrono::Utc;
use opencv::core::Rect;
use vod_core::config::{SimScenes, SimSide, SimSource};
use vod_core::{TriggerCommand, VehicleId};

use super::*;

fn trigger(sequence: u32) -> TriggerCommand {
    let now = std::time::Instant::now();
    TriggerCommand {
        camera: "cam".into(),
        vehicle_id: VehicleId::new(Utc::now(), sequence, 7),
        lane: "lane-1".into(),
        fire_at: now,
        frames: 2,
        interval_ms: 40,
        detected_at: now,
        detected_utc: Utc::now(),
        test: false,
    }
}

fn camera() -> SimCamera {
    SimCamera::new("cam".into(), 1280, 1024).unwrap()
}

fn contains(outer: Rect, inner: Rect) -> bool {
    inner.x >= outer.x
        && inner.y >= outer.y
        && inner.x + inner.width <= outer.x + outer.width
        && inner.y + inner.height <= outer.y + outer.height
}

/// The window of `occupant`'s row, which must hold the occupant.
fn assert_inside_its_window(layout: &Layout, occupant: &SimOccupant) -> Rect {
    let window = if occupant.row == 1 {
        layout.front_window
    } else {
        layout.rear_window
    };
    assert!(
        contains(window, occupant.bbox),
        "{occupant:?} outside {window:?}"
    );
    window
}

#[test]
fn a_vehicle_always_looks_the_same() {
    let mut camera = camera();
    let trigger = trigger(1);
    let first = camera.grab(&trigger, 0).unwrap();
    let again = camera.grab(&trigger, 0).unwrap();
    assert_eq!(first.pixels, again.pixels);
    assert_eq!(
        camera.scene(trigger.vehicle_id, 0),
        camera.scene(trigger.vehicle_id, 0)
    );
    assert_eq!(first.pixels.len(), first.expected_len());
}

#[test]
fn the_driver_is_always_there_and_the_rear_row_only_sometimes() {
    let camera = camera();
    let scenes: Vec<SimScene> = (0..40)
        .map(|i| camera.scene(trigger(i).vehicle_id, 0))
        .collect();
    assert!(scenes.iter().all(|s| s.occupied_rows.first() == Some(&1)));
    let with_rear = scenes.iter().filter(|s| s.occupied_rows == [1, 2]).count();
    assert!(
        with_rear > 5 && with_rear < 35,
        "{with_rear} of 40 with a rear occupant"
    );
    let photos: std::collections::HashSet<_> = scenes
        .iter()
        .flat_map(|s| s.occupants.iter().map(|o| o.photo.clone()))
        .collect();
    assert_eq!(photos.len(), 2);
}

#[test]
fn occupants_sit_inside_their_windows_and_are_large() {
    let camera = camera();
    for i in 0..20 {
        for burst_index in 0..2 {
            let layout = Layout::new(1280, 1024, burst_index);
            for occupant in camera.scene(trigger(i).vehicle_id, burst_index).occupants {
                assert_inside_its_window(&layout, &occupant);
                assert!(occupant.bbox.height >= 300, "{occupant:?} too small");
            }
        }
    }
}

#[test]
fn the_photo_is_drawn_where_the_ground_truth_says() {
    let mut camera = camera();
    let glass = [70u8, 60, 50];
    // Find a vehicle with an empty rear row and one with an occupied one.
    for i in 0..40 {
        let trigger = trigger(i);
        let scene = camera.scene(trigger.vehicle_id, 0);
        let frame = camera.grab(&trigger, 0).unwrap();
        let pixel = |x: i32, y: i32| {
            let at = (y as usize * 1280 + x as usize) * 3;
            [frame.pixels[at], frame.pixels[at + 1], frame.pixels[at + 2]]
        };
        let rear = Layout::new(1280, 1024, 0).rear_window;
        let rear_glass_pixels = (0..rear.width)
            .step_by(7)
            .filter(|dx| pixel(rear.x + dx, rear.y + 2) == glass)
            .count();
        let rear_samples = (0..rear.width).step_by(7).count();
        if scene.occupied_rows == [1] {
            // Nobody in the back: the rear window is bare glass from top to bottom.
            let centre = (rear.x + rear.width / 2, rear.y + rear.height / 2);
            assert_eq!(pixel(centre.0, centre.1), glass);
            assert_eq!(rear_glass_pixels, rear_samples);
        }
        for occupant in &scene.occupants {
            let b = occupant.bbox;
            let non_glass = (0..b.width)
                .step_by(5)
                .flat_map(|dx| (0..b.height).step_by(5).map(move |dy| (dx, dy)))
                .filter(|(dx, dy)| pixel(b.x + dx, b.y + dy) != glass)
                .count();
            let samples = (0..b.width).step_by(5).count() * (0..b.height).step_by(5).count();
            assert!(
                non_glass * 10 > samples * 9,
                "{occupant:?}: {non_glass}/{samples}"
            );
        }
    }
}

#[test]
fn small_frames_render_with_occupants_only_where_they_fit() {
    for (width, height) in [(64, 48), (32, 24)] {
        let mut camera = SimCamera::new("cam".into(), width, height).unwrap();
        let frame = camera.grab(&trigger(1), 0).unwrap();
        assert_eq!(frame.pixels.len(), (width * height * 3) as usize);
        let frame_rect = Rect::new(0, 0, width as i32, height as i32);
        let scene = camera.scene(trigger(1).vehicle_id, 0);
        assert!(scene.occupants.iter().all(|o| contains(frame_rect, o.bbox)));
        if height < 40 {
            assert!(scene.occupants.is_empty(), "{scene:?}");
        }
    }
}

fn hard_camera(occupants_dir: Option<std::path::PathBuf>) -> SimCamera {
    hard_camera_on(SimSide::Left, occupants_dir)
}

fn hard_camera_on(side: SimSide, occupants_dir: Option<std::path::PathBuf>) -> SimCamera {
    let source = SimSource {
        scenes: SimScenes::Hard,
        occupants_dir,
        side,
        ..SimSource::sized(1280, 1024)
    };
    SimCamera::from_source("cam".into(), &source).unwrap()
}

#[test]
fn from_the_right_the_same_people_sit_mirrored_and_the_hidden_one_is_nearest() {
    let (left, right) = (
        hard_camera_on(SimSide::Left, None),
        hard_camera_on(SimSide::Right, None),
    );
    let mirrored = |w: Rect| Rect::new(1280 - w.x - w.width, w.y, w.width, w.height);
    let layout = Layout::new(1280, 1024, 0);
    let mut rows_of_two = 0;
    for i in 0..60 {
        let vehicle = trigger(i).vehicle_id;
        let (l, r) = (left.scene(vehicle, 0), right.scene(vehicle, 0));
        assert_eq!(l.occupied_rows, r.occupied_rows);
        assert_eq!(l.conditions, r.conditions);
        for row in [1u8, 2] {
            let of = |scene: &SimScene| -> Vec<SimOccupant> {
                scene
                    .occupants
                    .iter()
                    .filter(|o| o.row == row)
                    .cloned()
                    .collect()
            };
            let (l, r) = (of(&l), of(&r));
            let window = if row == 1 {
                layout.front_window
            } else {
                layout.rear_window
            };
            assert!(
                r.iter().all(|o| contains(mirrored(window), o.bbox)),
                "{r:?}"
            );
            if let ([l_far, l_near], [r_far, r_near]) = (&l[..], &r[..]) {
                rows_of_two += 1;
                // Drawn first is the one beyond: from the right, the one nearest the left.
                assert_eq!((&r_near.photo, r_near.child), (&l_far.photo, l_far.child));
                assert_eq!((&r_far.photo, r_far.child), (&l_near.photo, l_near.child));
            }
        }
    }
    assert!(rows_of_two >= 5, "{rows_of_two} rows of two");
}

#[test]
fn a_view_from_the_right_is_the_left_one_mirrored_where_nobody_hides() {
    let on = |side| {
        let source = SimSource {
            side,
            ..SimSource::sized(320, 240)
        };
        SimCamera::from_source("cam".into(), &source).unwrap()
    };
    let (mut left, mut right) = (on(SimSide::Left), on(SimSide::Right));
    let vehicle = trigger(4);
    let (l, r) = (
        left.grab(&vehicle, 0).unwrap(),
        right.grab(&vehicle, 0).unwrap(),
    );
    // Above the label, each row of pixels reversed.
    let row_bytes = 320 * 3;
    for y in 0..200 {
        let l_row = &l.pixels[y * row_bytes..(y + 1) * row_bytes];
        let r_row = &r.pixels[y * row_bytes..(y + 1) * row_bytes];
        let reversed: Vec<u8> = l_row.chunks(3).rev().flatten().copied().collect();
        assert_eq!(r_row, &reversed[..], "row {y}");
    }
}

#[test]
fn hard_scenes_hold_every_condition_and_stay_inside_their_windows() {
    let camera = hard_camera(None);
    let scenes: Vec<SimScene> = (0..200)
        .map(|i| camera.scene(trigger(i).vehicle_id, 0))
        .collect();
    for condition in SimCondition::ALL {
        let n = scenes
            .iter()
            .filter(|s| s.conditions.contains(&condition))
            .count();
        assert!(n >= 10, "{condition:?} in {n} of 200 scenes");
    }
    let layout = Layout::new(1280, 1024, 0);
    for scene in &scenes {
        let front = scene.occupied_rows.iter().filter(|r| **r == 1).count();
        assert!((1..=2).contains(&front), "{scene:?}");
        assert!(scene.occupied_rows.iter().filter(|r| **r == 2).count() <= 2);
        let two_in_a_row = scene.occupied_rows.windows(2).any(|w| w[0] == w[1]);
        assert_eq!(
            two_in_a_row,
            scene.conditions.contains(&SimCondition::HiddenBehind),
            "{scene:?}"
        );
        for occupant in &scene.occupants {
            let window = assert_inside_its_window(&layout, occupant);
            if occupant.child {
                assert!(occupant.bbox.height < window.height * 2 / 3, "{occupant:?}");
            }
        }
        // The driver is an adult.
        assert!(
            scene.occupants.iter().any(|o| o.row == 1 && !o.child),
            "{scene:?}"
        );
    }
    let a = trigger(3).vehicle_id;
    assert_eq!(camera.scene(a, 1), camera.scene(a, 1));
}

#[test]
fn a_near_infrared_frame_is_monochrome() {
    let mut camera = hard_camera(None);
    let trigger = (0..100)
        .map(trigger)
        .find(|t| {
            camera
                .scene(t.vehicle_id, 0)
                .conditions
                .contains(&SimCondition::NearInfrared)
        })
        .expect("a near-infrared scene among 100");
    let frame = camera.grab(&trigger, 0).unwrap();
    assert!(frame.pixels.chunks(3).all(|p| p[0] == p[1] && p[1] == p[2]));
}

#[test]
fn occupants_come_from_a_folder_of_photos() {
    let dir = tempfile::tempdir().unwrap();
    for (name, colour) in [("alice.png", [200u8, 40, 40]), ("bob.jpg", [40, 200, 40])] {
        image::RgbImage::from_pixel(120, 160, image::Rgb(colour))
            .save(dir.path().join(name))
            .unwrap();
    }
    std::fs::write(dir.path().join("notes.txt"), "not a photo").unwrap();
    let camera = hard_camera(Some(dir.path().to_owned()));
    let scenes: Vec<SimScene> = (0..40)
        .map(|i| camera.scene(trigger(i).vehicle_id, 0))
        .collect();
    let photos: std::collections::BTreeSet<String> = scenes
        .iter()
        .flat_map(|s| s.occupants.iter().map(|o| o.photo.to_string()))
        .collect();
    assert_eq!(photos, ["alice", "bob"].map(String::from).into());
    // The photo's colour is where the ground truth puts it (BGR), in a clear scene: nothing
    // drawn over the occupants. Each driver is alice or bob by even chance.
    let clear = SimSource {
        occupants_dir: Some(dir.path().to_owned()),
        ..SimSource::sized(1280, 1024)
    };
    let mut camera = SimCamera::from_source("cam".into(), &clear).unwrap();
    let (t, driver) = (0..40)
        .map(trigger)
        .find_map(|t| {
            let scene = camera.scene(t.vehicle_id, 0);
            let driver = scene.occupants.into_iter().find(|o| o.row == 1)?;
            (&*driver.photo == "alice").then_some((t, driver))
        })
        .expect("alice drives one of 40 vehicles");
    let frame = camera.grab(&t, 0).unwrap();
    let (x, y) = (
        driver.bbox.x + driver.bbox.width / 2,
        driver.bbox.y + driver.bbox.height / 2,
    );
    let at = (y as usize * 1280 + x as usize) * 3;
    let [b, g, r] = [frame.pixels[at], frame.pixels[at + 1], frame.pixels[at + 2]];
    assert!(r > g && r > b, "{:?}", [b, g, r]);

    let empty = tempfile::tempdir().unwrap();
    let source = SimSource {
        occupants_dir: Some(empty.path().to_owned()),
        ..SimSource::sized(64, 48)
    };
    let error = SimCamera::from_source("cam".into(), &source).unwrap_err();
    assert!(error.to_string().contains("no PNG or JPEG"), "{error}");
}
