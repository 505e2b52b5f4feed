//! The box's micro service over a real nats-server, answered from a real SQLite store: job
//! and config commands, the micro protocol's own requests, and the errors a caller gets back
//! (headers and a JSON body), for a flood of bad requests too.
#![allow(clippy::unwrap_used)] // a failing test may panic

use std::sync::Arc;
use std::time::Duration;

use prometheus::Registry;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use vod_bus::{BusMetrics, Commands, MAX_REQUEST_BYTES, Service};
use vod_core::config::live::BoxFuture;
use vod_core::config::live::{ConfigHandle, HandleSetup};
use vod_core::config::{BusConfig, Config, LoadedConfig};
use vod_core::control::{BoxControl, ControlError};
use vod_core::{Component, Hub};
use vod_store::{Enqueued, JobId, JobState, NewJob, Store};
use vod_testkit::NatsServer;

async fn store(dir: &tempfile::TempDir) -> Store {
    vod_testkit::open_store(dir.path()).await
}

async fn enqueue(store: &Store, queue: &str, kind: &str) -> JobId {
    let job = NewJob {
        queue: queue.into(),
        kind: kind.into(),
        args: "{}".into(),
        max_attempts: 3,
        run_at_ms: None,
        unique_key: None,
        idempotency_key: None,
    };
    match store.enqueue(&job).await.unwrap() {
        Enqueued::Inserted(id) => id,
        Enqueued::Duplicate => panic!("expected an insert"),
    }
}

/// The control commands are not what these tests are about: they get an error.
#[derive(Debug)]
struct NoControl;

impl BoxControl for NoControl {
    fn state<'a>(&'a self, _: Option<&'a str>) -> BoxFuture<'a, Result<Value, ControlError>> {
        Box::pin(async { Err(ControlError::Internal("no control in this test".into())) })
    }
    fn top(&self) -> Value {
        json!({})
    }
    fn trigger(&self, _: &str, _: &str) -> Result<Value, ControlError> {
        Err(ControlError::Internal("no control in this test".into()))
    }
    fn relearn(&self, _: Option<&str>, _: &str) -> Result<Value, ControlError> {
        Err(ControlError::Internal("no control in this test".into()))
    }
    fn restart(&self, _: &str, _: &str) -> Result<(), ControlError> {
        Err(ControlError::Internal("no control in this test".into()))
    }
    fn set_log_filter(&self, _: &str, _: &str) -> Result<(), ControlError> {
        Err(ControlError::Internal("no control in this test".into()))
    }
    fn snapshot(&self) -> BoxFuture<'_, Result<Value, ControlError>> {
        Box::pin(async { Err(ControlError::Internal("no control in this test".into())) })
    }
}

fn commands(store: &Store, config: ConfigHandle) -> Commands {
    Commands {
        store: store.clone(),
        config,
        control: Arc::new(NoControl),
    }
}

/// Sends a request and decodes the reply; an error reply must carry the micro protocol's
/// headers, which must agree with its body. Retries while the service has not subscribed yet.
async fn request(client: &async_nats::Client, command: &str, payload: &str) -> Value {
    let reply = raw_request(client, &format!("vod.bench.cmd.{command}"), payload).await;
    let body: Value = serde_json::from_slice(&reply.payload).unwrap();
    assert_eq!(body["v"], 1, "{body}");
    let header = |name: &str| {
        reply
            .headers
            .as_ref()
            .and_then(|headers| headers.get(name))
            .map(|value| value.as_str().to_owned())
    };
    match body.get("error") {
        Some(error) => {
            let status = header("Nats-Service-Error").unwrap();
            let first_line = error.as_str().unwrap().lines().next().unwrap();
            assert!(status.starts_with(first_line), "{status:?} for {error}");
            assert_eq!(
                header("Nats-Service-Error-Code"),
                Some(body["code"].to_string())
            );
        }
        None => assert_eq!(header("Nats-Service-Error-Code"), None, "{body}"),
    }
    body
}

async fn raw_request(
    client: &async_nats::Client,
    subject: &str,
    payload: &str,
) -> async_nats::Message {
    let subject = subject.to_owned();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no service answered {subject} within 30 s"
        );
        match client
            .request(subject.clone(), payload.to_owned().into())
            .await
        {
            Ok(reply) => return reply,
            Err(error) if error.kind() == async_nats::RequestErrorKind::NoResponders => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(error) => panic!("request failed: {error}"),
        }
    }
}

/// The live configuration handle over a copy of the bench config in `dir`, which is then
/// spoilt on disk, so that `config.reload` is refused as a reload of a bad file is.
fn spoilt_config(dir: &tempfile::TempDir, store: &Store) -> ConfigHandle {
    let text = include_str!("../../../deploy/bench/vod.toml");
    let path = dir.path().join("vod.toml");
    std::fs::write(
        &path,
        text.replace("listen = \"127.0.0.1:8080\"", "listen = \"nowhere\""),
    )
    .unwrap();
    ConfigHandle::new(
        HandleSetup {
            path,
            loaded: LoadedConfig {
                config: Config::parse(text).unwrap(),
                text: text.to_owned(),
            },
            parts: Vec::new(),
            history: Arc::new(store.clone()),
            hub: Hub::new(16),
        },
        &Registry::new(),
    )
    .unwrap()
}

/// The service of site `bench` over `store` and the spoilt config in `dir`, on `server`,
/// until the token is cancelled.
fn start_service(
    server: &NatsServer,
    dir: &tempfile::TempDir,
    store: &Store,
) -> (
    BusMetrics,
    CancellationToken,
    tokio::task::JoinHandle<Result<(), vod_core::TaskError>>,
) {
    let metrics = BusMetrics::register(&Registry::new()).unwrap();
    let shutdown = CancellationToken::new();
    let service = Service {
        config: BusConfig {
            nats_url: server.url(),
            subject_prefix: "vod".into(),
            ..BusConfig::default()
        },
        site: Arc::from("bench"),
        commands: commands(store, spoilt_config(dir, store)),
        metrics: metrics.clone(),
    };
    let stop = shutdown.clone();
    (
        metrics,
        shutdown,
        tokio::spawn(async move { service.run(stop).await }),
    )
}

#[tokio::test]
async fn job_commands_list_retry_and_cancel_over_nats() {
    let server = NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir).await;
    let upload = enqueue(&store, "upload", "upload.capture").await;
    let sweep = enqueue(&store, "retention", "retention.sweep").await;

    let (metrics, shutdown, service) = start_service(&server, &dir, &store);
    let client = async_nats::connect(server.url()).await.unwrap();

    let listed = request(&client, "jobs.list", "").await;
    assert_eq!(listed["ok"], true, "{listed}");
    let ids: Vec<i64> = listed["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|job| job["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, [sweep.0, upload.0]);
    assert_eq!(listed["jobs"][0]["attempts"], json!([]));

    let listed = request(&client, "jobs.list", r#"{"queue": "upload", "limit": 10}"#).await;
    assert_eq!(listed["jobs"].as_array().unwrap().len(), 1);
    assert_eq!(listed["jobs"][0]["kind"], "upload.capture");

    let cancelled = request(&client, "jobs.cancel", &format!(r#"{{"id": {upload}}}"#)).await;
    assert_eq!(cancelled["ok"], true, "{cancelled}");
    assert_eq!(cancelled["job"]["state"], "cancelled");
    assert_eq!(
        store.job(upload).await.unwrap().unwrap().state,
        JobState::Cancelled
    );
    let retried = request(&client, "jobs.retry", &format!(r#"{{"id": {upload}}}"#)).await;
    assert_eq!(retried["job"]["state"], "available", "{retried}");

    let refused = request(&client, "jobs.retry", &format!(r#"{{"id": {sweep}}}"#)).await;
    assert_eq!(refused.get("ok"), None);
    assert!(
        refused["error"]
            .as_str()
            .unwrap()
            .starts_with(&format!("job {sweep} is available")),
        "{refused}"
    );
    let missing = request(&client, "jobs.cancel", r#"{"id": 999999}"#).await;
    assert_eq!(
        missing,
        json!({ "v": 1, "error": "no job 999999", "code": 404 })
    );
    let bad = request(&client, "jobs.cancel", r#"{"job": 1}"#).await;
    assert!(
        bad["error"].as_str().unwrap().starts_with("bad request:"),
        "{bad}"
    );
    let bad_state = request(&client, "jobs.list", r#"{"state": "stuck"}"#).await;
    assert!(
        bad_state["error"]
            .as_str()
            .unwrap()
            .contains("unknown state \"stuck\""),
        "{bad_state}"
    );
    let reload = request(&client, "config.reload", "").await;
    let error = reload["error"].as_str().unwrap();
    assert!(
        error.starts_with("config change refused: config has 1 problem(s):")
            && error.contains("web.listen: invalid socket address syntax"),
        "{reload}"
    );
    let reload_with_arguments = request(&client, "config.reload", r#"{"now": true}"#).await;
    assert!(
        reload_with_arguments["error"]
            .as_str()
            .unwrap()
            .starts_with("bad request:"),
        "{reload_with_arguments}"
    );
    let unknown = request(&client, "jobs.purge", "{}").await;
    assert_eq!(
        unknown,
        json!({ "v": 1, "error": "unknown command \"jobs.purge\"", "code": 404 })
    );
    let oversized = "x".repeat(MAX_REQUEST_BYTES + 1);
    let too_large = request(&client, "jobs.list", &oversized).await;
    assert_eq!(too_large["code"], 413, "{too_large}");

    let count = |command: &str, outcome: &str| {
        metrics
            .commands_total
            .with_label_values(&[command, outcome])
            .get()
    };
    assert_eq!(count("jobs.list", "ok"), 2);
    assert_eq!(count("jobs.list", "error"), 2);
    assert_eq!(count("jobs.retry", "ok"), 1);
    assert_eq!(count("jobs.retry", "error"), 1);
    assert_eq!(count("config.reload", "error"), 2);
    assert_eq!(count("unknown", "error"), 1);

    // A command without a reply subject cannot be answered: ignored and counted, and the
    // service answers the next request as before.
    client
        .publish("vod.bench.cmd.jobs.list", "{}".into())
        .await
        .unwrap();
    client.flush().await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while metrics.command_errors_total.get() == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the command without a reply subject was not counted"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(count("jobs.list", "ok"), 2);
    let listed = request(&client, "jobs.list", "").await;
    assert_eq!(listed["ok"], true, "{listed}");

    // The micro protocol, as `nats micro info vod` and `nats micro stats vod` ask.
    let info: Value =
        serde_json::from_slice(&raw_request(&client, "$SRV.INFO.vod", "").await.payload).unwrap();
    assert_eq!(info["type"], "io.nats.micro.v1.info_response");
    assert_eq!(info["name"], "vod");
    assert_eq!(info["metadata"]["site"], "bench");
    let subjects: Vec<&str> = info["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|endpoint| endpoint["subject"].as_str().unwrap())
        .collect();
    for command in vod_bus::COMMANDS.iter().map(|(name, _)| name) {
        assert!(
            subjects.contains(&format!("vod.bench.cmd.{command}").as_str()),
            "{command} is not in {subjects:?}"
        );
    }
    let stats: Value =
        serde_json::from_slice(&raw_request(&client, "$SRV.STATS.vod", "").await.payload).unwrap();
    let cancel = stats["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .find(|endpoint| endpoint["name"] == "jobs_cancel")
        .unwrap();
    assert_eq!(cancel["num_requests"], 3, "{cancel}");
    assert_eq!(cancel["num_errors"], 2, "{cancel}");
    assert!(cancel["processing_time"].as_u64().unwrap() > 0, "{cancel}");

    shutdown.cancel();
    service.await.unwrap().unwrap();
}

#[tokio::test]
async fn a_store_error_is_an_error_reply_that_shows_no_internals() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir).await;
    let commands = commands(&store, spoilt_config(&dir, &store));
    store.close().await;
    for (command, payload) in [("jobs.list", ""), ("jobs.retry", r#"{"id": 1}"#)] {
        let error = commands
            .dispatch(command, payload.as_bytes(), "test")
            .await
            .unwrap_err();
        assert_eq!(
            (error.to_string().as_str(), error.code()),
            ("internal error; see the box's log", 500),
            "{command}: the store's error stays in the log"
        );
    }
}

#[tokio::test]
async fn a_thousand_bad_requests_each_get_an_error_and_the_service_answers_on() {
    let server = NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir).await;
    let (metrics, shutdown, service) = start_service(&server, &dir, &store);
    let client = async_nats::connect(server.url()).await.unwrap();
    request(&client, "jobs.list", "").await;

    let oversized = "{".repeat(MAX_REQUEST_BYTES + 10);
    let bad: Vec<(String, String)> = (0..1000)
        .map(|n| match n % 5 {
            0 => ("jobs.list".to_owned(), "{not json".to_owned()),
            1 => ("jobs.retry".to_owned(), format!(r#"{{"id": "{n}"}}"#)),
            2 => ("config.get".to_owned(), oversized.clone()),
            3 => (format!("no.such.{n}"), "{}".to_owned()),
            _ => ("state".to_owned(), "[1, 2, 3]".to_owned()),
        })
        .collect();
    let mut codes = std::collections::BTreeMap::new();
    for chunk in bad.chunks(50) {
        let replies = futures::future::join_all(
            chunk
                .iter()
                .map(|(command, payload)| request(&client, command, payload)),
        )
        .await;
        for reply in replies {
            assert!(
                reply.get("ok").is_none(),
                "a bad request was carried out: {reply}"
            );
            *codes.entry(reply["code"].as_u64().unwrap()).or_insert(0) += 1;
        }
    }
    assert_eq!(codes.values().sum::<u32>(), 1000, "{codes:?}");
    // Unknown commands and oversized requests are refused before the rate limit; the others
    // are bad requests or, past the limit, rate-limited.
    assert_eq!(codes.get(&404), Some(&200), "{codes:?}");
    assert_eq!(codes.get(&413), Some(&200), "{codes:?}");
    assert!(
        codes
            .keys()
            .all(|code| [400, 404, 413, 429, 503].contains(code)),
        "{codes:?}"
    );
    // Each refusal is counted.
    let errors: u64 = vod_bus::COMMANDS
        .iter()
        .map(|(name, _)| *name)
        .chain(["unknown"])
        .map(|label| {
            metrics
                .commands_total
                .with_label_values(&[label, "error"])
                .get()
        })
        .sum();
    assert!(errors >= 1000, "{errors} errors counted");
    // The service goes on answering once the flood is over.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let listed = request(&client, "jobs.list", "").await;
        if listed["ok"] == true {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "still refused after the flood: {listed}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    shutdown.cancel();
    service.await.unwrap().unwrap();
}
