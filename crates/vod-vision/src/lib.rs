//! The vision stage: each burst of raw frames becomes one capture of anonymized, encoded
//! images with the people counted per seat row; raw pixels stay in memory.
//!
//! - `manifest` and `model`: model manifests (`models/*.toml`, sha256 checked at load) and ONNX
//!   Runtime sessions through `ort` (load-dynamic: `runtime` finds the library); batches of a burst's
//!   frames per call where a model's batch is dynamic.
//! - `decode`: output decoders as pure functions (RetinaFace, NanoDet GFL, SSD, YOLO, NMS).
//! - `preprocess`, `anonymize` (faces, optionally whole people: coarse blocks plus noise,
//!   before encoding), `encode`.
//! - `occupancy`: seat-row counting fused over a burst, with a countability score; `views`:
//!   one count from every camera of a lane that counts the vehicle.
//! - `vision`: the [`Vision`] set the stage takes per burst, swapped whole; it is the live part
//!   of the config that loads and checks new models before a change applies.
//! - `stage`: the [`VisionStage`] task; `bursts`: raw bursts recorded in evidence mode and
//!   read back by a replay.

pub mod anonymize;
pub mod bursts;
pub mod decode;
pub mod encode;
pub mod manifest;
pub mod metrics;
pub mod model;
pub mod occupancy;
pub mod preprocess;
pub mod runtime;
pub mod stage;
pub mod views;
pub mod vision;

pub use anonymize::AnonymizeParams;
pub use encode::{EncodeError, encode_mat, frame_mat};
pub use manifest::{Manifest, ManifestError};
pub use metrics::VisionMetrics;
pub use model::{Model, ModelError};
pub use occupancy::RowZone;
pub use stage::{VisionStage, process};
pub use views::{ViewJoin, fuse_views, views_by_lane};
pub use vision::{Vision, VisionSet, VisionSettings};
