//! The other end of the control plane, for `vod ctl`: finds the boxes on a NATS system
//! through the micro protocol's `$SRV.PING`, sends one a command and reads its reply or
//! error, and follows its events.

use std::time::Duration;

use futures::{Stream, StreamExt};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use vod_core::config::BusConfig;

use tokio::sync::watch;

use crate::connect::{ConnectError, Patience, connect_error, options};
use crate::service::SERVICE_NAME;

/// How long a command waits for its reply.
const REPLY_TIMEOUT: Duration = Duration::from_secs(15);

/// A box that answered a ping.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FoundBox {
    /// The service instance's id, new at every start of the box.
    pub id: String,
    pub version: String,
    pub site: String,
    pub subject_prefix: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error(transparent)]
    Connect(#[from] ConnectError),
    #[error("no box answered on this NATS system")]
    NoBox,
    #[error("no box of site {0:?} answered; found: {1}")]
    NoSuchSite(String, String),
    #[error("several boxes answered ({0}); pick one with --site")]
    SeveralBoxes(String),
    #[error("the box refused {command}: {message} (code {code})")]
    Refused {
        command: String,
        code: u16,
        message: String,
    },
    #[error("no answer to {command}: {reason}")]
    NoAnswer { command: String, reason: String },
    #[error("the box's reply to {command} is not JSON: {reason}")]
    BadReply { command: String, reason: String },
    #[error("NATS: {0}")]
    Nats(String),
}

/// A connection to a NATS system, for talking to boxes on it.
#[derive(Debug, Clone)]
pub struct BusClient {
    client: async_nats::Client,
    /// The server's latest complaint, such as a permissions violation: a request the server
    /// refused to pass on fails with it at once instead of timing out.
    server_errors: watch::Receiver<Option<String>>,
}

impl BusClient {
    /// Connects with the `[bus]` settings (credentials, TLS); fails rather than waits when the
    /// server is not there.
    pub async fn connect(config: &BusConfig) -> Result<BusClient, ClientError> {
        let (errors, server_errors) = watch::channel(None);
        let client = options(config, "vod ctl".to_owned(), Patience::FailFast)
            .await?
            .event_callback(move |event| {
                if let async_nats::Event::ServerError(error) = &event {
                    errors.send_replace(Some(error.to_string()));
                }
                async {}
            })
            .connect(config.nats_url.as_str())
            .await
            .map_err(|source| connect_error(config, source))?;
        Ok(BusClient {
            client,
            server_errors,
        })
    }

    /// Every box that answers `$SRV.PING.vod` within `wait`.
    pub async fn discover(&self, wait: Duration) -> Result<Vec<FoundBox>, ClientError> {
        let inbox = self.client.new_inbox();
        let mut replies = self
            .client
            .subscribe(inbox.clone())
            .await
            .map_err(|error| ClientError::Nats(error.to_string()))?;
        self.client
            .publish_with_reply(format!("$SRV.PING.{SERVICE_NAME}"), inbox, "".into())
            .await
            .map_err(|error| ClientError::Nats(error.to_string()))?;
        let mut found = Vec::new();
        let deadline = tokio::time::Instant::now() + wait;
        while let Ok(Some(message)) = tokio::time::timeout_at(deadline, replies.next()).await {
            let Ok(pong) = serde_json::from_slice::<Value>(&message.payload) else {
                continue;
            };
            let text = |value: &Value| value.as_str().unwrap_or_default().to_owned();
            let metadata = &pong["metadata"];
            found.push(FoundBox {
                id: text(&pong["id"]),
                version: text(&pong["version"]),
                site: text(&metadata["site"]),
                subject_prefix: text(&metadata["subject_prefix"]),
            });
        }
        found.sort_by(|a, b| a.site.cmp(&b.site));
        Ok(found)
    }

    /// The box of `site`, or the only box when no site is given.
    pub async fn pick(&self, site: Option<&str>, wait: Duration) -> Result<FoundBox, ClientError> {
        let found = self.discover(wait).await?;
        let names = || {
            found
                .iter()
                .map(|found| found.site.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        match site {
            Some(site) => found
                .iter()
                .find(|found| found.site == site)
                .cloned()
                .ok_or_else(|| ClientError::NoSuchSite(site.to_owned(), names())),
            None => match found.as_slice() {
                [] => Err(ClientError::NoBox),
                [only] => Ok(only.clone()),
                _ => Err(ClientError::SeveralBoxes(names())),
            },
        }
    }

    /// Sends `command` to the box and returns its reply, or its error.
    pub async fn request(
        &self,
        target: &FoundBox,
        command: &str,
        payload: &Value,
    ) -> Result<Value, ClientError> {
        let subject = format!("{}.{}.cmd.{command}", target.subject_prefix, target.site);
        let body = serde_json::to_vec(payload).unwrap_or_default();
        let request = async_nats::Request::new()
            .payload(body.into())
            .timeout(Some(REPLY_TIMEOUT));
        let mut server_errors = self.server_errors.clone();
        server_errors.mark_unchanged();
        let no_answer = |reason: String| ClientError::NoAnswer {
            command: command.to_owned(),
            reason,
        };
        let reply = tokio::select! {
            reply = self.client.send_request(subject, request) => {
                reply.map_err(|error| no_answer(error.to_string()))?
            }
            Ok(()) = server_errors.changed() => {
                let error = server_errors.borrow().clone().unwrap_or_default();
                return Err(no_answer(format!("the NATS server refused it: {error}")));
            }
        };
        let bad_reply = |reason: String| ClientError::BadReply {
            command: command.to_owned(),
            reason,
        };
        let body: Value =
            serde_json::from_slice(&reply.payload).map_err(|error| bad_reply(error.to_string()))?;
        let error_code = reply
            .headers
            .as_ref()
            .and_then(|headers| headers.get(async_nats::service::NATS_SERVICE_ERROR_CODE));
        match error_code {
            Some(code) => Err(ClientError::Refused {
                command: command.to_owned(),
                code: code.as_str().parse().unwrap_or(500),
                message: body["error"].as_str().unwrap_or_default().to_owned(),
            }),
            None => Ok(body),
        }
    }

    /// The box's events as they come: the event kind and its JSON.
    pub async fn events(
        &self,
        target: &FoundBox,
    ) -> Result<impl Stream<Item = (String, Value)> + use<>, ClientError> {
        let prefix = format!("{}.{}.events.", target.subject_prefix, target.site);
        let subscriber = self
            .client
            .subscribe(format!("{prefix}>"))
            .await
            .map_err(|error| ClientError::Nats(error.to_string()))?;
        Ok(subscriber.filter_map(move |message| {
            let kind = message
                .subject
                .as_str()
                .strip_prefix(prefix.as_str())
                .unwrap_or_default()
                .to_owned();
            let event = serde_json::from_slice::<Value>(&message.payload).ok();
            async move { event.map(|event| (kind, event)) }
        }))
    }
}
