//! Captures: the search (time, lane, people counted, review state), a capture's page with
//! the detections and seat-row zones drawn over each image, its vehicle, its counts, its
//! reviews and its upload and push jobs; the review queue; the image files.

use askama::Template;
use axum::extract::{Form, Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use chrono::{NaiveDateTime, TimeZone, Utc};
use serde::Deserialize;
use vod_core::SeatRow;
use vod_core::config::SeatRowsConfig;
use vod_store::{CaptureExport, CaptureId, CaptureListing, CaptureQuery, ReviewFilter, RowReview};

use crate::access::Identity;
use crate::layout::Layout;
use crate::{AppError, AppState};

/// The vehicle classes the detector gives (`VehicleClass`'s names).
const CLASSES: [&str; 4] = ["car", "van", "truck", "motorcycle"];

/// Captures on one page of a list.
const PAGE_CAPTURES: u32 = 50;

/// The seat rows a review may count; a count above this is a typing mistake.
const MAX_PEOPLE_PER_ROW: u32 = 9;

/// Looking: every viewer.
pub(crate) fn view_router() -> Router<AppState> {
    Router::new()
        .route("/captures", get(list))
        .route("/review", get(queue))
        .route("/captures/{uuid}", get(detail))
        .route("/captures/{uuid}/images/{burst}", get(capture_image))
        .route("/images/{*path}", get(image))
}

/// Reviewing: technicians.
pub(crate) fn review_router() -> Router<AppState> {
    Router::new().route("/captures/{uuid}/review", post(review))
}

/// The search form; every field may be empty.
#[derive(Debug, Default, Deserialize)]
struct SearchQuery {
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    lane: String,
    #[serde(default)]
    class: String,
    #[serde(default)]
    people: String,
    #[serde(default)]
    review: String,
    before: Option<i64>,
}

impl SearchQuery {
    fn query(&self) -> Result<CaptureQuery, String> {
        let time = |field: &str, text: &str| -> Result<Option<i64>, String> {
            if text.is_empty() {
                return Ok(None);
            }
            NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M")
                .or_else(|_| NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S"))
                .map(|at| Some(Utc.from_utc_datetime(&at).timestamp_millis()))
                .map_err(|_| format!("{field}: a UTC time such as 2026-12-01T08:30"))
        };
        Ok(CaptureQuery {
            before: self.before.map(CaptureId),
            vehicle: None,
            lane: (!self.lane.is_empty()).then(|| self.lane.clone()),
            class: match self.class.as_str() {
                "" => None,
                class if CLASSES.contains(&class) => Some(class.to_owned()),
                _ => return Err("class: car, van, truck or motorcycle".to_owned()),
            },
            from_ms: time("from", &self.from)?,
            to_ms: time("to", &self.to)?,
            people: if self.people.is_empty() {
                None
            } else {
                Some(
                    self.people
                        .parse()
                        .map_err(|_| "people: a whole number".to_owned())?,
                )
            },
            review: ReviewFilter::parse(&self.review)
                .ok_or_else(|| "review: empty, waiting or reviewed".to_owned())?,
            limit: PAGE_CAPTURES,
        })
    }

    /// This search's link, for the next page.
    fn link(&self, path: &str, before: i64) -> String {
        let pairs = [
            ("from", self.from.as_str()),
            ("to", self.to.as_str()),
            ("lane", self.lane.as_str()),
            ("class", self.class.as_str()),
            ("people", self.people.as_str()),
            ("review", self.review.as_str()),
        ];
        let mut query: Vec<(&str, String)> = pairs
            .into_iter()
            .filter(|(_, value)| !value.is_empty())
            .map(|(key, value)| (key, value.to_owned()))
            .collect();
        query.push(("before", before.to_string()));
        format!(
            "{path}?{}",
            serde_urlencoded::to_string(query).unwrap_or_default()
        )
    }
}

#[derive(Template)]
#[template(path = "captures.html")]
struct ListPage {
    layout: Layout,
    title: &'static str,
    action: &'static str,
    search: SearchQuery,
    lanes: Vec<String>,
    classes: [&'static str; 4],
    reviews: Vec<(&'static str, &'static str)>,
    captures: Vec<CaptureListing>,
    older: Option<String>,
    error: String,
}

async fn list(
    state: State<AppState>,
    identity: Extension<Identity>,
    Query(search): Query<SearchQuery>,
) -> Result<Response, AppError> {
    listing(state, identity, search, "Captures", "/captures").await
}

async fn queue(
    state: State<AppState>,
    identity: Extension<Identity>,
    Query(mut search): Query<SearchQuery>,
) -> Result<Response, AppError> {
    search.review = ReviewFilter::Waiting.as_str().to_owned();
    listing(state, identity, search, "Review", "/review").await
}

async fn listing(
    State(state): State<AppState>,
    Extension(identity): Extension<Identity>,
    search: SearchQuery,
    title: &'static str,
    action: &'static str,
) -> Result<Response, AppError> {
    let (captures, error, status) = match search.query() {
        Ok(query) => (
            state.store.search_captures(&query).await?,
            String::new(),
            StatusCode::OK,
        ),
        Err(error) => (Vec::new(), error, StatusCode::BAD_REQUEST),
    };
    let older = match captures.last() {
        Some(last) if captures.len() == PAGE_CAPTURES as usize => {
            Some(search.link(action, last.summary.id.0))
        }
        _ => None,
    };
    let page = ListPage {
        layout: Layout::new(&state, &identity, title),
        title,
        action,
        lanes: state
            .config
            .current()
            .lanes
            .iter()
            .map(|lane| lane.name.clone())
            .collect(),
        classes: CLASSES,
        reviews: vec![
            ("", "any"),
            ("waiting", "waiting for review"),
            ("reviewed", "reviewed"),
        ],
        search,
        captures,
        older,
        error,
    };
    Ok((status, Html(page.render()?)).into_response())
}

#[derive(Template)]
#[template(path = "capture.html")]
struct DetailPage {
    layout: Layout,
    export: CaptureExport,
    frames: Vec<FrameView>,
    rows: Vec<RowView>,
    reviews: Vec<RowReview>,
    jobs: Vec<(String, String, &'static str, String)>,
    flagged: bool,
    /// The vehicle's captures by the other cameras of its lane (uuid, camera): one count
    /// from all of them.
    other_views: Vec<(String, String)>,
}

/// One image with what is drawn over it, in its own pixels.
struct FrameView {
    url: String,
    width: u32,
    height: u32,
    boxes: Vec<(f32, f32, f32, f32, String)>,
    zones: Vec<(f32, f32, &'static str)>,
}

/// A seat row: the box's count and the review form's value.
struct RowView {
    name: &'static str,
    counted: u32,
    confidence: String,
    reviewed: u32,
}

/// A vehicle's captures the capture page links to, at most (one per camera of its lane).
const OTHER_VIEWS_LISTED: u32 = 8;

async fn detail(
    State(state): State<AppState>,
    Extension(identity): Extension<Identity>,
    Path(uuid): Path<String>,
) -> Result<Response, AppError> {
    let Some(export) = state.store.capture_export(&uuid).await? else {
        return Err(AppError::NotFound);
    };
    let reviews = state.store.reviews(export.capture.id).await?;
    let config = state.config.current();
    let zones = config
        .vision
        .seat_rows
        .iter()
        .find(|rows| rows.camera == export.capture.camera);
    let detections = export
        .occupancy
        .as_ref()
        .map(|occupancy| occupancy.detections.as_slice())
        .unwrap_or_default();
    let frames = export
        .images
        .iter()
        .map(|image| FrameView {
            url: format!(
                "/captures/{}/images/{}",
                export.capture.uuid, image.burst_index
            ),
            width: image.width,
            height: image.height,
            boxes: detections
                .iter()
                .filter(|found| found.burst_index == image.burst_index)
                .map(|found| {
                    (
                        found.x1_px,
                        found.y1_px,
                        (found.x2_px - found.x1_px).max(0.0),
                        (found.y2_px - found.y1_px).max(0.0),
                        format!(
                            "{} {:.2}",
                            found.row.map_or("no row", SeatRow::as_str),
                            found.score
                        ),
                    )
                })
                .collect(),
            zones: zone_bands(zones, image.width),
        })
        .collect();
    let counted = |row: SeatRow| {
        export.occupancy.as_ref().and_then(|occupancy| {
            occupancy
                .rows
                .iter()
                .find(|count| count.row == row)
                .cloned()
        })
    };
    let rows = SeatRow::ALL
        .into_iter()
        .filter_map(|row| {
            let count = counted(row);
            let review = reviews.iter().find(|review| review.row == row);
            (count.is_some() || review.is_some()).then(|| RowView {
                name: row.as_str(),
                counted: count.as_ref().map_or(0, |count| count.people),
                confidence: count
                    .as_ref()
                    .map_or_else(String::new, |count| format!("{:.2}", count.confidence)),
                reviewed: review.map_or(count.as_ref().map_or(0, |count| count.people), |review| {
                    review.people
                }),
            })
        })
        .collect();
    let jobs = state
        .store
        .capture_jobs(export.capture.id)
        .await?
        .into_iter()
        .map(|job| {
            (
                job.queue,
                job.kind,
                job.state.as_str(),
                job.last_error.unwrap_or_default(),
            )
        })
        .collect();
    // A test capture is no vehicle's.
    let other_views = if export.capture.test {
        Vec::new()
    } else {
        state
            .store
            .search_captures(&CaptureQuery {
                vehicle: Some(export.capture.vehicle_id),
                limit: OTHER_VIEWS_LISTED,
                ..CaptureQuery::default()
            })
            .await?
            .into_iter()
            .filter(|listing| listing.summary.id != export.capture.id)
            .map(|listing| (listing.summary.uuid, listing.summary.camera))
            .collect()
    };
    let page = DetailPage {
        layout: Layout::new(&state, &identity, "Captures"),
        other_views,
        flagged: export
            .occupancy
            .as_ref()
            .is_some_and(|occupancy| occupancy.needs_review),
        export,
        frames,
        rows,
        reviews,
        jobs,
    };
    Ok(Html(page.render()?).into_response())
}

/// The seat-row zones of a camera as bands (x, width, name) in the image's pixels.
fn zone_bands(zones: Option<&SeatRowsConfig>, width: u32) -> Vec<(f32, f32, &'static str)> {
    let Some(zones) = zones else {
        return Vec::new();
    };
    let width = width as f32;
    [
        (zones.front, "front"),
        (zones.rear, "rear"),
        (zones.third, "third"),
    ]
    .into_iter()
    .filter_map(|(zone, name)| {
        zone.map(|[from, to]| (from * width, ((to - from) * width).max(0.0), name))
    })
    .collect()
}

/// The review form: a count per seat row, each empty or a number.
#[derive(Debug, Deserialize)]
struct ReviewForm {
    #[serde(default)]
    front: String,
    #[serde(default)]
    rear: String,
    #[serde(default)]
    third: String,
}

async fn review(
    State(state): State<AppState>,
    Extension(identity): Extension<Identity>,
    Path(uuid): Path<String>,
    Form(form): Form<ReviewForm>,
) -> Result<Response, AppError> {
    let Some(capture) = state.store.capture_summary(&uuid).await? else {
        return Err(AppError::NotFound);
    };
    let mut rows = Vec::new();
    for (row, text) in [
        (SeatRow::Front, &form.front),
        (SeatRow::Rear, &form.rear),
        (SeatRow::Third, &form.third),
    ] {
        if text.is_empty() {
            continue;
        }
        match text.parse::<u32>() {
            Ok(people) if people <= MAX_PEOPLE_PER_ROW => rows.push((row, people)),
            _ => {
                return Ok((
                    StatusCode::BAD_REQUEST,
                    format!(
                        "{}: a number of people from 0 to {MAX_PEOPLE_PER_ROW}",
                        row.as_str()
                    ),
                )
                    .into_response());
            }
        }
    }
    if rows.is_empty() {
        return Ok((StatusCode::BAD_REQUEST, "Count at least one seat row.").into_response());
    }
    state
        .store
        .save_review(capture.id, &rows, &identity.name)
        .await?;
    tracing::info!(capture = %capture.uuid, reviewer = %identity.name, "A capture was reviewed.");
    Ok(Redirect::to(&format!("/captures/{uuid}")).into_response())
}

async fn capture_image(
    State(state): State<AppState>,
    Path((uuid, burst)): Path<(String, u32)>,
) -> Result<Response, AppError> {
    let export = state.store.capture_export(&uuid).await?;
    let image = export
        .and_then(|export| {
            export
                .images
                .into_iter()
                .find(|image| image.burst_index == burst)
        })
        .ok_or(AppError::NotFound)?;
    jpeg(&image.path).await
}

async fn image(
    State(state): State<AppState>,
    Path(path): Path<String>,
) -> Result<Response, AppError> {
    let file = state.store.image_path(&path).ok_or(AppError::NotFound)?;
    jpeg(&file).await
}

async fn jpeg(file: &std::path::Path) -> Result<Response, AppError> {
    match tokio::fs::read(file).await {
        Ok(bytes) => Ok((
            [
                (header::CONTENT_TYPE, "image/jpeg"),
                (header::CACHE_CONTROL, "private, max-age=3600"),
            ],
            bytes,
        )
            .into_response()),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Err(AppError::NotFound),
        Err(error) => Err(error.into()),
    }
}
