//! The vision stage: each burst of raw frames becomes one capture of encoded images. Raw
//! pixels stay in memory; only what this stage encodes goes on to storage.

pub mod encode;
pub mod metrics;
pub mod stage;

pub use encode::{EncodeError, encode_jpeg};
pub use metrics::VisionMetrics;
pub use stage::run_vision;
