//! The Prometheus scrape target, served on its own port: open, or for API tokens only
//! (`metrics.access`).

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use prometheus::{Encoder, TextEncoder};

use crate::AppState;
use crate::access::machine_access;

pub fn metrics_app(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(scrape))
        .with_state(state)
}

async fn scrape(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let access = state.config.current().metrics.access;
    if !machine_access(&state, access, &headers).await {
        state.access.refuse("unauthenticated");
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            "An API token is needed.\n",
        )
            .into_response();
    }
    let encoder = TextEncoder::new();
    let mut body = Vec::new();
    match encoder.encode(&state.registry.gather(), &mut body) {
        Ok(()) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, encoder.format_type().to_owned())],
            body,
        )
            .into_response(),
        Err(error) => {
            tracing::error!(%error, "Metrics could not be encoded.");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}
