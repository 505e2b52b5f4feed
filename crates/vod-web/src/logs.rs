//! The logs page: the newest lines of the box's log from the in-memory ring, by level,
//! refreshed live by the page.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Router};
use serde::Deserialize;
use tracing::Level;
use vod_core::log_ring::LogLine;

use crate::access::Identity;
use crate::layout::Layout;
use crate::{AppError, AppState};

/// Lines the page shows at most.
const SHOWN: usize = 500;

/// Technicians: a log names users and addresses.
pub(crate) fn router() -> Router<AppState> {
    Router::new().route("/logs", get(page))
}

#[derive(Debug, Deserialize)]
struct LogsQuery {
    #[serde(default)]
    level: String,
}

#[derive(Template)]
#[template(path = "logs.html")]
struct LogsPage {
    layout: Layout,
    level: &'static str,
    levels: [&'static str; 5],
    lines: Vec<LogLine>,
}

async fn page(
    State(state): State<AppState>,
    Extension(identity): Extension<Identity>,
    Query(query): Query<LogsQuery>,
) -> Result<Response, AppError> {
    let level = match query.level.as_str() {
        "" => Level::INFO,
        name => match name.parse::<Level>() {
            Ok(level) => level,
            Err(_) => {
                return Ok((
                    StatusCode::BAD_REQUEST,
                    "level: one of error, warn, info, debug, trace",
                )
                    .into_response());
            }
        },
    };
    let page = LogsPage {
        layout: Layout::new(&state, &identity, "Logs"),
        level: level_name(level),
        levels: ["error", "warn", "info", "debug", "trace"],
        lines: state.logs.recent(level, SHOWN),
    };
    Ok(Html(page.render()?).into_response())
}

fn level_name(level: Level) -> &'static str {
    match level {
        Level::ERROR => "error",
        Level::WARN => "warn",
        Level::INFO => "info",
        Level::DEBUG => "debug",
        Level::TRACE => "trace",
    }
}
