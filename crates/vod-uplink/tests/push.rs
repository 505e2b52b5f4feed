//! Push to three real HTTP receivers on loopback, one healthy, one answering 500 and one that
//! never answers: the healthy one gets every capture while the others are still failing, the
//! failing ones get the configured retries and no more, every delivery's signature verifies
//! with an independent Standard Webhooks implementation, and the history holds every attempt.
#![allow(clippy::unwrap_used)] // a failing test may panic

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use prometheus::Registry;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use vod_core::config::PushConfig;
use vod_core::{Component, Event, Hub};
use vod_store::{NewPushEndpoint, Outbound, Store};
use vod_uplink::UplinkMetrics;
use vod_uplink::push::{Dispatcher, new_secret};

mod common;

const PATIENCE: Duration = Duration::from_secs(60);
const CAPTURES: u32 = 4;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Behaviour {
    Healthy,
    Failing,
    Hanging,
}

/// What a receiver got: each request's headers and body.
type Received = Arc<Mutex<Vec<(HeaderMap, Vec<u8>)>>>;

/// An HTTP receiver on a free loopback port; returns its URL and what it received.
async fn receiver(behaviour: Behaviour) -> (String, Received) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let received: Received = Arc::default();
    let log = received.clone();
    tokio::spawn(async move {
        loop {
            let (mut stream, _) = listener.accept().await.unwrap();
            let log = log.clone();
            tokio::spawn(async move {
                let mut data = Vec::new();
                let mut buffer = [0u8; 4096];
                let (head, body_start) = loop {
                    let n = stream.read(&mut buffer).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    data.extend_from_slice(&buffer[..n]);
                    if let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") {
                        break (String::from_utf8_lossy(&data[..end]).into_owned(), end + 4);
                    }
                };
                let mut headers = HeaderMap::new();
                for line in head.lines().skip(1) {
                    if let Some((name, value)) = line.split_once(':') {
                        headers.insert(
                            HeaderName::from_bytes(name.trim().as_bytes()).unwrap(),
                            HeaderValue::from_str(value.trim()).unwrap(),
                        );
                    }
                }
                let length: usize = headers["content-length"].to_str().unwrap().parse().unwrap();
                let mut body = data[body_start..].to_vec();
                while body.len() < length {
                    let n = stream.read(&mut buffer).await.unwrap();
                    body.extend_from_slice(&buffer[..n]);
                }
                log.lock().unwrap().push((headers, body));
                let answer: &[u8] = match behaviour {
                    Behaviour::Healthy => b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n",
                    Behaviour::Failing => {
                        b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 4\r\nConnection: close\r\n\r\nboom"
                    }
                    Behaviour::Hanging => {
                        tokio::time::sleep(Duration::from_secs(3600)).await;
                        return;
                    }
                };
                let _client_may_be_gone = stream.write_all(answer).await;
            });
        }
    });
    (url, received)
}

async fn register(store: &Store, client: &str, url: &str) -> String {
    let secret = new_secret();
    store
        .upsert_push_endpoint(&NewPushEndpoint {
            client: client.into(),
            url: url.into(),
            secret: Some(secret.clone()),
            events: vec!["capture.stored".into()],
            rate_per_minute: 6000,
            enabled: true,
        })
        .await
        .unwrap();
    secret
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_or_hanging_receiver_never_holds_up_a_healthy_one() {
    let dir = tempfile::tempdir().unwrap();
    let store = vod_testkit::open_store(dir.path()).await;
    let mut secrets = HashMap::new();
    let mut received = HashMap::new();
    for (client, behaviour) in [
        ("healthy", Behaviour::Healthy),
        ("failing", Behaviour::Failing),
        ("hanging", Behaviour::Hanging),
    ] {
        let (url, log) = receiver(behaviour).await;
        secrets.insert(client, register(&store, client, &url).await);
        received.insert(client, log);
    }
    let config = PushConfig {
        timeout_ms: 1_500,
        retry_schedule_s: vec![1, 1],
        disable_after_s: 3_600,
        concurrency_per_endpoint: 2,
    };
    let attempts = config.retry_schedule_s.len() as u32 + 1;
    let outbound = Outbound {
        push_attempts: Some(attempts),
        ..Outbound::default()
    };
    let mut uuids = Vec::new();
    for sequence in 0..CAPTURES {
        let id = store
            .insert_outbound_capture(&common::capture(sequence, 1, 100), &outbound)
            .await
            .unwrap();
        let recent = store.recent_captures(1).await.unwrap();
        assert_eq!(recent[0].id, id);
        uuids.push(id);
    }
    let hub = Hub::new(64);
    let metrics = UplinkMetrics::register(&Registry::new()).unwrap();
    let dispatcher = Dispatcher {
        store: store.clone(),
        site: Arc::from("bench-rig"),
        hub,
        config: watch::channel(config).1,
        metrics: metrics.clone(),
    };
    let stop = CancellationToken::new();
    let shutdown = stop.clone();
    let running = tokio::spawn(async move { dispatcher.run(shutdown).await });

    // The healthy receiver gets every capture while the hanging one is still on its first
    // deliveries (each of its attempts takes the whole timeout, two at a time).
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while received["healthy"].lock().unwrap().len() < CAPTURES as usize {
        assert!(
            tokio::time::Instant::now() < deadline,
            "healthy deliveries missing"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let hanging_so_far = received["hanging"].lock().unwrap().len();
    assert!(
        hanging_so_far < (CAPTURES * attempts) as usize,
        "the hanging receiver was done first: {hanging_so_far}"
    );

    // The failing and hanging receivers get every capture `attempts` times, then no more.
    let expected = (CAPTURES * attempts) as usize;
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while ["failing", "hanging"]
        .iter()
        .any(|client| received[client].lock().unwrap().len() < expected)
    {
        assert!(tokio::time::Instant::now() < deadline, "retries missing");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    stop.cancel();
    running.await.unwrap().unwrap();
    for client in ["healthy", "failing", "hanging"] {
        let log = received[client].lock().unwrap();
        let want = if client == "healthy" {
            CAPTURES as usize
        } else {
            expected
        };
        assert_eq!(log.len(), want, "{client}");
        // Every delivery verifies with an independent Standard Webhooks implementation, and
        // a message keeps its id across retries.
        let verifier = standardwebhooks::Webhook::new(&secrets[client]).unwrap();
        let mut per_message: HashMap<String, usize> = HashMap::new();
        for (headers, body) in log.iter() {
            verifier.verify(body, headers).unwrap();
            let id = headers["webhook-id"].to_str().unwrap().to_owned();
            let document: serde_json::Value = serde_json::from_slice(body).unwrap();
            assert_eq!(
                format!("msg_{}", document["capture"]["uuid"].as_str().unwrap()),
                id
            );
            *per_message.entry(id).or_default() += 1;
        }
        assert_eq!(per_message.len(), CAPTURES as usize, "{client}");
        assert!(per_message.values().all(|n| *n == want / CAPTURES as usize));
    }

    // The history: every attempt, with its status (none for the hanging one) and latency.
    let endpoints = store.push_endpoints().await.unwrap();
    for endpoint in &endpoints {
        let deliveries = store.deliveries(endpoint.id, 100).await.unwrap();
        let statuses: Vec<Option<u16>> = deliveries.iter().map(|d| d.status).collect();
        match endpoint.client.as_str() {
            "healthy" => assert_eq!(statuses, vec![Some(204); CAPTURES as usize]),
            "failing" => {
                assert_eq!(statuses, vec![Some(500); expected]);
                assert!(
                    deliveries
                        .iter()
                        .all(|d| d.response_excerpt.as_deref() == Some("boom"))
                );
            }
            _ => {
                assert_eq!(statuses, vec![None; expected]);
                assert!(
                    deliveries.iter().all(|d| d.latency_ms >= 1_400),
                    "{deliveries:?}"
                );
            }
        }
    }
    let given_up = |client: &str| {
        metrics
            .push_deliveries_total
            .with_label_values(&[client, "given_up"])
            .get()
    };
    let captures = u64::from(CAPTURES);
    assert_eq!(
        (given_up("failing"), given_up("hanging")),
        (captures, captures)
    );
    assert_eq!(uuids.len(), CAPTURES as usize);
}

#[tokio::test]
async fn a_receiver_that_says_gone_disables_its_endpoint() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let mut buffer = [0u8; 8192];
            let _request = stream.read(&mut buffer).await;
            let _gone = stream
                .write_all(b"HTTP/1.1 410 Gone\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                .await;
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let store = vod_testkit::open_store(dir.path()).await;
    register(&store, "moved-away", &url).await;
    let outbound = Outbound {
        push_attempts: Some(3),
        ..Outbound::default()
    };
    store
        .insert_outbound_capture(&common::capture(1, 1, 100), &outbound)
        .await
        .unwrap();
    let hub = Hub::new(16);
    let mut events = hub.subscribe();
    let metrics = UplinkMetrics::register(&Registry::new()).unwrap();
    let dispatcher = Dispatcher {
        store: store.clone(),
        site: Arc::from("bench-rig"),
        hub,
        config: watch::channel(PushConfig::default()).1,
        metrics: metrics.clone(),
    };
    let stop = CancellationToken::new();
    let shutdown = stop.clone();
    let running = tokio::spawn(async move { dispatcher.run(shutdown).await });
    let event = tokio::time::timeout(PATIENCE, events.recv())
        .await
        .expect("the endpoint is disabled in time")
        .unwrap();
    assert!(
        matches!(&*event, Event::PushEndpointDisabled { client, reason }
            if client == "moved-away" && reason.contains("410")),
        "{event:?}"
    );
    let endpoint = &store.push_endpoints().await.unwrap()[0];
    assert!(!endpoint.enabled);
    assert_eq!(
        endpoint.disabled_reason.as_deref(),
        Some("the endpoint answered 410 Gone")
    );
    assert_eq!(metrics.endpoints_disabled_total.get(), 1);
    stop.cancel();
    running.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_too_long_disables_and_a_delivery_can_be_replayed() {
    let dir = tempfile::tempdir().unwrap();
    let store = vod_testkit::open_store(dir.path()).await;
    let (failing_url, _) = receiver(Behaviour::Failing).await;
    let (healthy_url, healthy) = receiver(Behaviour::Healthy).await;
    register(&store, "failing", &failing_url).await;
    register(&store, "healthy", &healthy_url).await;
    let outbound = Outbound {
        push_attempts: Some(10),
        ..Outbound::default()
    };
    store
        .insert_outbound_capture(&common::capture(7, 1, 100), &outbound)
        .await
        .unwrap();
    let hub = Hub::new(16);
    let mut events = hub.subscribe();
    let dispatcher = Dispatcher {
        store: store.clone(),
        site: Arc::from("bench-rig"),
        hub,
        config: watch::channel(PushConfig {
            retry_schedule_s: vec![1; 9],
            disable_after_s: 1,
            ..PushConfig::default()
        })
        .1,
        metrics: UplinkMetrics::register(&Registry::new()).unwrap(),
    };
    let stop = CancellationToken::new();
    let shutdown = stop.clone();
    let running = tokio::spawn(async move { dispatcher.run(shutdown).await });
    let event = tokio::time::timeout(PATIENCE, events.recv())
        .await
        .expect("the failing endpoint is disabled in time")
        .unwrap();
    assert!(
        matches!(&*event, Event::PushEndpointDisabled { client, reason }
            if client == "failing" && reason.starts_with("its deliveries failed for")),
        "{event:?}"
    );

    // The healthy endpoint's delivery, sent again: the same message id, a second time.
    let healthy_id = store
        .push_endpoints()
        .await
        .unwrap()
        .into_iter()
        .find(|endpoint| endpoint.client == "healthy")
        .unwrap()
        .id;
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let delivery = loop {
        if let Some(delivery) = store.deliveries(healthy_id, 10).await.unwrap().pop() {
            break delivery;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no healthy delivery"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(
        store
            .replay_delivery(delivery.id, 3)
            .await
            .unwrap()
            .is_some()
    );
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while healthy.lock().unwrap().len() < 2 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the replay did not arrive"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let ids: Vec<String> = healthy
        .lock()
        .unwrap()
        .iter()
        .map(|(headers, _)| headers["webhook-id"].to_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids, [delivery.webhook_id.clone(), delivery.webhook_id]);
    assert!(store.replay_delivery(9999, 3).await.unwrap().is_none());
    stop.cancel();
    running.await.unwrap().unwrap();
}
