//! The vision task: bursts in, captures out. The frames of a burst are copied out of it, run
//! through the person and the face model at once (several frames per inference call where a
//! model takes batches), anonymized in place unless evidence mode is on, and only then encoded.
//! Where several cameras count a lane, a vehicle's captures go on together with one count
//! (`views`).

use std::collections::HashMap;
use std::time::Instant;

use opencv::core::Mat;
use rand::SeedableRng;
use rand::rngs::StdRng;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;
use vod_core::{
    Burst, Capture, CaptureImage, Component, Frame, Occupancy, PersonDetection, SharedReceiver,
    TaskError, VEHICLE_LOG,
};

use crate::VisionMetrics;
use crate::anonymize::anonymize;
use crate::bursts::BurstRecorder;
use crate::decode::{BoxF, Detection};
use crate::encode::{encode_mat, frame_mat};
use crate::model::Model;
use crate::occupancy::{Evidence, PlacedFace, fuse, row_at};
use crate::views::{ViewJoin, fuse_views};
use crate::vision::{Vision, VisionSet};

/// Bursts analysed at once. Each model runs one call at a time (a session each), so with two
/// a burst's person model runs while the one before it is in the face model, and the decoding,
/// blurring and encoding of one overlap the other's inference: when the bursts of several lanes
/// come together, the second no longer waits for the whole first.
const BURSTS_AT_ONCE: usize = 2;

/// The vision task. Each burst takes the vision set current when it starts; the work runs on
/// blocking threads so it never stalls the runtime. A stop lets the bursts under way finish and
/// reach the store.
#[derive(Debug)]
pub struct VisionStage {
    pub bursts: SharedReceiver<Burst>,
    pub captures: mpsc::Sender<Capture>,
    pub vision: Vision,
    pub metrics: VisionMetrics,
    /// With `[record] bursts`: where raw bursts go, while evidence mode is on.
    pub raw_bursts: Option<BurstRecorder>,
    /// How many cameras count each lane's vehicles (`views::views_by_lane`).
    pub views_by_lane: watch::Receiver<HashMap<String, usize>>,
}

impl Component for VisionStage {
    async fn run(&self, shutdown: CancellationToken) -> Result<(), TaskError> {
        let mut bursts = self.bursts.lock().await;
        let mut working = tokio::task::JoinSet::new();
        let mut join = ViewJoin::default();
        loop {
            let deadline = join.next_deadline();
            let views_due = async {
                match deadline {
                    Some(at) => tokio::time::sleep_until(at.into()).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                () = shutdown.cancelled() => break,
                burst = bursts.recv(), if working.len() < BURSTS_AT_ONCE => {
                    let burst = burst.ok_or("burst channel closed")?;
                    let metrics = self.metrics.clone();
                    let set = self.vision.current();
                    if let Some(recorder) = &self.raw_bursts
                        && set.settings.evidence_raw
                    {
                        recorder.record(&burst);
                    }
                    working.spawn_blocking(move || process(burst, &set, &metrics));
                }
                Some(analysed) = working.join_next() => self.hand_over(&mut join, analysed?).await?,
                () = views_due => {
                    for vehicle in join.expired(Instant::now()) {
                        self.store(vehicle).await?;
                    }
                }
            }
        }
        while let Some(analysed) = working.join_next().await {
            self.hand_over(&mut join, analysed?).await?;
        }
        for vehicle in join.drain() {
            self.store(vehicle).await?;
        }
        Ok(())
    }
}

impl VisionStage {
    /// A capture goes on at once, or, from a camera that counts a lane counted by several, with
    /// the other views of its vehicle once all have come.
    async fn hand_over(&self, join: &mut ViewJoin, capture: Capture) -> Result<(), TaskError> {
        let views = self
            .views_by_lane
            .borrow()
            .get(&*capture.lane)
            .copied()
            .unwrap_or(1);
        let settings = &self.vision.current().settings;
        let counts = settings.seat_rows.contains_key(&*capture.camera);
        if capture.test || views < 2 || !counts {
            return self.store(vec![capture]).await;
        }
        match join.add(capture, views, Instant::now()) {
            Some(vehicle) => self.store(vehicle).await,
            None => Ok(()),
        }
    }

    /// The captures of one vehicle, counted as one, to the store.
    async fn store(&self, mut vehicle: Vec<Capture>) -> Result<(), TaskError> {
        fuse_views(&mut vehicle, &self.vision.current().settings);
        for capture in vehicle {
            if capture.occupancy.as_ref().is_some_and(|o| o.needs_review) {
                self.metrics.captures_review_total.inc();
            }
            self.captures
                .send(capture)
                .await
                .map_err(|_| "store stage is gone")?;
        }
        Ok(())
    }
}

/// One analysed frame: its encoded image, the people in it and the faces found (and blurred
/// unless evidence mode is on).
struct FrameResult {
    image: CaptureImage,
    people: Vec<PersonDetection>,
    faces: Vec<PlacedFace>,
}

pub fn process(burst: Burst, set: &VisionSet, metrics: &VisionMetrics) -> Capture {
    let trigger = burst.trigger;
    let mut images = Vec::with_capacity(burst.frames.len());
    let mut analysed = Vec::new();
    let mut people = Vec::new();
    let mut faces = Vec::new();
    let mut mats = Vec::with_capacity(burst.frames.len());
    for frame in &burst.frames {
        metrics.frames_total.inc();
        match frame_mat(frame) {
            Ok(image) => mats.push((&**frame, image)),
            Err(error) => {
                metrics.encode_errors_total.inc();
                if let Some(unlogged) = metrics.error_log_allowed() {
                    tracing::warn!(camera = %frame.camera, %error, unlogged, "Frame dropped: bad buffer.");
                }
            }
        }
    }
    // The two models at once, each on its own thread: a burst takes the longer of the two
    // instead of both one after the other.
    let (found_people, found_faces) = std::thread::scope(|scope| {
        let faces = scope.spawn(|| {
            if set.settings.evidence_raw {
                // Evidence mode: faces are neither looked for nor hidden.
                vec![Some(Vec::new()); mats.len()]
            } else {
                run_model(&set.face, &mats, metrics)
            }
        });
        let people = run_model(&set.person, &mats, metrics);
        // A face search that panicked found nothing: its frames are not stored.
        (
            people,
            faces.join().unwrap_or_else(|_| vec![None; mats.len()]),
        )
    });
    for (((frame, image), found_people), found_faces) in
        mats.into_iter().zip(found_people).zip(found_faces)
    {
        let found_people = found_people.unwrap_or_default();
        if let Some(result) = finish_frame(frame, image, &found_people, found_faces, set, metrics) {
            analysed.push(frame.burst_index);
            people.extend(result.people);
            faces.extend(result.faces);
            images.push(result.image);
        }
    }
    if !burst.frames.is_empty() && images.is_empty() {
        metrics.captures_without_image_total.inc();
    }
    let occupancy = (!burst.frames.is_empty()).then(|| {
        let zones = set
            .settings
            .seat_rows
            .get(&*trigger.camera)
            .map_or(&[][..], Vec::as_slice);
        let evidence = Evidence {
            frames: &analysed,
            people: &people,
            faces: &faces,
            person_threshold: set.person.manifest.score_threshold,
            width_px: burst.frames[0].width as f32,
        };
        let fused = fuse(zones, &evidence);
        let needs_review = fused.countability < set.settings.review_below;
        Occupancy {
            people: fused.rows.iter().map(|r| r.people).sum(),
            rows: fused.rows,
            countability: fused.countability,
            needs_review,
            doubts: fused.doubts,
            detections: people,
            // In evidence mode faces are not searched: none found, none blurred.
            faces_blurred: faces.len() as u32,
            models: set.model_refs(),
            evidence_raw: set.settings.evidence_raw,
        }
    });
    if let Some(occupancy) = &occupancy {
        // The doubts are spelled out only when the line is written.
        tracing::debug!(target: VEHICLE_LOG, vehicle_id = %trigger.vehicle_id, camera = %trigger.camera, images = images.len(), people = occupancy.people, countability = occupancy.countability, needs_review = occupancy.needs_review, doubts = %occupancy.doubts.iter().map(ToString::to_string).collect::<Vec<_>>().join(" "), "Burst analysed.");
    }
    Capture {
        vehicle_id: trigger.vehicle_id,
        lane: trigger.lane,
        camera: trigger.camera,
        detected_utc: trigger.detected_utc,
        images,
        occupancy,
        test: trigger.test,
    }
}

/// Anonymizes and encodes one frame whose detections are known. `None` when the frame cannot
/// be stored: a face model that failed (`found_faces` is `None`: a frame whose faces are
/// unknown is never stored unless evidence mode is on), or an encoder error.
fn finish_frame(
    frame: &Frame,
    mut image: Mat,
    found_people: &[Detection],
    found_faces: Option<Vec<Detection>>,
    set: &VisionSet,
    metrics: &VisionMetrics,
) -> Option<FrameResult> {
    let settings = &set.settings;
    let found_faces = found_faces?;
    if !settings.evidence_raw {
        let mut boxes: Vec<BoxF> = found_faces.iter().map(|d| d.bbox).collect();
        if settings.anonymize_people {
            boxes.extend(found_people.iter().map(|d| d.bbox));
        }
        let mut rng = StdRng::from_os_rng();
        if let Err(error) = anonymize(&mut image, &boxes, &settings.anonymize, &mut rng) {
            metrics.encode_errors_total.inc();
            if let Some(unlogged) = metrics.error_log_allowed() {
                tracing::warn!(camera = %frame.camera, %error, unlogged, "Frame dropped: could not anonymize it.");
            }
            return None;
        }
        metrics.faces_blurred_total.inc_by(found_faces.len() as u64);
    }
    let zones = settings
        .seat_rows
        .get(&*frame.camera)
        .map_or(&[][..], Vec::as_slice);
    let width = frame.width as f32;
    let faces = found_faces
        .iter()
        .map(|d| PlacedFace {
            burst_index: frame.burst_index,
            row: row_at(zones, d.bbox.centre_x() / width),
        })
        .collect();
    let people = found_people
        .iter()
        .map(|d| PersonDetection {
            burst_index: frame.burst_index,
            row: row_at(zones, d.bbox.centre_x() / width),
            x1_px: d.bbox.x1,
            y1_px: d.bbox.y1,
            x2_px: d.bbox.x2,
            y2_px: d.bbox.y2,
            score: d.score,
        })
        .collect();
    let timer = metrics.encode_seconds.start_timer();
    let encoded = encode_mat(&image);
    timer.observe_duration();
    match encoded {
        Ok(jpeg) => Some(FrameResult {
            image: CaptureImage {
                burst_index: frame.burst_index,
                captured_utc: frame.captured_utc,
                width: frame.width,
                height: frame.height,
                jpeg,
            },
            people,
            faces,
        }),
        Err(error) => {
            metrics.encode_errors_total.inc();
            if let Some(unlogged) = metrics.error_log_allowed() {
                tracing::warn!(camera = %frame.camera, %error, unlogged, "Frame dropped: could not encode it.");
            }
            None
        }
    }
}

/// The detections of each frame, `None` for the frames of a batch the model failed on.
fn run_model(
    model: &Model,
    frames: &[(&Frame, Mat)],
    metrics: &VisionMetrics,
) -> Vec<Option<Vec<Detection>>> {
    let mut found = Vec::with_capacity(frames.len());
    for batch in frames.chunks(model.batch_frames()) {
        let images: Vec<&Mat> = batch.iter().map(|(_, image)| image).collect();
        let started = Instant::now();
        let result = model.detect_batch(&images);
        // The histogram is per frame: a batch's time is shared out evenly.
        let per_frame_s = started.elapsed().as_secs_f64() / batch.len() as f64;
        let seconds = metrics.inference_seconds.with_label_values(&[model.name()]);
        match result {
            Ok(detections) => {
                for one in detections {
                    seconds.observe(per_frame_s);
                    found.push(Some(one));
                }
            }
            Err(error) => {
                metrics
                    .inference_errors_total
                    .with_label_values(&[model.name()])
                    .inc_by(batch.len() as u64);
                let camera = &batch[0].0.camera;
                if let Some(unlogged) = metrics.error_log_allowed() {
                    tracing::warn!(%camera, frames = batch.len(), %error, unlogged, "Model failed on frames.");
                }
                found.extend(batch.iter().map(|_| None));
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::sync::Arc;

    use chrono::Utc;
    use opencv::imgcodecs;
    use opencv::prelude::*;
    use prometheus::Registry;
    use vod_core::{PixelFormat, VehicleId};

    use super::*;
    use crate::vision::VisionSettings;

    fn set() -> VisionSet {
        let models = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models");
        let model = |manifest: &str| Model::load(&models.join(manifest), 1).unwrap();
        VisionSet {
            person: model("nanodet_g_416_coco.toml"),
            face: model("retinaface_mnet025.toml"),
            settings: VisionSettings::from_config(
                &vod_core::config::Config::parse(include_str!("../../../deploy/bench/vod.toml"))
                    .unwrap()
                    .vision,
            ),
        }
    }

    /// A failed face search (`None`: the model gave no answer for the frame) stores nothing of
    /// the frame; an empty one (no face) stores it. A real model cannot be made to fail after
    /// its trial inference at load, so the guard is tested here, on its own.
    #[test]
    fn a_frame_whose_face_search_failed_is_never_stored() {
        let set = set();
        let metrics = VisionMetrics::register(&Registry::new()).unwrap();
        let path =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/images/astronaut.png");
        let image = imgcodecs::imread(path.to_str().unwrap(), imgcodecs::IMREAD_COLOR).unwrap();
        let frame = Frame {
            camera: Arc::from("cam-1"),
            vehicle_id: VehicleId::new(Utc::now(), 1, 1),
            lane: Arc::from("lane-1"),
            burst_index: 0,
            captured_utc: Utc::now(),
            device_timestamp_ns: None,
            width: image.cols() as u32,
            height: image.rows() as u32,
            pixel_format: PixelFormat::Bgr8,
            pixels: image.data_bytes().unwrap().to_vec(),
        };
        let mat = || frame_mat(&frame).unwrap();
        assert!(finish_frame(&frame, mat(), &[], None, &set, &metrics).is_none());
        assert!(finish_frame(&frame, mat(), &[], Some(Vec::new()), &set, &metrics).is_some());
    }
}
