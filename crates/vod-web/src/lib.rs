//! The technician's web page (server-rendered, live parts through server-sent events), the
//! health endpoints, and the Prometheus endpoint on a port of its own.

mod captures;
mod error;
mod health;
mod jobs;
mod live;
mod metrics;

use std::io;
use std::sync::Arc;

pub use axum::Router;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use vod_core::Hub;
use vod_store::Store;

pub use error::AppError;
pub use metrics::metrics_app;

/// What the handlers share.
#[derive(Debug, Clone)]
pub struct AppState {
    pub site_id: Arc<str>,
    pub store: Store,
    pub hub: Hub,
}

/// The technician's application: pages, images, live events, the job list, health.
pub fn app(state: AppState) -> Router {
    Router::new()
        .merge(captures::router())
        .merge(jobs::router())
        .merge(live::router())
        .merge(health::router())
        .with_state(state)
}

/// Serves `router` on `listener` until `shutdown`, then finishes requests in flight.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: CancellationToken,
) -> io::Result<()> {
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await
}
