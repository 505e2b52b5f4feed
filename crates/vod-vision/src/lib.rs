//! The vision stage: model manifests, ONNX inference through ONNX Runtime, output decoders,
//! the anonymizer and seat-row counting. Each burst of raw frames becomes one capture of
//! anonymized, encoded images with the people counted per seat row; raw pixels stay in
//! memory.

pub mod anonymize;
pub mod decode;
pub mod encode;
pub mod manifest;
pub mod metrics;
pub mod model;
pub mod occupancy;
pub mod preprocess;
pub mod runtime;
pub mod stage;
pub mod vision;

pub use anonymize::AnonymizeParams;
pub use encode::{EncodeError, encode_mat, frame_mat};
pub use manifest::{Manifest, ManifestError};
pub use metrics::VisionMetrics;
pub use model::{Model, ModelError};
pub use occupancy::RowZone;
pub use stage::{VisionStage, process};
pub use vision::{Vision, VisionSet, VisionSettings};
