//! The job list: a page with retry and cancel buttons, and the same as JSON for scripts.

use askama::Template;
use axum::extract::{Form, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use chrono::DateTime;
use serde::Deserialize;
use serde_json::json;
use vod_store::{JobAction, JobActionOutcome, JobFilter, JobId, JobState, JobWithAttempts};

use crate::access::Identity;
use crate::layout::Layout;
use crate::{AppError, AppState};

/// Looking: every viewer.
pub(crate) fn view_router() -> Router<AppState> {
    Router::new()
        .route("/jobs", get(page))
        .route("/api/jobs", get(api_list))
}

/// Retry and cancel: technicians.
pub(crate) fn act_router() -> Router<AppState> {
    Router::new()
        .route("/jobs/{id}/retry", post(page_retry))
        .route("/jobs/{id}/cancel", post(page_cancel))
        .route("/api/jobs/{id}/retry", post(api_retry))
        .route("/api/jobs/{id}/cancel", post(api_cancel))
}

/// The query of the page and of `GET /api/jobs`; empty values mean any.
#[derive(Debug, Default, Deserialize)]
struct ListQuery {
    queue: Option<String>,
    state: Option<String>,
    before: Option<i64>,
    limit: Option<u32>,
}

impl ListQuery {
    fn filter(&self) -> Result<JobFilter, String> {
        JobFilter::from_request(
            self.queue.as_deref(),
            self.state.as_deref(),
            self.before,
            self.limit,
        )
    }
}

#[derive(Template)]
#[template(path = "jobs.html")]
struct JobsPage {
    layout: Layout,
    queue: String,
    state: String,
    states: Vec<&'static str>,
    /// Where the buttons' forms send the browser back to: this page with its filter.
    back: String,
    /// The next page (older jobs) when this one is full.
    older: Option<String>,
    jobs: Vec<JobRow>,
}

struct JobRow {
    id: i64,
    queue: String,
    kind: String,
    state: &'static str,
    attempt: u32,
    max_attempts: u32,
    due: String,
    last_error: String,
    can_retry: bool,
    can_cancel: bool,
    attempts: Vec<AttemptRow>,
}

struct AttemptRow {
    attempt: u32,
    started: String,
    outcome: String,
    error: String,
}

impl From<JobWithAttempts> for JobRow {
    fn from(listed: JobWithAttempts) -> JobRow {
        let job = listed.job;
        JobRow {
            id: job.id.0,
            queue: job.queue,
            kind: job.kind,
            state: job.state.as_str(),
            attempt: job.attempt,
            max_attempts: job.max_attempts,
            due: utc_text(job.run_at_ms),
            last_error: job.last_error.unwrap_or_default(),
            can_retry: matches!(
                job.state,
                JobState::Discarded | JobState::Cancelled | JobState::Completed
            ),
            can_cancel: matches!(job.state, JobState::Available | JobState::Running),
            attempts: listed
                .attempts
                .into_iter()
                .map(|attempt| AttemptRow {
                    attempt: attempt.attempt,
                    started: utc_text(attempt.started_at_ms),
                    outcome: attempt.outcome.unwrap_or_else(|| "running".into()),
                    error: attempt.error.unwrap_or_default(),
                })
                .collect(),
        }
    }
}

fn utc_text(ms: i64) -> String {
    DateTime::from_timestamp_millis(ms)
        .map(|at| at.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_else(|| ms.to_string())
}

async fn page(
    State(state): State<AppState>,
    Extension(identity): Extension<Identity>,
    Query(query): Query<ListQuery>,
) -> Result<Response, AppError> {
    let filter = match query.filter() {
        Ok(filter) => filter,
        Err(reason) => return Ok((StatusCode::BAD_REQUEST, reason).into_response()),
    };
    let jobs = state.store.list_jobs_with_attempts(&filter).await?;
    let queue = filter.queue.clone().unwrap_or_default();
    let state_name = filter.state.map(JobState::as_str).unwrap_or_default();
    let back = back_link(&queue, state_name);
    let older = match jobs.last() {
        Some(last) if jobs.len() == filter.limit as usize => {
            let separator = if back.contains('?') { '&' } else { '?' };
            Some(format!("{back}{separator}before={}", last.job.id))
        }
        _ => None,
    };
    let page = JobsPage {
        layout: Layout::new(&state, &identity, "Jobs"),
        back,
        older,
        queue,
        state: state_name.to_owned(),
        states: JobState::ALL.iter().map(|s| s.as_str()).collect(),
        jobs: jobs.into_iter().map(JobRow::from).collect(),
    };
    Ok(Html(page.render()?).into_response())
}

/// `/jobs` with the page's filter, percent-encoded.
fn back_link(queue: &str, state: &str) -> String {
    let mut link = String::from("/jobs");
    let mut separator = '?';
    for (key, value) in [("queue", queue), ("state", state)] {
        if !value.is_empty() {
            link.push(separator);
            link.push_str(key);
            link.push('=');
            link.push_str(&percent_encode(value));
            separator = '&';
        }
    }
    link
}

fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                char::from(byte).to_string()
            }
            _ => format!("%{byte:02X}"),
        })
        .collect()
}

/// The form of a button: where to go back to.
#[derive(Debug, Deserialize)]
struct ButtonForm {
    back: Option<String>,
}

impl ButtonForm {
    /// The page to return to; only the job list itself, so a form cannot redirect elsewhere.
    fn back(&self) -> &str {
        match self.back.as_deref() {
            Some(back) if back == "/jobs" || back.starts_with("/jobs?") => back,
            _ => "/jobs",
        }
    }
}

async fn page_retry(
    state: State<AppState>,
    id: Path<i64>,
    form: Form<ButtonForm>,
) -> Result<Response, AppError> {
    page_action(state, id, form, JobAction::Retry).await
}

async fn page_cancel(
    state: State<AppState>,
    id: Path<i64>,
    form: Form<ButtonForm>,
) -> Result<Response, AppError> {
    page_action(state, id, form, JobAction::Cancel).await
}

/// Applies the action and sends the browser back to the list, where the job's new state
/// shows what happened.
async fn page_action(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Form(form): Form<ButtonForm>,
    action: JobAction,
) -> Result<Response, AppError> {
    match state.store.apply_job_action(JobId(id), action).await? {
        JobActionOutcome::NotFound => Err(AppError::NotFound),
        JobActionOutcome::Done(_) | JobActionOutcome::Refused(_) => {
            Ok(Redirect::to(form.back()).into_response())
        }
    }
}

async fn api_list(
    State(state): State<AppState>,
    Query(query): Query<ListQuery>,
) -> Result<Response, AppError> {
    let filter = match query.filter() {
        Ok(filter) => filter,
        Err(reason) => return Ok(json_error(StatusCode::BAD_REQUEST, &reason)),
    };
    let jobs = state.store.list_jobs_with_attempts(&filter).await?;
    Ok(Json(json!({ "ok": true, "jobs": jobs })).into_response())
}

async fn api_retry(state: State<AppState>, id: Path<i64>) -> Result<Response, AppError> {
    api_action(state, id, JobAction::Retry).await
}

async fn api_cancel(state: State<AppState>, id: Path<i64>) -> Result<Response, AppError> {
    api_action(state, id, JobAction::Cancel).await
}

/// `{"ok": true, "job": …}`; 404 for an unknown job; 409 with the job when its state does
/// not allow the action.
async fn api_action(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    action: JobAction,
) -> Result<Response, AppError> {
    Ok(
        match state.store.apply_job_action(JobId(id), action).await? {
            JobActionOutcome::Done(job) => Json(json!({ "ok": true, "job": job })).into_response(),
            JobActionOutcome::NotFound => {
                json_error(StatusCode::NOT_FOUND, &format!("no job {id}"))
            }
            JobActionOutcome::Refused(job) => (
                StatusCode::CONFLICT,
                Json(json!({
                    "error": format!("job {id} is {}: {}", job.state.as_str(), refusal(action)),
                    "job": job,
                })),
            )
                .into_response(),
        },
    )
}

fn refusal(action: JobAction) -> &'static str {
    match action {
        JobAction::Retry => {
            "only an ended job can be retried, and not while another job with its unique key \
             waits"
        }
        JobAction::Cancel => "only a waiting or running job can be cancelled",
    }
}

fn json_error(status: StatusCode, error: &str) -> Response {
    (status, Json(json!({ "error": error }))).into_response()
}
