//! What each command does: one arm of [`Commands::dispatch`] per command, its request
//! decoded strictly, its reply a JSON object. Configuration goes through the live
//! configuration handle, as every change of the running box does; the rest through the
//! box's [`BoxControl`] and its store. Subjects and payloads are in docs/bus.md.

use std::sync::Arc;

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};
use vod_core::config::live::{ApplyError, ChangeReport, ChangeSource, ConfigHandle, Origin};
use vod_core::control::{BoxControl, ControlError};
use vod_store::{JobAction, JobActionOutcome, JobFilter, JobId, Store};

/// What the commands act on.
#[derive(Debug, Clone)]
pub struct Commands {
    pub store: Store,
    pub config: ConfigHandle,
    pub control: Arc<dyn BoxControl>,
}

/// Whether a command only reads or acts; actions have the tighter rate limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Read,
    Act,
}

/// Every command: its subject after `<prefix>.<site>.cmd.`, and its kind.
pub const COMMANDS: &[(&str, Kind)] = &[
    ("state", Kind::Read),
    ("top", Kind::Read),
    ("config.get", Kind::Read),
    ("config.validate", Kind::Read),
    ("config.history", Kind::Read),
    ("jobs.list", Kind::Read),
    ("config.set", Kind::Act),
    ("config.rollback", Kind::Act),
    ("config.reload", Kind::Act),
    ("trigger", Kind::Act),
    ("relearn", Kind::Act),
    ("restart", Kind::Act),
    ("log.filter", Kind::Act),
    ("snapshot", Kind::Act),
    ("jobs.retry", Kind::Act),
    ("jobs.cancel", Kind::Act),
];

/// A command's endpoint name in the micro protocol, which allows no dots: `config_get`.
pub fn endpoint_name(command: &str) -> String {
    command.replace('.', "_")
}

/// Why a request was not carried out; the text goes back as the reply's `error`, the code
/// (HTTP-like) as its `code` and in the `Nats-Service-Error-Code` header.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error("unknown command {0:?}")]
    Unknown(String),
    #[error("bad request: {0}")]
    BadRequest(String),
    #[error("request of {0} bytes is over the limit of {1} bytes")]
    TooLarge(usize, usize),
    #[error("too many requests; try again in a moment")]
    RateLimited,
    #[error("too many requests in progress; try again in a moment")]
    Busy,
    #[error("no job {0}")]
    NoSuchJob(i64),
    #[error("job {id} is {state}: {reason}")]
    Refused {
        id: i64,
        state: &'static str,
        reason: &'static str,
    },
    #[error("config change refused: {0}")]
    ConfigRefused(String),
    #[error("{0}")]
    Control(#[from] ControlError),
    #[error("internal error; see the box's log")]
    Store(#[from] vod_store::StoreError),
}

impl CommandError {
    pub fn code(&self) -> u16 {
        match self {
            CommandError::BadRequest(_) => 400,
            CommandError::Unknown(_) | CommandError::NoSuchJob(_) => 404,
            CommandError::Refused { .. } => 409,
            CommandError::TooLarge(..) => 413,
            CommandError::ConfigRefused(_) => 422,
            CommandError::RateLimited => 429,
            CommandError::Store(_) => 500,
            CommandError::Busy => 503,
            CommandError::Control(error) => match error {
                ControlError::NotFound(_) => 404,
                ControlError::BadRequest(_) => 400,
                ControlError::Busy(_) => 503,
                ControlError::Internal(_) => 500,
            },
        }
    }
}

/// A command that takes no arguments: `{}` or nothing.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NoArguments {}

/// `jobs.list`: every field optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListRequest {
    queue: Option<String>,
    state: Option<String>,
    before: Option<i64>,
    limit: Option<u32>,
}

/// `jobs.retry`, `jobs.cancel` and `config.rollback`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct IdRequest {
    id: i64,
}

/// `config.get`: the whole config without a path.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GetRequest {
    #[serde(default)]
    path: String,
}

/// `config.set`: key paths and their new values (`null` removes a key).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SetRequest {
    set: Map<String, Value>,
}

/// `config.validate`: a whole file text, or key paths to set.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ValidateRequest {
    text: Option<String>,
    set: Option<Map<String, Value>>,
}

/// `config.history`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct HistoryRequest {
    #[serde(default = "default_history_limit")]
    limit: u32,
}

fn default_history_limit() -> u32 {
    20
}

/// The most history entries one request returns.
const HISTORY_LIMIT_MAX: u32 = 200;

/// `state`: every component without a name.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StateRequest {
    component: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TriggerRequest {
    lane: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RelearnRequest {
    scanner: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RestartRequest {
    component: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FilterRequest {
    filter: String,
}

impl Commands {
    /// Runs `command` with the request's `payload` on behalf of `actor`; returns the reply's
    /// fields.
    pub async fn dispatch(
        &self,
        command: &str,
        payload: &[u8],
        actor: &str,
    ) -> Result<Value, CommandError> {
        let control = &self.control;
        match command {
            "state" => {
                let StateRequest { component } = parse(payload)?;
                let state = control.state(component.as_deref()).await?;
                Ok(json!({ "components": state }))
            }
            "top" => {
                let NoArguments {} = parse(payload)?;
                Ok(control.top())
            }
            "config.get" => {
                let GetRequest { path } = parse(payload)?;
                let value = self
                    .config
                    .get(&path)
                    .map_err(|error| CommandError::BadRequest(error.to_string()))?;
                Ok(json!({ "path": path, "value": value }))
            }
            "config.validate" => self.config_validate(payload).await,
            "config.history" => {
                let HistoryRequest { limit } = parse(payload)?;
                let entries = self
                    .config
                    .history(limit.clamp(1, HISTORY_LIMIT_MAX))
                    .await
                    .map_err(refused)?;
                Ok(json!({ "entries": entries }))
            }
            "config.set" => {
                let SetRequest { set } = parse(payload)?;
                let changes: Vec<(String, Value)> = set.into_iter().collect();
                report(
                    self.config
                        .set(&changes, Origin::new(ChangeSource::Bus, actor))
                        .await,
                )
            }
            "config.rollback" => {
                let IdRequest { id } = parse(payload)?;
                report(self.config.rollback(id, actor).await)
            }
            "config.reload" => {
                let NoArguments {} = parse(payload)?;
                report(
                    self.config
                        .reload_file(Origin::new(ChangeSource::Bus, actor))
                        .await,
                )
            }
            "trigger" => {
                let TriggerRequest { lane } = parse(payload)?;
                Ok(json!({ "captures": control.trigger(&lane, actor)? }))
            }
            "relearn" => {
                let RelearnRequest { scanner } = parse(payload)?;
                Ok(json!({ "scanners": control.relearn(scanner.as_deref(), actor)? }))
            }
            "restart" => {
                let RestartRequest { component } = parse(payload)?;
                control.restart(&component, actor)?;
                Ok(json!({ "component": component }))
            }
            "log.filter" => {
                let FilterRequest { filter } = parse(payload)?;
                control.set_log_filter(&filter, actor)?;
                Ok(json!({ "filter": filter, "until": "restart" }))
            }
            "snapshot" => {
                let NoArguments {} = parse(payload)?;
                Ok(control.snapshot().await?)
            }
            "jobs.list" => self.jobs_list(payload).await,
            "jobs.retry" => self.job_action(payload, JobAction::Retry).await,
            "jobs.cancel" => self.job_action(payload, JobAction::Cancel).await,
            other => Err(CommandError::Unknown(other.to_owned())),
        }
    }

    async fn config_validate(&self, payload: &[u8]) -> Result<Value, CommandError> {
        let result = match parse(payload)? {
            ValidateRequest {
                text: Some(text),
                set: None,
            } => self.config.validate_text(&text).await,
            ValidateRequest {
                text: None,
                set: Some(set),
            } => {
                let changes: Vec<(String, Value)> = set.into_iter().collect();
                self.config.validate_set(&changes).await
            }
            _ => {
                return Err(CommandError::BadRequest(
                    "give either text (a whole config file) or set (key paths and values)".into(),
                ));
            }
        };
        report(result)
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
        let IdRequest { id } = parse(payload)?;
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

/// A change's report as the reply, or why it was refused (every problem with its key path,
/// secrets masked by the handle).
fn report(result: Result<ChangeReport, ApplyError>) -> Result<Value, CommandError> {
    let report = result.map_err(refused)?;
    Ok(serde_json::to_value(report).unwrap_or_default())
}

fn refused(error: ApplyError) -> CommandError {
    CommandError::ConfigRefused(error.to_string())
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
