//! The one error type of the handlers: logs server faults, never shows internals.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("not found")]
    NotFound,
    #[error(transparent)]
    Store(#[from] vod_store::StoreError),
    #[error("template: {0}")]
    Template(#[from] askama::Error),
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Internal(String),
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        match self {
            AppError::NotFound => (StatusCode::NOT_FOUND, "Not found.").into_response(),
            error => {
                tracing::error!(%error, "Request failed.");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Internal error; see the box's log.",
                )
                    .into_response()
            }
        }
    }
}
