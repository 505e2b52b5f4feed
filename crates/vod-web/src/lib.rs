//! The technician's web page (axum + askama, server-rendered, live parts through server-sent
//! events): the capture list and image files, the job list `/jobs` with its JSON API
//! `/api/jobs`, `/events`, `/healthz`, `/readyz`; and the Prometheus endpoint on a port of its
//! own. [`Server`] serves a router on a socket bound before start.

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
use vod_core::{Component, Hub, TaskError};
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

/// An HTTP server: a socket bound once before start and the router it serves. Each run
/// serves a duplicate of the socket, so a restarted server never gives up its port; at
/// shutdown it finishes the requests in flight.
#[derive(Debug)]
pub struct Server {
    pub listener: std::net::TcpListener,
    pub router: Router,
}

impl Server {
    /// A server on `listener`, which is made non-blocking for the async runtime.
    pub fn new(listener: std::net::TcpListener, router: Router) -> io::Result<Server> {
        listener.set_nonblocking(true)?;
        Ok(Server { listener, router })
    }
}

impl Component for Server {
    async fn run(&self, shutdown: CancellationToken) -> Result<(), TaskError> {
        let socket = TcpListener::from_std(self.listener.try_clone()?)?;
        axum::serve(socket, self.router.clone())
            .with_graceful_shutdown(shutdown.cancelled_owned())
            .await?;
        Ok(())
    }
}
