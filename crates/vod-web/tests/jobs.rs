//! The job list page and its JSON API through the router (tower oneshot) and over a real socket,
//! over a real SQLite store whose jobs ran through a real queue runner.
#![allow(clippy::unwrap_used)] // a failing test may panic

use std::num::NonZeroU32;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::Value;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;
use vod_core::{Component, Hub};
use vod_store::{
    Enqueued, Job, JobError, JobHandler, JobId, JobState, NewJob, QueueRunner, QueueSpec,
    RetryPolicy, Store,
};
use vod_web::{AppState, app};

async fn store(dir: &tempfile::TempDir) -> Store {
    vod_testkit::open_store(dir.path()).await
}

async fn send(router: &axum::Router, request: Request<Body>) -> (StatusCode, String, String) {
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let location = response
        .headers()
        .get(header::LOCATION)
        .map(|value| value.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8(body.to_vec()).unwrap(), location)
}

async fn get(router: &axum::Router, uri: &str) -> (StatusCode, String) {
    let (status, body, _) = send(router, Request::get(uri).body(Body::empty()).unwrap()).await;
    (status, body)
}

async fn post_json(router: &axum::Router, uri: &str) -> (StatusCode, Value) {
    let (status, body, _) = send(router, Request::post(uri).body(Body::empty()).unwrap()).await;
    (status, serde_json::from_str(&body).unwrap())
}

fn new_job(queue: &str, kind: &str) -> NewJob {
    NewJob {
        queue: queue.into(),
        kind: kind.into(),
        args: "{}".into(),
        max_attempts: 1,
        run_at_ms: None,
        unique_key: None,
        idempotency_key: None,
    }
}

async fn enqueue(store: &Store, queue: &str, kind: &str) -> JobId {
    match store.enqueue(&new_job(queue, kind)).await.unwrap() {
        Enqueued::Inserted(id) => id,
        Enqueued::Duplicate => panic!("expected an insert"),
    }
}

/// Refuses every job: each ends discarded after one attempt.
struct Refuses;

impl JobHandler for Refuses {
    async fn perform(&self, job: &Job) -> Result<(), JobError> {
        Err(JobError::Discard(format!(
            "<{}> has bad arguments",
            job.kind
        )))
    }
}

/// Runs the `upload` queue until `id` is discarded.
async fn discard_through_a_runner(store: &Store, id: JobId) {
    let queue = QueueSpec {
        name: "upload".into(),
        concurrency: NonZeroU32::MIN,
        max_starts_per_minute: None,
        retry: RetryPolicy {
            base_ms: 10,
            max_ms: 10,
        },
        poll_ms: 10,
    };
    let stop = CancellationToken::new();
    let runner = QueueRunner {
        store: store.clone(),
        queue: tokio::sync::watch::channel(queue).1,
        handler: Arc::new(Refuses),
    };
    let shutdown = stop.clone();
    let runner = tokio::spawn(async move { runner.run(shutdown).await });
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    while store.job(id).await.unwrap().unwrap().state != JobState::Discarded {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the refused job was not discarded within 30 s"
        );
        tokio::task::yield_now().await;
    }
    stop.cancel();
    runner.await.unwrap().unwrap();
}

async fn setup(dir: &tempfile::TempDir) -> (Store, axum::Router, JobId, JobId) {
    let store = store(dir).await;
    let discarded = enqueue(&store, "upload", "upload.capture").await;
    discard_through_a_runner(&store, discarded).await;
    let waiting = enqueue(&store, "retention", "retention.sweep").await;
    let router = app(AppState {
        site_id: Arc::from("bench"),
        store: store.clone(),
        hub: Hub::new(4),
    });
    (store, router, discarded, waiting)
}

#[tokio::test]
async fn the_api_lists_filters_retries_and_cancels_jobs() {
    let dir = tempfile::tempdir().unwrap();
    let (store, router, discarded, waiting) = setup(&dir).await;

    let (status, body) = get(&router, "/api/jobs").await;
    assert_eq!(status, StatusCode::OK);
    let listed: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(listed["ok"], true);
    let jobs = listed["jobs"].as_array().unwrap();
    assert_eq!(jobs.len(), 2);
    assert_eq!(jobs[0]["id"], waiting.0, "newest first");
    assert_eq!(jobs[1]["state"], "discarded");
    assert_eq!(jobs[1]["attempts"][0]["outcome"], "discarded");
    assert_eq!(
        jobs[1]["attempts"][0]["error"],
        "<upload.capture> has bad arguments"
    );

    let (_, body) = get(&router, "/api/jobs?queue=upload&state=discarded&limit=5").await;
    let listed: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(listed["jobs"].as_array().unwrap().len(), 1);
    assert_eq!(listed["jobs"][0]["id"], discarded.0);
    let (_, body) = get(&router, "/api/jobs?state=running").await;
    let listed: Value = serde_json::from_str(&body).unwrap();
    assert!(listed["jobs"].as_array().unwrap().is_empty());

    let (status, body) = get(&router, "/api/jobs?state=stuck").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let error: Value = serde_json::from_str(&body).unwrap();
    assert!(
        error["error"]
            .as_str()
            .unwrap()
            .starts_with("unknown state"),
        "{error}"
    );
    let (status, _) = get(&router, "/api/jobs?limit=0").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let (status, reply) = post_json(&router, &format!("/api/jobs/{discarded}/retry")).await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    assert_eq!(reply["job"]["state"], "available");
    assert_eq!(
        store.job(discarded).await.unwrap().unwrap().state,
        JobState::Available
    );

    let (status, reply) = post_json(&router, &format!("/api/jobs/{waiting}/retry")).await;
    assert_eq!(status, StatusCode::CONFLICT, "{reply}");
    assert_eq!(reply["job"]["state"], "available");
    assert!(reply["error"].as_str().unwrap().contains("is available"));

    let (status, reply) = post_json(&router, &format!("/api/jobs/{waiting}/cancel")).await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    assert_eq!(reply["job"]["state"], "cancelled");
    let (status, _) = post_json(&router, &format!("/api/jobs/{waiting}/cancel")).await;
    assert_eq!(status, StatusCode::CONFLICT);

    let (status, reply) = post_json(&router, "/api/jobs/999999/cancel").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(reply["error"], "no job 999999");
}

#[tokio::test]
async fn the_page_shows_attempts_and_its_buttons_act_and_come_back() {
    let dir = tempfile::tempdir().unwrap();
    let (store, router, discarded, waiting) = setup(&dir).await;

    let (status, page) = get(&router, "/jobs").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("upload.capture") && page.contains("retention.sweep"));
    assert!(
        page.contains("&#60;upload.capture&#62; has bad arguments")
            || page.contains("&lt;upload.capture&gt; has bad arguments"),
        "errors must be escaped: {page}"
    );
    assert!(page.contains(&format!("action=\"/jobs/{discarded}/retry\"")));
    assert!(!page.contains(&format!("action=\"/jobs/{discarded}/cancel\"")));
    assert!(page.contains(&format!("action=\"/jobs/{waiting}/cancel\"")));

    let (status, page) = get(&router, "/jobs?queue=upload&state=discarded").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("upload.capture") && !page.contains("retention.sweep"));
    let (_, first_page) = get(&router, "/jobs?limit=1").await;
    assert!(first_page.contains("retention.sweep") && !first_page.contains("upload.capture"));
    let older = format!("/jobs?before={waiting}");
    assert!(
        first_page.contains(&format!("href=\"{older}\"")),
        "{first_page}"
    );
    let (_, second_page) = get(&router, &older).await;
    assert!(second_page.contains("upload.capture") && !second_page.contains("Older jobs"));
    let (status, _) = get(&router, "/jobs?state=stuck").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let form = |uri: String, back: &str| {
        Request::post(uri)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(format!("back={back}")))
            .unwrap()
    };
    let (status, _, location) = send(
        &router,
        form(
            format!("/jobs/{discarded}/retry"),
            "%2Fjobs%3Fqueue%3Dupload",
        ),
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(location, "/jobs?queue=upload");
    assert_eq!(
        store.job(discarded).await.unwrap().unwrap().state,
        JobState::Available
    );

    // A back link that leaves the job list is not followed.
    let (status, _, location) = send(
        &router,
        form(
            format!("/jobs/{waiting}/cancel"),
            "https%3A%2F%2Fexample.com%2F",
        ),
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(location, "/jobs");
    assert_eq!(
        store.job(waiting).await.unwrap().unwrap().state,
        JobState::Cancelled
    );

    let (status, _, _) = send(&router, form("/jobs/999999/cancel".into(), "%2Fjobs")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// Sends one raw HTTP/1.0 request over `address` and returns the status and the body.
async fn over_socket(address: std::net::SocketAddr, request_line: &str) -> (u16, Value) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    stream
        .write_all(
            format!("{request_line} HTTP/1.0\r\nHost: vod\r\nContent-Length: 0\r\n\r\n").as_bytes(),
        )
        .await
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    assert!(head.contains("content-type: application/json"), "{head}");
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    (status, serde_json::from_str(body).unwrap())
}

#[tokio::test]
async fn the_api_answers_over_a_real_socket() {
    let dir = tempfile::tempdir().unwrap();
    let (store, router, discarded, _waiting) = setup(&dir).await;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let shutdown = CancellationToken::new();
    let server = vod_web::Server::new(listener, router).unwrap();
    let stop = shutdown.clone();
    let server = tokio::spawn(async move { server.run(stop).await });

    let (status, listed) = over_socket(address, "GET /api/jobs?state=discarded").await;
    assert_eq!(status, 200);
    assert_eq!(listed["jobs"][0]["id"], discarded.0);
    let (status, reply) = over_socket(address, &format!("POST /api/jobs/{discarded}/retry")).await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(
        store.job(discarded).await.unwrap().unwrap().state,
        JobState::Available
    );
    let (status, _) = over_socket(address, "GET /api/jobs?limit=100000").await;
    assert_eq!(status, 400);

    shutdown.cancel();
    server.await.unwrap().unwrap();
}
