//! Push: each capture's metadata POSTed to every endpoint that asked for its event, signed as
//! the Standard Webhooks specification says (`webhook-id`, `webhook-timestamp`,
//! `webhook-signature: v1,<base64 HMAC-SHA256 of id.timestamp.body>`). Each endpoint has a
//! queue of its own with its own rate and concurrency, so a slow, failing or hanging receiver
//! never delays the others. A failed delivery retries on the configured schedule (longer when
//! the receiver says `Retry-After` on 429 or 503); 410 disables the endpoint, and so does
//! failing for longer than `disable_after_s`, with an event and a metric.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use vod_core::config::PushConfig;
use vod_core::{Component, Event, Hub, TaskError, VEHICLE_LOG, error_chain};
use vod_store::outbound::{PushJob, push_queue};
use vod_store::{
    Job, JobError, JobHandler, NewDelivery, PushEndpoint, QueueRunner, QueueSpec, RetryPolicy,
    Store,
};

use crate::UplinkMetrics;
use crate::metadata::{CaptureKeys, Metadata};

/// How often the dispatcher looks for endpoints registered, changed or removed.
const ENDPOINTS_EVERY: Duration = Duration::from_secs(2);
/// The longest `Retry-After` honoured.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(86_400);
/// How much of a receiver's answer the history keeps.
const EXCERPT_BYTES: usize = 256;

/// The `webhook-signature` header of a message: `v1,` and the base64 HMAC-SHA256, keyed with
/// the secret's base64 part, of `id.timestamp.body`. `None` for a secret that is not
/// `whsec_` and base64.
pub fn signature(secret: &str, id: &str, timestamp_s: i64, body: &[u8]) -> Option<String> {
    let key = BASE64.decode(secret.strip_prefix("whsec_")?).ok()?;
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).ok()?;
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp_s.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    Some(format!("v1,{}", BASE64.encode(mac.finalize().into_bytes())))
}

/// A new signing secret: `whsec_` and 24 random bytes in base64.
pub fn new_secret() -> String {
    let bytes: [u8; 24] = rand::random();
    format!("whsec_{}", BASE64.encode(bytes))
}

/// What came of one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    Status {
        code: u16,
        retry_after: Option<Duration>,
    },
    /// No answer: refused, timed out, cut.
    None(String),
}

/// What to do after an attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    Delivered,
    /// Try again after this long.
    Retry(Duration),
    /// The schedule is used up: the delivery is given up.
    GiveUp,
    /// The receiver said the endpoint is gone (410): disable it.
    Disable,
}

/// The decision after failed (or not) attempt number `attempt` (from 1), with `schedule`
/// the waits before each retry.
pub fn next_step(answer: &Answer, attempt: u32, schedule: &[u64]) -> Next {
    let retry_after = match answer {
        Answer::Status { code, .. } if (200..300).contains(code) => return Next::Delivered,
        Answer::Status { code: 410, .. } => return Next::Disable,
        Answer::Status {
            code: 429 | 503,
            retry_after,
        } => retry_after.map(|wait| wait.min(MAX_RETRY_AFTER)),
        Answer::Status { .. } | Answer::None(_) => None,
    };
    match schedule.get(attempt.saturating_sub(1) as usize) {
        Some(&wait_s) => {
            Next::Retry(Duration::from_secs(wait_s).max(retry_after.unwrap_or_default()))
        }
        None => Next::GiveUp,
    }
}

/// `Retry-After` as seconds (the HTTP date form is not honoured: it needs the receiver's clock).
fn retry_after(response: &reqwest::Response) -> Option<Duration> {
    let value = response.headers().get(reqwest::header::RETRY_AFTER)?;
    value
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
        .map(Duration::from_secs)
}

/// Delivers the jobs of one endpoint's queue.
#[derive(Debug)]
pub struct Delivery {
    pub endpoint_id: i64,
    pub store: Store,
    pub site: Arc<str>,
    pub hub: Hub,
    pub client: reqwest::Client,
    pub config: watch::Receiver<PushConfig>,
    pub metrics: UplinkMetrics,
}

impl JobHandler for Delivery {
    async fn perform(&self, job: &Job) -> Result<(), JobError> {
        let push: PushJob = serde_json::from_str(&job.args)
            .map_err(|error| JobError::Discard(format!("bad push job: {error}")))?;
        let retry = |error: vod_store::StoreError| JobError::Retry(error.to_string());
        let Some(endpoint) = self
            .store
            .push_endpoint(self.endpoint_id)
            .await
            .map_err(retry)?
        else {
            return Err(JobError::Discard("the endpoint was removed".into()));
        };
        if !endpoint.enabled {
            // Paused while this delivery waited: it waits on.
            return Err(JobError::RetryIn {
                delay_ms: 60_000,
                message: "the endpoint is paused".into(),
            });
        }
        let Some(capture) = self
            .store
            .capture_export(&push.capture_uuid)
            .await
            .map_err(retry)?
        else {
            return Err(JobError::Discard("the capture is no longer stored".into()));
        };
        let keys = CaptureKeys::new("", &self.site, &capture);
        let body = Metadata::of(&self.site, &keys, &capture).to_json();
        let config = self.config.borrow().clone();
        let started = Instant::now();
        let (answer, excerpt) = self.post(&endpoint, &push, body, &config).await;
        let latency = started.elapsed();
        let (status, error) = match &answer {
            Answer::Status { code, .. } => (Some(*code), None),
            Answer::None(error) => (None, Some(error.clone())),
        };
        let next = next_step(&answer, job.attempt, &config.retry_schedule_s);
        self.metrics.delivered(&endpoint, &next, latency);
        self.store
            .record_delivery(&NewDelivery {
                endpoint_id: endpoint.id,
                capture_uuid: push.capture_uuid.clone(),
                webhook_id: push.webhook_id.clone(),
                event: push.event.clone(),
                attempt: job.attempt,
                status,
                latency_ms: latency.as_millis() as u64,
                error: error.clone(),
                response_excerpt: excerpt,
            })
            .await
            .map_err(retry)?;
        let failure = || match (status, &error) {
            (Some(code), _) => format!("the endpoint answered {code}"),
            (None, Some(error)) => error.clone(),
            (None, None) => "no answer".into(),
        };
        match next {
            Next::Delivered => {
                self.store
                    .note_push_success(endpoint.id)
                    .await
                    .map_err(retry)?;
                tracing::debug!(target: VEHICLE_LOG, vehicle_id = %capture.capture.vehicle_id, capture = %push.capture_uuid, client = %endpoint.client, "Pushed.");
                Ok(())
            }
            Next::Disable => {
                self.disable(&endpoint, "the endpoint answered 410 Gone")
                    .await;
                Err(JobError::Discard(failure()))
            }
            Next::Retry(wait) => {
                self.note_failure(&endpoint, &config).await;
                Err(JobError::RetryIn {
                    delay_ms: wait.as_millis() as u64,
                    message: failure(),
                })
            }
            Next::GiveUp => {
                self.note_failure(&endpoint, &config).await;
                Err(JobError::Discard(format!(
                    "{}; given up after {} attempts",
                    failure(),
                    job.attempt
                )))
            }
        }
    }
}

impl Delivery {
    /// One signed POST; the answer and the start of its body.
    async fn post(
        &self,
        endpoint: &PushEndpoint,
        push: &PushJob,
        body: Vec<u8>,
        config: &PushConfig,
    ) -> (Answer, Option<String>) {
        let timestamp_s = chrono::Utc::now().timestamp();
        let mut request = self
            .client
            .post(&endpoint.url)
            .timeout(Duration::from_millis(config.timeout_ms))
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("webhook-id", &push.webhook_id)
            .header("webhook-timestamp", timestamp_s.to_string());
        if let Some(secret) = &endpoint.secret
            && let Some(signature) = signature(secret, &push.webhook_id, timestamp_s, &body)
        {
            request = request.header("webhook-signature", signature);
        }
        match request.body(body).send().await {
            Ok(response) => {
                let code = response.status().as_u16();
                let retry_after = retry_after(&response);
                let excerpt = response.bytes().await.ok().map(|bytes| {
                    String::from_utf8_lossy(&bytes[..bytes.len().min(EXCERPT_BYTES)])
                        .chars()
                        .filter(|c| !c.is_control() || *c == ' ')
                        .collect()
                });
                (Answer::Status { code, retry_after }, excerpt)
            }
            // reqwest's message names the URL, never a header: the secret stays out of it.
            Err(error) => (Answer::None(error_chain(&error)), None),
        }
    }

    async fn note_failure(&self, endpoint: &PushEndpoint, config: &PushConfig) {
        let now_ms = chrono::Utc::now().timestamp_millis();
        let Ok(since_ms) = self.store.note_push_failure(endpoint.id, now_ms).await else {
            return;
        };
        let failing = Duration::from_millis(u64::try_from(now_ms - since_ms).unwrap_or(0));
        if failing > Duration::from_secs(config.disable_after_s) {
            let reason = format!("its deliveries failed for {} s", failing.as_secs());
            self.disable(endpoint, &reason).await;
        }
    }

    async fn disable(&self, endpoint: &PushEndpoint, reason: &str) {
        if let Err(error) = self.store.disable_push_endpoint(endpoint.id, reason).await {
            tracing::error!(%error, client = %endpoint.client, "Could not disable a push endpoint.");
            return;
        }
        self.metrics.endpoints_disabled_total.inc();
        tracing::warn!(client = %endpoint.client, reason, "Push endpoint disabled.");
        self.hub.publish(Event::PushEndpointDisabled {
            client: endpoint.client.clone(),
            reason: reason.to_owned(),
        });
    }
}

/// Runs one queue per enabled endpoint, and follows endpoints as they are registered,
/// changed, paused and removed.
#[derive(Debug)]
pub struct Dispatcher {
    pub store: Store,
    pub site: Arc<str>,
    pub hub: Hub,
    pub config: watch::Receiver<PushConfig>,
    pub metrics: UplinkMetrics,
}

/// A running endpoint queue: how to stop it and how to change its limits.
struct Running {
    stop: CancellationToken,
    spec: watch::Sender<QueueSpec>,
}

impl Dispatcher {
    fn spec(endpoint: &PushEndpoint, config: &PushConfig) -> QueueSpec {
        QueueSpec {
            name: push_queue(endpoint.id),
            concurrency: NonZeroU32::new(config.concurrency_per_endpoint)
                .unwrap_or(NonZeroU32::MIN),
            max_starts_per_minute: NonZeroU32::new(endpoint.rate_per_minute),
            // The delivery decides its own waits (RetryIn); this is for a store error.
            retry: RetryPolicy {
                base_ms: 5_000,
                max_ms: 300_000,
            },
            poll_ms: 1_000,
        }
    }
}

impl Component for Dispatcher {
    async fn run(&self, shutdown: CancellationToken) -> Result<(), TaskError> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(5))
            .build()?;
        let mut running: HashMap<i64, Running> = HashMap::new();
        let mut queues = JoinSet::new();
        loop {
            let endpoints = self.store.push_endpoints().await?;
            let config = self.config.borrow().clone();
            let enabled: HashMap<i64, &PushEndpoint> = endpoints
                .iter()
                .filter(|endpoint| endpoint.enabled)
                .map(|endpoint| (endpoint.id, endpoint))
                .collect();
            running.retain(|id, queue| {
                let keep = enabled.contains_key(id);
                if !keep {
                    queue.stop.cancel();
                }
                keep
            });
            for (id, endpoint) in enabled {
                let spec = Dispatcher::spec(endpoint, &config);
                if let Some(queue) = running.get(&id) {
                    queue.spec.send_if_modified(|current| {
                        let changed = *current != spec;
                        *current = spec.clone();
                        changed
                    });
                    continue;
                }
                let (spec_tx, spec_rx) = watch::channel(spec);
                let runner = QueueRunner {
                    store: self.store.clone(),
                    queue: spec_rx,
                    handler: Arc::new(Delivery {
                        endpoint_id: id,
                        store: self.store.clone(),
                        site: self.site.clone(),
                        hub: self.hub.clone(),
                        client: client.clone(),
                        config: self.config.clone(),
                        metrics: self.metrics.clone(),
                    }),
                };
                let stop = shutdown.child_token();
                let token = stop.clone();
                let client_name = endpoint.client.clone();
                queues.spawn(async move {
                    if let Err(error) = runner.run(token).await {
                        tracing::error!(%error, client = %client_name, "A push endpoint's queue stopped.");
                    }
                });
                running.insert(
                    id,
                    Running {
                        stop,
                        spec: spec_tx,
                    },
                );
            }
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = tokio::time::sleep(ENDPOINTS_EVERY) => {}
                Some(_) = queues.join_next() => {}
            }
        }
        while queues.join_next().await.is_some() {}
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_the_specifications() {
        // The example of the Standard Webhooks specification's reference implementations.
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let body = br#"{"test": 2432232314}"#;
        assert_eq!(
            signature(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body).as_deref(),
            Some("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
        );
        assert_eq!(signature("not-a-secret", "id", 1, b""), None);
    }

    #[test]
    fn failures_retry_on_the_schedule_and_410_disables() {
        let schedule = [5, 300, 1800];
        let status = |code| Answer::Status {
            code,
            retry_after: None,
        };
        assert_eq!(next_step(&status(204), 1, &schedule), Next::Delivered);
        assert_eq!(
            next_step(&status(500), 1, &schedule),
            Next::Retry(Duration::from_secs(5))
        );
        assert_eq!(
            next_step(&Answer::None("timed out".into()), 3, &schedule),
            Next::Retry(Duration::from_secs(1800))
        );
        assert_eq!(next_step(&status(500), 4, &schedule), Next::GiveUp);
        assert_eq!(next_step(&status(410), 1, &schedule), Next::Disable);
        let busy = |seconds| Answer::Status {
            code: 429,
            retry_after: Some(Duration::from_secs(seconds)),
        };
        assert_eq!(
            next_step(&busy(60), 1, &schedule),
            Next::Retry(Duration::from_secs(60))
        );
        assert_eq!(
            next_step(&busy(1), 2, &schedule),
            Next::Retry(Duration::from_secs(300))
        );
        assert_eq!(
            next_step(&busy(10_000_000), 1, &schedule),
            Next::Retry(MAX_RETRY_AFTER)
        );
    }
}
