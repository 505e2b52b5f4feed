//! The cloud upload against a real S3 API server (moto_server) on loopback, reached through a
//! gate that the test closes for a while, as a network outage would: every capture arrives
//! once, under its keys, with the bytes and metadata the store holds.
#![allow(clippy::unwrap_used)] // a failing test may panic

use std::sync::Arc;
use std::time::Duration;

use object_store::aws::AmazonS3Builder;
use object_store::{ObjectStore, ObjectStoreExt};
use prometheus::Registry;
use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use vod_core::Component;
use vod_core::config::{CloudConfig, Config};
use vod_store::{Outbound, QueueRunner, Store};
use vod_testkit::{S3Server, TcpGate};
use vod_uplink::UplinkMetrics;
use vod_uplink::cloud::{Uploader, upload_queue};

mod common;

const PATIENCE: Duration = Duration::from_secs(120);

fn bench_config(cloud: CloudConfig) -> Config {
    let mut config = Config::parse(include_str!("../../../deploy/bench/vod.toml")).unwrap();
    config.uplink.cloud = Some(cloud);
    config
}

async fn insert(store: &Store, sequences: std::ops::Range<u32>) {
    let outbound = Outbound {
        upload: true,
        ..Outbound::default()
    };
    for sequence in sequences {
        store
            .insert_outbound_capture(&common::capture(sequence, 2, 4000), &outbound)
            .await
            .unwrap();
    }
}

async fn until(what: &str, mut done: impl AsyncFnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !done().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what} not seen within {PATIENCE:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_capture_arrives_once_through_an_outage() {
    let server = S3Server::start();
    server.create_bucket("vod");
    let mut gate = TcpGate::new(
        server
            .endpoint()
            .trim_start_matches("http://")
            .parse()
            .unwrap(),
    );
    let dir = tempfile::tempdir().unwrap();
    let store = vod_testkit::open_store(dir.path()).await;
    let cloud = CloudConfig {
        url: "s3://vod/captures".into(),
        endpoint: Some(format!("http://{}", gate.address())),
        region: Some("us-east-1".into()),
        access_key_id: Some("test".into()),
        secret_access_key: Some("test".into()),
        concurrency: 4,
        max_bytes_per_s: None,
        retry_max_s: 1,
    };
    let config = bench_config(cloud.clone());
    let metrics = UplinkMetrics::register(&Registry::new()).unwrap();
    let runner = QueueRunner {
        store: store.clone(),
        queue: watch::channel(upload_queue(&config)).1,
        handler: Arc::new(Uploader::new(
            store.clone(),
            Arc::from("bench-rig"),
            watch::channel(Some(cloud)).1,
            metrics.clone(),
        )),
    };
    let stop = CancellationToken::new();
    let shutdown = stop.clone();
    let running = tokio::spawn(async move { runner.run(shutdown).await });

    insert(&store, 0..20).await;
    until("the first uploads", async || {
        metrics.uploaded_objects_total.get() >= 6
    })
    .await;
    // The network goes away while uploads run; captures keep coming.
    gate.close();
    insert(&store, 20..30).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    gate.open();
    until("every upload done", async || {
        store.upload_backlog().await.unwrap().captures == 0
    })
    .await;
    assert!(
        metrics
            .upload_failures_total
            .with_label_values(&["target"])
            .get()
            > 0,
        "the outage failed no upload: the test did not test it"
    );
    stop.cancel();
    running.await.unwrap().unwrap();

    // What the S3 server holds, read past the gate: each capture's two images and its
    // metadata, nothing else.
    let s3 = AmazonS3Builder::new()
        .with_bucket_name("vod")
        .with_endpoint(server.endpoint())
        .with_allow_http(true)
        .with_region("us-east-1")
        .with_access_key_id("test")
        .with_secret_access_key("test")
        .build()
        .unwrap();
    let mut keys = Vec::new();
    let mut listing = s3.list(None);
    while let Some(meta) = futures::StreamExt::next(&mut listing).await {
        keys.push(meta.unwrap().location.to_string());
    }
    assert_eq!(keys.len(), 30 * 3, "{keys:#?}");
    let documents: Vec<&String> = keys
        .iter()
        .filter(|k| k.ends_with("metadata.json"))
        .collect();
    assert_eq!(documents.len(), 30);
    for key in documents {
        let document: Value = serde_json::from_slice(
            &s3.get(&key.as_str().into())
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap(),
        )
        .unwrap();
        assert_eq!(document["version"], 1);
        assert_eq!(document["site"], "bench-rig");
        let uuid = document["capture"]["uuid"].as_str().unwrap();
        let stored = store.capture_export(uuid).await.unwrap().unwrap();
        let date = stored.capture.detected_utc.format("%Y/%m/%d");
        assert_eq!(
            *key,
            format!("captures/bench-rig/{date}/{uuid}/metadata.json")
        );
        let images = document["images"].as_array().unwrap();
        assert_eq!(images.len(), 2);
        for (image, local) in images.iter().zip(&stored.images) {
            let bytes = s3
                .get(&image["key"].as_str().unwrap().into())
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap();
            let sha256 = format!("{:x}", Sha256::digest(&bytes));
            assert_eq!(sha256, local.sha256);
            assert_eq!(image["sha256"], local.sha256);
            assert_eq!(std::fs::read(&local.path).unwrap(), bytes.to_vec());
        }
    }
}
