//! The job list page and its JSON API through the router (tower oneshot) and over a real socket,
//! over a real SQLite store whose jobs ran through a real queue runner.
#![allow(clippy::unwrap_used)] // a failing test may panic

mod common;

use std::num::NonZeroU32;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use common::{Browser, HOST, Site};
use serde_json::Value;
use tokio_util::sync::CancellationToken;
use vod_core::Component;
use vod_store::{
    Enqueued, Job, JobError, JobHandler, JobId, JobState, NewJob, QueueRunner, QueueSpec,
    RetryPolicy, Role, Store,
};

/// A machine client: an API token of `role`.
struct Client {
    token: String,
}

impl Client {
    async fn new(site: &Site, role: Role) -> Client {
        let (_, token) = site
            .store
            .create_api_token("script", role, "test")
            .await
            .unwrap()
            .unwrap();
        Client { token }
    }

    async fn get(&self, site: &Site, uri: &str) -> (StatusCode, String) {
        let reply = site
            .send(
                Request::get(uri)
                    .header(header::HOST, HOST)
                    .header(header::AUTHORIZATION, format!("Bearer {}", self.token))
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
        (reply.status, reply.body)
    }

    async fn post_json(&self, site: &Site, uri: &str) -> (StatusCode, Value) {
        let reply = site
            .send(
                Request::post(uri)
                    .header(header::HOST, HOST)
                    .header(header::AUTHORIZATION, format!("Bearer {}", self.token))
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
        (reply.status, serde_json::from_str(&reply.body).unwrap())
    }
}

async fn get(site: &Site, browser: &Browser, uri: &str) -> (StatusCode, String) {
    let reply = site.send(browser.get(uri)).await;
    (reply.status, reply.body)
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

async fn setup() -> (Site, JobId, JobId) {
    let site = Site::new().await;
    let discarded = enqueue(&site.store, "upload", "upload.capture").await;
    discard_through_a_runner(&site.store, discarded).await;
    let waiting = enqueue(&site.store, "retention", "retention.sweep").await;
    (site, discarded, waiting)
}

#[tokio::test]
async fn the_api_lists_filters_retries_and_cancels_jobs() {
    let (site, discarded, waiting) = setup().await;
    let store = &site.store;
    let client = Client::new(&site, Role::Technician).await;

    let (status, body) = client.get(&site, "/api/jobs").await;
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

    let (_, body) = client
        .get(&site, "/api/jobs?queue=upload&state=discarded&limit=5")
        .await;
    let listed: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(listed["jobs"].as_array().unwrap().len(), 1);
    assert_eq!(listed["jobs"][0]["id"], discarded.0);
    let (_, body) = client.get(&site, "/api/jobs?state=running").await;
    let listed: Value = serde_json::from_str(&body).unwrap();
    assert!(listed["jobs"].as_array().unwrap().is_empty());

    let (status, body) = client.get(&site, "/api/jobs?state=stuck").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let error: Value = serde_json::from_str(&body).unwrap();
    assert!(
        error["error"]
            .as_str()
            .unwrap()
            .starts_with("unknown state"),
        "{error}"
    );
    let (status, _) = client.get(&site, "/api/jobs?limit=0").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let (status, reply) = client
        .post_json(&site, &format!("/api/jobs/{discarded}/retry"))
        .await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    assert_eq!(reply["job"]["state"], "available");
    assert_eq!(
        store.job(discarded).await.unwrap().unwrap().state,
        JobState::Available
    );

    let (status, reply) = client
        .post_json(&site, &format!("/api/jobs/{waiting}/retry"))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{reply}");
    assert_eq!(reply["job"]["state"], "available");
    assert!(reply["error"].as_str().unwrap().contains("is available"));

    let (status, reply) = client
        .post_json(&site, &format!("/api/jobs/{waiting}/cancel"))
        .await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    assert_eq!(reply["job"]["state"], "cancelled");
    let (status, _) = client
        .post_json(&site, &format!("/api/jobs/{waiting}/cancel"))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);

    let (status, reply) = client.post_json(&site, "/api/jobs/999999/cancel").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(reply["error"], "no job 999999");
}

#[tokio::test]
async fn the_page_shows_attempts_and_its_buttons_act_and_come_back() {
    let (site, discarded, waiting) = setup().await;
    let store = &site.store;
    let browser = site.signed_in("tec", Role::Technician).await;

    let (status, page) = get(&site, &browser, "/jobs").await;
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

    let (status, page) = get(&site, &browser, "/jobs?queue=upload&state=discarded").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("upload.capture") && !page.contains("retention.sweep"));
    let (_, first_page) = get(&site, &browser, "/jobs?limit=1").await;
    assert!(first_page.contains("retention.sweep") && !first_page.contains("upload.capture"));
    let older = format!("/jobs?before={waiting}");
    assert!(
        first_page.contains(&format!("href=\"{older}\"")),
        "{first_page}"
    );
    let (_, second_page) = get(&site, &browser, &older).await;
    assert!(second_page.contains("upload.capture") && !second_page.contains("Older jobs"));
    let (status, _) = get(&site, &browser, "/jobs?state=stuck").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let form = |uri: String, back: &str| browser.post(&uri, &[("back", back)]);
    let reply = site
        .send(form(
            format!("/jobs/{discarded}/retry"),
            "/jobs?queue=upload",
        ))
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    assert_eq!(reply.location(), "/jobs?queue=upload");
    assert_eq!(
        store.job(discarded).await.unwrap().unwrap().state,
        JobState::Available
    );

    // A back link that leaves the job list is not followed.
    let reply = site
        .send(form(
            format!("/jobs/{waiting}/cancel"),
            "https://example.com/",
        ))
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    assert_eq!(reply.location(), "/jobs");
    assert_eq!(
        store.job(waiting).await.unwrap().unwrap().state,
        JobState::Cancelled
    );

    let reply = site.send(form("/jobs/999999/cancel".into(), "/jobs")).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
}

/// Sends one raw HTTP/1.0 request over `address` and returns the status and the body.
async fn over_socket(
    address: std::net::SocketAddr,
    token: &str,
    request_line: &str,
) -> (u16, Value) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    stream
        .write_all(
            format!(
                "{request_line} HTTP/1.0\r\nHost: {address}\r\nAuthorization: Bearer {token}\r\n\
                 Content-Length: 0\r\n\r\n"
            )
            .as_bytes(),
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
    let (site, discarded, _waiting) = setup().await;
    let store = &site.store;
    let (_, token) = store
        .create_api_token("script", Role::Technician, "test")
        .await
        .unwrap()
        .unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let shutdown = CancellationToken::new();
    let metrics = vod_web::ServerMetrics::register(&site.registry).unwrap();
    let server = vod_web::Server::new(
        "web",
        listener,
        site.router.clone(),
        vod_web::ConnectionLimits {
            max_connections: 16,
            header_timeout: std::time::Duration::from_secs(10),
        },
        metrics,
    )
    .unwrap();
    let stop = shutdown.clone();
    let server = tokio::spawn(async move { server.run(stop).await });

    let (status, listed) = over_socket(address, &token, "GET /api/jobs?state=discarded").await;
    assert_eq!(status, 200);
    assert_eq!(listed["jobs"][0]["id"], discarded.0);
    let (status, reply) = over_socket(
        address,
        &token,
        &format!("POST /api/jobs/{discarded}/retry"),
    )
    .await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(
        store.job(discarded).await.unwrap().unwrap().state,
        JobState::Available
    );
    let (status, _) = over_socket(address, &token, "GET /api/jobs?limit=100000").await;
    assert_eq!(status, 400);

    shutdown.cancel();
    server.await.unwrap().unwrap();
}
