//! The job queue against a real database: runs, retries, discards, unique and scheduled jobs,
//! jobs enqueued with their capture, cancellation, and jobs interrupted by a crash.

mod common;

use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::{Mutex, watch};
use tokio_util::sync::CancellationToken;
use vod_core::Component;
use vod_store::{
    Enqueued, Job, JobAction, JobActionOutcome, JobError, JobFilter, JobHandler, JobId, JobState,
    NewJob, PeriodicJob, QueueRunner, QueueSpec, RetryPolicy, Schedule, Scheduler, Store,
};

/// Fails the first `failures` attempts of each job (with `Discard` when `discard` is set), and
/// records every attempt and the most jobs ever in flight at once.
#[derive(Default)]
struct Scripted {
    failures: u32,
    discard: bool,
    /// Attempts block until the test cancels this token (a job that never finishes).
    hang: Option<CancellationToken>,
    attempts: Mutex<Vec<(JobId, u32, String)>>,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    started: AtomicU32,
}

impl JobHandler for Scripted {
    async fn perform(&self, job: &Job) -> Result<(), JobError> {
        self.started.fetch_add(1, Ordering::SeqCst);
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_in_flight.fetch_max(now, Ordering::SeqCst);
        self.attempts
            .lock()
            .await
            .push((job.id, job.attempt, job.idempotency_key.clone()));
        if let Some(hang) = &self.hang {
            hang.cancelled().await;
        }
        // Give other jobs of the queue the chance to start while this one is in flight.
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(5)).await;
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        if job.attempt <= self.failures {
            let message = format!("attempt {} failed", job.attempt);
            return Err(if self.discard {
                JobError::Discard(message)
            } else {
                JobError::Retry(message)
            });
        }
        Ok(())
    }
}

fn queue(name: &str, concurrency: u32) -> QueueSpec {
    QueueSpec {
        name: name.into(),
        concurrency: NonZeroU32::new(concurrency).expect("non-zero"),
        max_starts_per_minute: None,
        retry: RetryPolicy {
            base_ms: 2,
            max_ms: 20,
        },
        poll_ms: 10,
    }
}

fn job(queue: &str, kind: &str, max_attempts: u32) -> NewJob {
    NewJob {
        queue: queue.into(),
        kind: kind.into(),
        args: format!(r#"{{"kind":"{kind}"}}"#),
        max_attempts,
        run_at_ms: None,
        unique_key: None,
        idempotency_key: None,
    }
}

fn inserted(enqueued: Enqueued) -> JobId {
    match enqueued {
        Enqueued::Inserted(id) => id,
        Enqueued::Duplicate => panic!("expected an insert"),
    }
}

/// Polls until every job in `ids` is in `state`; panics after a minute (a hang, not a speed
/// check).
async fn wait_for(store: &Store, ids: &[JobId], state: JobState) -> Vec<Job> {
    for _ in 0..6_000 {
        let mut jobs = Vec::new();
        for id in ids {
            jobs.push(store.job(*id).await.expect("job").expect("exists"));
        }
        if jobs.iter().all(|job| job.state == state) {
            return jobs;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("jobs {ids:?} never reached {state:?}");
}

fn spawn_runner(
    store: &Store,
    spec: QueueSpec,
    handler: &Arc<Scripted>,
) -> (CancellationToken, tokio::task::JoinHandle<()>) {
    let stop = CancellationToken::new();
    let runner = QueueRunner {
        store: store.clone(),
        queue: watch::channel(spec).1,
        handler: handler.clone(),
    };
    let shutdown = stop.clone();
    let task = tokio::spawn(async move { runner.run(shutdown).await });
    (
        stop,
        tokio::spawn(async move {
            task.await.expect("runner joined").expect("runner ok");
        }),
    )
}

#[tokio::test]
async fn jobs_run_to_completion_within_the_queue_concurrency() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (store, registry) = common::open(dir.path()).await;
    let mut ids = Vec::new();
    for index in 0..12 {
        ids.push(inserted(
            store
                .enqueue(&job("upload", &format!("k{index}"), 3))
                .await
                .expect("enqueue"),
        ));
    }
    let other = inserted(store.enqueue(&job("push", "p", 3)).await.expect("enqueue"));
    let handler = Arc::new(Scripted::default());
    let (stop, runner) = spawn_runner(&store, queue("upload", 3), &handler);
    let jobs = wait_for(&store, &ids, JobState::Completed).await;
    stop.cancel();
    runner.await.expect("runner");

    assert!(handler.max_in_flight.load(Ordering::SeqCst) <= 3);
    assert_eq!(handler.started.load(Ordering::SeqCst), 12);
    for job in &jobs {
        assert_eq!(job.attempt, 1);
        assert!(job.finished_at_ms.is_some());
        let attempts = store.job_attempts(job.id).await.expect("attempts");
        assert_eq!(attempts.len(), 1);
        assert_eq!(attempts[0].outcome.as_deref(), Some("completed"));
    }
    // Another queue's job is not this runner's business.
    assert_eq!(
        store.job(other).await.expect("job").expect("exists").state,
        JobState::Available
    );
    let text = prometheus::TextEncoder::new()
        .encode_to_string(&registry.gather())
        .expect("encode");
    assert!(
        text.contains(r#"vod_store_jobs_completed_total{queue="upload"} 12"#),
        "{text}"
    );
    assert!(text.contains(r#"vod_store_jobs_available{queue="upload"} 0"#));
    assert!(text.contains(r#"vod_store_jobs_latency_seconds_count{queue="upload"} 12"#));
}

#[tokio::test]
async fn failed_jobs_retry_with_the_same_idempotency_key_then_are_discarded_and_kept() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (store, registry) = common::open(dir.path()).await;
    let recovers = inserted(
        store
            .enqueue(&job("q", "recovers", 4))
            .await
            .expect("enqueue"),
    );
    let gives_up = inserted(
        store
            .enqueue(&job("q", "gives-up", 2))
            .await
            .expect("enqueue"),
    );
    let handler = Arc::new(Scripted {
        failures: 2,
        ..Scripted::default()
    });
    let (stop, runner) = spawn_runner(&store, queue("q", 2), &handler);
    let done = wait_for(&store, &[recovers], JobState::Completed).await;
    let discarded = wait_for(&store, &[gives_up], JobState::Discarded).await;
    stop.cancel();
    runner.await.expect("runner");

    assert_eq!(done[0].attempt, 3);
    assert_eq!(discarded[0].attempt, 2);
    assert_eq!(discarded[0].last_error.as_deref(), Some("attempt 2 failed"));
    let outcomes = |attempts: Vec<vod_store::JobAttempt>| -> Vec<String> {
        attempts
            .into_iter()
            .map(|attempt| attempt.outcome.expect("ended"))
            .collect()
    };
    assert_eq!(
        outcomes(store.job_attempts(recovers).await.expect("attempts")),
        ["failed", "failed", "completed"]
    );
    assert_eq!(
        outcomes(store.job_attempts(gives_up).await.expect("attempts")),
        ["failed", "discarded"]
    );
    let attempts = handler.attempts.lock().await;
    let keys: std::collections::BTreeSet<&String> = attempts
        .iter()
        .filter(|(id, _, _)| *id == recovers)
        .map(|(_, _, key)| key)
        .collect();
    assert_eq!(keys.len(), 1, "one idempotency key across retries");
    drop(attempts);

    let listed = store
        .list_jobs(&JobFilter {
            queue: Some("q".into()),
            state: Some(JobState::Discarded),
            before: None,
            limit: 10,
        })
        .await
        .expect("list");
    assert_eq!(
        listed.iter().map(|job| job.id).collect::<Vec<_>>(),
        [gives_up]
    );
    assert_eq!(
        common::sample(&registry, "vod_store_jobs_failed_total{queue=\"q\"}"),
        4.0
    );
    assert_eq!(
        common::sample(&registry, "vod_store_jobs_discarded_total{queue=\"q\"}"),
        1.0
    );

    // A discarded job retried from the page gets one more attempt, which now succeeds.
    assert!(store.retry_job(gives_up).await.expect("retry"));
    let handler = Arc::new(Scripted::default());
    let (stop, runner) = spawn_runner(&store, queue("q", 1), &handler);
    let retried = wait_for(&store, &[gives_up], JobState::Completed).await;
    stop.cancel();
    runner.await.expect("runner");
    assert_eq!(retried[0].attempt, 3);
}

#[tokio::test]
async fn a_job_refused_by_its_handler_is_discarded_at_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (store, _registry) = common::open(dir.path()).await;
    let id = inserted(
        store
            .enqueue(&job("q", "bad-args", 10))
            .await
            .expect("enqueue"),
    );
    let handler = Arc::new(Scripted {
        failures: 10,
        discard: true,
        ..Scripted::default()
    });
    let (stop, runner) = spawn_runner(&store, queue("q", 1), &handler);
    let jobs = wait_for(&store, &[id], JobState::Discarded).await;
    stop.cancel();
    runner.await.expect("runner");
    assert_eq!(jobs[0].attempt, 1);
}

#[tokio::test]
async fn unique_and_idempotency_keys_refuse_duplicates() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (store, _registry) = common::open(dir.path()).await;
    let unique = NewJob {
        unique_key: Some("upload:42".into()),
        ..job("q", "upload", 3)
    };
    let first = inserted(store.enqueue(&unique).await.expect("enqueue"));
    assert_eq!(
        store.enqueue(&unique).await.expect("enqueue"),
        Enqueued::Duplicate
    );
    // The same key in another queue is another job.
    let elsewhere = NewJob {
        queue: "other".into(),
        ..unique.clone()
    };
    inserted(store.enqueue(&elsewhere).await.expect("enqueue"));
    // Once the first has ended, the key is free again.
    assert!(store.cancel_job(first).await.expect("cancel"));
    inserted(store.enqueue(&unique).await.expect("enqueue"));
    // Retrying the cancelled one now would make two waiting jobs with one key: refused.
    assert!(!store.retry_job(first).await.expect("retry"));

    let keyed = NewJob {
        idempotency_key: Some("periodic:sweep:0".into()),
        ..job("q", "sweep", 1)
    };
    inserted(store.enqueue(&keyed).await.expect("enqueue"));
    assert_eq!(
        store.enqueue(&keyed).await.expect("enqueue"),
        Enqueued::Duplicate
    );
}

#[tokio::test]
async fn scheduled_and_cancelled_jobs_do_not_run() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (store, _registry) = common::open(dir.path()).await;
    let later = NewJob {
        run_at_ms: Some(chrono::Utc::now().timestamp_millis() + 3_600_000),
        ..job("q", "later", 3)
    };
    let later = inserted(store.enqueue(&later).await.expect("enqueue"));
    let cancelled = inserted(
        store
            .enqueue(&job("q", "cancelled", 3))
            .await
            .expect("enqueue"),
    );
    assert!(store.cancel_job(cancelled).await.expect("cancel"));
    assert!(!store.cancel_job(cancelled).await.expect("cancel twice"));
    let now = inserted(store.enqueue(&job("q", "now", 3)).await.expect("enqueue"));
    let handler = Arc::new(Scripted::default());
    let (stop, runner) = spawn_runner(&store, queue("q", 4), &handler);
    wait_for(&store, &[now], JobState::Completed).await;
    stop.cancel();
    runner.await.expect("runner");
    assert_eq!(handler.started.load(Ordering::SeqCst), 1);
    assert_eq!(
        store.job(later).await.expect("job").expect("exists").state,
        JobState::Available
    );
    assert_eq!(
        store
            .job(cancelled)
            .await
            .expect("job")
            .expect("exists")
            .state,
        JobState::Cancelled
    );
}

#[tokio::test]
async fn a_job_interrupted_by_a_crash_runs_again_at_the_next_start() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (store, _registry) = common::open(dir.path()).await;
    let id = inserted(store.enqueue(&job("q", "slow", 1)).await.expect("enqueue"));
    let hang = CancellationToken::new();
    let hanging = Arc::new(Scripted {
        hang: Some(hang.clone()),
        ..Scripted::default()
    });
    let runner = QueueRunner {
        store: store.clone(),
        queue: watch::channel(queue("q", 1)).1,
        handler: hanging.clone(),
    };
    let crashed = tokio::spawn(async move { runner.run(CancellationToken::new()).await });
    wait_for(&store, &[id], JobState::Running).await;
    // Aborting the runner skips its shutdown path, as a crash would.
    crashed.abort();
    assert!(crashed.await.expect_err("aborted").is_cancelled());
    hang.cancel();

    let handler = Arc::new(Scripted::default());
    let (stop, runner) = spawn_runner(&store, queue("q", 1), &handler);
    let jobs = wait_for(&store, &[id], JobState::Completed).await;
    stop.cancel();
    runner.await.expect("runner");
    // The interrupted attempt counts, and the job got one more despite max_attempts = 1.
    assert_eq!(jobs[0].attempt, 2);
    let outcomes: Vec<Option<String>> = store
        .job_attempts(id)
        .await
        .expect("attempts")
        .into_iter()
        .map(|attempt| attempt.outcome)
        .collect();
    assert_eq!(
        outcomes,
        [Some("interrupted".to_owned()), Some("completed".to_owned())]
    );
}

#[tokio::test]
async fn a_capture_and_its_jobs_commit_together_or_not_at_all() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (store, _registry) = common::open(dir.path()).await;
    let jobs = [
        job("upload", "upload.capture", 5),
        job("push", "push.capture", 5),
    ];
    let id = store
        .insert_capture_with_jobs(&common::capture(1, 2), &jobs)
        .await
        .expect("insert");
    let listed = store
        .list_jobs(&JobFilter {
            queue: None,
            state: Some(JobState::Available),
            before: None,
            limit: 10,
        })
        .await
        .expect("list");
    assert_eq!(listed.len(), 2);
    assert!(listed.iter().all(|job| job.capture_id == Some(id.0)));

    // A job the database refuses (no attempts allowed) rolls the capture back with it.
    let refused = [job("upload", "upload.capture", 5), job("push", "bad", 0)];
    store
        .insert_capture_with_jobs(&common::capture(2, 2), &refused)
        .await
        .expect_err("refused job");
    assert_eq!(store.capture_count().await.expect("count"), 1);
    assert_eq!(
        store
            .list_jobs(&JobFilter {
                queue: None,
                state: None,
                before: None,
                limit: 10
            })
            .await
            .expect("list")
            .len(),
        2
    );
    // Only the first capture's two files are on disk.
    assert_eq!(common::files_under(&dir.path().join("images")).len(), 2);
}

#[tokio::test]
async fn the_job_list_pages_newest_first() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (store, _registry) = common::open(dir.path()).await;
    let mut ids = Vec::new();
    for index in 0..7 {
        let queue = if index % 2 == 0 { "even" } else { "odd" };
        ids.push(inserted(
            store.enqueue(&job(queue, "k", 1)).await.expect("enqueue"),
        ));
    }
    let mut pages = Vec::new();
    let mut before = None;
    loop {
        let page = store
            .list_jobs(&JobFilter {
                queue: Some("even".into()),
                state: None,
                before,
                limit: 3,
            })
            .await
            .expect("list");
        let Some(last) = page.last() else { break };
        before = Some(last.id);
        pages.push(page.iter().map(|job| job.id).collect::<Vec<_>>());
    }
    assert_eq!(pages, [vec![ids[6], ids[4], ids[2]], vec![ids[0]]]);
}

#[tokio::test]
async fn a_rate_limited_queue_spaces_its_starts() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (store, _registry) = common::open(dir.path()).await;
    let mut ids = Vec::new();
    for index in 0..5 {
        ids.push(inserted(
            store
                .enqueue(&job("limited", &format!("k{index}"), 1))
                .await
                .expect("enqueue"),
        ));
    }
    let handler = Arc::new(Scripted::default());
    let spec = QueueSpec {
        max_starts_per_minute: NonZeroU32::new(1_200),
        ..queue("limited", 5)
    };
    let (stop, runner) = spawn_runner(&store, spec, &handler);
    let jobs = wait_for(&store, &ids, JobState::Completed).await;
    stop.cancel();
    runner.await.expect("runner");
    let mut starts: Vec<i64> = jobs
        .iter()
        .map(|job| job.attempted_at_ms.expect("started"))
        .collect();
    starts.sort_unstable();
    // 1200 starts per minute: at least 50 ms apart (1 ms for the clocks' rounding), however
    // many slots are free.
    for pair in starts.windows(2) {
        assert!(pair[1] - pair[0] >= 49, "starts {starts:?}");
    }
}

#[tokio::test]
async fn job_actions_tell_done_refused_and_not_found() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (store, _registry) = common::open(dir.path()).await;
    let id = inserted(
        store
            .enqueue(&job("admin", "a1", 3))
            .await
            .expect("enqueue"),
    );

    let retried = store
        .apply_job_action(id, JobAction::Retry)
        .await
        .expect("retry");
    assert!(
        matches!(&retried, JobActionOutcome::Refused(job) if job.state == JobState::Available),
        "a waiting job cannot be retried: {retried:?}"
    );
    let cancelled = store
        .apply_job_action(id, JobAction::Cancel)
        .await
        .expect("cancel");
    assert!(
        matches!(&cancelled, JobActionOutcome::Done(job) if job.state == JobState::Cancelled),
        "{cancelled:?}"
    );
    let retried = store
        .apply_job_action(id, JobAction::Retry)
        .await
        .expect("retry");
    assert!(
        matches!(&retried, JobActionOutcome::Done(job) if job.state == JobState::Available),
        "{retried:?}"
    );
    assert_eq!(
        store
            .apply_job_action(JobId(id.0 + 1_000), JobAction::Cancel)
            .await
            .expect("cancel"),
        JobActionOutcome::NotFound
    );

    let listed = store
        .list_jobs_with_attempts(
            &JobFilter::from_request(Some("admin"), Some("available"), None, None)
                .expect("valid filter"),
        )
        .await
        .expect("list");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].job.id, id);
    assert!(listed[0].attempts.is_empty());
}

#[test]
fn job_filters_from_requests_are_checked() {
    let filter = JobFilter::from_request(Some(""), Some(""), Some(9), None).expect("valid");
    assert_eq!(
        filter,
        JobFilter {
            queue: None,
            state: None,
            before: Some(JobId(9)),
            limit: JobFilter::DEFAULT_LIMIT,
        }
    );
    assert_eq!(
        JobFilter::from_request(None, Some("stuck"), None, None).expect_err("unknown state"),
        "unknown state \"stuck\"; the states are available, running, completed, discarded, \
         cancelled"
    );
    assert!(JobFilter::from_request(None, None, None, Some(0)).is_err());
    assert!(JobFilter::from_request(None, None, None, Some(JobFilter::MAX_LIMIT + 1)).is_err());
}

#[tokio::test]
async fn a_periodic_job_runs_every_period_though_each_run_fails() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _registry) = common::open(dir.path()).await;
    let periodic = PeriodicJob {
        queue: "periodic".into(),
        kind: "sweep".into(),
        args: "{}".into(),
        schedule: Schedule::Every { seconds: 1 },
        max_attempts: 1,
    };
    let stop = CancellationToken::new();
    let scheduler = Scheduler {
        store: store.clone(),
        jobs: watch::channel(vec![periodic]).1,
    };
    let shutdown = stop.clone();
    let scheduling = tokio::spawn(async move { scheduler.run(shutdown).await });
    let handler = Arc::new(Scripted {
        failures: u32::MAX,
        discard: true,
        ..Scripted::default()
    });
    let (stop_runner, runner) = spawn_runner(&store, queue("periodic", 1), &handler);
    // Three periods, three runs, each discarded; the schedule goes on.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let filter = JobFilter::from_request(Some("periodic"), Some("discarded"), None, None)
            .expect("a valid filter");
        let discarded = store.list_jobs_with_attempts(&filter).await.expect("jobs");
        if discarded.len() >= 3 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} periodic runs discarded within 30 s",
            discarded.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let keys: std::collections::BTreeSet<String> = handler
        .attempts
        .lock()
        .await
        .iter()
        .map(|(_, _, key)| key.clone())
        .collect();
    assert!(keys.len() >= 3, "one run per period: {keys:?}");
    stop.cancel();
    scheduling.await.unwrap().unwrap();
    stop_runner.cancel();
    runner.await.unwrap();
}
