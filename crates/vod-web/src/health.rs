//! Liveness (`/healthz`: the process answers; open to all) and readiness (`/readyz`: it can
//! store; open or for API tokens only, `web.readyz`). While image files cannot be written the
//! box still detects, counts and stores metadata, so it stays ready but says that images are
//! being dropped.

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;

use vod_store::ImageWrites;

use crate::AppState;
use crate::access::machine_access;

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
}

async fn readyz(State(state): State<AppState>, headers: HeaderMap) -> (StatusCode, String) {
    let access = state.config.current().web.readyz;
    if !machine_access(&state, access, &headers).await {
        state.access.refuse("unauthenticated");
        return (
            StatusCode::UNAUTHORIZED,
            "An API token is needed.\n".to_owned(),
        );
    }
    match state.store.ping().await {
        Ok(()) => match state.store.image_writes() {
            ImageWrites::Ok => (StatusCode::OK, "ready\n".to_owned()),
            ImageWrites::Failing { reason, .. } => (
                StatusCode::OK,
                format!("ready, degraded: images are not stored ({reason})\n"),
            ),
        },
        Err(error) => {
            tracing::warn!(%error, "Not ready: the store does not answer.");
            (StatusCode::SERVICE_UNAVAILABLE, format!("store: {error}\n"))
        }
    }
}
