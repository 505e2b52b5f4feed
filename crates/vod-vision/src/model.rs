//! A loaded model: its manifest, an ONNX Runtime session checked against the manifest at
//! load, and `detect_batch`, which turns frames into detections in frame pixels, several
//! frames per inference call where the model's input takes any batch size.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{RecvTimeoutError, channel};
use std::time::Duration;

use opencv::core::Mat;
use opencv::prelude::*;
use ort::session::{RunOptions, Session, SessionOutputs};
use ort::value::{TensorElementType, TensorRef};
use sha2::{Digest, Sha256};

use crate::decode::{self, DecodeError, Detection, Outputs};
use crate::manifest::{Decoder, Dtype, Layout, Manifest, ManifestError};
use crate::preprocess::{TensorData, Transform, preprocess};
use crate::runtime::{RuntimeError, environment};

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    #[error("model manifest {manifest}: refused: {problem}")]
    Refused { manifest: PathBuf, problem: String },
    #[error("model {model}: inference failed: {message}")]
    Inference { model: String, message: String },
}

/// Runs `run`; once `timeout` has passed, terminates the inference runs of `options` (the
/// run then fails). Also says whether it had to.
fn within<T>(
    timeout: Option<Duration>,
    options: &RunOptions,
    run: impl FnOnce() -> T,
) -> (T, bool) {
    let Some(timeout) = timeout else {
        return (run(), false);
    };
    let timed_out = AtomicBool::new(false);
    let result = std::thread::scope(|scope| {
        let (finished, waiting) = channel::<()>();
        let timed_out = &timed_out;
        scope.spawn(move || {
            if waiting.recv_timeout(timeout) == Err(RecvTimeoutError::Timeout) {
                timed_out.store(true, Ordering::SeqCst);
                if let Err(error) = options.terminate() {
                    tracing::error!(%error, "An inference run could not be stopped.");
                }
            }
        });
        let result = run();
        drop(finished);
        result
    });
    (result, timed_out.load(Ordering::SeqCst))
}

/// One model, ready to run. `detect` may be called from any thread; calls are serialised.
#[derive(Debug)]
pub struct Model {
    pub manifest: Manifest,
    pub manifest_path: PathBuf,
    /// Frames per inference call: the configured batch size, or 1 for a model whose input's
    /// batch dimension is fixed at 1.
    batch_frames: usize,
    session: Mutex<Session>,
    /// An inference call still running after this is terminated and fails.
    run_timeout: Option<Duration>,
}

struct SessionTensors<'a, 's>(&'a SessionOutputs<'s>);

impl Outputs for SessionTensors<'_, '_> {
    fn tensor(&self, name: &str) -> Result<(&[i64], &[f32]), DecodeError> {
        let value = self
            .0
            .get(name)
            .ok_or_else(|| DecodeError::MissingOutput(name.to_owned()))?;
        let (shape, data) =
            value
                .try_extract_tensor::<f32>()
                .map_err(|error| DecodeError::BadShape {
                    name: name.to_owned(),
                    shape: Vec::new(),
                    expected: format!("a float32 tensor ({error})"),
                })?;
        Ok((shape, data))
    }
}

impl Model {
    /// Loads, checks and warms up the model a manifest describes: the file's SHA-256, the
    /// input tensor's name, type and shape, every output the decoder reads, and one inference
    /// on a blank image whose outputs must decode.
    pub fn load(manifest_path: &Path, intra_threads: usize) -> Result<Model, ModelError> {
        Model::load_batched(manifest_path, intra_threads, 1)
    }

    /// As [`Model::load`], giving up to `batch_size` frames to one inference call. A model
    /// whose input batch is fixed at 1 runs frames one by one, and says so here, once.
    pub fn load_batched(
        manifest_path: &Path,
        intra_threads: usize,
        batch_size: usize,
    ) -> Result<Model, ModelError> {
        let manifest = Manifest::load(manifest_path)?;
        let refused = |problem: String| ModelError::Refused {
            manifest: manifest_path.to_owned(),
            problem,
        };
        let file = manifest_path
            .parent()
            .unwrap_or(Path::new("."))
            .join(&manifest.file);
        let bytes = std::fs::read(&file)
            .map_err(|error| refused(format!("cannot read {}: {error}", file.display())))?;
        let actual = hex(&Sha256::digest(&bytes));
        if actual != manifest.sha256.to_ascii_lowercase() {
            return Err(refused(format!(
                "{} has sha256 {actual}, the manifest says {}",
                file.display(),
                manifest.sha256
            )));
        }
        let env = environment()?;
        let session = Session::builder(env)
            .and_then(|b| Ok(b.with_intra_threads(intra_threads.max(1))?))
            .and_then(|b| Ok(b.with_inter_threads(1)?))
            // Without the memory pattern each tensor takes its block from the arena and gives it
            // back: 26 MB less peak RSS at 8 lanes, no slower (docs/PERFORMANCE.md, "The whole box").
            .and_then(|b| Ok(b.with_memory_pattern(false)?))
            .and_then(|mut b| b.commit_from_memory(&bytes))
            .map_err(|error| {
                refused(format!(
                    "ONNX Runtime cannot load {}: {error}",
                    file.display()
                ))
            })?;
        let batch = check_signature(&session, &manifest).map_err(refused)?;
        let batch_frames = match batch {
            InputBatch::Any => batch_size.max(1),
            InputBatch::One => {
                if batch_size > 1 {
                    tracing::info!(
                        manifest = %manifest_path.display(),
                        batch_size,
                        "The model's input takes one frame per call; it runs frames one by one."
                    );
                }
                1
            }
        };
        let model = Model {
            manifest,
            manifest_path: manifest_path.to_owned(),
            batch_frames,
            session: Mutex::new(session),
            run_timeout: None,
        };
        let blank = Mat::new_rows_cols_with_default(
            model.manifest.input.height as i32,
            model.manifest.input.width as i32,
            opencv::core::CV_8UC3,
            opencv::core::Scalar::all(0.0),
        )
        .map_err(|error| refused(error.to_string()))?;
        model
            .detect(&blank)
            .map_err(|error| refused(format!("a trial inference failed: {error}")))?;
        Ok(model)
    }

    pub fn name(&self) -> &str {
        &self.manifest.name
    }

    /// The model with a deadline on each inference call: a call still running after
    /// `timeout` is terminated and fails ("timed out").
    pub fn with_run_timeout(mut self, timeout: Duration) -> Model {
        self.run_timeout = Some(timeout);
        self
    }

    /// Frames given to one inference call.
    pub fn batch_frames(&self) -> usize {
        self.batch_frames
    }

    /// Detections of the manifest's classes, in frame pixels, after NMS.
    pub fn detect(&self, image: &Mat) -> Result<Vec<Detection>, ModelError> {
        let mut found = self.run_batch(&[image])?;
        Ok(found.pop().unwrap_or_default())
    }

    /// The detections of each image, in order, `batch_frames` images per inference call.
    pub fn detect_batch(&self, images: &[&Mat]) -> Result<Vec<Vec<Detection>>, ModelError> {
        let mut found = Vec::with_capacity(images.len());
        for chunk in images.chunks(self.batch_frames) {
            found.extend(self.run_batch(chunk)?);
        }
        Ok(found)
    }

    /// One inference call on `images` stacked along the batch dimension.
    fn run_batch(&self, images: &[&Mat]) -> Result<Vec<Vec<Detection>>, ModelError> {
        let failed = |message: String| ModelError::Inference {
            model: self.manifest.name.clone(),
            message,
        };
        let spec = &self.manifest.input;
        let mut transforms = Vec::with_capacity(images.len());
        let mut stacked: Option<TensorData> = None;
        for image in images {
            let (data, transform) = preprocess(image, spec).map_err(|e| failed(e.to_string()))?;
            transforms.push(transform);
            match (&mut stacked, data) {
                (None, data) => stacked = Some(data),
                (Some(TensorData::F32(all)), TensorData::F32(one)) => all.extend(one),
                (Some(TensorData::U8(all)), TensorData::U8(one)) => all.extend(one),
                _ => return Err(failed("preprocessing gave mixed tensor types".into())),
            }
        }
        let Some(data) = stacked else {
            return Ok(Vec::new());
        };
        let (n, h, w) = (images.len(), spec.height as usize, spec.width as usize);
        let shape = match spec.layout {
            Layout::Nchw => [n, 3, h, w],
            Layout::Nhwc => [n, h, w, 3],
        };
        let mut session = self
            .session
            .lock()
            .map_err(|_| failed("session poisoned".into()))?;
        let options = RunOptions::new().map_err(|e| failed(e.to_string()))?;
        let (outputs, timed_out) = within(self.run_timeout, &options, || match &data {
            TensorData::F32(v) => {
                TensorRef::from_array_view((shape, v.as_slice())).and_then(|tensor| {
                    session.run_with_options(ort::inputs![spec.name.as_str() => tensor], &options)
                })
            }
            TensorData::U8(v) => {
                TensorRef::from_array_view((shape, v.as_slice())).and_then(|tensor| {
                    session.run_with_options(ort::inputs![spec.name.as_str() => tensor], &options)
                })
            }
        });
        let outputs = outputs.map_err(|e| match (timed_out, self.run_timeout) {
            (true, Some(timeout)) => failed(format!("timed out after {} ms", timeout.as_millis())),
            _ => failed(e.to_string()),
        })?;
        let tensors = SessionTensors(&outputs);
        images
            .iter()
            .zip(transforms)
            .enumerate()
            .map(|(index, (image, transform))| {
                let item = BatchItem::of(&tensors, &self.manifest.decoder.output_names(), index, n)
                    .map_err(|e| failed(e.to_string()))?;
                let raw = self.decode(&item).map_err(|e| failed(e.to_string()))?;
                Ok(self.finish(raw, transform, image.cols() as u32, image.rows() as u32))
            })
            .collect()
    }

    fn decode(&self, outputs: &dyn Outputs) -> Result<Vec<Detection>, DecodeError> {
        let m = &self.manifest;
        let (w, h, t) = (m.input.width, m.input.height, m.score_threshold);
        match &m.decoder {
            Decoder::RetinaFace(p) => decode::retinaface::decode(p, outputs, w, h, t),
            Decoder::CenterFace(p) => decode::centerface::decode(p, outputs, w, h, t),
            Decoder::NanodetGfl(p) => decode::nanodet::decode(p, outputs, w, h, t),
            Decoder::Ssd(p) => decode::ssd::decode(p, outputs, w, h, t),
            Decoder::Yolo(p) => decode::yolo::decode(p, outputs, t),
        }
    }

    fn finish(&self, raw: Vec<Detection>, t: Transform, width: u32, height: u32) -> Vec<Detection> {
        let kept = raw
            .into_iter()
            .filter(|d| self.manifest.label(d.class_id).is_some())
            .map(|d| Detection {
                bbox: t.to_frame(d.bbox, width, height),
                ..d
            })
            .filter(|d| d.bbox.area() > 0.0)
            .collect();
        decode::nms(kept, self.manifest.nms_iou)
    }
}

/// One image's share of a batch's outputs: each output's leading dimension is the batch.
struct BatchItem<'a> {
    tensors: Vec<(&'a str, Vec<i64>, &'a [f32])>,
}

impl<'a> BatchItem<'a> {
    fn of(
        outputs: &'a dyn Outputs,
        names: &[&'a str],
        index: usize,
        batch: usize,
    ) -> Result<BatchItem<'a>, DecodeError> {
        let mut tensors = Vec::with_capacity(names.len());
        for name in names {
            let (shape, data) = outputs.tensor(name)?;
            if batch == 1 {
                tensors.push((*name, shape.to_vec(), data));
                continue;
            }
            let per_item = data.len() / batch;
            if shape.first() != Some(&(batch as i64)) || per_item * batch != data.len() {
                return Err(DecodeError::BadShape {
                    name: (*name).to_owned(),
                    shape: shape.to_vec(),
                    expected: format!("a leading batch dimension of {batch}"),
                });
            }
            let mut item_shape = shape.to_vec();
            item_shape[0] = 1;
            tensors.push((
                *name,
                item_shape,
                &data[index * per_item..(index + 1) * per_item],
            ));
        }
        Ok(BatchItem { tensors })
    }
}

impl Outputs for BatchItem<'_> {
    fn tensor(&self, name: &str) -> Result<(&[i64], &[f32]), DecodeError> {
        self.tensors
            .iter()
            .find(|(n, _, _)| *n == name)
            .map(|(_, shape, data)| (shape.as_slice(), *data))
            .ok_or_else(|| DecodeError::MissingOutput(name.to_owned()))
    }
}

/// Whether a model's input takes any number of frames per call or exactly one.
enum InputBatch {
    Any,
    One,
}

fn check_signature(session: &Session, manifest: &Manifest) -> Result<InputBatch, String> {
    let spec = &manifest.input;
    let input = session
        .inputs()
        .iter()
        .find(|i| i.name() == spec.name)
        .ok_or_else(|| {
            let names: Vec<&str> = session.inputs().iter().map(|i| i.name()).collect();
            format!("the model has no input '{}' (it has {names:?})", spec.name)
        })?;
    let want_type = match spec.dtype {
        Dtype::F32 => TensorElementType::Float32,
        Dtype::U8 => TensorElementType::Uint8,
    };
    let ty = input.dtype();
    if ty.tensor_type() != Some(want_type) {
        return Err(format!(
            "input '{}' is {ty:?}, the manifest says {:?}",
            spec.name, spec.dtype
        ));
    }
    let shape: &[i64] = ty.tensor_shape().map_or(&[], |s| s);
    let (h, w) = (i64::from(spec.height), i64::from(spec.width));
    let want = match spec.layout {
        Layout::Nchw => [1, 3, h, w],
        Layout::Nhwc => [1, h, w, 3],
    };
    let fits = shape.len() == 4 && shape.iter().zip(want).all(|(d, w)| *d < 0 || *d == w);
    if !fits {
        return Err(format!(
            "input '{}' has shape {shape:?}, the manifest needs {want:?}",
            spec.name
        ));
    }
    for name in manifest.decoder.output_names() {
        if !session.outputs().iter().any(|o| o.name() == name) {
            let names: Vec<&str> = session.outputs().iter().map(|o| o.name()).collect();
            return Err(format!(
                "the model has no output '{name}' (it has {names:?})"
            ));
        }
    }
    Ok(if shape[0] < 0 {
        InputBatch::Any
    } else {
        InputBatch::One
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
