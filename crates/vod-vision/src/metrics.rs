//! Vision-stage metrics, each emitted in one place.

use prometheus::{Histogram, HistogramOpts, IntCounter, Opts, Registry};

#[derive(Debug, Clone)]
pub struct VisionMetrics {
    pub frames_total: IntCounter,
    pub encode_errors_total: IntCounter,
    pub encode_seconds: Histogram,
}

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
        registry.register(Box::new(frames_total.clone()))?;
        registry.register(Box::new(encode_errors_total.clone()))?;
        registry.register(Box::new(encode_seconds.clone()))?;
        Ok(VisionMetrics {
            frames_total,
            encode_errors_total,
            encode_seconds,
        })
    }
}
