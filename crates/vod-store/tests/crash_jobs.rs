//! kill -9 under sustained load, with the job queue: a process stores captures with an upload
//! job each while a runner works through the jobs; it is killed with SIGKILL several times.
//! Afterwards every acknowledged capture is there with its images, and every job enqueued with
//! a committed capture runs to completion.
//!
//! As in crash.rs, the test re-runs its own binary as the worker process.

mod common;

use std::io::Write;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};

use std::sync::Arc;
use std::time::Duration;

use common::{image_rows, jpeg_bytes, open, raw_db, sha256_hex};
use tokio_util::sync::CancellationToken;
use vod_core::Component;
use vod_store::{
    Job, JobError, JobFilter, JobHandler, JobState, NewJob, QueueRunner, QueueSpec, RetryPolicy,
    Store,
};

const WORKER_DIR_ENV: &str = "VOD_STORE_CRASH_JOBS_DIR";
const WORKER_FIRST_SEQUENCE_ENV: &str = "VOD_STORE_CRASH_JOBS_FIRST_SEQUENCE";

/// Acknowledgements per run before the kill, and the pause before it.
const RUNS: [(u32, Duration); 5] = [
    (40, Duration::ZERO),
    (25, Duration::from_micros(500)),
    (60, Duration::from_millis(2)),
    (30, Duration::from_millis(5)),
    (45, Duration::from_millis(9)),
];

fn image_count(sequence: u32) -> u32 {
    sequence % 3
}

/// "Uploads" a capture by writing a marker file named by the job's idempotency key, atomically;
/// doing it twice is harmless, as an idempotent upload would be.
struct MarkerUpload {
    done_dir: PathBuf,
}

impl JobHandler for MarkerUpload {
    async fn perform(&self, job: &Job) -> Result<(), JobError> {
        // Slower than the writer, so that jobs pile up and some are running at each kill.
        tokio::time::sleep(Duration::from_millis(3)).await;
        let capture_id = job
            .capture_id
            .ok_or_else(|| JobError::Discard("no capture".into()))?;
        let temp = self.done_dir.join(format!(".{}.tmp", job.idempotency_key));
        let done = self.done_dir.join(&job.idempotency_key);
        std::fs::write(&temp, capture_id.to_string())
            .and_then(|()| std::fs::rename(&temp, &done))
            .map_err(|error| JobError::Retry(error.to_string()))
    }
}

fn upload_queue() -> QueueSpec {
    QueueSpec {
        name: "upload".into(),
        concurrency: NonZeroU32::new(4).expect("non-zero"),
        max_starts_per_minute: None,
        retry: RetryPolicy {
            base_ms: 5,
            max_ms: 50,
        },
        poll_ms: 20,
    }
}

fn upload_job() -> NewJob {
    NewJob {
        queue: "upload".into(),
        kind: "upload.capture".into(),
        args: "{}".into(),
        max_attempts: 10,
        run_at_ms: None,
        unique_key: None,
        idempotency_key: None,
    }
}

fn start_runner(store: &Store, data_dir: &Path) -> CancellationToken {
    let done_dir = data_dir.join("uploaded");
    std::fs::create_dir_all(&done_dir).expect("uploaded dir");
    let stop = CancellationToken::new();
    let runner = QueueRunner {
        store: store.clone(),
        queue: tokio::sync::watch::channel(upload_queue()).1,
        handler: Arc::new(MarkerUpload { done_dir }),
    };
    let shutdown = stop.clone();
    tokio::spawn(async move { runner.run(shutdown).await });
    stop
}

#[test]
fn crash_jobs_worker() {
    // Does nothing unless the crash test below started this binary as its worker.
    let Ok(data_dir) = std::env::var(WORKER_DIR_ENV) else {
        return;
    };
    let first_sequence: u32 = std::env::var(WORKER_FIRST_SEQUENCE_ENV)
        .expect("first sequence set")
        .parse()
        .expect("first sequence is a number");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let (store, _registry) = open(data_dir.as_ref()).await;
        let _runner = start_runner(&store, data_dir.as_ref());
        let mut stdout = std::io::stdout().lock();
        for sequence in first_sequence.. {
            let capture = common::capture(sequence, image_count(sequence));
            let id = store
                .insert_capture_with_jobs(&capture, &[upload_job()])
                .await
                .expect("insert");
            writeln!(stdout, "ACK {id} {sequence}").expect("stdout");
            stdout.flush().expect("stdout");
        }
    });
}

#[test]
fn sigkill_under_load_loses_no_capture_and_no_job() {
    let dir = tempfile::tempdir().expect("temp dir");
    let acknowledged = common::kill_runs(
        "crash_jobs_worker",
        (WORKER_DIR_ENV, dir.path()),
        WORKER_FIRST_SEQUENCE_ENV,
        &RUNS,
    );

    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let (store, _registry) = open(dir.path()).await;
        let db = raw_db(dir.path()).await;
        let pending_at_restart = waiting_jobs(&store).await;
        let stop = start_runner(&store, dir.path());
        let mut waiting = pending_at_restart;
        for _ in 0..6_000 {
            if waiting == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
            waiting = waiting_jobs(&store).await;
        }
        stop.cancel();
        assert_eq!(waiting, 0, "jobs still waiting after a minute");

        let integrity: String = sqlx::query_scalar("PRAGMA integrity_check")
            .fetch_one(&db)
            .await
            .expect("integrity check");
        assert_eq!(integrity, "ok");
        let stored = store.recent_captures(u32::MAX).await.expect("recent");
        for (id, sequence) in &acknowledged {
            let Some(summary) = stored.iter().find(|summary| summary.id.0 == *id) else {
                panic!("acknowledged capture {id} is missing");
            };
            assert_eq!(summary.vehicle_id, common::vehicle_id(*sequence));
            let rows = image_rows(&db, *id).await;
            assert_eq!(rows.len(), image_count(*sequence) as usize, "capture {id}");
            for row in rows {
                let path = store.image_path(&row.relative_path).expect("inside images");
                let on_disk = std::fs::read(&path)
                    .unwrap_or_else(|error| panic!("{}: {error}", path.display()));
                assert_eq!(on_disk, jpeg_bytes(*sequence, row.burst_index));
                assert_eq!(row.sha256, sha256_hex(&on_disk));
            }
        }
        // Every committed capture, acknowledged or not, has its one job, completed, and its
        // upload done.
        let jobs = store
            .list_jobs(&JobFilter {
                queue: Some("upload".into()),
                state: None,
                before: None,
                limit: u32::MAX,
            })
            .await
            .expect("jobs");
        assert_eq!(jobs.len(), stored.len());
        let mut interrupted = 0;
        for job in &jobs {
            assert_eq!(job.state, JobState::Completed, "{job:?}");
            let capture_id = job.capture_id.expect("linked to its capture");
            assert!(stored.iter().any(|summary| summary.id.0 == capture_id));
            let marker = dir.path().join("uploaded").join(&job.idempotency_key);
            let content = std::fs::read_to_string(&marker).expect("upload marker");
            assert_eq!(content, capture_id.to_string());
            interrupted += store
                .job_attempts(job.id)
                .await
                .expect("attempts")
                .iter()
                .filter(|attempt| attempt.outcome.as_deref() == Some("interrupted"))
                .count();
        }
        println!(
            "{} captures acknowledged, {} stored, {pending_at_restart} jobs waiting at the last \
             restart, {interrupted} attempts interrupted by a kill",
            acknowledged.len(),
            stored.len()
        );
    });
}

async fn waiting_jobs(store: &Store) -> usize {
    let mut count = 0;
    for state in [JobState::Available, JobState::Running] {
        count += store
            .list_jobs(&JobFilter {
                queue: Some("upload".into()),
                state: Some(state),
                before: None,
                limit: u32::MAX,
            })
            .await
            .expect("jobs")
            .len();
    }
    count
}
