//! The config history: every change through the live configuration handle, applied or
//! refused, with who asked, through what, the key paths and the text.

use sha2::{Digest, Sha256};
use sqlx::FromRow;
use vod_core::config::live::{
    BoxFuture, ChangeSource, ConfigChange, ConfigHistory, HistoryEntry, HistoryError, Outcome,
};

use crate::error::StoreError;
use crate::jobs::now_ms;
use crate::store::Store;

/// A row as stored; lists are JSON arrays.
#[derive(Debug, FromRow)]
struct Row {
    id: i64,
    at_ms: i64,
    sha256: String,
    toml: String,
    source: String,
    actor: String,
    outcome: String,
    changed: String,
    restart_needed: String,
    error: Option<String>,
}

/// The columns of a [`Row`], for `concat!` (queries are static strings).
macro_rules! columns {
    () => {
        "id, at_ms, sha256, toml, source, actor, outcome, changed, restart_needed, error"
    };
}

impl Row {
    fn entry(self) -> Result<HistoryEntry, StoreError> {
        let corrupt =
            |what: &str| StoreError::Corrupt(format!("config_history {}: {what}", self.id));
        let list = |text: &str| {
            serde_json::from_str::<Vec<String>>(text).map_err(|_| corrupt("a key path list"))
        };
        Ok(HistoryEntry {
            id: self.id,
            at_ms: self.at_ms,
            sha256: self.sha256.clone(),
            change: ConfigChange {
                source: ChangeSource::parse(&self.source).ok_or_else(|| corrupt("the source"))?,
                actor: self.actor.clone(),
                outcome: Outcome::parse(&self.outcome).ok_or_else(|| corrupt("the outcome"))?,
                changed: list(&self.changed)?,
                restart_needed: list(&self.restart_needed)?,
                error: self.error.clone(),
                toml: self.toml.clone(),
            },
        })
    }
}

impl Store {
    /// Adds a row to the config history; returns its id.
    pub async fn record_config_change(&self, change: &ConfigChange) -> Result<i64, StoreError> {
        let list = |paths: &[String]| serde_json::Value::from(paths).to_string();
        let id = sqlx::query_scalar(
            "INSERT INTO config_history \
                 (at_ms, sha256, toml, source, actor, outcome, changed, restart_needed, error) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        )
        .bind(now_ms())
        .bind(format!("{:x}", Sha256::digest(change.toml.as_bytes())))
        .bind(&change.toml)
        .bind(change.source.as_str())
        .bind(&change.actor)
        .bind(change.outcome.as_str())
        .bind(list(&change.changed))
        .bind(list(&change.restart_needed))
        .bind(&change.error)
        .fetch_one(&self.writer)
        .await
        .map_err(StoreError::database("recording a config change"))?;
        Ok(id)
    }

    /// The config history, newest first, at most `limit`.
    pub async fn config_history(&self, limit: u32) -> Result<Vec<HistoryEntry>, StoreError> {
        let rows: Vec<Row> = sqlx::query_as(concat!(
            "SELECT ",
            columns!(),
            " FROM config_history ORDER BY id DESC LIMIT ?"
        ))
        .bind(limit)
        .fetch_all(&self.reader)
        .await
        .map_err(StoreError::database("reading the config history"))?;
        rows.into_iter().map(Row::entry).collect()
    }

    /// Entry `id`, or with `None` the newest applied one.
    async fn config_entry(&self, id: Option<i64>) -> Result<Option<HistoryEntry>, StoreError> {
        let row: Option<Row> = sqlx::query_as(concat!(
            "SELECT ",
            columns!(),
            " FROM config_history WHERE id = ?1 OR (?1 IS NULL AND outcome = 'applied') \
             ORDER BY id DESC LIMIT 1"
        ))
        .bind(id)
        .fetch_optional(&self.reader)
        .await
        .map_err(StoreError::database("reading the config history"))?;
        row.map(Row::entry).transpose()
    }
}

impl ConfigHistory for Store {
    fn record(&self, entry: ConfigChange) -> BoxFuture<'_, Result<i64, HistoryError>> {
        Box::pin(async move { Ok(self.record_config_change(&entry).await?) })
    }

    fn entry(&self, id: i64) -> BoxFuture<'_, Result<Option<HistoryEntry>, HistoryError>> {
        Box::pin(async move { Ok(self.config_entry(Some(id)).await?) })
    }

    fn recent(&self, limit: u32) -> BoxFuture<'_, Result<Vec<HistoryEntry>, HistoryError>> {
        Box::pin(async move { Ok(self.config_history(limit).await?) })
    }

    fn last_applied(&self) -> BoxFuture<'_, Result<Option<HistoryEntry>, HistoryError>> {
        Box::pin(async move { Ok(self.config_entry(None).await?) })
    }
}
