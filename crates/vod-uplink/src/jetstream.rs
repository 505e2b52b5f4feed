//! JetStream export: each capture's metadata published to a stream with the capture's id as
//! `Nats-Msg-Id`, so that JetStream keeps one message per capture however often the job runs.
//! On a leaf node with a JetStream domain of its own the stream fills while the cloud is away,
//! and the hub's stream sources it when the link is back (deploy/nats/).

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, stream};
use tokio::sync::OnceCell;
use vod_core::VEHICLE_LOG;
use vod_core::config::{BusConfig, JetStreamConfig};
use vod_store::outbound::CaptureJob;
use vod_store::{Job, JobError, JobHandler, Store};

use crate::UplinkMetrics;
use crate::metadata::{CaptureKeys, Metadata};

/// How long a publish waits for JetStream's acknowledgement.
const ACK_TIMEOUT: Duration = Duration::from_secs(10);

/// The JetStream queue: one message at a time, retried without end at most a minute apart;
/// `[jobs.queues.jetstream]` overrides it.
pub fn jetstream_queue(config: &vod_core::config::Config) -> vod_store::QueueSpec {
    vod_store::QueueSpec {
        name: vod_store::outbound::JETSTREAM_QUEUE.into(),
        concurrency: std::num::NonZeroU32::MIN,
        max_starts_per_minute: None,
        retry: vod_store::RetryPolicy {
            base_ms: 1_000,
            max_ms: 60_000,
        },
        poll_ms: 5_000,
    }
    .with_config(&config.jobs.queue(vod_store::outbound::JETSTREAM_QUEUE))
}

/// Runs the JetStream jobs.
#[derive(Debug)]
pub struct Exporter {
    pub store: Store,
    pub site: Arc<str>,
    pub bus: BusConfig,
    pub config: JetStreamConfig,
    pub metrics: UplinkMetrics,
    context: OnceCell<jetstream::Context>,
}

impl Exporter {
    pub fn new(
        store: Store,
        site: Arc<str>,
        bus: BusConfig,
        config: JetStreamConfig,
        metrics: UplinkMetrics,
    ) -> Exporter {
        Exporter {
            store,
            site,
            bus,
            config,
            metrics,
            context: OnceCell::new(),
        }
    }

    /// The JetStream context, with the stream made sure of; connected on first use.
    async fn context(&self) -> Result<&jetstream::Context, String> {
        self.context
            .get_or_try_init(|| async {
                let client = vod_bus::connect(
                    &self.bus,
                    format!("vod {} jetstream", self.site),
                    vod_bus::Patience::RetryForever,
                )
                .await
                .map_err(|error| error.to_string())?;
                let mut context = match &self.config.domain {
                    Some(domain) => jetstream::with_domain(client, domain),
                    None => jetstream::new(client),
                };
                context.set_timeout(ACK_TIMEOUT);
                context
                    .get_or_create_stream(stream::Config {
                        name: self.config.stream.clone(),
                        subjects: vec![self.config.subject.clone()],
                        duplicate_window: Duration::from_secs(self.config.duplicate_window_s),
                        ..stream::Config::default()
                    })
                    .await
                    .map_err(|error| format!("the stream {}: {error}", self.config.stream))?;
                Ok(context)
            })
            .await
    }
}

impl JobHandler for Exporter {
    async fn perform(&self, job: &Job) -> Result<(), JobError> {
        let args: CaptureJob = serde_json::from_str(&job.args)
            .map_err(|error| JobError::Discard(format!("bad JetStream job: {error}")))?;
        let Some(capture) = self
            .store
            .capture_export(&args.capture_uuid)
            .await
            .map_err(|error| JobError::Retry(error.to_string()))?
        else {
            return Err(JobError::Discard("the capture is no longer stored".into()));
        };
        let failed = |error: String| {
            self.metrics.jetstream_failures_total.inc();
            JobError::Retry(error)
        };
        let context = self.context().await.map_err(failed)?;
        let keys = CaptureKeys::new("", &self.site, &capture);
        let body = Metadata::of(&self.site, &keys, &capture).to_json();
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("Nats-Msg-Id", capture.capture.uuid.as_str());
        let ack = context
            .publish_with_headers(self.config.subject.clone(), headers, body.into())
            .await
            .map_err(|error| failed(error.to_string()))?;
        ack.await.map_err(|error| failed(error.to_string()))?;
        self.metrics.jetstream_published_total.inc();
        tracing::debug!(target: VEHICLE_LOG, vehicle_id = %capture.capture.vehicle_id, capture = %args.capture_uuid, "Exported to JetStream.");
        Ok(())
    }
}
