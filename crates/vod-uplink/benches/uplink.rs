//! The uplink benchmarks behind docs/PERFORMANCE.md (`cargo bench -p vod-uplink --bench
//! uplink`), against a real S3 API server (moto_server) on loopback:
//!
//! - drain: one hour of peak traffic (4 lanes x 2,000 vehicles/h: 8,000 captures of two
//!   images each, `VOD_BENCH_CAPTURES` to change it, `VOD_BENCH_IMAGE_BYTES` per image) from
//!   the store to the S3 server through the uploader, against a plain concurrent PUT loop of
//!   objects of the same sizes in the same run, alternating, twice each: the ratio of the
//!   plain loop's time to the uploader's (1.0: no cost of its own);
//! - push: deliveries per second to a receiver that answers at once.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use prometheus::Registry;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use vod_core::Component;
use vod_core::config::{CloudConfig, Config, PushConfig};
use vod_store::{NewPushEndpoint, Outbound, QueueRunner, Store};
use vod_testkit::S3Server;
use vod_uplink::UplinkMetrics;
use vod_uplink::cloud::{Uploader, upload_queue};
use vod_uplink::push::{Dispatcher, new_secret};

#[path = "../tests/common/mod.rs"]
mod common;

const CONCURRENCY: u32 = 8;

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

fn s3(server: &S3Server, bucket: &str) -> Arc<dyn ObjectStore> {
    Arc::new(
        AmazonS3Builder::new()
            .with_bucket_name(bucket)
            .with_endpoint(server.endpoint())
            .with_allow_http(true)
            .with_region("us-east-1")
            .with_access_key_id("bench")
            .with_secret_access_key("bench")
            .build()
            .expect("an S3 client"),
    )
}

/// The plain loop: the same number of objects of the same sizes, `CONCURRENCY` at a time.
async fn plain_loop(
    store: Arc<dyn ObjectStore>,
    round: usize,
    captures: usize,
    image_bytes: usize,
) -> Duration {
    let started = Instant::now();
    futures::stream::iter(0..captures * 3)
        .map(|object| {
            let store = store.clone();
            let size = if object % 3 == 2 { 700 } else { image_bytes };
            async move {
                let key = format!("reference/{round}/{object}");
                store
                    .put(&key.as_str().into(), PutPayload::from(vec![7u8; size]))
                    .await
                    .expect("a plain PUT")
            }
        })
        .buffer_unordered(CONCURRENCY as usize)
        .for_each(|_| async {})
        .await;
    started.elapsed()
}

/// A handler that does nothing: what the job queue itself costs per capture.
struct Nothing;

impl vod_store::JobHandler for Nothing {
    async fn perform(&self, _job: &vod_store::Job) -> Result<(), vod_store::JobError> {
        Ok(())
    }
}

/// The uploader (or, with `nothing`, a handler that does nothing) draining `captures` fresh
/// captures of a store of its own.
async fn drain(
    server: &S3Server,
    round: usize,
    captures: usize,
    image_bytes: usize,
    nothing: bool,
) -> Duration {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = vod_testkit::open_store(dir.path()).await;
    let outbound = Outbound {
        upload: true,
        ..Outbound::default()
    };
    for sequence in 0..captures as u32 {
        store
            .insert_outbound_capture(&common::capture(sequence, 2, image_bytes), &outbound)
            .await
            .expect("insert");
    }
    let cloud = CloudConfig {
        url: format!("s3://vod/round-{round}"),
        endpoint: Some(server.endpoint()),
        region: Some("us-east-1".into()),
        access_key_id: Some("bench".into()),
        secret_access_key: Some("bench".into()),
        concurrency: CONCURRENCY,
        max_bytes_per_s: None,
        retry_max_s: 1,
    };
    let mut config = Config::parse(include_str!("../../../deploy/bench/vod.toml")).expect("bench");
    config.uplink.cloud = Some(cloud.clone());
    let metrics = UplinkMetrics::register(&Registry::new()).expect("metrics");
    let queue = watch::channel(upload_queue(&config)).1;
    let stop = CancellationToken::new();
    let shutdown = stop.clone();
    let started = Instant::now();
    let running = if nothing {
        let runner = QueueRunner {
            store: store.clone(),
            queue,
            handler: Arc::new(Nothing),
        };
        tokio::spawn(async move { runner.run(shutdown).await })
    } else {
        let runner = QueueRunner {
            store: store.clone(),
            queue,
            handler: Arc::new(Uploader::new(
                store.clone(),
                Arc::from("bench-rig"),
                watch::channel(Some(cloud)).1,
                metrics.clone(),
            )),
        };
        tokio::spawn(async move { runner.run(shutdown).await })
    };
    while store.upload_backlog().await.expect("backlog").captures > 0 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let elapsed = started.elapsed();
    stop.cancel();
    let _stopped = running.await;
    if !nothing {
        assert_eq!(
            metrics.uploaded_objects_total.get(),
            captures as u64 * 3,
            "every object once"
        );
    }
    elapsed
}

/// A receiver that answers 204 at once, on every connection it gets.
async fn fast_receiver() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/hook", listener.local_addr().expect("address"));
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buffer = vec![0u8; 65536];
                let mut seen = Vec::new();
                loop {
                    let Ok(n) = stream.read(&mut buffer).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    seen.extend_from_slice(&buffer[..n]);
                    // One request per connection is all the box sends before it reads.
                    if let Some(end) = seen.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&seen[..end]).to_ascii_lowercase();
                        let length: usize = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .and_then(|v| v.trim().parse().ok())
                            .unwrap_or(0);
                        if seen.len() >= end + 4 + length {
                            seen.drain(..end + 4 + length);
                            let _gone = stream.write_all(b"HTTP/1.1 204 No Content\r\n\r\n").await;
                        }
                    }
                }
            });
        }
    });
    url
}

async fn push_rate(captures: usize) -> f64 {
    let dir = tempfile::tempdir().expect("temp dir");
    let store: Store = vod_testkit::open_store(dir.path()).await;
    store
        .upsert_push_endpoint(&NewPushEndpoint {
            client: "fast".into(),
            url: fast_receiver().await,
            secret: Some(new_secret()),
            events: vec!["capture.stored".into()],
            rate_per_minute: 1_000_000,
            enabled: true,
        })
        .await
        .expect("endpoint");
    let outbound = Outbound {
        push_attempts: Some(3),
        ..Outbound::default()
    };
    for sequence in 0..captures as u32 {
        store
            .insert_outbound_capture(&common::capture(sequence, 1, 1000), &outbound)
            .await
            .expect("insert");
    }
    let metrics = UplinkMetrics::register(&Registry::new()).expect("metrics");
    let dispatcher = Dispatcher {
        store: store.clone(),
        site: Arc::from("bench-rig"),
        hub: vod_core::Hub::new(16),
        config: watch::channel(PushConfig {
            concurrency_per_endpoint: CONCURRENCY,
            ..PushConfig::default()
        })
        .1,
        metrics: metrics.clone(),
    };
    let stop = CancellationToken::new();
    let shutdown = stop.clone();
    let started = Instant::now();
    let running = tokio::spawn(async move { dispatcher.run(shutdown).await });
    let delivered = || {
        metrics
            .push_deliveries_total
            .with_label_values(&["fast", "delivered"])
            .get()
    };
    while delivered() < captures as u64 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let elapsed = started.elapsed();
    stop.cancel();
    let _stopped = running.await;
    captures as f64 / elapsed.as_secs_f64()
}

fn main() {
    let captures = env_number("VOD_BENCH_CAPTURES", 8_000);
    let image_bytes = env_number("VOD_BENCH_IMAGE_BYTES", 100_000);
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let server = S3Server::start();
        server.create_bucket("vod");
        let reference = s3(&server, "vod");
        println!(
            "drain: {captures} captures of 2 images of {image_bytes} bytes and their metadata, \
             {CONCURRENCY} at a time"
        );
        for round in 0..2 {
            let plain = plain_loop(reference.clone(), round, captures, image_bytes).await;
            let box_time = drain(&server, round, captures, image_bytes, false).await;
            let queue_time = drain(&server, round, captures, image_bytes, true).await;
            println!(
                "round {round}: plain PUT loop {:.1} s, uploader {:.1} s, ratio {:.2}; \
                 the job queue alone (a handler that does nothing) {:.1} s",
                plain.as_secs_f64(),
                box_time.as_secs_f64(),
                plain.as_secs_f64() / box_time.as_secs_f64(),
                queue_time.as_secs_f64()
            );
        }
        let deliveries = env_number("VOD_BENCH_DELIVERIES", 2_000);
        println!(
            "push: {:.0} deliveries/s to a receiver that answers at once ({deliveries} deliveries)",
            push_rate(deliveries).await
        );
    });
}
