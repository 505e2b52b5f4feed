//! Liveness (`/healthz`: the process answers) and readiness (`/readyz`: it can store).

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;

use crate::AppState;

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
}

async fn readyz(State(state): State<AppState>) -> (StatusCode, String) {
    match state.store.ping().await {
        Ok(()) => (StatusCode::OK, "ready\n".to_owned()),
        Err(error) => {
            tracing::warn!(%error, "Not ready: the store does not answer.");
            (StatusCode::SERVICE_UNAVAILABLE, format!("store: {error}\n"))
        }
    }
}
