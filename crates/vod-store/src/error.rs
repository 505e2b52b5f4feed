//! The one error type of the store; each variant names the operation and, for files, the path.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{operation} {}", path.display())]
    Io {
        operation: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("opening the database {}", path.display())]
    Open {
        path: PathBuf,
        #[source]
        source: sqlx::Error,
    },

    #[error("migrating the database {}", path.display())]
    Migrate {
        path: PathBuf,
        #[source]
        source: sqlx::migrate::MigrateError,
    },

    #[error("{operation} in the database")]
    Database {
        operation: &'static str,
        #[source]
        source: sqlx::Error,
    },

    #[error("{0}")]
    Invalid(String),

    #[error("the database holds a value it cannot read: {0}")]
    Corrupt(String),

    #[error("encoding a list for the database")]
    Json(#[source] serde_json::Error),

    #[error("the task writing image files did not finish")]
    ImageTask(#[source] tokio::task::JoinError),

    #[error("hashing a password: {0}")]
    PasswordHash(String),

    #[error("the task hashing a password did not finish")]
    HashTask(#[source] tokio::task::JoinError),
}

impl StoreError {
    pub(crate) fn io(
        operation: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> StoreError {
        let path = path.into();
        move |source| StoreError::Io {
            operation,
            path,
            source,
        }
    }

    pub(crate) fn database(operation: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
        move |source| StoreError::Database { operation, source }
    }
}
