//! The first page: the box's recent captures with their images, and the image files.

use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{Html, IntoResponse};
use axum::routing::get;
use vod_store::CaptureSummary;

use crate::{AppError, AppState};

/// How many captures the first page lists.
const RECENT_CAPTURES: u32 = 50;

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(index))
        .route("/images/{*path}", get(image))
        .route("/static/style.css", get(style))
        .route("/static/live.js", get(script))
}

#[derive(Template)]
#[template(path = "index.html")]
struct IndexPage {
    site_id: String,
    total: u64,
    captures: Vec<CaptureSummary>,
}

async fn index(State(state): State<AppState>) -> Result<Html<String>, AppError> {
    let page = IndexPage {
        site_id: state.site_id.to_string(),
        total: state.store.capture_count().await?,
        captures: state.store.recent_captures(RECENT_CAPTURES).await?,
    };
    Ok(Html(page.render()?))
}

async fn image(
    State(state): State<AppState>,
    Path(path): Path<String>,
) -> Result<impl IntoResponse, AppError> {
    let file = state.store.image_path(&path).ok_or(AppError::NotFound)?;
    let bytes = match tokio::fs::read(&file).await {
        Ok(bytes) => bytes,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            return Err(AppError::NotFound);
        }
        Err(error) => return Err(error.into()),
    };
    Ok(([(header::CONTENT_TYPE, "image/jpeg")], bytes))
}

async fn style() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/css")],
        include_str!("../../../web/static/style.css"),
    )
}

async fn script() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/javascript")],
        include_str!("../../../web/static/live.js"),
    )
}
