//! JetStream export through a leaf node with its own domain to a hub that is down at first,
//! as deploy/nats/ sets it up, with real nats-servers on loopback: captures published while
//! the hub is away reach it after it starts, each exactly once, a job run twice included.
#![allow(clippy::unwrap_used)] // a failing test may panic

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, stream};

use futures::StreamExt;
use prometheus::Registry;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use vod_core::Component;
use vod_core::config::{BusConfig, Config, JetStreamConfig};
use vod_store::outbound::{JETSTREAM_KIND, JETSTREAM_QUEUE};
use vod_store::{JobFilter, NewJob, Outbound, QueueRunner};
use vod_testkit::{NatsServer, free_port};
use vod_uplink::UplinkMetrics;
use vod_uplink::jetstream::{Exporter, jetstream_queue};

mod common;

const PATIENCE: Duration = Duration::from_secs(60);
const CAPTURES: u32 = 6;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn captures_published_while_the_hub_is_down_reach_it_once() {
    let (hub_port, leafnode_port, leaf_port) = (free_port(), free_port(), free_port());
    let leaf = NatsServer::with_config(
        leaf_port,
        &format!(
            "server_name: box\njetstream {{ domain: box, store_dir: \"{{store}}\" }}\n\
             leafnodes {{ reconnect: 1, remotes: [ {{ url: \"nats-leaf://127.0.0.1:{leafnode_port}\" }} ] }}"
        ),
    );
    let dir = tempfile::tempdir().unwrap();
    let store = vod_testkit::open_store(dir.path()).await;
    let config = Config::parse(include_str!("../../../deploy/bench/vod.toml")).unwrap();
    let exporter = Exporter::new(
        store.clone(),
        Arc::from("bench-rig"),
        BusConfig {
            nats_url: leaf.url(),
            subject_prefix: "vod".into(),
            ..BusConfig::default()
        },
        JetStreamConfig {
            stream: "VOD_CAPTURES".into(),
            subject: "vod.bench-rig.captures".into(),
            domain: Some("box".into()),
            duplicate_window_s: 3600,
        },
        UplinkMetrics::register(&Registry::new()).unwrap(),
    );
    let runner = QueueRunner {
        store: store.clone(),
        queue: watch::channel(jetstream_queue(&config)).1,
        handler: Arc::new(exporter),
    };
    let stop = CancellationToken::new();
    let shutdown = stop.clone();
    let running = tokio::spawn(async move { runner.run(shutdown).await });
    let outbound = Outbound {
        jetstream: true,
        ..Outbound::default()
    };
    for sequence in 0..CAPTURES {
        store
            .insert_outbound_capture(&common::capture(sequence, 1, 4), &outbound)
            .await
            .unwrap();
    }
    let uuids: HashSet<String> = store
        .recent_captures(CAPTURES)
        .await
        .unwrap()
        .into_iter()
        .map(|summary| summary.uuid)
        .collect();
    let leaf_client = async_nats::connect(leaf.url()).await.unwrap();
    let leaf_js = jetstream::with_domain(leaf_client, "box");
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        if let Ok(mut local) = leaf_js.get_stream("VOD_CAPTURES").await
            && local.info().await.unwrap().state.messages == u64::from(CAPTURES)
        {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the leaf's stream did not fill"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // One capture's job runs a second time, as after a crash between publish and record.
    let again = uuids.iter().next().unwrap();
    store
        .enqueue(&NewJob {
            queue: JETSTREAM_QUEUE.into(),
            kind: JETSTREAM_KIND.into(),
            args: serde_json::json!({ "capture_uuid": again }).to_string(),
            max_attempts: 3,
            run_at_ms: None,
            unique_key: None,
            idempotency_key: None,
        })
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let completed =
        JobFilter::from_request(Some(JETSTREAM_QUEUE), Some("completed"), None, None).unwrap();
    while store.list_jobs(&completed).await.unwrap().len() < CAPTURES as usize + 1 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the second run did not happen"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // The hub comes, with its stream sourcing the box's through the box's domain.
    let hub = NatsServer::with_config(
        hub_port,
        &format!(
            "server_name: hub\njetstream {{ domain: hub, store_dir: \"{{store}}\" }}\n\
             leafnodes {{ port: {leafnode_port} }}"
        ),
    );
    let hub_js = jetstream::new(async_nats::connect(hub.url()).await.unwrap());
    hub_js
        .create_stream(stream::Config {
            name: "CLOUD_CAPTURES".into(),
            sources: Some(vec![stream::Source {
                name: "VOD_CAPTURES".into(),
                external: Some(stream::External {
                    api_prefix: "$JS.box.API".into(),
                    delivery_prefix: None,
                }),
                ..stream::Source::default()
            }]),
            ..stream::Config::default()
        })
        .await
        .unwrap();
    let mut cloud = hub_js.get_stream("CLOUD_CAPTURES").await.unwrap();
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while cloud.info().await.unwrap().state.messages < u64::from(CAPTURES) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the hub's stream did not fill"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Let a second copy of the replayed one arrive, if it would.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        cloud.info().await.unwrap().state.messages,
        u64::from(CAPTURES)
    );
    let consumer = cloud
        .create_consumer(jetstream::consumer::pull::Config::default())
        .await
        .unwrap();
    let mut messages = consumer.fetch().max_messages(100).messages().await.unwrap();
    let mut seen = HashSet::new();
    while let Some(message) = tokio::time::timeout(Duration::from_secs(2), messages.next())
        .await
        .ok()
        .flatten()
    {
        let message = message.unwrap();
        let document: serde_json::Value = serde_json::from_slice(&message.payload).unwrap();
        let uuid = document["capture"]["uuid"].as_str().unwrap().to_owned();
        let id = message
            .headers
            .as_ref()
            .and_then(|headers| headers.get("Nats-Msg-Id"))
            .map(|id| id.as_str().to_owned());
        assert_eq!(id.as_deref(), Some(uuid.as_str()));
        assert!(seen.insert(uuid), "a capture arrived twice");
    }
    assert_eq!(seen, uuids);
    stop.cancel();
    running.await.unwrap().unwrap();
}
