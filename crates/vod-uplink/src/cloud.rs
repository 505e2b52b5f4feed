//! The cloud upload: each capture's images, then its metadata, to the `[uplink.cloud]` target
//! (S3 or an S3-compatible server, or a directory) under deterministic keys. A retry
//! overwrites the same keys; an upload retries without end while the target is away.

use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::{ClientOptions, ObjectStore, ObjectStoreExt, PutPayload, RetryConfig};
use sha2::{Digest, Sha256};
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use vod_core::config::secrets::mask_text;
use vod_core::config::{CloudConfig, Config};
use vod_core::{Component, TaskError, VEHICLE_LOG};
use vod_store::outbound::{CaptureJob, UPLOAD_QUEUE};
use vod_store::{Job, JobError, JobHandler, QueueSpec, RetryPolicy, Store};

use crate::UplinkMetrics;
use crate::metadata::{CaptureKeys, Metadata};

/// How often the backlog gauges are worked out again.
const BACKLOG_EVERY: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    #[error("uplink.cloud.url: {0}")]
    Url(String),
    #[error("uplink.cloud: {0}")]
    Store(#[from] object_store::Error),
    #[error("uplink.cloud.url: cannot create the directory {path}: {source}")]
    Directory {
        path: String,
        source: std::io::Error,
    },
}

/// Where uploads go: an object store and the key prefix in it.
#[derive(Debug)]
pub struct Target {
    store: Arc<dyn ObjectStore>,
    prefix: String,
    rate: Option<ByteRate>,
}

impl Target {
    /// The target `config` names. Credentials come from the config or from the AWS
    /// environment variables; none of them ever reaches a message.
    pub fn open(config: &CloudConfig) -> Result<Target, TargetError> {
        let (store, prefix): (Arc<dyn ObjectStore>, String) = if let Some(rest) =
            config.url.strip_prefix("s3://")
        {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            let mut builder = AmazonS3Builder::from_env()
                .with_bucket_name(bucket)
                .with_retry(RetryConfig {
                    max_retries: 1,
                    retry_timeout: Duration::from_secs(20),
                    ..RetryConfig::default()
                })
                .with_client_options(
                    ClientOptions::new()
                        .with_connect_timeout(Duration::from_secs(5))
                        .with_timeout(Duration::from_secs(60)),
                );
            if let Some(endpoint) = &config.endpoint {
                builder = builder
                    .with_endpoint(endpoint)
                    .with_allow_http(endpoint.starts_with("http://"));
            }
            if let Some(region) = &config.region {
                builder = builder.with_region(region);
            }
            if let (Some(key), Some(secret)) = (&config.access_key_id, &config.secret_access_key) {
                builder = builder
                    .with_access_key_id(key)
                    .with_secret_access_key(secret);
            }
            (Arc::new(builder.build()?), prefix.to_owned())
        } else if let Some(path) = config.url.strip_prefix("file://") {
            std::fs::create_dir_all(path).map_err(|source| TargetError::Directory {
                path: path.to_owned(),
                source,
            })?;
            (
                Arc::new(LocalFileSystem::new_with_prefix(path)?),
                String::new(),
            )
        } else {
            return Err(TargetError::Url(
                "must be s3://BUCKET/PREFIX or file:///PATH".into(),
            ));
        };
        Ok(Target {
            store,
            prefix,
            rate: config.max_bytes_per_s.map(ByteRate::new),
        })
    }

    async fn put(&self, key: &str, bytes: Vec<u8>) -> Result<(), object_store::Error> {
        if let Some(rate) = &self.rate {
            rate.take(bytes.len() as u64).await;
        }
        self.store
            .put(&ObjectPath::from(key), PutPayload::from(bytes))
            .await?;
        Ok(())
    }
}

/// Spaces uploads so that together they send no more than `bytes_per_s`.
#[derive(Debug)]
struct ByteRate {
    bytes_per_s: f64,
    next_free: tokio::sync::Mutex<Instant>,
}

impl ByteRate {
    fn new(bytes_per_s: u64) -> ByteRate {
        ByteRate {
            bytes_per_s: bytes_per_s.max(1) as f64,
            next_free: tokio::sync::Mutex::new(Instant::now()),
        }
    }

    /// Waits for the moment `bytes` may go.
    async fn take(&self, bytes: u64) {
        let start = {
            let mut next_free = self.next_free.lock().await;
            let start = (*next_free).max(Instant::now());
            *next_free = start + Duration::from_secs_f64(bytes as f64 / self.bytes_per_s);
            start
        };
        tokio::time::sleep_until(start).await;
    }
}

/// The upload queue: `[uplink.cloud] concurrency` uploads at once (one without a target),
/// retried without end at most `retry_max_s` apart; `[jobs.queues.upload]` overrides it.
pub fn upload_queue(config: &Config) -> QueueSpec {
    let cloud = config.uplink.cloud.as_ref();
    QueueSpec {
        name: UPLOAD_QUEUE.into(),
        concurrency: cloud
            .and_then(|cloud| NonZeroU32::new(cloud.concurrency))
            .unwrap_or(NonZeroU32::MIN),
        max_starts_per_minute: None,
        retry: RetryPolicy {
            base_ms: 1_000,
            max_ms: cloud
                .map_or(300, |cloud| cloud.retry_max_s)
                .saturating_mul(1000),
        },
        poll_ms: 5_000,
    }
    .with_config(&config.jobs.queue(UPLOAD_QUEUE))
}

/// Runs the upload jobs: a capture's images (checked against their sha256 first), then its
/// metadata.
#[derive(Debug)]
pub struct Uploader {
    pub store: Store,
    pub site: Arc<str>,
    /// `[uplink.cloud]` as it is now.
    pub cloud: watch::Receiver<Option<CloudConfig>>,
    pub metrics: UplinkMetrics,
    target: Mutex<Option<(CloudConfig, Arc<Target>)>>,
}

impl Uploader {
    pub fn new(
        store: Store,
        site: Arc<str>,
        cloud: watch::Receiver<Option<CloudConfig>>,
        metrics: UplinkMetrics,
    ) -> Uploader {
        Uploader {
            store,
            site,
            cloud,
            metrics,
            target: Mutex::new(None),
        }
    }

    /// The target of the config now; opened again when the config changed.
    fn target(&self) -> Result<Arc<Target>, JobError> {
        let Some(config) = self.cloud.borrow().clone() else {
            return Err(JobError::Retry(
                "no [uplink.cloud] target: the upload waits for one".into(),
            ));
        };
        let mut cached = self.target.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((opened_for, target)) = cached.as_ref()
            && *opened_for == config
        {
            return Ok(target.clone());
        }
        let target = Arc::new(Target::open(&config).map_err(|error| {
            self.metrics.failure("target");
            JobError::Retry(mask_text(&error.to_string()))
        })?);
        *cached = Some((config, target.clone()));
        Ok(target)
    }

    fn failed(&self, cause: &'static str, error: impl std::fmt::Display) -> JobError {
        self.metrics.failure(cause);
        JobError::Retry(mask_text(&error.to_string()))
    }
}

impl JobHandler for Uploader {
    async fn perform(&self, job: &Job) -> Result<(), JobError> {
        let args: CaptureJob = serde_json::from_str(&job.args)
            .map_err(|error| JobError::Discard(format!("bad upload job: {error}")))?;
        let target = self.target()?;
        let Some(capture) = self
            .store
            .capture_export(&args.capture_uuid)
            .await
            .map_err(|error| self.failed("store", error))?
        else {
            return Err(JobError::Discard("the capture is no longer stored".into()));
        };
        let keys = CaptureKeys::new(&target.prefix, &self.site, &capture);
        for image in &capture.images {
            let bytes = tokio::fs::read(&image.path).await.map_err(|error| {
                self.metrics.failure("file");
                JobError::Discard(format!("image {}: {error}", image.path.display()))
            })?;
            if format!("{:x}", Sha256::digest(&bytes)) != image.sha256 {
                self.metrics.failure("checksum");
                return Err(JobError::Discard(format!(
                    "image {} no longer holds the bytes stored (sha256 differs)",
                    image.path.display()
                )));
            }
            let len = bytes.len() as u64;
            target
                .put(&keys.image(image.burst_index), bytes)
                .await
                .map_err(|error| self.failed("target", error))?;
            self.metrics.uploaded(len);
        }
        let metadata = Metadata::of(&self.site, &keys, &capture).to_json();
        let len = metadata.len() as u64;
        target
            .put(&keys.metadata(), metadata)
            .await
            .map_err(|error| self.failed("target", error))?;
        self.metrics.uploaded(len);
        tracing::debug!(target: VEHICLE_LOG, vehicle_id = %capture.capture.vehicle_id, capture = %args.capture_uuid, objects = capture.images.len() + 1, "Uploaded.");
        Ok(())
    }
}

/// Keeps the backlog gauges current: captures waiting for their upload, the oldest one's
/// age, their bytes.
#[derive(Debug)]
pub struct Backlog {
    pub store: Store,
    pub metrics: UplinkMetrics,
}

impl Component for Backlog {
    async fn run(&self, shutdown: CancellationToken) -> Result<(), TaskError> {
        loop {
            let backlog = self.store.upload_backlog().await?;
            self.metrics.backlog(&backlog);
            tokio::select! {
                () = shutdown.cancelled() => return Ok(()),
                () = tokio::time::sleep(BACKLOG_EVERY) => {}
            }
        }
    }
}
