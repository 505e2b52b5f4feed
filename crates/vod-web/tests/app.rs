//! The web application through its router (tower oneshot), over a real SQLite store.
#![allow(clippy::unwrap_used)] // a failing test may panic

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use chrono::Utc;
use http_body_util::BodyExt;
use prometheus::Registry;
use tower::ServiceExt;
use vod_core::{Capture, CaptureImage, Hub, VehicleId};
use vod_store::Store;
use vod_web::{AppState, app, metrics_app};

async fn store(dir: &tempfile::TempDir) -> Store {
    vod_testkit::open_store(dir.path()).await
}

async fn get(router: axum::Router, uri: &str) -> (StatusCode, Vec<u8>) {
    let response = router
        .oneshot(Request::get(uri).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, body.to_vec())
}

#[tokio::test]
async fn the_first_page_lists_captures_and_serves_their_images() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir).await;
    let jpeg = vec![0xFF, 0xD8, 0xFF, 0xE0, 1, 2, 3];
    let vehicle_id = VehicleId::new(Utc::now(), 1, 1);
    store
        .insert_capture(&Capture {
            vehicle_id,
            lane: Arc::from("lane-<1>"),
            camera: Arc::from("cam-1"),
            detected_utc: Utc::now(),
            images: vec![CaptureImage {
                burst_index: 0,
                captured_utc: Utc::now(),
                width: 4,
                height: 4,
                jpeg: jpeg.clone(),
            }],
            occupancy: None,
        })
        .await
        .unwrap();
    let router = app(AppState {
        site_id: Arc::from("bench"),
        store: store.clone(),
        hub: Hub::new(4),
    });

    let (status, body) = get(router.clone(), "/").await;
    assert_eq!(status, StatusCode::OK);
    let page = String::from_utf8(body).unwrap();
    assert!(page.contains("(1 stored)"), "{page}");
    assert!(page.contains(&vehicle_id.to_string()));
    assert!(
        page.contains("lane-&#60;1&#62;") || page.contains("lane-&lt;1&gt;"),
        "lane name must be escaped: {page}"
    );
    let src = page
        .split("<img src=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("an image link");

    let (status, body) = get(router.clone(), src).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, jpeg);

    let (status, _) = get(router.clone(), "/images/../vod.db").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = get(router.clone(), "/images/2000/01/01/none.jpg").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = get(router.clone(), "/static/live.js").await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn health_and_readiness_answer() {
    let dir = tempfile::tempdir().unwrap();
    let router = app(AppState {
        site_id: Arc::from("bench"),
        store: store(&dir).await,
        hub: Hub::new(4),
    });
    assert_eq!(get(router.clone(), "/healthz").await.0, StatusCode::OK);
    assert_eq!(
        get(router.clone(), "/readyz").await,
        (StatusCode::OK, b"ready\n".to_vec())
    );
}

#[tokio::test]
async fn a_components_metrics_are_served_in_prometheus_text_format() {
    // The store's own metrics, moved by the store's own work.
    let registry = Registry::new();
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(
        &vod_core::config::StorageConfig {
            data_dir: dir.path().to_owned(),
        },
        vod_store::StoreMetrics::register(&registry).unwrap(),
    )
    .await
    .unwrap();
    for sequence in 0..3 {
        store
            .insert_capture(&Capture {
                vehicle_id: VehicleId::new(Utc::now(), sequence, 2),
                lane: Arc::from("lane-1"),
                camera: Arc::from("cam-1"),
                detected_utc: Utc::now(),
                images: Vec::new(),
                occupancy: None,
            })
            .await
            .unwrap();
    }
    let (status, body) = get(metrics_app(registry), "/metrics").await;
    assert_eq!(status, StatusCode::OK);
    let body = String::from_utf8(body).unwrap();
    assert!(body.contains("vod_store_captures_total 3"), "{body}");
}

#[tokio::test]
async fn readiness_fails_when_the_store_does_not_answer() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir).await;
    let router = app(AppState {
        site_id: Arc::from("bench"),
        store: store.clone(),
        hub: Hub::new(4),
    });
    store.close().await;
    let (status, body) = get(router.clone(), "/readyz").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(String::from_utf8(body).unwrap().starts_with("store: "));
    // Liveness stays: the process answers.
    assert_eq!(get(router, "/healthz").await.0, StatusCode::OK);
}

#[tokio::test]
async fn live_events_are_server_sent_events_named_by_kind() {
    let dir = tempfile::tempdir().unwrap();
    let hub = Hub::new(16);
    let router = app(AppState {
        site_id: Arc::from("bench"),
        store: store(&dir).await,
        hub: hub.clone(),
    });
    let response = router
        .oneshot(Request::get("/events").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let mut body = response.into_body();
    hub.publish(vod_core::Event::StorageRecovered);
    let frame = tokio::time::timeout(std::time::Duration::from_secs(10), body.frame())
        .await
        .expect("an event within 10 s")
        .unwrap()
        .unwrap();
    let text = String::from_utf8(frame.into_data().unwrap().to_vec()).unwrap();
    assert!(
        text.starts_with("event: storage_recovered\ndata: {\"type\":\"storage_recovered\"}"),
        "{text:?}"
    );
}

#[test]
fn the_live_page_listens_for_every_kind_of_event() {
    let script = include_str!("../../../web/static/live.js");
    for kind in vod_core::Event::KINDS {
        assert!(
            script.contains(&format!("\"{kind}\"")),
            "web/static/live.js does not listen for {kind}"
        );
    }
}
