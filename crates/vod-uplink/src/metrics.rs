//! Every metric of the uplink, registered in one place.

use std::time::Duration;

use prometheus::{
    Gauge, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts, Registry,
};
use vod_store::{PushEndpoint, UploadBacklog};

use crate::push::Next;

/// Delivery latency buckets, in seconds: 5 ms to 30 s.
const LATENCY_BUCKETS_S: [f64; 10] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0, 30.0];

/// The uplink's metrics; cheap to clone.
#[derive(Debug, Clone)]
pub struct UplinkMetrics {
    /// `vod_uplink_backlog_captures`: captures waiting for their upload.
    pub backlog_captures: IntGauge,
    /// `vod_uplink_backlog_oldest_seconds`: how long the oldest of them has waited.
    pub backlog_oldest_seconds: Gauge,
    /// `vod_uplink_backlog_bytes`: their images' bytes.
    pub backlog_bytes: IntGauge,
    /// `vod_uplink_uploaded_bytes_total`, `vod_uplink_uploaded_objects_total`.
    pub uploaded_bytes_total: IntCounter,
    pub uploaded_objects_total: IntCounter,
    /// `vod_uplink_upload_failures_total{cause}`: target (the store refused or was away),
    /// file, checksum, store.
    pub upload_failures_total: IntCounterVec,
    /// `vod_uplink_push_deliveries_total{endpoint,result}`: delivered, retry, given_up, gone.
    pub push_deliveries_total: IntCounterVec,
    /// `vod_uplink_push_latency_seconds{endpoint}`: from the request to the answer.
    pub push_latency_seconds: HistogramVec,
    /// `vod_uplink_push_endpoints_disabled_total`: endpoints the box disabled (410, failing
    /// too long).
    pub endpoints_disabled_total: IntCounter,
    /// `vod_uplink_jetstream_published_total`, `vod_uplink_jetstream_failures_total`.
    pub jetstream_published_total: IntCounter,
    pub jetstream_failures_total: IntCounter,
}

impl UplinkMetrics {
    pub fn register(registry: &Registry) -> Result<UplinkMetrics, prometheus::Error> {
        fn add<C: prometheus::core::Collector + Clone + 'static>(
            registry: &Registry,
            collector: C,
        ) -> Result<C, prometheus::Error> {
            registry.register(Box::new(collector.clone()))?;
            Ok(collector)
        }
        let counter = |name: &str, help: &str| add(registry, IntCounter::new(name, help)?);
        Ok(UplinkMetrics {
            backlog_captures: add(
                registry,
                IntGauge::new(
                    "vod_uplink_backlog_captures",
                    "Captures waiting for their upload.",
                )?,
            )?,
            backlog_oldest_seconds: add(
                registry,
                Gauge::new(
                    "vod_uplink_backlog_oldest_seconds",
                    "How long the oldest capture waiting for its upload has waited.",
                )?,
            )?,
            backlog_bytes: add(
                registry,
                IntGauge::new(
                    "vod_uplink_backlog_bytes",
                    "Image bytes of the captures waiting for their upload.",
                )?,
            )?,
            uploaded_bytes_total: counter(
                "vod_uplink_uploaded_bytes_total",
                "Bytes uploaded to the cloud target.",
            )?,
            uploaded_objects_total: counter(
                "vod_uplink_uploaded_objects_total",
                "Objects (images and metadata) uploaded to the cloud target.",
            )?,
            upload_failures_total: add(
                registry,
                IntCounterVec::new(
                    Opts::new(
                        "vod_uplink_upload_failures_total",
                        "Upload attempts that failed, by cause.",
                    ),
                    &["cause"],
                )?,
            )?,
            push_deliveries_total: add(
                registry,
                IntCounterVec::new(
                    Opts::new(
                        "vod_uplink_push_deliveries_total",
                        "Push delivery attempts, by endpoint and result.",
                    ),
                    &["endpoint", "result"],
                )?,
            )?,
            push_latency_seconds: add(
                registry,
                HistogramVec::new(
                    HistogramOpts::new(
                        "vod_uplink_push_latency_seconds",
                        "From a push request to its answer.",
                    )
                    .buckets(LATENCY_BUCKETS_S.to_vec()),
                    &["endpoint"],
                )?,
            )?,
            endpoints_disabled_total: counter(
                "vod_uplink_push_endpoints_disabled_total",
                "Push endpoints the box disabled: they answered 410 or failed for too long.",
            )?,
            jetstream_published_total: counter(
                "vod_uplink_jetstream_published_total",
                "Capture metadata messages JetStream acknowledged.",
            )?,
            jetstream_failures_total: counter(
                "vod_uplink_jetstream_failures_total",
                "Capture metadata messages JetStream did not acknowledge.",
            )?,
        })
    }

    pub(crate) fn failure(&self, cause: &str) {
        self.upload_failures_total.with_label_values(&[cause]).inc();
    }

    pub(crate) fn uploaded(&self, bytes: u64) {
        self.uploaded_bytes_total.inc_by(bytes);
        self.uploaded_objects_total.inc();
    }

    pub(crate) fn backlog(&self, backlog: &UploadBacklog) {
        self.backlog_captures
            .set(i64::try_from(backlog.captures).unwrap_or(i64::MAX));
        self.backlog_bytes
            .set(i64::try_from(backlog.bytes).unwrap_or(i64::MAX));
        let now_ms = chrono::Utc::now().timestamp_millis();
        let oldest_s = backlog
            .oldest_ms
            .map_or(0.0, |oldest| (now_ms - oldest).max(0) as f64 / 1000.0);
        self.backlog_oldest_seconds.set(oldest_s);
    }

    pub(crate) fn delivered(&self, endpoint: &PushEndpoint, next: &Next, latency: Duration) {
        let label = endpoint.client.as_str();
        let result = match next {
            Next::Delivered => "delivered",
            Next::Retry(_) => "retry",
            Next::GiveUp => "given_up",
            Next::Disable => "gone",
        };
        self.push_deliveries_total
            .with_label_values(&[label, result])
            .inc();
        self.push_latency_seconds
            .with_label_values(&[label])
            .observe(latency.as_secs_f64());
    }
}
