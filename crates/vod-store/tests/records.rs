//! Vehicles, the configuration history, users and push endpoints against a real database:
//! what goes in comes back, and vehicles expire with their age limit.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Instant;

use chrono::TimeDelta;
use tokio_util::sync::CancellationToken;
use vod_core::config::live::{ChangeSource, ConfigChange, ConfigHistory, Outcome};
use vod_core::config::{RetentionConfig, SweepSchedule};
use vod_core::supervisor::channel;
use vod_core::{Component, VehicleClass, VehicleEvent, VehicleEventKind, VehicleMeasurements};
use vod_store::{NewPushEndpoint, Role, VehicleRecorder};

const DAY_MS: i64 = 86_400_000;

#[tokio::test]
async fn a_vehicle_is_inserted_on_entry_and_measured_on_exit() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _registry) = common::open(dir.path()).await;
    let id = common::vehicle_id(1);
    let entered_ms = common::detected_utc(1).timestamp_millis();

    store
        .vehicle_entered(id, "hov-1", entered_ms)
        .await
        .unwrap();
    let row = store.vehicle(id).await.unwrap().unwrap();
    assert_eq!(row.id, id.to_string());
    assert_eq!(row.lane, "hov-1");
    assert_eq!(row.entered_at_ms, entered_ms);
    assert_eq!(
        (row.left_at_ms, row.occupancy_ms, row.max_height_mm),
        (None, None, None)
    );

    let measured = VehicleMeasurements {
        occupancy_ms: 640,
        max_height_mm: 1_520,
        max_width_mm: 1_810,
        class: VehicleClass::Car,
        speed_kmh: None,
        length_mm: None,
    };
    store
        .vehicle_left(id, "hov-1", entered_ms + 640, &measured)
        .await
        .unwrap();
    let row = store.vehicle(id).await.unwrap().unwrap();
    assert_eq!(row.entered_at_ms, entered_ms);
    assert_eq!(row.left_at_ms, Some(entered_ms + 640));
    assert_eq!(row.occupancy_ms, Some(640));
    assert_eq!(row.max_height_mm, Some(1_520));
    assert_eq!(row.max_width_mm, Some(1_810));
    assert_eq!(row.class.as_deref(), Some("car"));
    assert_eq!((row.speed_kmh, row.length_mm), (None, None));
}

#[tokio::test]
async fn an_exit_without_an_entry_still_records_the_vehicle_with_all_measurements() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _registry) = common::open(dir.path()).await;
    let id = common::vehicle_id(2);
    let left_ms = common::detected_utc(2).timestamp_millis();
    let measured = VehicleMeasurements {
        occupancy_ms: 500,
        max_height_mm: 3_400,
        max_width_mm: 2_550,
        class: VehicleClass::Truck,
        speed_kmh: Some(72.5),
        length_mm: Some(11_200),
    };
    store
        .vehicle_left(id, "hov-2", left_ms, &measured)
        .await
        .unwrap();
    let row = store.vehicle(id).await.unwrap().unwrap();
    assert_eq!(row.entered_at_ms, left_ms - 500);
    assert_eq!(row.class.as_deref(), Some("truck"));
    assert_eq!(row.speed_kmh, Some(72.5));
    assert_eq!(row.length_mm, Some(11_200));
    assert_eq!(row.max_width_mm, Some(2_550));
}

#[tokio::test]
async fn the_recorder_stores_every_vehicle_the_pipeline_sends() {
    let dir = tempfile::tempdir().unwrap();
    let (store, registry) = common::open(dir.path()).await;
    let (vehicles, received) = channel(16);
    let stop = CancellationToken::new();
    let recorder = VehicleRecorder {
        store: store.clone(),
        vehicles: received,
    };
    let id = common::vehicle_id(3);
    let at = common::detected_utc(3);
    let event = |kind, at| VehicleEvent {
        vehicle_id: id,
        lane: "hov-1".into(),
        kind,
        at_utc: at,
        at: Instant::now(),
    };
    // Sent before the recorder runs: the channel keeps them.
    vehicles
        .send(event(VehicleEventKind::Entered, at))
        .await
        .unwrap();
    let left = VehicleMeasurements {
        occupancy_ms: 700,
        max_height_mm: 1_450,
        max_width_mm: 1_790,
        class: VehicleClass::Van,
        speed_kmh: Some(54.0),
        length_mm: Some(4_200),
    };
    vehicles
        .send(event(
            VehicleEventKind::Left(left),
            at + TimeDelta::milliseconds(700),
        ))
        .await
        .unwrap();
    drop(vehicles);
    // With its sender gone the recorder drains the channel, then fails: it must run until
    // shutdown.
    let error = recorder.run(stop).await.unwrap_err();
    assert_eq!(error.to_string(), "the vehicle channel closed");
    let row = store.vehicle(id).await.unwrap().unwrap();
    assert_eq!(row.entered_at_ms, at.timestamp_millis());
    assert_eq!(row.occupancy_ms, Some(700));
    assert_eq!(row.max_height_mm, Some(1_450));
    assert_eq!(row.max_width_mm, Some(1_790));
    assert_eq!(row.class.as_deref(), Some("van"));
    assert_eq!((row.speed_kmh, row.length_mm), (Some(54.0), Some(4_200)));
    assert_eq!(
        common::sample(&registry, "vod_store_vehicles_recorded_total"),
        2.0
    );
    assert_eq!(
        common::sample(&registry, "vod_store_vehicle_errors_total"),
        0.0
    );
}

#[tokio::test]
async fn vehicles_expire_after_their_own_age_limit() {
    let dir = tempfile::tempdir().unwrap();
    let (store, registry) = common::open(dir.path()).await;
    let now_ms = common::detected_utc(0).timestamp_millis() + 100 * DAY_MS;
    let old = common::vehicle_id(1);
    let recent = common::vehicle_id(2);
    store
        .vehicle_entered(old, "hov-1", now_ms - 91 * DAY_MS)
        .await
        .unwrap();
    store
        .vehicle_entered(recent, "hov-1", now_ms - 89 * DAY_MS)
        .await
        .unwrap();
    let config = RetentionConfig {
        captures_max_age_days: 30,
        vehicles_max_age_days: 90,
        job_history_days: 7,
        image_quota_bytes: u64::MAX,
        sweep: SweepSchedule::EverySeconds(600),
    };
    let report = store.sweep_retention(&config, now_ms).await.unwrap();
    assert_eq!(report.vehicles_expired, 1);
    assert!(store.vehicle(old).await.unwrap().is_none());
    assert!(store.vehicle(recent).await.unwrap().is_some());
    assert_eq!(
        common::sample(&registry, "vod_store_retention_vehicles_deleted_total"),
        1.0
    );
}

#[tokio::test]
async fn config_changes_and_refusals_are_kept_with_who_and_what() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _registry) = common::open(dir.path()).await;
    let history: &dyn ConfigHistory = &store;
    assert_eq!(history.last_applied().await.unwrap(), None);
    let entry = |source, actor: &str, outcome, toml: &str, error: Option<&str>| ConfigChange {
        source,
        actor: actor.into(),
        outcome,
        changed: vec![
            "detector.enter_scans".into(),
            "lanes[0].lateral_to_mm".into(),
        ],
        restart_needed: vec!["web.listen".into()],
        error: error.map(str::to_owned),
        toml: toml.into(),
    };
    let first = history
        .record(entry(
            ChangeSource::File,
            "vod run",
            Outcome::Applied,
            "a = 1\n",
            None,
        ))
        .await
        .unwrap();
    let refused = history
        .record(entry(
            ChangeSource::Web,
            "ana",
            Outcome::Refused,
            "a = \n",
            Some("config is not valid TOML"),
        ))
        .await
        .unwrap();
    assert!(refused > first);

    // A refusal is never the configuration in effect.
    let last = history.last_applied().await.unwrap().unwrap();
    assert_eq!((last.id, last.change.toml.as_str()), (first, "a = 1\n"));
    assert_eq!(last.sha256, common::sha256_hex(b"a = 1\n"));
    let row = history.entry(refused).await.unwrap().unwrap();
    assert_eq!(
        (
            row.change.source,
            row.change.actor.as_str(),
            row.change.outcome
        ),
        (ChangeSource::Web, "ana", Outcome::Refused)
    );
    assert_eq!(
        row.change.changed,
        ["detector.enter_scans", "lanes[0].lateral_to_mm"]
    );
    assert_eq!(row.change.restart_needed, ["web.listen"]);
    assert_eq!(
        row.change.error.as_deref(),
        Some("config is not valid TOML")
    );
    assert!(row.at_ms >= last.at_ms);
    assert_eq!(history.entry(refused + 1).await.unwrap(), None);
    let newest_first: Vec<i64> = history
        .recent(10)
        .await
        .unwrap()
        .iter()
        .map(|entry| entry.id)
        .collect();
    assert_eq!(newest_first, [refused, first]);
}

#[tokio::test]
async fn users_are_created_verified_changed_and_removed() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _registry) = common::open(dir.path()).await;
    let ana = store
        .create_user("ana", "correct horse", Role::Technician)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((ana.name.as_str(), ana.role), ("ana", Role::Technician));
    assert!(
        store
            .create_user("ana", "other", Role::Admin)
            .await
            .unwrap()
            .is_none(),
        "names are unique"
    );

    assert_eq!(
        store.verify_user("ana", "correct horse").await.unwrap(),
        Some(ana.clone())
    );
    assert_eq!(store.verify_user("ana", "wrong").await.unwrap(), None);
    assert_eq!(
        store.verify_user("bob", "correct horse").await.unwrap(),
        None
    );

    assert!(store.set_password("ana", "battery staple").await.unwrap());
    assert_eq!(
        store.verify_user("ana", "correct horse").await.unwrap(),
        None
    );
    assert!(
        store
            .verify_user("ana", "battery staple")
            .await
            .unwrap()
            .is_some()
    );
    assert!(store.set_role("ana", Role::Admin).await.unwrap());
    assert_eq!(store.users().await.unwrap()[0].role, Role::Admin);
    assert!(!store.set_password("bob", "x").await.unwrap());

    // The hash is salted Argon2id, never the password itself.
    let db = common::raw_db(dir.path()).await;
    let hash: String = sqlx::query_scalar("SELECT password_hash FROM users WHERE name = 'ana'")
        .fetch_one(&db)
        .await
        .unwrap();
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    assert!(!hash.contains("battery"));

    assert!(store.delete_user("ana").await.unwrap());
    assert!(!store.delete_user("ana").await.unwrap());
    assert!(store.users().await.unwrap().is_empty());
}

#[tokio::test]
async fn push_endpoints_are_saved_replaced_switched_and_removed() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _registry) = common::open(dir.path()).await;
    let mut endpoint = NewPushEndpoint {
        client: "toll-office".into(),
        url: "https://toll.example/vod".into(),
        secret: Some("whsec_c2VjcmV0".into()),
        events: vec!["capture.stored".into()],
        rate_per_minute: 60,
        enabled: true,
    };
    let saved = store.upsert_push_endpoint(&endpoint).await.unwrap();
    assert_eq!(saved.secret.as_deref(), Some("whsec_c2VjcmV0"));
    assert_eq!(saved.events, ["capture.stored"]);

    // A bad endpoint is refused whole, naming what is wrong.
    let bad = NewPushEndpoint {
        url: "ftp://toll.example".into(),
        secret: Some("s3cret".into()),
        events: vec!["vehicle.entered".into()],
        ..endpoint.clone()
    };
    let problems: Vec<String> = bad.problems().iter().map(ToString::to_string).collect();
    assert_eq!(
        problems,
        [
            "url: must start with http:// or https://",
            "secret: must be whsec_ followed by base64",
            "events: \"vehicle.entered\" is not one of [\"capture.stored\", \"capture.flagged\"]"
        ]
    );
    assert!(store.upsert_push_endpoint(&bad).await.is_err());

    endpoint.url = "https://toll.example/v2".into();
    endpoint.secret = None;
    endpoint.rate_per_minute = 10;
    let replaced = store.upsert_push_endpoint(&endpoint).await.unwrap();
    assert_eq!(replaced.id, saved.id);
    assert_eq!(replaced.created_at_ms, saved.created_at_ms);
    assert_eq!(
        (
            replaced.url.as_str(),
            replaced.secret.as_deref(),
            replaced.rate_per_minute
        ),
        ("https://toll.example/v2", None, 10)
    );

    assert!(
        store
            .set_push_endpoint_enabled("toll-office", false)
            .await
            .unwrap()
    );
    assert!(!store.push_endpoints().await.unwrap()[0].enabled);
    assert!(
        !store
            .set_push_endpoint_enabled("nobody", false)
            .await
            .unwrap()
    );
    assert!(store.delete_push_endpoint("toll-office").await.unwrap());
    assert!(store.push_endpoints().await.unwrap().is_empty());
}
