//! Job commands over a real nats-server, answered from a real SQLite store: list, retry,
//! cancel, and the errors a caller gets back.
#![allow(clippy::unwrap_used)] // a failing test may panic

use std::sync::Arc;
use std::time::Duration;

use prometheus::Registry;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use vod_bus::{BusMetrics, CommandServer, Commands};
use vod_core::config::live::{ConfigHandle, HandleSetup};
use vod_core::config::{BusConfig, Config, LoadedConfig};
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

/// Sends a request and decodes the reply; retries while the service has not subscribed yet.
async fn request(client: &async_nats::Client, command: &str, payload: &str) -> Value {
    let subject = format!("vod.bench.cmd.{command}");
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
            Ok(reply) => return serde_json::from_slice(&reply.payload).unwrap(),
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

#[tokio::test]
async fn job_commands_list_retry_and_cancel_over_nats() {
    let server = NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir).await;
    let upload = enqueue(&store, "upload", "upload.capture").await;
    let sweep = enqueue(&store, "retention", "retention.sweep").await;

    let registry = Registry::new();
    let metrics = BusMetrics::register(&registry).unwrap();
    let shutdown = CancellationToken::new();
    let service = CommandServer {
        config: BusConfig {
            nats_url: server.url(),
            subject_prefix: "vod".into(),
        },
        site: Arc::from("bench"),
        commands: Commands {
            store: store.clone(),
            config: spoilt_config(&dir, &store),
        },
        metrics: metrics.clone(),
    };
    let stop = shutdown.clone();
    let service = tokio::spawn(async move { service.run(stop).await });
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
    assert_eq!(missing, json!({ "error": "no job 999999" }));
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
        error.starts_with("config reload refused: config has 1 problem(s):")
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
        json!({ "error": "unknown command \"jobs.purge\"" })
    );

    let count = |command: &str, outcome: &str| {
        metrics
            .commands_total
            .with_label_values(&[command, outcome])
            .get()
    };
    assert_eq!(count("jobs.list", "ok"), 2);
    assert_eq!(count("jobs.list", "error"), 1);
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

    shutdown.cancel();
    service.await.unwrap().unwrap();
}

#[tokio::test]
async fn a_store_error_is_an_error_reply_that_shows_no_internals() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir).await;
    let commands = Commands {
        store: store.clone(),
        config: spoilt_config(&dir, &store),
    };
    store.close().await;
    for (command, payload) in [("jobs.list", ""), ("jobs.retry", r#"{"id": 1}"#)] {
        let reply = commands.dispatch(command, payload.as_bytes()).await;
        assert_eq!(reply.get("ok"), None, "{command}: {reply}");
        assert_eq!(
            reply["error"], "internal error; see the box's log",
            "{command}: the store's error stays in the log: {reply}"
        );
    }
}
