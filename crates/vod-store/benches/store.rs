//! Store benchmarks: captures committed per second with their jobs, a retention sweep over
//! a million captures, and the job list with attempts. Each prints its numbers and a ratio
//! against a reference measured in the same run; docs/PERFORMANCE.md records them with the
//! method.
//!
//! Sizes: VOD_BENCH_COMMITS (default 2000) captures for the commit benchmark,
//! VOD_BENCH_SWEEP_CAPTURES (default 1000000) for the sweep, VOD_BENCH_LIST_JOBS (default
//! 100000) jobs for the list. VOD_BENCH_ONLY (commit, sweep or list) runs one of them. The directory is a temporary one
//! under TMPDIR, so put TMPDIR on the disk to be measured.

use std::path::Path;
use std::time::{Duration, Instant};

use chrono::{TimeDelta, Utc};
use prometheus::Registry;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool};
use vod_core::config::{RetentionConfig, StorageConfig, SweepSchedule};
use vod_core::{Capture, CaptureImage, VehicleId};
use vod_store::{JobFilter, NewJob, Store, StoreMetrics};

const DAY_MS: i64 = 86_400_000;

fn main() {
    let commits = env_number("VOD_BENCH_COMMITS", 2_000);
    let sweep_captures = env_number("VOD_BENCH_SWEEP_CAPTURES", 1_000_000);
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let list_jobs = env_number("VOD_BENCH_LIST_JOBS", 100_000);
    let only = std::env::var("VOD_BENCH_ONLY").ok();
    let runs = |name: &str| only.as_deref().is_none_or(|only| only == name);
    runtime.block_on(async {
        if runs("commit") {
            commit_benchmark(commits).await;
        }
        if runs("sweep") {
            sweep_benchmark(sweep_captures).await;
        }
        if runs("list") {
            list_benchmark(list_jobs).await;
        }
    });
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

async fn open(dir: &Path) -> Store {
    let metrics = StoreMetrics::register(&Registry::new()).expect("metrics");
    let config = StorageConfig {
        data_dir: dir.to_path_buf(),
    };
    Store::open(&config, metrics).await.expect("store opens")
}

/// Two images of 40 kB, about the size of an anonymized 1280x1024 JPEG crop.
fn capture(sequence: u64) -> Capture {
    let detected_utc = Utc::now();
    Capture {
        vehicle_id: VehicleId::new(detected_utc, sequence as u32, 1),
        lane: "lane-1".into(),
        camera: "cam-1".into(),
        detected_utc,
        images: (0..2u32)
            .map(|burst_index| CaptureImage {
                burst_index,
                captured_utc: detected_utc + TimeDelta::milliseconds(i64::from(burst_index) * 40),
                width: 1280,
                height: 1024,
                jpeg: (0..40_000u32)
                    .map(|byte| (byte.wrapping_mul(31) ^ sequence as u32 ^ burst_index) as u8)
                    .collect(),
            })
            .collect(),
        occupancy: None,
        test: false,
    }
}

fn job(queue: &str, kind: &str) -> NewJob {
    NewJob {
        queue: queue.into(),
        kind: kind.into(),
        args: "{}".into(),
        max_attempts: 20,
        run_at_ms: None,
        unique_key: None,
        idempotency_key: None,
    }
}

/// Captures per second through `insert_capture_with_jobs` (two images, an upload and a push
/// job each), against the same captures without jobs as the reference.
async fn commit_benchmark(count: u64) {
    let jobs = [job("upload", "upload.capture"), job("push", "push.capture")];
    let captures: Vec<Capture> = (0..count).map(capture).collect();
    // Alternate the two variants, twice each, so that a drift of the disk affects both alike.
    let mut elapsed = [Duration::ZERO; 2];
    for with_jobs in [false, true, false, true] {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = open(dir.path()).await;
        let jobs: &[NewJob] = if with_jobs { &jobs } else { &[] };
        let started = Instant::now();
        for capture in &captures {
            store
                .insert_capture_with_jobs(capture, jobs)
                .await
                .expect("insert");
        }
        elapsed[usize::from(with_jobs)] += started.elapsed();
        store.close().await;
    }
    let mut rates = Vec::new();
    for (variant, elapsed) in ["no jobs", "2 jobs"].iter().zip(elapsed) {
        let rate = 2.0 * count as f64 / elapsed.as_secs_f64();
        println!(
            "commit: 2 x {count} captures (2 x 40 kB images, {variant}) in {:.2} s: \
             {rate:.0} captures/s, {:.2} ms each",
            elapsed.as_secs_f64(),
            elapsed.as_secs_f64() * 1_000.0 / (2 * count) as f64
        );
        rates.push(rate);
    }
    println!(
        "commit: with jobs / without jobs = {:.2}",
        rates[1] / rates[0]
    );
}

/// Fills a database with `count` captures over 60 days, one image row each (the files are not
/// created: removing a missing file costs the same system call), one completed upload job
/// each, and a waiting upload job for every tenth capture.
async fn fill(dir: &Path, count: u64, now_ms: i64) -> (Store, SqlitePool) {
    let store = open(dir).await;
    let db = SqlitePool::connect_with(SqliteConnectOptions::new().filename(dir.join("vod.db")))
        .await
        .expect("db");
    let step_ms = 60 * DAY_MS / count as i64;
    let first_ms = now_ms - 60 * DAY_MS;
    let statements = [
        "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < ?1) \
         INSERT INTO captures (id, uuid, vehicle_id, lane, camera, detected_at_ms, stored_at_ms, \
                               status, image_count) \
         SELECT i + 1, printf('u%d', i), printf('v%d', i), 'lane-1', 'cam-1', ?2 + i * ?3, \
                ?2 + i * ?3, 'ok', 1 FROM n",
        "INSERT INTO capture_images (capture_id, burst_index, captured_at_ms, width, height, \
                                     byte_len, sha256, relative_path) \
         SELECT id, 0, detected_at_ms, 1280, 1024, 40000, \
                '0000000000000000000000000000000000000000000000000000000000000000', \
                printf('2026/01/01/%s_0.jpg', uuid) FROM captures",
        "INSERT INTO jobs (queue, kind, args, state, attempt, max_attempts, idempotency_key, \
                           capture_id, inserted_at_ms, run_at_ms, attempted_at_ms, \
                           finished_at_ms) \
         SELECT 'upload', 'upload.capture', '{}', 'completed', 1, 20, printf('done-%d', id), \
                id, stored_at_ms, stored_at_ms, stored_at_ms, stored_at_ms + 60000 \
         FROM captures",
        "INSERT INTO jobs (queue, kind, args, state, max_attempts, idempotency_key, capture_id, \
                           inserted_at_ms, run_at_ms) \
         SELECT 'upload', 'upload.capture', '{}', 'available', 20, printf('wait-%d', id), id, \
                stored_at_ms, stored_at_ms FROM captures WHERE id % 10 = 0",
    ];
    for statement in statements {
        sqlx::query(statement)
            .bind(count as i64)
            .bind(first_ms)
            .bind(step_ms)
            .execute(&db)
            .await
            .expect("fill");
    }
    (store, db)
}

async fn sweep_benchmark(count: u64) {
    let now_ms = Utc::now().timestamp_millis();
    let config = RetentionConfig {
        captures_max_age_days: 30,
        vehicles_max_age_days: 90,
        job_history_days: 7,
        image_quota_bytes: u64::MAX,
        sweep: SweepSchedule::EverySeconds(600),
    };

    // Reference: one bare DELETE of the same old captures, cascading to their image rows, with
    // no check for waiting jobs, no batches, no files and no job history.
    let reference_dir = tempfile::tempdir().expect("temp dir");
    let (reference_store, reference_db) = fill(reference_dir.path(), count, now_ms).await;
    let started = Instant::now();
    let deleted = sqlx::query("DELETE FROM captures WHERE detected_at_ms < ?")
        .bind(now_ms - 30 * DAY_MS)
        .execute(&reference_db)
        .await
        .expect("bare delete")
        .rows_affected();
    let reference = started.elapsed();
    println!(
        "sweep reference: bare DELETE of {deleted} of {count} captures in {:.2} s",
        reference.as_secs_f64()
    );
    reference_db.close().await;
    reference_store.close().await;
    drop(reference_dir);

    let dir = tempfile::tempdir().expect("temp dir");
    let (store, db) = fill(dir.path(), count, now_ms).await;
    let started = Instant::now();
    let report = store.sweep_retention(&config, now_ms).await.expect("sweep");
    let age_sweep = started.elapsed();
    let kept_old: i64 =
        sqlx::query_scalar("SELECT count(*) FROM captures WHERE detected_at_ms < ?")
            .bind(now_ms - 30 * DAY_MS)
            .fetch_one(&db)
            .await
            .expect("count");
    println!(
        "sweep by age over {count} captures: {:.2} s; {} captures expired, {kept_old} kept for \
         a waiting upload, {} image files removed, {} ended jobs purged",
        age_sweep.as_secs_f64(),
        report.captures_expired,
        report.image_files_removed,
        report.jobs_purged
    );
    println!(
        "sweep by age / bare delete = {:.2}",
        age_sweep.as_secs_f64() / reference.as_secs_f64()
    );

    // The quota: half the remaining image bytes must go.
    let used = store.image_bytes().await.expect("bytes");
    let quota = RetentionConfig {
        image_quota_bytes: used / 2,
        ..config
    };
    let started = Instant::now();
    let report = store.sweep_retention(&quota, now_ms).await.expect("sweep");
    let quota_sweep = started.elapsed();
    println!(
        "sweep by quota: {:.2} s to free {} of {used} bytes: {} captures, {} of them waiting",
        quota_sweep.as_secs_f64(),
        report.image_bytes_freed,
        report.captures_over_quota,
        report.pending_evicted
    );
    let started = Instant::now();
    let idle = store.sweep_retention(&quota, now_ms).await.expect("sweep");
    println!(
        "sweep with nothing to do over {} captures: {:.3} s",
        store.capture_count().await.expect("count"),
        started.elapsed().as_secs_f64()
    );
    assert_eq!(idle, vod_store::SweepReport::default());
    db.close().await;
    store.close().await;
}

/// The job page's query: the newest 500 jobs with their attempts, in one query for the
/// attempts, against the jobs alone (reference) and against one attempts query per job.
async fn list_benchmark(count: u64) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = open(dir.path()).await;
    let db =
        SqlitePool::connect_with(SqliteConnectOptions::new().filename(dir.path().join("vod.db")))
            .await
            .expect("db");
    let statements = [
        // Every fourth job discarded after 3 attempts, the others completed in one.
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?1) \
         INSERT INTO jobs (id, queue, kind, args, state, attempt, max_attempts, \
                           idempotency_key, inserted_at_ms, run_at_ms, attempted_at_ms, \
                           finished_at_ms, last_error) \
         SELECT i, 'upload', 'upload.capture', '{}', \
                CASE WHEN i % 4 = 0 THEN 'discarded' ELSE 'completed' END, \
                CASE WHEN i % 4 = 0 THEN 3 ELSE 1 END, 3, printf('k%d', i), i, i, i, i + 1, \
                CASE WHEN i % 4 = 0 THEN 'HTTP 503 from the upload server' END FROM n",
        "WITH RECURSIVE a(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM a WHERE k < 3) \
         INSERT INTO job_attempts (job_id, attempt, started_at_ms, finished_at_ms, outcome, \
                                   error) \
         SELECT j.id, a.k, j.id, j.id + 1, \
                CASE WHEN j.state = 'completed' THEN 'completed' \
                     WHEN a.k = 3 THEN 'discarded' ELSE 'failed' END, \
                CASE WHEN j.state = 'discarded' THEN 'HTTP 503 from the upload server' END \
         FROM jobs j JOIN a ON a.k <= j.attempt",
    ];
    for statement in statements {
        sqlx::query(statement)
            .bind(count as i64)
            .execute(&db)
            .await
            .expect("fill");
    }
    let filter =
        JobFilter::from_request(None, None, None, Some(JobFilter::MAX_LIMIT)).expect("filter");
    const ROUNDS: u32 = 20;
    let mut times = [Duration::ZERO; 3];
    for _ in 0..ROUNDS {
        let started = Instant::now();
        let jobs = store.list_jobs(&filter).await.expect("list");
        times[0] += started.elapsed();
        assert_eq!(jobs.len(), JobFilter::MAX_LIMIT as usize);

        let started = Instant::now();
        let listed = store.list_jobs_with_attempts(&filter).await.expect("list");
        times[1] += started.elapsed();
        assert_eq!(listed.len(), JobFilter::MAX_LIMIT as usize);

        let started = Instant::now();
        let mut attempts = 0;
        for job in store.list_jobs(&filter).await.expect("list") {
            attempts += store.job_attempts(job.id).await.expect("attempts").len();
        }
        times[2] += started.elapsed();
        assert_eq!(
            attempts,
            listed.iter().map(|job| job.attempts.len()).sum::<usize>()
        );
    }
    let ms = |total: Duration| total.as_secs_f64() * 1_000.0 / f64::from(ROUNDS);
    println!(
        "job list of {} among {count} jobs, mean of {ROUNDS}: jobs only (reference) {:.2} ms, \
         with attempts in one query {:.2} ms, one attempts query per job {:.2} ms; \
         ratio one query / reference {:.2}",
        JobFilter::MAX_LIMIT,
        ms(times[0]),
        ms(times[1]),
        ms(times[2]),
        ms(times[1]) / ms(times[0]),
    );
    store.close().await;
}
