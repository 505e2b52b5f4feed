//! The box as a NATS micro service: name `vod`, the site and the service protocol version in
//! its metadata, one endpoint per command on `<prefix>.<site>.cmd.<command>`, and the
//! protocol's `$SRV.PING|INFO|STATS` (per-endpoint requests, errors and processing times)
//! answered by async-nats's service module, so that `nats micro ls` and every NATS client find
//! it. Every request gets a reply: a JSON object with `"v": 1`, or an error with the
//! `Nats-Service-Error` and `Nats-Service-Error-Code` headers and a JSON body. Requests run as
//! tasks of their own, a bounded number at once, so a slow one never holds the others up;
//! actions and reads are rate-limited apart.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Arc;

use async_nats::service::{Request, ServiceExt};
use async_nats::{HeaderMap, HeaderValue};
use bytes::Bytes;
use futures::StreamExt;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use serde_json::{Value, json};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use vod_core::config::BusConfig;
use vod_core::{Component, TaskError};

use crate::BusMetrics;
use crate::commands::{COMMANDS, CommandError, Commands, Kind, endpoint_name};
use crate::connect::{Patience, connect};

/// The service's name in the micro protocol.
pub const SERVICE_NAME: &str = "vod";
/// The version of the subjects and payloads of docs/bus.md, in every reply as `v`.
pub const PROTOCOL_VERSION: u32 = 1;
/// The largest request payload the box reads.
pub const MAX_REQUEST_BYTES: usize = 64 * 1024;
/// Requests being worked on at once; one more is answered busy.
const CONCURRENT_REQUESTS: usize = 16;
/// Rate limits, per second, with bursts of twice as many.
const READS_PER_SECOND: u32 = 50;
const ACTIONS_PER_SECOND: u32 = 5;
/// The header the server sets, on a request that crossed a service import with
/// `share: true`, to the requester's account and user.
const REQUEST_INFO_HEADER: &str = "Nats-Request-Info";

/// The subject prefix of this box's commands: `<prefix>.<site>.cmd.`.
pub fn command_prefix(config: &BusConfig, site: &str) -> String {
    format!("{}.{site}.cmd.", config.subject_prefix)
}

/// Answers the control plane's requests until shutdown, connecting (and reconnecting) in the
/// background while NATS is away.
#[derive(Debug)]
pub struct Service {
    pub config: BusConfig,
    pub site: Arc<str>,
    pub commands: Commands,
    pub metrics: BusMetrics,
}

impl Component for Service {
    async fn run(&self, shutdown: CancellationToken) -> Result<(), TaskError> {
        run_service(self, shutdown).await
    }
}

/// What every request task shares.
struct Shared {
    client: async_nats::Client,
    commands: Commands,
    metrics: BusMetrics,
    prefix: String,
    /// Where an error's empty copy goes so that the micro library counts it (see
    /// [`reply_error`]); nobody needs to listen.
    error_sink: String,
    in_flight: Arc<Semaphore>,
    reads: DefaultDirectRateLimiter,
    actions: DefaultDirectRateLimiter,
}

async fn run_service(service: &Service, shutdown: CancellationToken) -> Result<(), TaskError> {
    let Service {
        config,
        site,
        commands,
        metrics,
    } = service;
    let client = connect(
        config,
        format!("vod {site} service"),
        Patience::RetryForever,
    )
    .await?;
    let micro = client
        .service_builder()
        .description(format!("VOD appliance at site {site}"))
        .metadata(HashMap::from([
            ("site".to_owned(), site.to_string()),
            ("subject_prefix".to_owned(), config.subject_prefix.clone()),
            ("protocol".to_owned(), PROTOCOL_VERSION.to_string()),
        ]))
        // Every endpoint's stats carry `data` (some clients require it): its kind and limit.
        .stats_handler(|endpoint, _stats| {
            let kind = COMMANDS
                .iter()
                .find(|(name, _)| endpoint_name(name) == endpoint)
                .map(|(_, kind)| *kind);
            match kind {
                Some(Kind::Read) => json!({ "kind": "read", "per_second": READS_PER_SECOND }),
                Some(Kind::Act) => json!({ "kind": "act", "per_second": ACTIONS_PER_SECOND }),
                None => json!({ "kind": "unknown commands" }),
            }
        })
        .start(SERVICE_NAME, env!("CARGO_PKG_VERSION"))
        .await?;
    let prefix = command_prefix(config, site);
    let group = micro.group(prefix.trim_end_matches('.'));
    let mut endpoints = Vec::new();
    for &(command, kind) in COMMANDS {
        let endpoint = group
            .endpoint_builder()
            .name(endpoint_name(command))
            .add(command)
            .await?;
        endpoints.push(
            endpoint
                .map(move |request| (Some((command, kind)), request))
                .boxed(),
        );
    }
    // Everything else under the prefix, in a queue group of its own so that the server also
    // hands it the known commands (which it leaves to their endpoints).
    let unknown = group
        .endpoint_builder()
        .name("unknown")
        .queue_group("vod-unknown")
        .add(">")
        .await?;
    endpoints.push(unknown.map(|request| (None, request)).boxed());
    let mut requests = futures::stream::select_all(endpoints);
    let per_second = |n: u32| {
        let n = NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN);
        Quota::per_second(n).allow_burst(n.saturating_mul(NonZeroU32::new(2).unwrap_or(n)))
    };
    let shared = Arc::new(Shared {
        client,
        commands: commands.clone(),
        metrics: metrics.clone(),
        error_sink: format!("{}.{site}.cmd_errors", config.subject_prefix),
        prefix,
        in_flight: Arc::new(Semaphore::new(CONCURRENT_REQUESTS)),
        reads: RateLimiter::direct(per_second(READS_PER_SECOND)),
        actions: RateLimiter::direct(per_second(ACTIONS_PER_SECOND)),
    });
    loop {
        let (known, request) = tokio::select! {
            () = shutdown.cancelled() => break,
            next = requests.next() => next.ok_or("the service's subscriptions ended")?,
        };
        let subject = request.message.subject.as_str();
        let command = subject
            .strip_prefix(shared.prefix.as_str())
            .unwrap_or_default()
            .to_owned();
        if known.is_none() && COMMANDS.iter().any(|(name, _)| *name == command) {
            continue; // its own endpoint answers it
        }
        if request.message.reply.is_none() {
            metrics.command_errors_total.inc();
            tracing::debug!(%command, "Bus request without a reply subject ignored.");
            continue;
        }
        admit(&shared, known, command, request);
    }
    let _stopped_best_effort = micro.stop().await;
    Ok(())
}

/// Checks a request's size and rate and starts its task, or answers why not. `known` is the
/// command and kind of the endpoint that got it; none for the endpoint of unknown commands.
fn admit(
    shared: &Arc<Shared>,
    known: Option<(&'static str, Kind)>,
    command: String,
    request: Request,
) {
    let (label, kind) = known.unwrap_or(("unknown", Kind::Read));
    let refusal = if request.message.payload.len() > MAX_REQUEST_BYTES {
        Some(CommandError::TooLarge(
            request.message.payload.len(),
            MAX_REQUEST_BYTES,
        ))
    } else if known.is_none() {
        Some(CommandError::Unknown(command.clone()))
    } else if match kind {
        Kind::Read => shared.reads.check().is_err(),
        Kind::Act => shared.actions.check().is_err(),
    } {
        Some(CommandError::RateLimited)
    } else {
        None
    };
    let permit = shared.in_flight.clone().try_acquire_owned();
    let shared = shared.clone();
    tokio::spawn(async move {
        let result = match (refusal, permit) {
            (Some(error), _) => Err(error),
            (None, Err(_)) => Err(CommandError::Busy),
            (None, Ok(_permit)) => {
                let actor = actor(&request);
                shared
                    .commands
                    .dispatch(&command, &request.message.payload, &actor)
                    .await
            }
        };
        let outcome = if result.is_ok() { "ok" } else { "error" };
        shared
            .metrics
            .commands_total
            .with_label_values(&[label, outcome])
            .inc();
        let sent = match result {
            Ok(reply) => reply_ok(request, reply).await,
            Err(error) => {
                if let CommandError::Store(store_error) = &error {
                    tracing::error!(error = %store_error, %command, "Bus command failed.");
                }
                reply_error(&shared, request, &error).await
            }
        };
        if let Err(error) = sent {
            shared.metrics.command_errors_total.inc();
            tracing::debug!(%error, %command, "Bus reply not sent.");
        }
    });
}

/// Who asked: the user the server names in `Nats-Request-Info` (a request that came in
/// through a service import from another account), else `bus`.
fn actor(request: &Request) -> String {
    let info = request
        .message
        .headers
        .as_ref()
        .and_then(|headers| headers.get(REQUEST_INFO_HEADER))
        .and_then(|value| serde_json::from_str::<Value>(value.as_str()).ok());
    let name = |key: &str| {
        info.as_ref()
            .and_then(|info| info.get(key))
            .and_then(Value::as_str)
            .filter(|name| !name.is_empty())
            .map(str::to_owned)
    };
    match (name("user"), name("acc")) {
        (Some(user), _) => format!("nats:{user}"),
        (None, Some(account)) => format!("nats:{account}"),
        (None, None) => "bus".to_owned(),
    }
}

async fn reply_ok(request: Request, mut reply: Value) -> Result<(), async_nats::PublishError> {
    if let Value::Object(fields) = &mut reply {
        fields.insert("v".into(), json!(PROTOCOL_VERSION));
        fields.insert("ok".into(), Value::Bool(true));
    }
    let body = Bytes::from(serde_json::to_vec(&reply).unwrap_or_default());
    request.respond(Ok(body)).await
}

/// Sends the error with its headers and a JSON body. The micro library sends error replies
/// without a body, and counts an endpoint's errors only in its own error reply; so the caller
/// gets the full reply from here, and the library's error reply goes to the box's error sink.
async fn reply_error(
    shared: &Shared,
    mut request: Request,
    error: &CommandError,
) -> Result<(), async_nats::PublishError> {
    let code = error.code();
    let text = error.to_string();
    let status = header_line(&text);
    let mut headers = HeaderMap::new();
    headers.insert(
        async_nats::service::NATS_SERVICE_ERROR,
        HeaderValue::from(status.as_str()),
    );
    headers.insert(
        async_nats::service::NATS_SERVICE_ERROR_CODE,
        HeaderValue::from(code.to_string().as_str()),
    );
    let body = json!({ "v": PROTOCOL_VERSION, "error": text, "code": code });
    let Some(reply_to) = request
        .message
        .reply
        .replace(shared.error_sink.as_str().into())
    else {
        return Ok(());
    };
    shared
        .client
        .publish_with_headers(
            reply_to,
            headers,
            Bytes::from(serde_json::to_vec(&body).unwrap_or_default()),
        )
        .await?;
    request
        .respond(Err(async_nats::service::error::Error {
            status,
            code: usize::from(code),
        }))
        .await
}

/// The longest error status a header carries; the body has the whole text.
const STATUS_MAX_CHARS: usize = 200;

/// `text` as one header line: a header value may not hold a line break.
fn header_line(text: &str) -> String {
    let line = text
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect::<Vec<_>>()
        .join("; ");
    match line.char_indices().nth(STATUS_MAX_CHARS) {
        Some((cut, _)) => format!("{}…", &line[..cut]),
        None => line,
    }
}
