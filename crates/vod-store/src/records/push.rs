//! Push endpoints: where captures are delivered over HTTP, one per client, registered,
//! changed, paused and removed while the box runs; and the history of every delivery.

use serde::Serialize;
use sqlx::sqlite::SqliteRow;
use sqlx::{FromRow, Row};

use crate::error::StoreError;
use crate::jobs::{self, Enqueued, NewJob, now_ms};
use crate::outbound::{PUSH_EVENTS, PUSH_KIND, PushJob, push_queue};
use crate::store::Store;

/// A push endpoint to add or to replace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPushEndpoint {
    pub client: String,
    pub url: String,
    /// `whsec_` and base64: signs each delivery (Standard Webhooks).
    pub secret: Option<String>,
    /// Of [`PUSH_EVENTS`].
    pub events: Vec<String>,
    pub rate_per_minute: u32,
    pub enabled: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PushEndpoint {
    pub id: i64,
    pub client: String,
    pub url: String,
    /// Never shown: [`PushEndpoint::has_secret`] says whether there is one.
    #[serde(skip)]
    pub secret: Option<String>,
    pub events: Vec<String>,
    pub rate_per_minute: u32,
    pub enabled: bool,
    pub created_at_ms: i64,
    /// Since when its deliveries fail, if they do.
    pub failing_since_ms: Option<i64>,
    /// Why the box disabled it.
    pub disabled_reason: Option<String>,
}

impl PushEndpoint {
    pub fn has_secret(&self) -> bool {
        self.secret.is_some()
    }
}

impl FromRow<'_, SqliteRow> for PushEndpoint {
    fn from_row(row: &SqliteRow) -> Result<Self, sqlx::Error> {
        let events: String = row.try_get("events")?;
        Ok(PushEndpoint {
            id: row.try_get("id")?,
            client: row.try_get("client")?,
            url: row.try_get("url")?,
            secret: row.try_get("secret")?,
            events: serde_json::from_str(&events).map_err(|error| sqlx::Error::ColumnDecode {
                index: "events".into(),
                source: error.into(),
            })?,
            rate_per_minute: row.try_get("rate_per_minute")?,
            enabled: row.try_get("enabled")?,
            created_at_ms: row.try_get("created_at_ms")?,
            failing_since_ms: row.try_get("failing_since_ms")?,
            disabled_reason: row.try_get("disabled_reason")?,
        })
    }
}

/// The columns of `push_endpoints` that [`PushEndpoint`] reads.
macro_rules! push_columns {
    () => {
        "id, client, url, secret, events, rate_per_minute, enabled, created_at_ms, \
         failing_since_ms, disabled_reason"
    };
}

/// Why an endpoint cannot be saved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EndpointProblem {
    #[error("url: must start with http:// or https://")]
    Url,
    #[error("secret: must be whsec_ followed by base64")]
    Secret,
    #[error("events: {0:?} is not one of {PUSH_EVENTS:?}")]
    Event(String),
    #[error("events: at least one")]
    NoEvent,
    #[error("client: must not be empty")]
    Client,
}

impl NewPushEndpoint {
    /// The problems of this endpoint, before it is saved.
    pub fn problems(&self) -> Vec<EndpointProblem> {
        let mut problems = Vec::new();
        if self.client.trim().is_empty() {
            problems.push(EndpointProblem::Client);
        }
        if !(self.url.starts_with("http://") || self.url.starts_with("https://")) {
            problems.push(EndpointProblem::Url);
        }
        if self.secret.as_ref().is_some_and(|secret| {
            secret
                .strip_prefix("whsec_")
                .is_none_or(|key| key.is_empty() || !key.bytes().all(is_base64))
        }) {
            problems.push(EndpointProblem::Secret);
        }
        if self.events.is_empty() {
            problems.push(EndpointProblem::NoEvent);
        }
        for event in &self.events {
            if !PUSH_EVENTS.contains(&event.as_str()) {
                problems.push(EndpointProblem::Event(event.clone()));
            }
        }
        problems
    }
}

fn is_base64(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'+' | b'/' | b'=')
}

/// One attempt at a delivery, as the history keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, FromRow)]
pub struct Delivery {
    pub id: i64,
    pub endpoint_id: i64,
    pub capture_id: Option<i64>,
    pub webhook_id: String,
    pub event: String,
    pub attempt: u32,
    pub at_ms: i64,
    /// The HTTP status; `None` when no answer came.
    pub status: Option<u16>,
    pub latency_ms: u64,
    pub error: Option<String>,
    pub response_excerpt: Option<String>,
}

/// An attempt to keep in the history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDelivery {
    pub endpoint_id: i64,
    pub capture_uuid: String,
    pub webhook_id: String,
    pub event: String,
    pub attempt: u32,
    pub status: Option<u16>,
    pub latency_ms: u64,
    pub error: Option<String>,
    pub response_excerpt: Option<String>,
}

impl Store {
    /// Adds the client's endpoint, or replaces its settings when it has one (keeping its id
    /// and creation time); an enabled endpoint starts with a clean record.
    pub async fn upsert_push_endpoint(
        &self,
        endpoint: &NewPushEndpoint,
    ) -> Result<PushEndpoint, StoreError> {
        if let Some(problem) = endpoint.problems().into_iter().next() {
            return Err(StoreError::Invalid(problem.to_string()));
        }
        // Plain data: serializing it cannot fail.
        let events = serde_json::to_string(&endpoint.events).unwrap_or_default();
        sqlx::query_as(concat!(
            "INSERT INTO push_endpoints (client, url, secret, events, rate_per_minute, enabled, \
                                         created_at_ms) VALUES (?, ?, ?, ?, ?, ?, ?) \
             ON CONFLICT (client) DO UPDATE SET url = excluded.url, secret = excluded.secret, \
                 events = excluded.events, rate_per_minute = excluded.rate_per_minute, \
                 enabled = excluded.enabled, failing_since_ms = NULL, disabled_reason = NULL \
             RETURNING ",
            push_columns!()
        ))
        .bind(&endpoint.client)
        .bind(&endpoint.url)
        .bind(&endpoint.secret)
        .bind(events)
        .bind(endpoint.rate_per_minute.max(1))
        .bind(endpoint.enabled)
        .bind(now_ms())
        .fetch_one(&self.writer)
        .await
        .map_err(StoreError::database("saving a push endpoint"))
    }

    pub async fn push_endpoints(&self) -> Result<Vec<PushEndpoint>, StoreError> {
        sqlx::query_as(concat!(
            "SELECT ",
            push_columns!(),
            " FROM push_endpoints ORDER BY client"
        ))
        .fetch_all(&self.reader)
        .await
        .map_err(StoreError::database("listing push endpoints"))
    }

    pub async fn push_endpoint(&self, id: i64) -> Result<Option<PushEndpoint>, StoreError> {
        sqlx::query_as(concat!(
            "SELECT ",
            push_columns!(),
            " FROM push_endpoints WHERE id = ?"
        ))
        .bind(id)
        .fetch_optional(&self.reader)
        .await
        .map_err(StoreError::database("reading a push endpoint"))
    }

    /// Turns a client's endpoint on (with a clean record) or off (paused: its deliveries
    /// wait); false when the client has none.
    pub async fn set_push_endpoint_enabled(
        &self,
        client: &str,
        enabled: bool,
    ) -> Result<bool, StoreError> {
        let updated = sqlx::query(
            "UPDATE push_endpoints SET enabled = ?, failing_since_ms = NULL, \
                 disabled_reason = NULL WHERE client = ?",
        )
        .bind(enabled)
        .bind(client)
        .execute(&self.writer)
        .await
        .map_err(StoreError::database("switching a push endpoint"))?
        .rows_affected();
        Ok(updated == 1)
    }

    /// Disables endpoint `id` and says why (it answered 410, or failed for too long).
    pub async fn disable_push_endpoint(&self, id: i64, reason: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE push_endpoints SET enabled = 0, disabled_reason = ? WHERE id = ?")
            .bind(reason)
            .bind(id)
            .execute(&self.writer)
            .await
            .map_err(StoreError::database("disabling a push endpoint"))?;
        Ok(())
    }

    /// Removes a client's endpoint, its history and the deliveries still waiting for it; false
    /// when the client has none.
    pub async fn delete_push_endpoint(&self, client: &str) -> Result<bool, StoreError> {
        let error = StoreError::database;
        let mut tx = self
            .writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(error("beginning an endpoint removal"))?;
        let id: Option<i64> =
            sqlx::query_scalar("DELETE FROM push_endpoints WHERE client = ? RETURNING id")
                .bind(client)
                .fetch_optional(&mut *tx)
                .await
                .map_err(error("removing a push endpoint"))?;
        if let Some(id) = id {
            sqlx::query(
                "UPDATE jobs SET state = 'cancelled', finished_at_ms = ?, \
                     last_error = 'the push endpoint was removed' \
                 WHERE queue = ? AND state = 'available'",
            )
            .bind(now_ms())
            .bind(push_queue(id))
            .execute(&mut *tx)
            .await
            .map_err(error("cancelling an endpoint's deliveries"))?;
        }
        tx.commit()
            .await
            .map_err(error("committing an endpoint removal"))?;
        Ok(id.is_some())
    }

    /// Records a failed delivery to endpoint `id`; returns since when it has been failing.
    pub async fn note_push_failure(&self, id: i64, now_ms: i64) -> Result<i64, StoreError> {
        let since: Option<i64> = sqlx::query_scalar(
            "UPDATE push_endpoints SET failing_since_ms = COALESCE(failing_since_ms, ?1) \
             WHERE id = ?2 RETURNING failing_since_ms",
        )
        .bind(now_ms)
        .bind(id)
        .fetch_optional(&self.writer)
        .await
        .map_err(StoreError::database("recording a push failure"))?;
        Ok(since.unwrap_or(now_ms))
    }

    /// Records a successful delivery to endpoint `id`: it is no longer failing.
    pub async fn note_push_success(&self, id: i64) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE push_endpoints SET failing_since_ms = NULL \
             WHERE id = ? AND failing_since_ms IS NOT NULL",
        )
        .bind(id)
        .execute(&self.writer)
        .await
        .map_err(StoreError::database("recording a push success"))?;
        Ok(())
    }

    pub async fn record_delivery(&self, delivery: &NewDelivery) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO push_deliveries (endpoint_id, capture_id, webhook_id, event, attempt, \
                 at_ms, status, latency_ms, error, response_excerpt) \
             VALUES (?1, (SELECT id FROM captures WHERE uuid = ?2), ?3, ?4, ?5, ?6, ?7, ?8, ?9, \
                     ?10)",
        )
        .bind(delivery.endpoint_id)
        .bind(&delivery.capture_uuid)
        .bind(&delivery.webhook_id)
        .bind(&delivery.event)
        .bind(delivery.attempt)
        .bind(now_ms())
        .bind(delivery.status)
        .bind(i64::try_from(delivery.latency_ms).unwrap_or(i64::MAX))
        .bind(&delivery.error)
        .bind(&delivery.response_excerpt)
        .execute(&self.writer)
        .await
        .map_err(StoreError::database("recording a delivery"))?;
        Ok(())
    }

    /// The newest delivery attempts to endpoint `endpoint_id`, at most `limit`.
    pub async fn deliveries(
        &self,
        endpoint_id: i64,
        limit: u32,
    ) -> Result<Vec<Delivery>, StoreError> {
        sqlx::query_as(
            "SELECT id, endpoint_id, capture_id, webhook_id, event, attempt, at_ms, status, \
                    latency_ms, error, response_excerpt \
             FROM push_deliveries WHERE endpoint_id = ? ORDER BY id DESC LIMIT ?",
        )
        .bind(endpoint_id)
        .bind(limit)
        .fetch_all(&self.reader)
        .await
        .map_err(StoreError::database("listing deliveries"))
    }

    /// Sends delivery `delivery_id` again, as a new job with the same message id (the receiver
    /// may drop it as a duplicate); `None` when there is no such delivery or its capture is
    /// gone.
    pub async fn replay_delivery(
        &self,
        delivery_id: i64,
        attempts: u32,
    ) -> Result<Option<Enqueued>, StoreError> {
        let Some(row) = sqlx::query(
            "SELECT d.endpoint_id, d.event, d.webhook_id, c.uuid, c.id AS capture_id \
             FROM push_deliveries d JOIN captures c ON c.id = d.capture_id WHERE d.id = ?",
        )
        .bind(delivery_id)
        .fetch_optional(&self.reader)
        .await
        .map_err(StoreError::database("reading a delivery"))?
        else {
            return Ok(None);
        };
        let endpoint_id: i64 = row.get("endpoint_id");
        let push = PushJob {
            endpoint_id,
            capture_uuid: row.get("uuid"),
            event: row.get("event"),
            webhook_id: row.get("webhook_id"),
        };
        let job = NewJob {
            queue: push_queue(endpoint_id),
            kind: PUSH_KIND.into(),
            // Plain data: serializing it cannot fail.
            args: serde_json::to_string(&push).unwrap_or_default(),
            max_attempts: attempts.max(1),
            run_at_ms: None,
            unique_key: None,
            idempotency_key: None,
        };
        let error = StoreError::database;
        let mut tx = self
            .writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(error("beginning a replay"))?;
        let capture_id: i64 = row.get("capture_id");
        let enqueued = jobs::insert_job(&mut tx, &job, Some(capture_id), now_ms()).await?;
        tx.commit().await.map_err(error("committing a replay"))?;
        self.jobs_notify.notify_waiters();
        Ok(Some(enqueued))
    }
}
