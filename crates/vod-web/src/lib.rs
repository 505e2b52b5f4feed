//! The technician's web page (axum + askama, server-rendered, live parts through server-sent
//! events), secure by default, and the Prometheus endpoint on a port of its own.
//!
//! - `access`: identities (sessions, API tokens), roles, login and first run, the host
//!   allow-list, Origin and CSRF checks, security headers;
//! - `dashboard`, `captures` (search, detail, review queue, images), `lidar` (the latest scan
//!   of each scanner as SVG, relearning the road), `cameras`, `export` (the labelled set of
//!   reviewed captures as tar), `logs`, `config_page`, `users`
//!   (users and API tokens), `uplink` (uploads and push endpoints), `jobs` (page and JSON API), `live` (`/events`), `health`
//!   (`/healthz`, `/readyz`), `metrics`;
//! - `serve`: the server with its connection cap and header deadline; `tls`: HTTPS.
//!
//! Every route names the role it needs where it is mounted in [`app`].

mod access;
mod cameras;
mod captures;
mod config_page;
mod dashboard;
mod error;
mod export;
mod health;
mod jobs;
mod layout;
mod lidar;
mod live;
mod logs;
mod metrics;
mod serve;
mod tls;
mod uplink;
mod users;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{StatusCode, header};
use axum::middleware::from_fn_with_state;
use axum::response::IntoResponse;
use axum::routing::get;
use prometheus::Registry;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;
use vod_core::config::live::ConfigHandle;
use vod_core::log_ring::LogRing;
use vod_core::{Hub, ScannerView, TestTriggers};
use vod_store::Store;

pub use access::login::{MIN_PASSWORD_CHARS, check_new_user};
pub use access::{Access, AccessMetrics, Identity, MAX_BODY_BYTES};
pub use error::AppError;
pub use metrics::metrics_app;
pub use serve::{ConnectionLimits, Server, ServerMetrics};
pub use tls::tls_acceptor;

/// The longest a request other than the event stream may take.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// What the handlers share.
#[derive(Debug, Clone)]
pub struct AppState {
    pub site_id: Arc<str>,
    pub store: Store,
    pub hub: Hub,
    pub config: ConfigHandle,
    pub registry: Registry,
    pub access: Arc<Access>,
    /// Slots for live event streams (`web.max_event_streams`).
    pub event_streams: Arc<Semaphore>,
    /// Cancelled when the box stops: the event streams end.
    pub stopping: CancellationToken,
    pub started: Instant,
    /// Each scanner pipeline's latest scan and relearn request, for the LIDAR page.
    pub scanners: Arc<[ScannerView]>,
    /// The newest log lines, for the logs page.
    pub logs: LogRing,
    /// Each camera's trigger channel, for test captures.
    pub test_triggers: TestTriggers,
    /// The page is served over TLS: cookies are marked Secure.
    pub secure_cookies: bool,
}

impl AppState {
    pub fn new(
        store: Store,
        hub: Hub,
        config: ConfigHandle,
        registry: Registry,
        access: Arc<Access>,
        stopping: CancellationToken,
    ) -> AppState {
        let running = config.current();
        AppState {
            site_id: Arc::from(running.site.id.as_str()),
            event_streams: Arc::new(Semaphore::new(running.web.max_event_streams as usize)),
            store,
            hub,
            config,
            registry,
            access,
            stopping,
            started: Instant::now(),
            scanners: Arc::from([]),
            logs: LogRing::new(1),
            test_triggers: TestTriggers::default(),
            secure_cookies: running.web.tls_cert_file.is_some(),
        }
    }

    /// The state with the cameras' trigger channels, for test captures.
    pub fn with_test_triggers(mut self, triggers: TestTriggers) -> AppState {
        self.test_triggers = triggers;
        self
    }

    /// The state with the ring the process's logger fills.
    pub fn with_logs(mut self, logs: LogRing) -> AppState {
        self.logs = logs;
        self
    }

    /// The state with the views of the running scanner pipelines.
    pub fn with_scanners(mut self, scanners: Vec<ScannerView>) -> AppState {
        self.scanners = Arc::from(scanners);
        self
    }
}

/// The technician's application. Open: `/healthz`, `/readyz` (unless `web.readyz` is
/// `token`), the login and first-run pages, the static files. Everything else needs a viewer,
/// a technician or an admin, as mounted here.
pub fn app(state: AppState) -> Router {
    let viewer = Router::new()
        .merge(dashboard::router())
        .merge(captures::view_router())
        .merge(jobs::view_router())
        .merge(uplink::view_router())
        .merge(lidar::view_router())
        .merge(cameras::view_router())
        .merge(access::login::session_router())
        .route_layer(from_fn_with_state(state.clone(), access::require_viewer));
    let technician = Router::new()
        .merge(captures::review_router())
        .merge(jobs::act_router())
        .merge(config_page::router())
        .merge(lidar::act_router())
        .merge(export::router())
        .merge(cameras::act_router())
        .merge(logs::router())
        .route_layer(from_fn_with_state(
            state.clone(),
            access::require_technician,
        ));
    let admin = Router::new()
        .merge(users::router())
        .merge(uplink::admin_router())
        .route_layer(from_fn_with_state(state.clone(), access::require_admin));
    let open = Router::new()
        .merge(access::login::open_router())
        .merge(health::router())
        .route("/static/style.css", get(style))
        .route("/static/live.js", get(script));
    let timed = Router::new()
        .merge(viewer)
        .merge(technician)
        .merge(admin)
        .merge(open)
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            REQUEST_TIMEOUT,
        ));
    // The event stream lives long: no request timeout, but a cap on streams.
    let events =
        live::router().route_layer(from_fn_with_state(state.clone(), access::require_viewer));
    let mut router = Router::new()
        .merge(timed)
        .merge(events)
        .fallback(|| async { (StatusCode::NOT_FOUND, "Not found.") })
        .layer(from_fn_with_state(state.clone(), access::guard))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES));
    for (name, value) in access::security_headers() {
        router = router.layer(SetResponseHeaderLayer::if_not_present(name, value));
    }
    router.with_state(state)
}

async fn style() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css"),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        include_str!("../../../web/static/style.css"),
    )
}

async fn script() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript"),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        include_str!("../../../web/static/live.js"),
    )
}
