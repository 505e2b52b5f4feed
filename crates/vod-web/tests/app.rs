//! The pages, images, live events, health and metrics through the router (tower oneshot), over
//! a real SQLite store and a real live configuration handle, signed in as a browser would.
#![allow(clippy::unwrap_used)] // a failing test may panic

mod common;

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use chrono::Utc;
use common::{HOST, Site};
use http_body_util::BodyExt;
use tower::ServiceExt;
use vod_core::occupancy::{ModelRef, Occupancy, PersonDetection, RowCount, SeatRow};
use vod_core::{Capture, CaptureImage, VehicleId};
use vod_store::Role;
use vod_web::metrics_app;

/// The captures people reviewed, newest first.
async fn reviewed_captures(site: &Site) -> Vec<vod_store::CaptureListing> {
    site.store
        .search_captures(&vod_store::CaptureQuery {
            limit: 10,
            review: vod_store::ReviewFilter::Reviewed,
            ..Default::default()
        })
        .await
        .unwrap()
}

/// A capture of a vehicle of its own.
fn capture(lane: &str, people: Option<u32>, needs_review: bool) -> Capture {
    static SEQUENCE: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(1);
    let sequence = SEQUENCE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    Capture {
        vehicle_id: VehicleId::new(Utc::now(), sequence, 1),
        lane: Arc::from(lane),
        camera: Arc::from("cam-1"),
        detected_utc: Utc::now(),
        images: vec![CaptureImage {
            burst_index: 0,
            captured_utc: Utc::now(),
            width: 1280,
            height: 1024,
            jpeg: vec![0xFF, 0xD8, 0xFF, 0xE0, 1, 2, 3],
        }],
        occupancy: people.map(|people| Occupancy {
            rows: vec![RowCount {
                row: SeatRow::Front,
                people,
                confidence: 0.9,
            }],
            people,
            countability: if needs_review { 0.1 } else { 0.9 },
            needs_review,
            doubts: needs_review
                .then_some(vod_core::Doubt {
                    kind: vod_core::DoubtKind::WideBox,
                    row: Some(SeatRow::Front),
                })
                .into_iter()
                .collect(),
            detections: vec![PersonDetection {
                burst_index: 0,
                row: Some(SeatRow::Front),
                x1_px: 700.0,
                y1_px: 300.0,
                x2_px: 900.0,
                y2_px: 700.0,
                score: 0.8,
            }],
            faces_blurred: 1,
            models: vec![ModelRef {
                name: "person".into(),
                sha256: "0".repeat(64),
            }],
            evidence_raw: false,
        }),
        test: false,
    }
}

#[tokio::test]
async fn the_dashboard_shows_the_last_captures_with_their_counts_and_serves_their_images() {
    let site = Site::new().await;
    site.store
        .insert_capture(&capture("lane-<1>", Some(2), false))
        .await
        .unwrap();
    let viewer = site.signed_in("vi", Role::Viewer).await;

    let page = site.send(viewer.get("/")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("2 people"), "{}", page.body);
    assert!(
        page.body.contains("lane-&#60;1&#62;") || page.body.contains("lane-&lt;1&gt;"),
        "lane name must be escaped: {}",
        page.body
    );
    assert!(
        page.body.contains("scanner") || page.body.contains("store"),
        "health table"
    );
    let src = page
        .body
        .split("<img src=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("an image link")
        .to_owned();
    let image = site.send(viewer.get(&src)).await;
    assert_eq!(image.status, StatusCode::OK);
    assert_eq!(image.headers[header::CONTENT_TYPE], "image/jpeg");
    // Images need a session too.
    let anonymous = site.send(common::Browser::default().get(&src)).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);

    for path in [
        "/images/../vod.db",
        "/images/2000/01/01/none.jpg",
        "/captures/nope",
        "/captures/nope/images/0",
    ] {
        assert_eq!(
            site.send(viewer.get(path)).await.status,
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }
    assert_eq!(
        site.send(viewer.get("/captures/x/images/minus"))
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
    let script = site
        .send(common::Browser::default().get("/static/live.js"))
        .await;
    assert_eq!(script.status, StatusCode::OK, "static files are open");
}

#[tokio::test]
async fn captures_are_searched_and_a_technician_corrects_a_flagged_count() {
    let site = Site::new().await;
    site.store
        .insert_capture(&capture("lane-1", Some(1), true))
        .await
        .unwrap();
    site.store
        .insert_capture(&capture("lane-2", Some(3), false))
        .await
        .unwrap();
    let technician = site.signed_in("tec", Role::Technician).await;

    let lane_2 = site.send(technician.get("/captures?lane=lane-2")).await;
    assert_eq!(lane_2.status, StatusCode::OK);
    assert!(
        lane_2.body.contains("3 people") && !lane_2.body.contains("1 people"),
        "{}",
        lane_2.body
    );
    let by_people = site.send(technician.get("/captures?people=1")).await;
    assert!(by_people.body.contains("1 people") && !by_people.body.contains("3 people"));
    for bad in [
        "/captures?people=many",
        "/captures?from=yesterday",
        "/captures?review=maybe",
    ] {
        assert_eq!(
            site.send(technician.get(bad)).await.status,
            StatusCode::BAD_REQUEST,
            "{bad}"
        );
    }

    let queue = site.send(technician.get("/review")).await;
    assert!(
        queue.body.contains("1 people") && !queue.body.contains("3 people"),
        "{}",
        queue.body
    );
    let uuid = queue
        .body
        .split("href=\"/captures/")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .to_owned();
    let detail = site
        .send(technician.get(&format!("/captures/{uuid}")))
        .await;
    assert_eq!(detail.status, StatusCode::OK);
    assert!(
        detail.body.contains("class=\"person\""),
        "the detection is drawn"
    );
    assert!(
        detail.body.contains("class=\"zone\""),
        "the seat-row zones are drawn"
    );

    let wrong = site
        .send(technician.post(&format!("/captures/{uuid}/review"), &[("front", "eleven")]))
        .await;
    assert_eq!(wrong.status, StatusCode::BAD_REQUEST);
    let saved = site
        .send(technician.post(&format!("/captures/{uuid}/review"), &[("front", "2")]))
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    let listing = reviewed_captures(&site).await;
    assert_eq!(listing.len(), 1);
    let reviews = site.store.reviews(listing[0].summary.id).await.unwrap();
    assert_eq!(
        (reviews[0].people, reviews[0].reviewer.as_str()),
        (2, "tec")
    );
    let queue = site.send(technician.get("/review")).await;
    assert!(
        queue.body.contains("No capture matches"),
        "a reviewed capture leaves the queue"
    );

    // A viewer sees the count but may not change it.
    let viewer = site.signed_in("vi", Role::Viewer).await;
    let refused = site
        .send(viewer.post(&format!("/captures/{uuid}/review"), &[("front", "5")]))
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn health_is_open_and_readiness_and_metrics_can_need_a_token() {
    let site = Site::with_config(|text| {
        text.replace("readyz = \"open\"", "readyz = \"token\"")
            .replace("access = \"open\"", "access = \"token\"")
    })
    .await;
    let nobody = common::Browser::default();
    assert_eq!(
        site.send(nobody.get("/healthz")).await.status,
        StatusCode::OK
    );
    assert_eq!(
        site.send(nobody.get("/readyz")).await.status,
        StatusCode::UNAUTHORIZED
    );
    let metrics = metrics_app(site.state.clone());
    assert_eq!(
        site.send_to(&metrics, nobody.get("/metrics")).await.status,
        StatusCode::UNAUTHORIZED
    );

    let (_, token) = site
        .store
        .create_api_token("prometheus", Role::Viewer, "test")
        .await
        .unwrap()
        .unwrap();
    let with_token = |path: &str| {
        Request::get(path)
            .header(header::HOST, HOST)
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .body(Body::empty())
            .unwrap()
    };
    let ready = site.send(with_token("/readyz")).await;
    assert_eq!(
        (ready.status, ready.body.as_str()),
        (StatusCode::OK, "ready\n")
    );
    site.store
        .insert_capture(&capture("lane-1", None, false))
        .await
        .unwrap();
    let scrape = site.send_to(&metrics, with_token("/metrics")).await;
    assert_eq!(scrape.status, StatusCode::OK);
    assert!(
        scrape
            .body
            .contains("vod_web_requests_refused_total{reason=\"unauthenticated\"} 2"),
        "{}",
        scrape.body
    );
}

#[tokio::test]
async fn readiness_fails_when_the_store_does_not_answer() {
    let site = Site::new().await;
    site.store.close().await;
    let reply = site.send(common::Browser::default().get("/readyz")).await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(reply.body.starts_with("store: "));
    // Liveness stays: the process answers.
    assert_eq!(
        site.send(common::Browser::default().get("/healthz"))
            .await
            .status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn live_events_are_server_sent_events_named_by_kind_for_signed_in_users() {
    let site = Site::new().await;
    assert_eq!(
        site.send(common::Browser::default().get("/events"))
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    let viewer = site.signed_in("vi", Role::Viewer).await;
    let response = site
        .router
        .clone()
        .oneshot(viewer.get("/events"))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let mut body = response.into_body();
    site.hub.publish(vod_core::Event::StorageRecovered);
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

#[tokio::test]
async fn live_event_streams_are_capped() {
    let site =
        Site::with_config(|text| text.replace("max_event_streams = 32", "max_event_streams = 2"))
            .await;
    let viewer = site.signed_in("vi", Role::Viewer).await;
    let mut open = Vec::new();
    for _ in 0..2 {
        let response = site
            .router
            .clone()
            .oneshot(viewer.get("/events"))
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        open.push(response);
    }
    let third = site.send(viewer.get("/events")).await;
    assert_eq!(third.status, StatusCode::SERVICE_UNAVAILABLE);
    open.pop();
    let again = site
        .router
        .clone()
        .oneshot(viewer.get("/events"))
        .await
        .unwrap();
    assert_eq!(
        again.status(),
        StatusCode::OK,
        "a closed stream frees its slot"
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

#[tokio::test]
async fn an_admin_registers_pauses_and_removes_a_push_endpoint_and_its_secret_is_shown_once() {
    let site = Site::new().await;
    let admin = site.signed_in("ada", Role::Admin).await;
    let refused = site
        .send(admin.post(
            "/uplink/push",
            &[
                ("client", "office"),
                ("url", "ftp://office"),
                ("rate_per_minute", "60"),
                ("stored", "on"),
            ],
        ))
        .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert!(
        refused.body.contains("url: must start with http"),
        "{}",
        refused.body
    );

    let made = site
        .send(admin.post(
            "/uplink/push",
            &[
                ("client", "office"),
                ("url", "https://office.example/vod"),
                ("rate_per_minute", "60"),
                ("stored", "on"),
            ],
        ))
        .await;
    assert_eq!(made.status, StatusCode::OK, "{}", made.body);
    let secret = made
        .body
        .split("<code id=\"new-secret\">")
        .nth(1)
        .and_then(|rest| rest.split('<').next())
        .unwrap()
        .to_owned();
    assert!(secret.starts_with("whsec_"));
    let endpoints = site.store.push_endpoints().await.unwrap();
    assert_eq!(endpoints[0].secret.as_deref(), Some(secret.as_str()));
    assert_eq!(endpoints[0].events, ["capture.stored"]);

    let paused = site
        .send(admin.post("/uplink/push/office/pause", &[]))
        .await;
    assert_eq!(paused.status, StatusCode::OK);
    assert!(!site.store.push_endpoints().await.unwrap()[0].enabled);
    let viewer = site.signed_in("vi", Role::Viewer).await;
    let page = site.send(viewer.get("/uplink")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body.contains("office") && page.body.contains("paused"),
        "{}",
        page.body
    );
    assert!(
        !page.body.contains(&secret),
        "the secret is never shown again"
    );
    assert!(
        !page.body.contains("Register an endpoint"),
        "a viewer gets no admin form"
    );

    assert_eq!(
        site.send(admin.post("/uplink/push/office/delete", &[]))
            .await
            .status,
        StatusCode::OK
    );
    assert!(site.store.push_endpoints().await.unwrap().is_empty());
    assert_eq!(
        site.send(admin.post("/uplink/push/office/delete", &[]))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn the_lidar_page_draws_the_latest_scan_and_a_technician_asks_for_a_relearn() {
    use vod_core::scanner_view::{PlanePoint, SnapshotLane, SnapshotObject};
    let mut site = Site::new().await;
    let view = vod_core::ScannerView::new("gantry");
    site.router = vod_web::app(site.state.clone().with_scanners(vec![view.clone()]));
    let viewer = site.signed_in("vi", Role::Viewer).await;
    let empty = site.send(viewer.get("/lidar/gantry/scan.svg")).await;
    assert_eq!(empty.status, StatusCode::OK);
    assert!(empty.body.contains("No scan yet"));

    view.publish(vod_core::ScanSnapshot {
        scanner: "gantry".into(),
        received_utc: Utc::now(),
        mount_height_mm: 6000.0,
        points: vec![PlanePoint {
            lateral_mm: -2000.0,
            height_mm: 1500.0,
        }],
        road: vec![PlanePoint {
            lateral_mm: -2000.0,
            height_mm: 0.0,
        }],
        learning: None,
        objects: vec![SnapshotObject {
            lateral_from_mm: -3000.0,
            lateral_to_mm: -1200.0,
            max_height_mm: 1500.0,
            lane: Some("lane-<1>".into()),
        }],
        lanes: vec![SnapshotLane {
            name: "lane-<1>".into(),
            lateral_from_mm: -3700.0,
            lateral_to_mm: 0.0,
            occupied: true,
        }],
    });
    let page = site.send(viewer.get("/lidar")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("/lidar/gantry/scan.svg") && page.body.contains("occupied"));
    assert!(
        !page.body.contains("Learn the road again"),
        "a viewer gets no relearn button"
    );
    let svg = site.send(viewer.get("/lidar/gantry/scan.svg")).await;
    assert_eq!(svg.headers[header::CONTENT_TYPE], "image/svg+xml");
    assert!(svg.body.contains("class=\"object\"") && svg.body.contains("class=\"lane occupied\""));
    assert!(
        svg.body.contains("lane-&#60;1&#62;") || svg.body.contains("lane-&lt;1&gt;"),
        "escaped"
    );
    assert_eq!(
        site.send(viewer.get("/lidar/nope/scan.svg")).await.status,
        StatusCode::NOT_FOUND
    );

    assert_eq!(
        site.send(viewer.post("/lidar/gantry/relearn", &[]))
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    assert!(!view.take_relearn());
    let technician = site.signed_in("tec", Role::Technician).await;
    let asked = site
        .send(technician.post("/lidar/gantry/relearn", &[]))
        .await;
    assert_eq!(
        (asked.status, asked.location()),
        (StatusCode::SEE_OTHER, "/lidar")
    );
    assert!(view.take_relearn());
    assert_eq!(
        site.send(technician.post("/lidar/nope/relearn", &[]))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn the_cameras_page_shows_each_cameras_newest_frame_and_settings() {
    let site = Site::new().await;
    site.store
        .insert_capture(&capture("lane-1", Some(1), false))
        .await
        .unwrap();
    let viewer = site.signed_in("vi", Role::Viewer).await;
    let page = site.send(viewer.get("/cameras")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body.contains("alt=\"newest frame of cam-1\""),
        "{}",
        page.body
    );
    assert!(
        page.body.contains("simulated, 1280x1024")
            && page.body.contains("20 ms after the vehicle enters")
    );
    assert!(page.body.contains("no capture yet"), "cam-2 stored nothing");
}

#[tokio::test]
async fn a_technician_downloads_the_reviewed_captures_as_a_labelled_set() {
    let site = Site::new().await;
    let id = site
        .store
        .insert_capture(&capture("lane-1", Some(1), true))
        .await
        .unwrap();
    site.store
        .insert_capture(&capture("lane-2", Some(3), true))
        .await
        .unwrap();
    site.store
        .save_review(id, &[(SeatRow::Front, 2)], "tec")
        .await
        .unwrap();
    let technician = site.signed_in("tec", Role::Technician).await;
    // Read as bytes: the archive is binary.
    let response = site
        .router
        .clone()
        .oneshot(technician.get("/review/export.tar"))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()[header::CONTENT_TYPE],
        "application/x-tar"
    );
    assert!(
        response.headers().get(header::LINK).is_none(),
        "one part holds it all"
    );
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let mut archive = tar::Archive::new(&bytes[..]);
    let mut names = Vec::new();
    let mut labels = String::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let name = entry.path().unwrap().to_string_lossy().into_owned();
        if name == "labels.json" {
            std::io::Read::read_to_string(&mut entry, &mut labels).unwrap();
        }
        names.push(name);
    }
    let labels: serde_json::Value = serde_json::from_str(&labels).unwrap();
    let captures = labels["captures"].as_array().unwrap();
    assert_eq!(captures.len(), 1, "only the reviewed capture: {labels}");
    assert_eq!(captures[0]["reviewed"]["front"], 2);
    assert_eq!(captures[0]["counted"]["front"], 1);
    assert_eq!(captures[0]["reviewers"][0], "tec");
    assert_eq!(captures[0]["doubts"], serde_json::json!(["wide_box:front"]));
    let reviewed = reviewed_captures(&site).await;
    assert_eq!(
        captures[0]["vehicle_id"],
        reviewed[0].summary.vehicle_id.to_string()
    );
    let image = captures[0]["images"][0]["file"].as_str().unwrap();
    assert_eq!(names, ["labels.json", image]);
}

#[tokio::test]
async fn the_logs_page_shows_the_newest_lines_by_level() {
    use vod_core::log_ring::{LogLine, LogRing};
    let mut site = Site::new().await;
    let ring = LogRing::new(100);
    for (level, text) in [
        (tracing::Level::INFO, "scanner connected"),
        (tracing::Level::WARN, "camera <cam-1> slow"),
    ] {
        ring.push(LogLine {
            at: Utc::now(),
            level,
            target: "vod".into(),
            text: text.into(),
        });
    }
    site.router = vod_web::app(site.state.clone().with_logs(ring));
    let technician = site.signed_in("tec", Role::Technician).await;
    let all = site.send(technician.get("/logs")).await;
    assert_eq!(all.status, StatusCode::OK);
    assert!(all.body.contains("scanner connected"));
    assert!(
        all.body.contains("camera &#60;cam-1&#62; slow")
            || all.body.contains("camera &lt;cam-1&gt; slow")
    );
    let warnings = site.send(technician.get("/logs?level=warn")).await;
    assert!(!warnings.body.contains("scanner connected") && warnings.body.contains("slow"));
    assert_eq!(
        site.send(technician.get("/logs?level=loud")).await.status,
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn a_technician_fires_a_test_capture_of_a_camera() {
    let mut site = Site::new().await;
    let (sender, mut triggers) = tokio::sync::mpsc::channel(1);
    let cameras = std::collections::HashMap::from([("cam-1".to_owned(), sender)]);
    site.router = vod_web::app(
        site.state
            .clone()
            .with_test_triggers(vod_core::TestTriggers::new(cameras)),
    );
    let viewer = site.signed_in("vi", Role::Viewer).await;
    assert_eq!(
        site.send(viewer.post("/cameras/cam-1/test", &[]))
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    let technician = site.signed_in("tec", Role::Technician).await;
    let page = site.send(technician.get("/cameras")).await;
    assert!(page.body.contains("action=\"/cameras/cam-1/test\""));

    let fired = site.send(technician.post("/cameras/cam-1/test", &[])).await;
    assert_eq!(
        (fired.status, fired.location()),
        (StatusCode::SEE_OTHER, "/cameras")
    );
    let command = triggers.try_recv().expect("a trigger for the camera");
    assert!(command.test);
    assert_eq!(
        (
            &*command.camera,
            &*command.lane,
            command.frames,
            command.interval_ms
        ),
        ("cam-1", "lane-1", 2, 40)
    );
    let busy = {
        site.send(technician.post("/cameras/cam-1/test", &[])).await;
        site.send(technician.post("/cameras/cam-1/test", &[])).await
    };
    assert_eq!(
        busy.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "the channel is full"
    );
    assert_eq!(
        site.send(technician.post("/cameras/cam-9/test", &[]))
            .await
            .status,
        StatusCode::NOT_FOUND
    );

    // The stored test capture is marked wherever it is listed.
    site.store
        .insert_capture(&Capture {
            test: true,
            ..capture("lane-1", Some(1), false)
        })
        .await
        .unwrap();
    let listed = site.send(technician.get("/captures")).await;
    assert!(listed.body.contains("test capture"));
}

#[tokio::test]
async fn captures_are_found_by_their_vehicles_class() {
    let site = Site::new().await;
    let van = capture("lane-1", Some(1), false);
    site.store.insert_capture(&van).await.unwrap();
    site.store
        .vehicle_left(
            van.vehicle_id,
            "lane-1",
            Utc::now().timestamp_millis(),
            &vod_core::VehicleMeasurements {
                occupancy_ms: 400,
                max_height_mm: 2400,
                max_width_mm: 2000,
                class: vod_core::VehicleClass::Van,
                speed_kmh: None,
                length_mm: None,
            },
        )
        .await
        .unwrap();
    let viewer = site.signed_in("vi", Role::Viewer).await;
    let vans = site.send(viewer.get("/captures?class=van")).await;
    assert!(vans.body.contains("1 people"), "{}", vans.body);
    let cars = site.send(viewer.get("/captures?class=car")).await;
    assert!(cars.body.contains("No capture matches"));
    assert_eq!(
        site.send(viewer.get("/captures?class=bus")).await.status,
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn a_capture_links_the_other_views_of_its_vehicle() {
    let site = Site::new().await;
    let (seen_twice, seen_once) = (
        VehicleId::new(Utc::now(), 7, 1),
        VehicleId::new(Utc::now(), 8, 1),
    );
    for (vehicle, camera) in [
        (seen_twice, "cam-1"),
        (seen_twice, "cam-1r"),
        (seen_once, "cam-2"),
    ] {
        let view = Capture {
            vehicle_id: vehicle,
            camera: Arc::from(camera),
            ..capture("lane-1", Some(2), false)
        };
        site.store.insert_capture(&view).await.unwrap();
    }
    let listing = site
        .store
        .search_captures(&vod_store::CaptureQuery {
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    let uuid_of = |camera: &str| {
        listing
            .iter()
            .find(|c| c.summary.camera == camera)
            .map(|c| c.summary.uuid.clone())
            .unwrap()
    };
    let viewer = site.signed_in("viewer", Role::Viewer).await;
    let page = site
        .send(viewer.get(&format!("/captures/{}", uuid_of("cam-1"))))
        .await;
    assert_eq!(page.status, StatusCode::OK);
    let link = format!(
        "<a href=\"/captures/{}\">camera cam-1r</a>",
        uuid_of("cam-1r")
    );
    assert!(page.body.contains(&link), "{}", page.body);
    assert!(!page.body.contains("camera cam-2<"), "{}", page.body);
    let alone = site
        .send(viewer.get(&format!("/captures/{}", uuid_of("cam-2"))))
        .await;
    assert!(!alone.body.contains("other views"), "{}", alone.body);

    // One count from both views: a review of one is a review of the vehicle.
    let technician = site.signed_in("tec", Role::Technician).await;
    let saved = site
        .send(technician.post(
            &format!("/captures/{}/review", uuid_of("cam-1")),
            &[("front", "3")],
        ))
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    let reviewed: Vec<(String, Vec<u32>)> = {
        let mut reviewed = Vec::new();
        for listing in &listing {
            let reviews = site.store.reviews(listing.summary.id).await.unwrap();
            let people = reviews.iter().map(|r| r.people).collect();
            reviewed.push((listing.summary.camera.clone(), people));
        }
        reviewed.sort();
        reviewed
    };
    assert_eq!(
        reviewed,
        [
            ("cam-1".to_owned(), vec![3]),
            ("cam-1r".to_owned(), vec![3]),
            ("cam-2".to_owned(), vec![])
        ]
    );
}
