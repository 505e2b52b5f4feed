//! Storing and listing captures against a real SQLite file and image directory.

mod common;

use common::{capture, image_rows, jpeg_bytes, open, raw_db, sample, sha256_hex};
use vod_store::{CaptureStatus, CaptureSummary};

#[tokio::test]
async fn inserted_captures_come_back_newest_first() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (store, registry) = open(dir.path()).await;

    let first = store.insert_capture(&capture(1, 3)).await.expect("insert");
    let second = store.insert_capture(&capture(2, 1)).await.expect("insert");

    let recent = store.recent_captures(10).await.expect("recent");
    let expected_second = CaptureSummary {
        id: second,
        uuid: recent[0].uuid.clone(),
        vehicle_id: common::vehicle_id(2),
        lane: "hov-1".to_owned(),
        camera: "cam-north".to_owned(),
        detected_utc: common::detected_utc(2),
        status: CaptureStatus::Ok,
        image_count: 1,
        first_image: recent[0].first_image.clone(),
        first_image_utc: Some(common::detected_utc(2) + chrono::TimeDelta::milliseconds(20)),
        test: false,
    };
    assert_eq!(recent.len(), 2);
    assert_eq!(recent[0], expected_second);
    assert_eq!(recent[1].id, first);
    assert_eq!(recent[1].image_count, 3);
    let first_image = recent[1].first_image.as_deref().expect("an image");
    assert!(
        first_image.starts_with("2026/11/18/") && first_image.ends_with("_0.jpg"),
        "{first_image}"
    );

    assert_eq!(store.recent_captures(1).await.expect("recent").len(), 1);
    assert_eq!(store.capture_count().await.expect("count"), 2);
    store.ping().await.expect("ping");
    assert_eq!(sample(&registry, "vod_store_captures_total"), 2.0);
    assert_eq!(sample(&registry, "vod_store_write_errors_total"), 0.0);
    assert_eq!(sample(&registry, "vod_store_commit_seconds_count"), 2.0);
}

#[tokio::test]
async fn a_capture_without_images_is_stored_as_no_image() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (store, _registry) = open(dir.path()).await;

    let id = store.insert_capture(&capture(5, 0)).await.expect("insert");

    let recent = store.recent_captures(10).await.expect("recent");
    assert_eq!(recent.len(), 1);
    assert_eq!(recent[0].id, id);
    assert_eq!(recent[0].status, CaptureStatus::NoImage);
    assert_eq!(recent[0].image_count, 0);
    assert_eq!(recent[0].first_image, None);
    assert!(common::files_under(&dir.path().join("images")).is_empty());
}

#[tokio::test]
async fn image_files_hold_the_bytes_their_rows_describe() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (store, _registry) = open(dir.path()).await;
    let original = capture(9, 3);

    let id = store.insert_capture(&original).await.expect("insert");

    let rows = image_rows(&raw_db(dir.path()).await, id.0).await;
    assert_eq!(rows.len(), 3);
    for (row, image) in rows.iter().zip(&original.images) {
        assert_eq!(row.burst_index, image.burst_index);
        assert_eq!(row.captured_at_ms, image.captured_utc.timestamp_millis());
        assert_eq!((row.width, row.height), (640, 480));
        let path = store.image_path(&row.relative_path).expect("inside images");
        let on_disk = std::fs::read(&path).expect("image file");
        assert_eq!(on_disk, jpeg_bytes(9, image.burst_index));
        assert_eq!(row.byte_len, on_disk.len() as u64);
        assert_eq!(row.sha256, sha256_hex(&on_disk));
    }
    let mut expected_files: Vec<String> = rows.into_iter().map(|row| row.relative_path).collect();
    expected_files.sort();
    assert_eq!(
        common::files_under(&dir.path().join("images")),
        expected_files
    );
}

#[tokio::test]
async fn image_paths_cannot_leave_the_images_dir() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (store, _registry) = open(dir.path()).await;
    let images_dir = dir.path().join("images");

    assert_eq!(
        store.image_path("2026/11/18/x_0.jpg"),
        Some(images_dir.join("2026/11/18/x_0.jpg"))
    );
    for escaping in [
        "../vod.db",
        "2026/../../vod.db",
        "/etc/passwd",
        "..",
        "",
        "./x_0.jpg",
    ] {
        assert_eq!(store.image_path(escaping), None, "{escaping:?}");
    }
}

#[tokio::test]
async fn reopening_keeps_the_data_and_migrates_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (store, _registry) = open(dir.path()).await;
    let id = store.insert_capture(&capture(3, 2)).await.expect("insert");
    drop(store);

    for _ in 0..2 {
        let (store, _registry) = open(dir.path()).await;
        assert_eq!(store.capture_count().await.expect("count"), 1);
        assert_eq!(store.recent_captures(10).await.expect("recent")[0].id, id);
    }

    let db = raw_db(dir.path()).await;
    let migrations: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations")
        .fetch_one(&db)
        .await
        .expect("migrations table");
    let migration_files =
        std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../../migrations"))
            .expect("migrations dir")
            .count();
    assert_eq!(migrations, migration_files as i64);
    let journal_mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&db)
        .await
        .expect("journal mode");
    assert_eq!(journal_mode, "wal");
}

#[tokio::test]
async fn a_failed_transaction_keeps_no_files_and_counts_an_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (store, registry) = open(dir.path()).await;
    // Break the schema behind the store's back so that the transaction fails after the image
    // files are written.
    sqlx::query("DROP TABLE capture_images")
        .execute(&raw_db(dir.path()).await)
        .await
        .expect("drop table");

    let error = store
        .insert_capture(&capture(4, 2))
        .await
        .expect_err("the insert fails");

    assert!(
        error.to_string().contains("inserting a capture image"),
        "{error}"
    );
    assert_eq!(store.capture_count().await.expect("count"), 0);
    assert!(common::files_under(&dir.path().join("images")).is_empty());
    assert_eq!(sample(&registry, "vod_store_captures_total"), 0.0);
    assert_eq!(sample(&registry, "vod_store_write_errors_total"), 1.0);
}

#[tokio::test]
async fn occupancy_is_stored_with_its_capture_and_read_back_whole() {
    use vod_core::occupancy::{
        Doubt, DoubtKind, ModelRef, Occupancy, PersonDetection, RowCount, SeatRow,
    };

    let dir = tempfile::tempdir().expect("temp dir");
    let (store, _registry) = open(dir.path()).await;
    let occupancy = Occupancy {
        rows: vec![
            RowCount {
                row: SeatRow::Front,
                people: 2,
                confidence: 0.75,
            },
            RowCount {
                row: SeatRow::Rear,
                people: 1,
                confidence: 0.5,
            },
        ],
        people: 3,
        countability: 0.5,
        needs_review: true,
        doubts: vec![
            Doubt {
                kind: DoubtKind::FramesDisagree,
                row: Some(SeatRow::Rear),
            },
            Doubt {
                kind: DoubtKind::OutsideZones,
                row: None,
            },
        ],
        detections: vec![
            PersonDetection {
                burst_index: 1,
                row: Some(SeatRow::Rear),
                x1_px: 10.5,
                y1_px: 20.0,
                x2_px: 110.25,
                y2_px: 220.0,
                score: 0.625,
            },
            PersonDetection {
                burst_index: 0,
                row: None,
                x1_px: 0.0,
                y1_px: 0.0,
                x2_px: 5.0,
                y2_px: 5.0,
                score: 0.5,
            },
        ],
        faces_blurred: 4,
        models: vec![ModelRef {
            name: "nanodet_g_416_coco".to_owned(),
            sha256: "a".repeat(64),
        }],
        evidence_raw: false,
    };
    let mut with_occupancy = capture(1, 1);
    with_occupancy.occupancy = Some(occupancy.clone());
    let id = store.insert_capture(&with_occupancy).await.expect("insert");
    let without = store.insert_capture(&capture(2, 1)).await.expect("insert");

    assert_eq!(store.occupancy(id).await.expect("read"), Some(occupancy));
    assert_eq!(store.occupancy(without).await.expect("read"), None);

    // A bad model hash is refused and takes the whole capture with it.
    let mut bad = capture(3, 1);
    bad.occupancy = Some(Occupancy {
        models: vec![ModelRef {
            name: "x".to_owned(),
            sha256: "short".to_owned(),
        }],
        ..with_occupancy.occupancy.clone().expect("set above")
    });
    assert!(store.insert_capture(&bad).await.is_err());
    assert_eq!(store.capture_count().await.expect("count"), 2);
}

#[tokio::test]
async fn a_test_capture_is_stored_and_marked_but_never_leaves_the_box() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (store, _registry) = open(dir.path()).await;
    let outbound = vod_store::Outbound {
        upload: true,
        jetstream: true,
        push_attempts: None,
    };
    let vehicle = store
        .insert_outbound_capture(&capture(1, 1), &outbound)
        .await
        .expect("insert");
    let test = store
        .insert_outbound_capture(
            &vod_core::Capture {
                test: true,
                ..capture(2, 1)
            },
            &outbound,
        )
        .await
        .expect("insert");
    assert_eq!(
        store.capture_jobs(vehicle).await.expect("jobs").len(),
        2,
        "upload and JetStream"
    );
    assert!(
        store.capture_jobs(test).await.expect("jobs").is_empty(),
        "a test capture gets no job"
    );
    let recent = store.recent_captures(2).await.expect("recent");
    assert_eq!(
        recent.iter().map(|c| (c.id, c.test)).collect::<Vec<_>>(),
        [(test, true), (vehicle, false)]
    );
}
