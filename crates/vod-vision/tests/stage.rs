//! The whole stage on the real photos: faces are gone from every stored image (the face
//! model, re-run on each JPEG, finds none), people are counted per row, evidence mode is
//! marked, bad frames are counted, and a new set applies between bursts without a loss.
#![allow(clippy::unwrap_used)] // a failing test may panic

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use opencv::core::{Mat, Vector};
use opencv::imgcodecs;
use opencv::prelude::*;
use prometheus::Registry;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use vod_core::supervisor::channel;
use vod_core::{Burst, Component, Frame, PixelFormat, SeatRow, TriggerCommand, VehicleId};
use vod_vision::{
    AnonymizeParams, Model, RowZone, Vision, VisionMetrics, VisionSet, VisionSettings, VisionStage,
    process,
};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn model(manifest: &str) -> Model {
    Model::load(&repo().join("models").join(manifest), 2).unwrap()
}

/// The face model of the shipped configs (it chooses what is blurred), and the other face
/// model, which checks the stored images independently.
const FACE_MODEL: &str = "centerface.toml";
const CHECKER: &str = "retinaface_mnet025.toml";

/// The front row in the right half of the view, the rear row in the left half.
const FRONT_RIGHT: [(SeatRow, f32, f32); 2] =
    [(SeatRow::Front, 0.5, 1.0), (SeatRow::Rear, 0.0, 0.5)];

fn set(evidence_raw: bool, review_below: f32) -> VisionSet {
    set_with_rows(evidence_raw, review_below, FRONT_RIGHT)
}

fn set_with_rows(
    evidence_raw: bool,
    review_below: f32,
    rows: [(SeatRow, f32, f32); 2],
) -> VisionSet {
    let zones = rows
        .into_iter()
        .map(|(row, x_from, x_to)| RowZone { row, x_from, x_to })
        .collect();
    VisionSet {
        person: model("nanodet_g_416_coco.toml"),
        face: model(FACE_MODEL),
        settings: VisionSettings {
            anonymize_people: false,
            evidence_raw,
            review_below,
            anonymize: AnonymizeParams::default(),
            seat_rows: HashMap::from([("cam-1".to_owned(), zones)]),
        },
    }
}

fn photo_frame(name: &str, burst_index: u32) -> Arc<Frame> {
    photo_frame_of("cam-1", name, burst_index)
}

fn photo_frame_of(camera: &str, name: &str, burst_index: u32) -> Arc<Frame> {
    let path = repo().join("tests/data/images").join(name);
    let image = imgcodecs::imread(path.to_str().unwrap(), imgcodecs::IMREAD_COLOR).unwrap();
    Arc::new(Frame {
        camera: Arc::from(camera),
        vehicle_id: VehicleId::new(Utc::now(), 1, 1),
        lane: Arc::from("lane-1"),
        burst_index,
        captured_utc: Utc::now(),
        device_timestamp_ns: None,
        width: image.cols() as u32,
        height: image.rows() as u32,
        pixel_format: PixelFormat::Bgr8,
        pixels: image.data_bytes().unwrap().to_vec(),
    })
}

fn burst(frames: Vec<Arc<Frame>>) -> Burst {
    Burst {
        trigger: TriggerCommand {
            camera: Arc::from("cam-1"),
            vehicle_id: VehicleId::new(Utc::now(), 1, 1),
            lane: Arc::from("lane-1"),
            fire_at: Instant::now(),
            frames: frames.len() as u32,
            interval_ms: 0,
            detected_at: Instant::now(),
            detected_utc: Utc::now(),
            test: false,
        },
        frames,
    }
}

/// The vision stage running as the appliance runs it, fed and drained through its channels.
struct Stage {
    bursts: mpsc::Sender<Burst>,
    captures: mpsc::Receiver<vod_core::Capture>,
    metrics: VisionMetrics,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<Result<(), vod_core::TaskError>>,
}

impl Stage {
    fn start(vision: &Vision, queue: usize) -> Stage {
        Self::start_with_views(vision, queue, HashMap::new())
    }

    /// With `views_by_lane`: how many cameras count each lane.
    fn start_with_views(
        vision: &Vision,
        queue: usize,
        views_by_lane: HashMap<String, usize>,
    ) -> Stage {
        let (bursts, burst_rx) = channel(queue);
        let (capture_tx, captures) = mpsc::channel(queue);
        let stop = CancellationToken::new();
        let metrics = VisionMetrics::register(&Registry::new()).unwrap();
        let stage = VisionStage {
            bursts: burst_rx,
            captures: capture_tx,
            vision: vision.clone(),
            metrics: metrics.clone(),
            raw_bursts: None,
            views_by_lane: tokio::sync::watch::channel(views_by_lane).1,
        };
        let shutdown = stop.clone();
        let task = tokio::spawn(async move { stage.run(shutdown).await });
        Stage {
            bursts,
            captures,
            metrics,
            stop,
            task,
        }
    }

    async fn stop(self) {
        self.stop.cancel();
        self.task.await.unwrap().unwrap();
    }
}

fn decode(jpeg: &[u8]) -> Mat {
    imgcodecs::imdecode(&Vector::<u8>::from_slice(jpeg), imgcodecs::IMREAD_COLOR).unwrap()
}

/// Faces in each frame, by the model that chose what to blur and by the checker, which did not.
fn faces_found(set: &VisionSet, checker: &Model, image: &Mat) -> (usize, usize) {
    (
        set.face.detect(image).unwrap().len(),
        checker.detect(image).unwrap().len(),
    )
}

#[test]
fn no_stored_image_holds_a_face_either_face_model_can_find() {
    // Each face model as the one that chooses what is blurred (the shipped one first), the
    // other as the independent check; with the file hash each capture names.
    for (face, checker, sha256) in [
        (
            FACE_MODEL,
            CHECKER,
            "5aaf17b351911ad4a27f126d2de45809710c458b95cba4a6478c4fd4e2e9d978",
        ),
        (
            CHECKER,
            FACE_MODEL,
            "b7a7acab55e104dce6f32cdfff929bd83946da5cd869b9e2e9bdffafd1b7e4a5",
        ),
    ] {
        let mut set = set(false, 0.5);
        set.face = model(face);
        let checker = model(checker);
        let metrics = VisionMetrics::register(&Registry::new()).unwrap();
        let frames = vec![
            photo_frame("astronaut.png", 0),
            photo_frame("camera.png", 1),
        ];
        // The photos do hold faces before the stage, for both models.
        let before = frames.iter().fold((0, 0), |sum, frame| {
            let found = faces_found(&set, &checker, &vod_vision::frame_mat(frame).unwrap());
            (sum.0 + found.0, sum.1 + found.1)
        });
        assert!(
            before.0 >= 2 && before.1 >= 2,
            "the test photos must show faces to both models, found {before:?}"
        );
        let capture = process(burst(frames), &set, &metrics);
        assert_eq!(capture.images.len(), 2);
        for image in &capture.images {
            let found = faces_found(&set, &checker, &decode(&image.jpeg));
            assert_eq!(
                found,
                (0, 0),
                "{face}: frame {} still shows faces (blurring model, checker)",
                image.burst_index
            );
        }
        let before = before.0;
        let occupancy = capture.occupancy.unwrap();
        assert!(!occupancy.evidence_raw);
        assert_eq!(
            u64::from(occupancy.faces_blurred),
            metrics.faces_blurred_total.get()
        );
        assert!(occupancy.faces_blurred as usize >= before);
        assert_eq!(occupancy.models.len(), 2);
        assert_eq!(occupancy.models[1].sha256, sha256);
        assert!(
            !occupancy.detections.is_empty(),
            "nobody found in the photos"
        );
        assert_eq!(
            metrics
                .inference_seconds
                .with_label_values(&[set.face.name()])
                .get_sample_count(),
            2,
            "one inference per frame inside the stage"
        );
    }
}

#[test]
fn evidence_mode_keeps_the_faces_and_says_so() {
    let set = set(true, 0.5);
    let metrics = VisionMetrics::register(&Registry::new()).unwrap();
    let capture = process(burst(vec![photo_frame("astronaut.png", 0)]), &set, &metrics);
    let occupancy = capture.occupancy.unwrap();
    assert!(occupancy.evidence_raw);
    assert_eq!(occupancy.faces_blurred, 0);
    let faces = set.face.detect(&decode(&capture.images[0].jpeg)).unwrap();
    assert_eq!(faces.len(), 1);
}

#[test]
fn people_are_counted_per_row_and_a_doubtful_capture_is_flagged() {
    let metrics = VisionMetrics::register(&Registry::new()).unwrap();
    // The astronaut fills the left two thirds of the photo: her centre is in the rear zone.
    let frames = vec![
        photo_frame("astronaut.png", 0),
        photo_frame("astronaut.png", 1),
    ];
    let capture = process(burst(frames), &set(false, 0.5), &metrics);
    let occupancy = capture.occupancy.unwrap();
    let count = |row| occupancy.rows.iter().find(|r| r.row == row).unwrap().people;
    assert_eq!(
        (count(SeatRow::Front), count(SeatRow::Rear)),
        (0, 1),
        "{occupancy:?}"
    );
    assert_eq!(occupancy.people, 1, "{occupancy:?}");
    // Nobody in front: the driver was missed, so the count goes to a person.
    assert_eq!(occupancy.countability, 0.0, "{occupancy:?}");
    assert!(occupancy.needs_review, "{occupancy:?}");
    // With the front row on the left she is the driver, seen in both frames: countable.
    let front_left = [(SeatRow::Front, 0.0, 0.5), (SeatRow::Rear, 0.5, 1.0)];
    let frames = vec![
        photo_frame("astronaut.png", 0),
        photo_frame("astronaut.png", 1),
    ];
    let capture = process(
        burst(frames),
        &set_with_rows(false, 0.5, front_left),
        &metrics,
    );
    let occupancy = capture.occupancy.unwrap();
    assert_eq!(occupancy.countability, 1.0, "{occupancy:?}");
    assert!(!occupancy.needs_review, "{occupancy:?}");
}

#[test]
fn anonymizing_people_too_leaves_neither_faces_nor_people() {
    let mut set = set(false, 0.5);
    set.settings.anonymize_people = true;
    let checker = model(CHECKER);
    let metrics = VisionMetrics::register(&Registry::new()).unwrap();
    let frame = photo_frame("astronaut.png", 0);
    let original = vod_vision::frame_mat(&frame).unwrap();
    let people_before = set.person.detect(&original).unwrap();
    assert!(!people_before.is_empty());
    let capture = process(burst(vec![frame]), &set, &metrics);
    let stored = decode(&capture.images[0].jpeg);
    assert_eq!(faces_found(&set, &checker, &stored), (0, 0));
    // The person's whole box is destroyed: the person model no longer finds them there.
    let people_after = set.person.detect(&stored).unwrap();
    for person in &people_before {
        assert!(
            people_after
                .iter()
                .all(|after| after.bbox.iou(&person.bbox) < 0.5),
            "{person:?} is still found: {people_after:?}"
        );
    }
    // The counts come from the frames before they were destroyed.
    assert!(!capture.occupancy.unwrap().detections.is_empty());
}

#[test]
fn a_bad_frame_is_counted_and_the_rest_of_the_burst_is_kept() {
    let metrics = VisionMetrics::register(&Registry::new()).unwrap();
    let mut bad = Arc::try_unwrap(photo_frame("camera.png", 1)).unwrap();
    bad.pixels.truncate(100);
    let frames = vec![photo_frame("camera.png", 0), Arc::new(bad)];
    let capture = process(burst(frames), &set(false, 0.5), &metrics);
    assert_eq!(capture.images.len(), 1);
    assert_eq!(metrics.frames_total.get(), 2);
    assert_eq!(metrics.encode_errors_total.get(), 1);

    // Many bad frames: each counted, the log line of the interval already taken by the first.
    let many: Vec<_> = (0..50)
        .map(|i| {
            let mut bad = Arc::try_unwrap(photo_frame("camera.png", i)).unwrap();
            bad.pixels.truncate(100);
            Arc::new(bad)
        })
        .collect();
    let capture = process(burst(many), &set(false, 0.5), &metrics);
    assert!(capture.images.is_empty());
    assert_eq!(metrics.encode_errors_total.get(), 51);
    assert_eq!(metrics.error_log_allowed(), None, "one line per interval");
}

#[tokio::test]
async fn a_new_set_applies_to_the_next_burst_and_no_burst_is_lost() {
    let vision = Vision::new(set(false, 0.5));
    let mut stage = Stage::start(&vision, 4);
    stage
        .bursts
        .send(burst(vec![photo_frame("astronaut.png", 0)]))
        .await
        .unwrap();
    let first = stage.captures.recv().await.unwrap().occupancy.unwrap();
    assert!(!first.evidence_raw);
    vision.replace(set(true, 0.5));
    stage
        .bursts
        .send(burst(vec![photo_frame("astronaut.png", 0)]))
        .await
        .unwrap();
    let second = stage.captures.recv().await.unwrap();
    assert_eq!(second.images.len(), 1);
    assert!(second.occupancy.unwrap().evidence_raw);
    stage.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_bursts_are_analysed_at_once_and_a_stop_lets_both_reach_the_store() {
    let vision = Vision::new(set(false, 0.5));
    let mut stage = Stage::start(&vision, 4);
    for _ in 0..2 {
        stage
            .bursts
            .send(burst(vec![photo_frame("astronaut.png", 0)]))
            .await
            .unwrap();
    }
    // A frame is counted as its burst starts: the second starts before the first is done
    // (one burst takes tens of milliseconds).
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    while stage.metrics.frames_total.get() < 2 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the second burst did not start"
        );
        tokio::task::yield_now().await;
    }
    assert!(
        stage.captures.is_empty(),
        "the second burst waited for the first"
    );
    stage.stop.cancel();
    stage.task.await.unwrap().unwrap();
    for _ in 0..2 {
        let capture = stage
            .captures
            .recv()
            .await
            .expect("a capture of a burst under way");
        assert_eq!(capture.images.len(), 1);
    }
}

#[tokio::test]
async fn a_burst_in_flight_during_a_replace_finishes_whole_with_its_own_set() {
    let vision = Vision::new(set(false, 0.5));
    let mut stage = Stage::start(&vision, 4);
    let frames = vec![
        photo_frame("astronaut.png", 0),
        photo_frame("camera.png", 1),
        photo_frame("astronaut.png", 2),
    ];
    stage.bursts.send(burst(frames.clone())).await.unwrap();
    // The stage has taken its set once it works on the burst's first frame.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    while stage.metrics.frames_total.get() == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the burst did not start"
        );
        tokio::task::yield_now().await;
    }
    vision.replace(set(true, 0.5));
    assert!(
        stage.captures.try_recv().is_err(),
        "the burst was done before the replace: nothing was in flight"
    );
    stage.bursts.send(burst(frames)).await.unwrap();
    let in_flight = stage.captures.recv().await.unwrap();
    assert_eq!(in_flight.images.len(), 3);
    assert!(!in_flight.occupancy.unwrap().evidence_raw);
    let next = stage.captures.recv().await.unwrap();
    assert_eq!(next.images.len(), 3);
    assert!(next.occupancy.unwrap().evidence_raw);
    stage.stop().await;
}

#[tokio::test]
async fn bursts_queued_across_a_replace_all_come_out_whole_in_order_of_sets() {
    let vision = Vision::new(set(false, 0.5));
    let mut stage = Stage::start(&vision, 8);
    let two_frames = || {
        burst(vec![
            photo_frame("camera.png", 0),
            photo_frame("camera.png", 1),
        ])
    };
    for _ in 0..3 {
        stage.bursts.send(two_frames()).await.unwrap();
    }
    let new_set = tokio::task::spawn_blocking(|| set(true, 0.5))
        .await
        .unwrap();
    vision.replace(new_set);
    stage.bursts.send(two_frames()).await.unwrap();
    let mut raw = Vec::new();
    for _ in 0..4 {
        let capture = stage.captures.recv().await.unwrap();
        assert_eq!(capture.images.len(), 2);
        raw.push(capture.occupancy.unwrap().evidence_raw);
    }
    // Each burst ran with one set: the old one up to some burst, the new one after it.
    assert!(raw.windows(2).all(|w| w[0] <= w[1]), "{raw:?}");
    assert_eq!(raw.last(), Some(&true));
    stage.stop().await;
}

#[test]
fn a_face_search_that_runs_out_of_time_stores_no_frame() {
    let metrics = VisionMetrics::register(&Registry::new()).unwrap();
    let mut set = set(false, 0.5);
    let frames = || vec![photo_frame("camera.png", 0), photo_frame("camera.png", 1)];
    // No face model answers within a millisecond: the run is stopped and fails closed.
    set.face = model(FACE_MODEL).with_run_timeout(Duration::from_millis(1));
    let capture = process(burst(frames()), &set, &metrics);
    assert!(
        capture.images.is_empty(),
        "a frame whose face search timed out was stored"
    );
    let errors = metrics
        .inference_errors_total
        .with_label_values(&[set.face.name()]);
    assert_eq!(errors.get(), 2);
    assert_eq!(metrics.captures_without_image_total.get(), 1);
    // Given time, the same model finishes and both frames are stored.
    set.face = model(FACE_MODEL).with_run_timeout(Duration::from_secs(60));
    let capture = process(burst(frames()), &set, &metrics);
    assert_eq!(capture.images.len(), 2);
    assert_eq!(errors.get(), 2);
    assert_eq!(metrics.captures_without_image_total.get(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cameras_of_a_lane_store_a_vehicle_with_one_count() {
    // cam-1 has the front row on the right, cam-2 (the other side) on the left: the
    // astronaut is a rear passenger to one and the driver to the other.
    let mut two_sides = set(false, 0.2);
    let front_left = [(SeatRow::Front, 0.0, 0.5), (SeatRow::Rear, 0.5, 1.0)]
        .map(|(row, x_from, x_to)| RowZone { row, x_from, x_to });
    two_sides
        .settings
        .seat_rows
        .insert("cam-2".to_owned(), front_left.to_vec());
    let vision = Vision::new(two_sides);
    let views = HashMap::from([("lane-1".to_owned(), 2)]);
    let mut stage = Stage::start_with_views(&vision, 4, views);
    let vehicle = VehicleId::new(Utc::now(), 9, 1);
    for camera in ["cam-1", "cam-2"] {
        let mut view = burst(vec![photo_frame_of(camera, "astronaut.png", 0)]);
        view.trigger.vehicle_id = vehicle;
        view.trigger.camera = Arc::from(camera);
        stage.bursts.send(view).await.unwrap();
    }
    let (a, b) = (
        stage.captures.recv().await.unwrap(),
        stage.captures.recv().await.unwrap(),
    );
    let cameras: std::collections::BTreeSet<&str> = [&*a.camera, &*b.camera].into();
    assert_eq!(cameras, ["cam-1", "cam-2"].into());
    let (a, b) = (a.occupancy.unwrap(), b.occupancy.unwrap());
    assert_eq!(
        (&a.rows, a.countability, &a.doubts),
        (&b.rows, b.countability, &b.doubts)
    );
    // Alone, cam-1 saw nobody in front (countability 0, flagged); cam-2 saw the driver.
    let front = a.rows.iter().find(|r| r.row == SeatRow::Front).unwrap();
    assert_eq!(front.people, 1, "{a:?}");
    assert!(
        a.doubts
            .iter()
            .any(|d| d.to_string() == "views_disagree:front"),
        "{a:?}"
    );
    assert!(a.countability > 0.0 && !a.needs_review, "{a:?}");
    assert_eq!(stage.metrics.captures_review_total.get(), 0);

    // A vehicle only one camera saw goes on alone once the other has had its time.
    let started = Instant::now();
    stage
        .bursts
        .send(burst(vec![photo_frame("astronaut.png", 0)]))
        .await
        .unwrap();
    let alone = tokio::time::timeout(Duration::from_secs(60), stage.captures.recv())
        .await
        .unwrap()
        .unwrap();
    assert!(started.elapsed() >= vod_vision::views::VIEWS_WAIT);
    let alone = alone.occupancy.unwrap();
    assert!(alone.needs_review, "{alone:?}");
    assert_eq!(stage.metrics.captures_review_total.get(), 1);
    stage.stop().await;
}
