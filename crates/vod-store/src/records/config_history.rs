//! The history of the configurations the box ran with.

use sha2::{Digest, Sha256};
use sqlx::FromRow;

use crate::error::StoreError;
use crate::jobs::now_ms;
use crate::store::Store;

/// Why a configuration was recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::Type)]
#[sqlx(rename_all = "snake_case")]
pub enum ConfigSource {
    Start,
    Reload,
}

/// One recorded configuration.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct ConfigRecord {
    pub id: i64,
    pub applied_at_ms: i64,
    pub sha256: String,
    pub toml: String,
    pub source: ConfigSource,
}

impl Store {
    /// Records the configuration `toml` unless it is the same text as the last one recorded;
    /// returns whether a row was added.
    pub async fn record_config(
        &self,
        toml: &str,
        source: ConfigSource,
    ) -> Result<bool, StoreError> {
        let sha256 = format!("{:x}", Sha256::digest(toml.as_bytes()));
        let inserted = sqlx::query(
            "INSERT INTO config_history (applied_at_ms, sha256, toml, source) \
             SELECT ?1, ?2, ?3, ?4 WHERE ?2 IS NOT \
                 (SELECT sha256 FROM config_history ORDER BY id DESC LIMIT 1)",
        )
        .bind(now_ms())
        .bind(&sha256)
        .bind(toml)
        .bind(source)
        .execute(&self.writer)
        .await
        .map_err(StoreError::database("recording the configuration"))?
        .rows_affected();
        Ok(inserted == 1)
    }

    /// The recorded configurations, newest first, at most `limit`.
    pub async fn config_history(&self, limit: u32) -> Result<Vec<ConfigRecord>, StoreError> {
        sqlx::query_as(
            "SELECT id, applied_at_ms, sha256, toml, source FROM config_history \
             ORDER BY id DESC LIMIT ?",
        )
        .bind(limit)
        .fetch_all(&self.reader)
        .await
        .map_err(StoreError::database("reading the configuration history"))
    }
}
