//! Commands over NATS request-reply: a request on `<prefix>.<site>.cmd.<command>` gets one
//! JSON reply, `{"ok": true, …}` or `{"error": "…"}` (subjects and payloads in docs/bus.md).
//! A command is one arm of [`Commands::dispatch`]; what commands act on lives in
//! [`Commands`]. Configuration goes through the live configuration handle, as every change of
//! the running box does.

use std::sync::Arc;

use bytes::Bytes;
use futures::StreamExt;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use vod_core::config::BusConfig;
use vod_core::config::live::{ChangeSource, ConfigHandle, Origin};
use vod_core::{Component, TaskError};
use vod_store::{JobAction, JobActionOutcome, JobFilter, JobId, Store};

use crate::BusMetrics;

/// What the commands act on.
#[derive(Debug, Clone)]
pub struct Commands {
    pub store: Store,
    pub config: ConfigHandle,
}

/// Why a command failed; the text goes back as the reply's `error`.
#[derive(Debug, thiserror::Error)]
enum CommandError {
    #[error("unknown command {0:?}")]
    Unknown(String),
    #[error("bad request: {0}")]
    BadRequest(String),
    #[error("no job {0}")]
    NoSuchJob(i64),
    #[error("job {id} is {state}: {reason}")]
    Refused {
        id: i64,
        state: &'static str,
        reason: &'static str,
    },
    #[error("config reload refused: {0}")]
    ReloadRefused(String),
    #[error("internal error; see the box's log")]
    Store(#[from] vod_store::StoreError),
}

/// `jobs.list`: every field optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListRequest {
    queue: Option<String>,
    state: Option<String>,
    before: Option<i64>,
    limit: Option<u32>,
}

/// A command that takes no arguments: `{}` or nothing.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NoArguments {}

/// `jobs.retry` and `jobs.cancel`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct JobRequest {
    id: i64,
}

impl Commands {
    /// Runs `command` with the request's `payload` and returns the reply.
    pub async fn dispatch(&self, command: &str, payload: &[u8]) -> Value {
        let result = match command {
            "jobs.list" => self.jobs_list(payload).await,
            "jobs.retry" => self.job_action(payload, JobAction::Retry).await,
            "jobs.cancel" => self.job_action(payload, JobAction::Cancel).await,
            "config.reload" => self.config_reload(payload).await,
            other => Err(CommandError::Unknown(other.to_owned())),
        };
        match result {
            Ok(mut reply) => {
                reply["ok"] = Value::Bool(true);
                reply
            }
            Err(error) => {
                if let CommandError::Store(store_error) = &error {
                    tracing::error!(error = %store_error, command, "Bus command failed.");
                }
                json!({ "error": error.to_string() })
            }
        }
    }

    async fn config_reload(&self, payload: &[u8]) -> Result<Value, CommandError> {
        let NoArguments {} = parse(payload)?;
        let report = self
            .config
            .reload_file(Origin::new(ChangeSource::Bus, "bus"))
            .await
            .map_err(|error| CommandError::ReloadRefused(error.to_string()))?;
        Ok(json!({
            "applied": report.applied,
            "restart_needed": report.restart_needed,
            "changed": report.changed,
            "history_id": report.history_id,
        }))
    }

    async fn jobs_list(&self, payload: &[u8]) -> Result<Value, CommandError> {
        let request: ListRequest = parse(payload)?;
        let filter = JobFilter::from_request(
            request.queue.as_deref(),
            request.state.as_deref(),
            request.before,
            request.limit,
        )
        .map_err(CommandError::BadRequest)?;
        let jobs = self.store.list_jobs_with_attempts(&filter).await?;
        Ok(json!({ "jobs": jobs }))
    }

    async fn job_action(&self, payload: &[u8], action: JobAction) -> Result<Value, CommandError> {
        let JobRequest { id } = parse(payload)?;
        match self.store.apply_job_action(JobId(id), action).await? {
            JobActionOutcome::Done(job) => Ok(json!({ "job": job })),
            JobActionOutcome::NotFound => Err(CommandError::NoSuchJob(id)),
            JobActionOutcome::Refused(job) => Err(CommandError::Refused {
                id,
                state: job.state.as_str(),
                reason: match action {
                    JobAction::Retry => {
                        "only an ended job can be retried, and not while another job with its \
                         unique key waits"
                    }
                    JobAction::Cancel => "only a waiting or running job can be cancelled",
                },
            }),
        }
    }
}

/// Decodes a JSON request; an empty payload reads as `{}`.
fn parse<T: DeserializeOwned>(payload: &[u8]) -> Result<T, CommandError> {
    let payload = if payload.iter().all(u8::is_ascii_whitespace) {
        b"{}".as_slice()
    } else {
        payload
    };
    serde_json::from_slice(payload).map_err(|error| CommandError::BadRequest(error.to_string()))
}

/// The subject prefix of this box's commands: `<prefix>.<site>.cmd.`.
pub fn command_prefix(config: &BusConfig, site: &str) -> String {
    format!("{}.{site}.cmd.", config.subject_prefix)
}

/// Connects (retrying in the background while NATS is down) and answers command requests
/// until shutdown, one at a time.
#[derive(Debug)]
pub struct CommandServer {
    pub config: BusConfig,
    pub site: Arc<str>,
    pub commands: Commands,
    pub metrics: BusMetrics,
}

impl Component for CommandServer {
    async fn run(&self, shutdown: CancellationToken) -> Result<(), TaskError> {
        run_commands(self, shutdown).await
    }
}

async fn run_commands(
    server: &CommandServer,
    shutdown: CancellationToken,
) -> Result<(), TaskError> {
    let CommandServer {
        config,
        site,
        commands,
        metrics,
    } = server;
    let client = async_nats::ConnectOptions::new()
        .name(format!("vod {site} commands"))
        .retry_on_initial_connect()
        .connect(config.nats_url.as_str())
        .await?;
    let prefix = command_prefix(config, site);
    let mut requests = client.subscribe(format!("{prefix}>")).await?;
    loop {
        let request = tokio::select! {
            () = shutdown.cancelled() => break,
            request = requests.next() => request.ok_or("the command subscription ended")?,
        };
        let command = request
            .subject
            .as_str()
            .strip_prefix(prefix.as_str())
            .unwrap_or_default();
        let Some(reply_to) = request.reply else {
            metrics.command_errors_total.inc();
            tracing::warn!(command, "Bus command without a reply subject ignored.");
            continue;
        };
        let reply = commands.dispatch(command, &request.payload).await;
        let outcome = if reply.get("error").is_some() {
            "error"
        } else {
            "ok"
        };
        metrics
            .commands_total
            .with_label_values(&[known_command(command), outcome])
            .inc();
        let payload = Bytes::from(serde_json::to_vec(&reply)?);
        if let Err(error) = client.publish(reply_to, payload).await {
            metrics.command_errors_total.inc();
            tracing::debug!(%error, command, "Bus command reply not sent.");
        }
    }
    // Dropping the subscription unsubscribes, when NATS is there to hear it.
    Ok(())
}

/// The command's name for metrics; unknown names are one label, so a caller cannot make the
/// label set grow.
fn known_command(command: &str) -> &str {
    match command {
        "jobs.list" | "jobs.retry" | "jobs.cancel" | "config.reload" => command,
        _ => "unknown",
    }
}
