//! `vod bench vision`: frames per second and per-frame latency of the whole stage (copy,
//! preprocess, person model, face model, anonymize, JPEG) against plain Python onnxruntime
//! running the same two models on the same input tensors, in the same run.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use chrono::Utc;
use opencv::core::{self, Mat, Rect, Scalar, Size};
use opencv::imgcodecs;
use opencv::imgproc;
use opencv::prelude::*;

use vod_core::{Burst, Frame, PixelFormat, TriggerCommand, VehicleId};

use vod_vision::AnonymizeParams;
use vod_vision::VisionMetrics;
use vod_vision::preprocess::{TensorData, preprocess};
use vod_vision::process;
use vod_vision::{Model, ModelError};
use vod_vision::{VisionSet, VisionSettings};

const REFERENCE: &str = include_str!("vision_bench_reference.py");

#[derive(Debug, Clone)]
pub struct BenchOptions {
    pub person_manifest: PathBuf,
    pub face_manifest: PathBuf,
    /// Photos placed on a 1280x1024 frame each.
    pub images: Vec<PathBuf>,
    pub rounds: usize,
    pub threads: usize,
    /// Frames per inference call for models that take batches (`vision.batch_size`).
    pub batch_size: usize,
    /// A Python with onnxruntime and numpy.
    pub python: PathBuf,
    /// Where the input tensors for the reference are written.
    pub work_dir: PathBuf,
}

#[derive(Debug, Clone, PartialEq)]
pub struct BenchReport {
    pub frames: usize,
    pub stage_median_ms: f64,
    pub stage_p95_ms: f64,
    pub stage_fps: f64,
    pub reference_median_ms: f64,
    pub reference_fps: f64,
    /// Means inside the stage: each model (preprocess, inference, decode) and the JPEG encoder.
    pub person_mean_ms: f64,
    pub face_mean_ms: f64,
    pub encode_mean_ms: f64,
}

impl BenchReport {
    /// Stage time over reference time per frame (medians): 1.10 is 10% overhead.
    pub fn ratio(&self) -> f64 {
        self.stage_median_ms / self.reference_median_ms
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error("image {path}: {message}")]
    Image { path: PathBuf, message: String },
    #[error("OpenCV: {0}")]
    OpenCv(#[from] opencv::Error),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("the Python reference failed: {0}")]
    Reference(String),
    #[error("the stage dropped a frame of the benchmark")]
    Dropped,
}

pub const FRAME_WIDTH: i32 = 1280;
pub const FRAME_HEIGHT: i32 = 1024;

pub fn run(options: &BenchOptions) -> Result<BenchReport, BenchError> {
    let threads = options.threads.max(1);
    let set = VisionSet {
        person: Model::load_batched(&options.person_manifest, threads, options.batch_size)?,
        face: Model::load_batched(&options.face_manifest, threads, options.batch_size)?,
        settings: VisionSettings {
            anonymize_people: false,
            evidence_raw: false,
            review_below: 0.0,
            anonymize: AnonymizeParams::default(),
            seat_rows: HashMap::new(),
        },
    };
    let frames: Vec<Mat> = options
        .images
        .iter()
        .map(|path| frame_from_photo(path))
        .collect::<Result<_, _>>()?;
    std::fs::create_dir_all(&options.work_dir)?;
    let mut model_args = Vec::new();
    for (tag, model) in [("person", &set.person), ("face", &set.face)] {
        let prefix = options.work_dir.join(tag);
        for (i, frame) in frames.iter().enumerate() {
            let (data, _) = preprocess(frame, &model.manifest.input)?;
            let TensorData::F32(values) = data else {
                return Err(BenchError::Reference(format!(
                    "{} takes u8 input; the reference feeds float32",
                    model.name()
                )));
            };
            let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
            std::fs::write(format!("{}_{i}.bin", prefix.display()), bytes)?;
        }
        let manifest_dir = model.manifest_path.parent().unwrap_or(Path::new("."));
        let input = &model.manifest.input;
        model_args.push(
            manifest_dir
                .join(&model.manifest.file)
                .display()
                .to_string(),
        );
        model_args.push(input.name.clone());
        model_args.push(format!("1,3,{},{}", input.height, input.width));
        model_args.push(prefix.display().to_string());
    }
    // One burst holds every frame, so that a batch size above 1 has frames to batch.
    let bursts = vec![burst(&frames)?];
    let new_metrics = || {
        VisionMetrics::register(&prometheus::Registry::new())
            .map_err(|e| BenchError::Reference(e.to_string()))
    };
    let warm_up = new_metrics()?;
    for b in &bursts {
        process(copy(b), &set, &warm_up);
    }
    let metrics = new_metrics()?;
    let script = options.work_dir.join("bench_reference.py");
    std::fs::write(&script, REFERENCE)?;
    // Blocks of rounds alternate between the stage and the reference, so that load from
    // elsewhere on the machine falls on both alike.
    let block = options.rounds.div_ceil(BLOCKS).max(1);
    let mut stage_ms = Vec::new();
    let mut reference_ms = Vec::new();
    let mut done = 0;
    while done < options.rounds {
        let rounds = block.min(options.rounds - done);
        for _ in 0..rounds {
            for b in &bursts {
                let t0 = Instant::now();
                let capture = process(copy(b), &set, &metrics);
                let per_frame_ms = t0.elapsed().as_secs_f64() * 1000.0 / b.frames.len() as f64;
                stage_ms.extend(b.frames.iter().map(|_| per_frame_ms));
                if capture.images.len() != b.frames.len() {
                    return Err(BenchError::Dropped);
                }
            }
        }
        reference_ms.extend(reference(
            options,
            &script,
            threads,
            rounds,
            frames.len(),
            &model_args,
        )?);
        done += rounds;
    }
    let mean_ms = |h: &prometheus::Histogram| {
        h.get_sample_sum() * 1000.0 / h.get_sample_count().max(1) as f64
    };
    let model_ms = |m: &Model| mean_ms(&metrics.inference_seconds.with_label_values(&[m.name()]));
    let stage = Summary::of(&mut stage_ms);
    let reference = Summary::of(&mut reference_ms);
    Ok(BenchReport {
        frames: stage_ms.len(),
        stage_median_ms: stage.median_ms,
        stage_p95_ms: stage.p95_ms,
        stage_fps: stage.fps,
        reference_median_ms: reference.median_ms,
        reference_fps: reference.fps,
        person_mean_ms: model_ms(&set.person),
        face_mean_ms: model_ms(&set.face),
        encode_mean_ms: mean_ms(&metrics.encode_seconds),
    })
}

const BLOCKS: usize = 5;

struct Summary {
    median_ms: f64,
    p95_ms: f64,
    /// Frames per second of busy time: 1000 over the mean.
    fps: f64,
}

impl Summary {
    fn of(times_ms: &mut [f64]) -> Summary {
        times_ms.sort_by(f64::total_cmp);
        let n = times_ms.len().max(1);
        let at = |q: usize| {
            times_ms
                .get((n * q / 100).min(n - 1))
                .copied()
                .unwrap_or(0.0)
        };
        let mean = times_ms.iter().sum::<f64>() / n as f64;
        Summary {
            median_ms: at(50),
            p95_ms: at(95),
            fps: 1000.0 / mean,
        }
    }
}

/// Runs the Python reference for `rounds` rounds; the milliseconds of each frame.
fn reference(
    options: &BenchOptions,
    script: &Path,
    threads: usize,
    rounds: usize,
    frames: usize,
    model_args: &[String],
) -> Result<Vec<f64>, BenchError> {
    let output = Command::new(&options.python)
        .arg(script)
        .args([threads.to_string(), rounds.to_string(), frames.to_string()])
        .args(model_args)
        .output()?;
    if !output.status.success() {
        return Err(BenchError::Reference(
            String::from_utf8_lossy(&output.stderr).into_owned(),
        ));
    }
    let line = String::from_utf8_lossy(&output.stdout);
    let times: Vec<f64> = line
        .split_whitespace()
        .filter_map(|n| n.parse().ok())
        .collect();
    if times.len() != rounds * frames {
        return Err(BenchError::Reference(format!("unexpected output: {line}")));
    }
    Ok(times)
}

/// The photo scaled to the frame's height and centred on a grey 1280x1024 frame.
fn frame_from_photo(path: &Path) -> Result<Mat, BenchError> {
    let photo = imgcodecs::imread(path.to_string_lossy().as_ref(), imgcodecs::IMREAD_COLOR)?;
    if photo.empty() {
        return Err(BenchError::Image {
            path: path.to_owned(),
            message: "cannot be read as an image".into(),
        });
    }
    let width = (photo.cols() * FRAME_HEIGHT / photo.rows()).min(FRAME_WIDTH);
    let mut scaled = Mat::default();
    imgproc::resize(
        &photo,
        &mut scaled,
        Size::new(width, FRAME_HEIGHT),
        0.0,
        0.0,
        imgproc::INTER_LINEAR,
    )?;
    let mut frame = Mat::new_rows_cols_with_default(
        FRAME_HEIGHT,
        FRAME_WIDTH,
        core::CV_8UC3,
        Scalar::all(96.0),
    )?;
    let rect = Rect::new((FRAME_WIDTH - width) / 2, 0, width, FRAME_HEIGHT);
    let mut roi = Mat::roi_mut(&mut frame, rect)?;
    scaled.copy_to(&mut roi)?;
    Ok(frame)
}

fn copy(burst: &Burst) -> Burst {
    Burst {
        trigger: burst.trigger.clone(),
        frames: burst.frames.clone(),
    }
}

fn burst(images: &[Mat]) -> Result<Burst, BenchError> {
    let vehicle_id = VehicleId::new(Utc::now(), 1, 1);
    let mut frames = Vec::with_capacity(images.len());
    for (index, image) in images.iter().enumerate() {
        frames.push(Arc::new(Frame {
            camera: Arc::from("bench"),
            vehicle_id,
            lane: Arc::from("bench"),
            burst_index: index as u32,
            captured_utc: Utc::now(),
            device_timestamp_ns: None,
            width: image.cols() as u32,
            height: image.rows() as u32,
            pixel_format: PixelFormat::Bgr8,
            pixels: image.data_bytes()?.to_vec(),
        }));
    }
    Ok(Burst {
        trigger: TriggerCommand {
            camera: Arc::from("bench"),
            vehicle_id,
            lane: Arc::from("bench"),
            fire_at: std::time::Instant::now(),
            frames: frames.len() as u32,
            interval_ms: 0,
            detected_at: std::time::Instant::now(),
            detected_utc: Utc::now(),
            test: false,
        },
        frames,
    })
}
