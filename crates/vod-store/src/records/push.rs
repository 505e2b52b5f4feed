//! Push endpoints: where events are sent over HTTP, one per client.

use sqlx::FromRow;

use crate::error::StoreError;
use crate::jobs::now_ms;
use crate::store::Store;

/// A push endpoint to add or to replace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPushEndpoint {
    pub client: String,
    pub url: String,
    pub secret: Option<String>,
    pub rate_per_minute: u32,
    pub enabled: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct PushEndpoint {
    pub id: i64,
    pub client: String,
    pub url: String,
    pub secret: Option<String>,
    pub rate_per_minute: u32,
    pub enabled: bool,
    pub created_at_ms: i64,
}

/// The columns of `push_endpoints` in the order of [`PushEndpoint`]'s fields.
macro_rules! push_columns {
    () => {
        "id, client, url, secret, rate_per_minute, enabled, created_at_ms"
    };
}

impl Store {
    /// Adds the client's endpoint, or replaces its settings when it has one (keeping its id
    /// and creation time).
    pub async fn upsert_push_endpoint(
        &self,
        endpoint: &NewPushEndpoint,
    ) -> Result<PushEndpoint, StoreError> {
        sqlx::query_as(concat!(
            "INSERT INTO push_endpoints (client, url, secret, rate_per_minute, enabled, \
                                         created_at_ms) VALUES (?, ?, ?, ?, ?, ?) \
             ON CONFLICT (client) DO UPDATE SET url = excluded.url, secret = excluded.secret, \
                 rate_per_minute = excluded.rate_per_minute, enabled = excluded.enabled \
             RETURNING ",
            push_columns!()
        ))
        .bind(&endpoint.client)
        .bind(&endpoint.url)
        .bind(&endpoint.secret)
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

    /// Turns a client's endpoint on or off; false when the client has none.
    pub async fn set_push_endpoint_enabled(
        &self,
        client: &str,
        enabled: bool,
    ) -> Result<bool, StoreError> {
        let updated = sqlx::query("UPDATE push_endpoints SET enabled = ? WHERE client = ?")
            .bind(enabled)
            .bind(client)
            .execute(&self.writer)
            .await
            .map_err(StoreError::database("switching a push endpoint"))?
            .rows_affected();
        Ok(updated == 1)
    }

    /// Removes a client's endpoint; false when the client has none.
    pub async fn delete_push_endpoint(&self, client: &str) -> Result<bool, StoreError> {
        let deleted = sqlx::query("DELETE FROM push_endpoints WHERE client = ?")
            .bind(client)
            .execute(&self.writer)
            .await
            .map_err(StoreError::database("removing a push endpoint"))?
            .rows_affected();
        Ok(deleted == 1)
    }
}
