//! Retention against a real database and real files: expiry by age, the image quota that
//! spares captures waiting for an upload until it must not, and the job history.

mod common;

use sqlx::Row;
use vod_core::config::{RetentionConfig, SweepSchedule};
use vod_core::{Event, Hub};
use vod_store::{
    CaptureId, Enqueued, JobFilter, JobHandler, JobState, NewJob, RetentionSweeper, SWEEP_KIND,
    Store,
};

const DAY_MS: i64 = 86_400_000;

fn config(image_quota_bytes: u64) -> RetentionConfig {
    RetentionConfig {
        captures_max_age_days: 30,
        vehicles_max_age_days: 90,
        job_history_days: 7,
        image_quota_bytes,
        sweep: SweepSchedule::EverySeconds(600),
    }
}

fn upload(max_attempts: u32) -> NewJob {
    NewJob {
        queue: "upload".into(),
        kind: "upload.capture".into(),
        args: "{}".into(),
        max_attempts,
        run_at_ms: None,
        unique_key: None,
        idempotency_key: None,
    }
}

/// Stores captures 0..count with two images each; those in `pending` get an upload job.
async fn fill(store: &Store, count: u32, pending: &[u32]) -> Vec<CaptureId> {
    let mut ids = Vec::new();
    for sequence in 0..count {
        let jobs = if pending.contains(&sequence) {
            vec![upload(5)]
        } else {
            Vec::new()
        };
        ids.push(
            store
                .insert_capture_with_jobs(&common::capture(sequence, 2), &jobs)
                .await
                .expect("insert"),
        );
    }
    ids
}

async fn stored_ids(store: &Store) -> Vec<i64> {
    let mut ids: Vec<i64> = store
        .recent_captures(u32::MAX)
        .await
        .expect("recent")
        .iter()
        .map(|summary| summary.id.0)
        .collect();
    ids.sort_unstable();
    ids
}

fn image_bytes_of(sequences: impl IntoIterator<Item = u32>) -> u64 {
    sequences
        .into_iter()
        .flat_map(|sequence| (0..2).map(move |burst| common::jpeg_bytes(sequence, burst).len()))
        .sum::<usize>() as u64
}

#[tokio::test]
async fn old_captures_expire_with_their_files_unless_an_upload_waits() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (store, registry) = common::open(dir.path()).await;
    let ids = fill(&store, 6, &[0, 3]).await;
    let detected_ms = common::detected_utc(0).timestamp_millis();

    // At 29 days nothing is old enough.
    let report = store
        .sweep_retention(&config(u64::MAX), detected_ms + 29 * DAY_MS)
        .await
        .expect("sweep");
    assert_eq!(report.captures_expired, 0);

    let report = store
        .sweep_retention(&config(u64::MAX), detected_ms + 31 * DAY_MS)
        .await
        .expect("sweep");
    assert_eq!(report.captures_expired, 4);
    assert_eq!(report.image_files_removed, 8);
    assert_eq!(report.image_bytes_freed, image_bytes_of([1, 2, 4, 5]));
    assert_eq!(stored_ids(&store).await, [ids[0].0, ids[3].0]);
    let files = common::files_under(&dir.path().join("images"));
    assert_eq!(files.len(), 4, "{files:?}");
    assert_eq!(
        common::sample(
            &registry,
            "vod_store_retention_captures_deleted_total{reason=\"age\"}"
        ),
        4.0
    );
    assert_eq!(
        common::sample(&registry, "vod_store_image_bytes"),
        image_bytes_of([0, 3]) as f64
    );
}

#[tokio::test]
async fn the_quota_takes_uploaded_captures_first_and_waiting_ones_only_when_it_must() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (store, registry) = common::open(dir.path()).await;
    let ids = fill(&store, 6, &[0, 1]).await;
    // Room for the two waiting captures and one more: the oldest uploaded ones go.
    let quota = image_bytes_of([0, 1, 5]);
    let now_ms = common::detected_utc(6).timestamp_millis();
    let report = store
        .sweep_retention(&config(quota), now_ms)
        .await
        .expect("sweep");
    assert_eq!(report.captures_over_quota, 3);
    assert_eq!(report.pending_evicted, 0);
    assert_eq!(stored_ids(&store).await, [ids[0].0, ids[1].0, ids[5].0]);
    assert!(store.image_bytes().await.expect("bytes") <= quota);

    // A quota smaller than the waiting captures forces them out too, oldest first, and
    // cancels their uploads.
    let hub = Hub::new(16);
    let mut events = hub.subscribe();
    let sweeper = RetentionSweeper {
        store: store.clone(),
        config: tokio::sync::watch::channel(config(image_bytes_of([1]))).1,
        hub,
    };
    let sweep_id = match store
        .enqueue(&NewJob {
            queue: "retention".into(),
            kind: SWEEP_KIND.into(),
            args: "{}".into(),
            max_attempts: 1,
            run_at_ms: None,
            unique_key: None,
            idempotency_key: None,
        })
        .await
        .expect("enqueue")
    {
        Enqueued::Inserted(id) => id,
        Enqueued::Duplicate => panic!("fresh job"),
    };
    let sweep_job = store.job(sweep_id).await.expect("job").expect("exists");
    sweeper.perform(&sweep_job).await.expect("sweep runs");
    assert_eq!(stored_ids(&store).await, [ids[1].0]);
    let event = events.try_recv().expect("an eviction event");
    match &*event {
        Event::CapturesEvicted {
            captures,
            pending_upload,
            bytes,
        } => {
            assert_eq!((*captures, *pending_upload), (2, 1));
            assert_eq!(*bytes, image_bytes_of([0, 5]));
        }
        other => panic!("unexpected event {other:?}"),
    }
    assert_eq!(
        common::sample(&registry, "vod_store_retention_pending_evicted_total"),
        1.0
    );
    let cancelled = store
        .list_jobs(&JobFilter {
            queue: Some("upload".into()),
            state: Some(JobState::Cancelled),
            before: None,
            limit: 10,
        })
        .await
        .expect("list");
    assert_eq!(cancelled.len(), 1);
    assert_eq!(
        cancelled[0].last_error.as_deref(),
        Some("capture deleted: over quota")
    );
    assert_eq!(common::files_under(&dir.path().join("images")).len(), 2);
}

#[tokio::test]
async fn ended_jobs_are_purged_after_the_history_period() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (store, registry) = common::open(dir.path()).await;
    let mut ended = Vec::new();
    for _ in 0..3 {
        if let Enqueued::Inserted(id) = store.enqueue(&upload(1)).await.expect("enqueue") {
            assert!(store.cancel_job(id).await.expect("cancel"));
            ended.push(id);
        }
    }
    store.enqueue(&upload(1)).await.expect("enqueue");
    let now_ms = chrono::Utc::now().timestamp_millis();
    let report = store
        .sweep_retention(&config(u64::MAX), now_ms + 6 * DAY_MS)
        .await
        .expect("sweep");
    assert_eq!(report.jobs_purged, 0);
    let report = store
        .sweep_retention(&config(u64::MAX), now_ms + 8 * DAY_MS)
        .await
        .expect("sweep");
    assert_eq!(report.jobs_purged, 3);
    let db = common::raw_db(dir.path()).await;
    let left =
        sqlx::query("SELECT state, (SELECT count(*) FROM job_attempts) AS attempts FROM jobs")
            .fetch_all(&db)
            .await
            .expect("jobs");
    assert_eq!(left.len(), 1, "the waiting job stays");
    assert_eq!(left[0].get::<String, _>("state"), "available");
    assert_eq!(
        common::sample(&registry, "vod_store_retention_jobs_purged_total"),
        3.0
    );
}
