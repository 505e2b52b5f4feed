//! Vision-stage metrics, each emitted in one place, and the budget of the log lines that go
//! with the frame errors they count.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use prometheus::{
    Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, Opts, Registry,
};
use vod_core::log_budget::LogBudget;

#[derive(Debug, Clone)]
pub struct VisionMetrics {
    pub frames_total: IntCounter,
    pub encode_errors_total: IntCounter,
    pub encode_seconds: Histogram,
    pub faces_blurred_total: IntCounter,
    pub inference_seconds: HistogramVec,
    pub inference_errors_total: IntCounterVec,
    pub captures_review_total: IntCounter,
    pub captures_without_image_total: IntCounter,
    /// Raw bursts `[record] bursts` had no room for (its writer fell behind).
    pub recorded_bursts_dropped_total: IntCounter,
    /// Bad buffers, failed models and encoders are counted each time, logged once an interval.
    errors_log: Arc<Mutex<LogBudget>>,
}

/// How often the stage's frame errors are logged at most.
const ERROR_LOG_EVERY: Duration = Duration::from_secs(10);

impl VisionMetrics {
    pub fn register(registry: &Registry) -> Result<Self, prometheus::Error> {
        let frames_total = IntCounter::with_opts(Opts::new(
            "vod_vision_frames_total",
            "Frames through the vision stage.",
        ))?;
        let encode_errors_total = IntCounter::with_opts(Opts::new(
            "vod_vision_encode_errors_total",
            "Frames that could not be encoded.",
        ))?;
        let encode_seconds = Histogram::with_opts(
            HistogramOpts::new("vod_vision_encode_seconds", "Time to encode one frame.")
                .buckets(vec![0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2]),
        )?;
        let faces_blurred_total = IntCounter::with_opts(Opts::new(
            "vod_vision_faces_blurred_total",
            "Faces anonymized before encoding.",
        ))?;
        let inference_seconds = HistogramVec::new(
            HistogramOpts::new(
                "vod_vision_inference_seconds",
                "Time for one frame through one model (preprocess, inference, decode).",
            )
            .buckets(vec![0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0]),
            &["model"],
        )?;
        let inference_errors_total = IntCounterVec::new(
            Opts::new(
                "vod_vision_inference_errors_total",
                "Frames a model could not analyse; a frame whose faces cannot be found is not stored.",
            ),
            &["model"],
        )?;
        let captures_review_total = IntCounter::with_opts(Opts::new(
            "vod_vision_captures_review_total",
            "Captures flagged for human review: countability below the configured threshold.",
        ))?;
        registry.register(Box::new(frames_total.clone()))?;
        registry.register(Box::new(encode_errors_total.clone()))?;
        registry.register(Box::new(encode_seconds.clone()))?;
        registry.register(Box::new(faces_blurred_total.clone()))?;
        registry.register(Box::new(inference_seconds.clone()))?;
        registry.register(Box::new(inference_errors_total.clone()))?;
        registry.register(Box::new(captures_review_total.clone()))?;
        let captures_without_image_total = IntCounter::with_opts(Opts::new(
            "vod_vision_captures_without_image_total",
            "Bursts with frames none of which could be stored (bad buffers, failed or timed-out \
             face searches): stored as captures without images.",
        ))?;
        registry.register(Box::new(captures_without_image_total.clone()))?;
        let recorded_bursts_dropped_total = IntCounter::with_opts(Opts::new(
            "vod_vision_recorded_bursts_dropped_total",
            "Raw bursts not recorded ([record] bursts) because the writer's queue was full.",
        ))?;
        registry.register(Box::new(recorded_bursts_dropped_total.clone()))?;
        Ok(VisionMetrics {
            frames_total,
            encode_errors_total,
            encode_seconds,
            faces_blurred_total,
            inference_seconds,
            inference_errors_total,
            captures_review_total,
            captures_without_image_total,
            recorded_bursts_dropped_total,
            errors_log: Arc::new(Mutex::new(LogBudget::new(ERROR_LOG_EVERY))),
        })
    }

    /// Whether a frame error may be logged now: `Some(n)` with the errors left unlogged since
    /// the last line.
    pub fn error_log_allowed(&self) -> Option<u64> {
        self.errors_log
            .lock()
            .map_or(None, |mut budget| budget.allow(Instant::now()))
    }
}
