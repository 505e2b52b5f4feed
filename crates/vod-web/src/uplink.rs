//! What leaves the box: the upload backlog and the uploads that failed, and the push
//! endpoints clients registered, with their recent deliveries. Admins register an endpoint
//! (its signing secret is made here and shown once), pause, resume and remove one.

use askama::Template;
use axum::extract::{Form, Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use serde::Deserialize;
use vod_store::outbound::{PUSH_EVENTS, UPLOAD_QUEUE};
use vod_store::{Delivery, JobFilter, JobState, NewPushEndpoint, PushEndpoint, UploadBacklog};

use crate::access::Identity;
use crate::layout::Layout;
use crate::{AppError, AppState};

/// Deliveries shown per endpoint, and failed uploads shown.
const RECENT: u32 = 10;

/// Looking: every viewer.
pub(crate) fn view_router() -> Router<AppState> {
    Router::new().route("/uplink", get(page))
}

/// Registering and switching endpoints: admins.
pub(crate) fn admin_router() -> Router<AppState> {
    Router::new()
        .route("/uplink/push", post(register))
        .route("/uplink/push/{client}/pause", post(pause))
        .route("/uplink/push/{client}/resume", post(resume))
        .route("/uplink/push/{client}/delete", post(remove))
}

#[derive(Template)]
#[template(path = "uplink.html")]
struct UplinkPage {
    layout: Layout,
    backlog: UploadBacklog,
    oldest: String,
    failed_uploads: Vec<(i64, String, String)>,
    endpoints: Vec<(PushEndpoint, &'static str, Vec<Delivery>)>,
    events: &'static [&'static str],
    message: String,
    message_ok: bool,
    /// The secret of an endpoint just registered: shown this once.
    new_secret: String,
}

#[derive(Deserialize)]
struct RegisterForm {
    client: String,
    url: String,
    #[serde(default)]
    rate_per_minute: String,
    #[serde(default)]
    stored: Option<String>,
    #[serde(default)]
    flagged: Option<String>,
}

enum Outcome {
    None,
    Done(String),
    Refused(StatusCode, String),
    Secret(String, String),
}

async fn page(
    State(state): State<AppState>,
    Extension(identity): Extension<Identity>,
) -> Result<Response, AppError> {
    render(&state, &identity, Outcome::None).await
}

async fn register(
    State(state): State<AppState>,
    Extension(identity): Extension<Identity>,
    Form(form): Form<RegisterForm>,
) -> Result<Response, AppError> {
    let Ok(rate_per_minute) = form.rate_per_minute.trim().parse::<u32>() else {
        let refusal = "rate per minute: a whole number".to_owned();
        return render(
            &state,
            &identity,
            Outcome::Refused(StatusCode::BAD_REQUEST, refusal),
        )
        .await;
    };
    let events = [
        (form.stored.is_some(), PUSH_EVENTS[0]),
        (form.flagged.is_some(), PUSH_EVENTS[1]),
    ]
    .into_iter()
    .filter(|(wanted, _)| *wanted)
    .map(|(_, event)| event.to_owned())
    .collect();
    let secret = vod_uplink::push::new_secret();
    let endpoint = NewPushEndpoint {
        client: form.client.trim().to_owned(),
        url: form.url.trim().to_owned(),
        secret: Some(secret.clone()),
        events,
        rate_per_minute: rate_per_minute.max(1),
        enabled: true,
    };
    let problems = endpoint.problems();
    let outcome = if problems.is_empty() {
        let saved = state.store.upsert_push_endpoint(&endpoint).await?;
        tracing::info!(client = %saved.client, url = %saved.url, by = %identity.name, "A push endpoint was registered.");
        Outcome::Secret(saved.client, secret)
    } else {
        let text: Vec<String> = problems.iter().map(ToString::to_string).collect();
        Outcome::Refused(StatusCode::BAD_REQUEST, text.join("; "))
    };
    render(&state, &identity, outcome).await
}

async fn pause(
    state: State<AppState>,
    identity: Extension<Identity>,
    client: Path<String>,
) -> Result<Response, AppError> {
    switch(state, identity, client, false).await
}

async fn resume(
    state: State<AppState>,
    identity: Extension<Identity>,
    client: Path<String>,
) -> Result<Response, AppError> {
    switch(state, identity, client, true).await
}

async fn switch(
    State(state): State<AppState>,
    Extension(identity): Extension<Identity>,
    Path(client): Path<String>,
    enabled: bool,
) -> Result<Response, AppError> {
    if !state
        .store
        .set_push_endpoint_enabled(&client, enabled)
        .await?
    {
        return Err(AppError::NotFound);
    }
    let done = if enabled { "resumed" } else { "paused" };
    tracing::info!(%client, by = %identity.name, "A push endpoint was {done}.");
    render(
        &state,
        &identity,
        Outcome::Done(format!("{client}'s endpoint was {done}.")),
    )
    .await
}

async fn remove(
    State(state): State<AppState>,
    Extension(identity): Extension<Identity>,
    Path(client): Path<String>,
) -> Result<Response, AppError> {
    if !state.store.delete_push_endpoint(&client).await? {
        return Err(AppError::NotFound);
    }
    tracing::info!(%client, by = %identity.name, "A push endpoint was removed.");
    render(
        &state,
        &identity,
        Outcome::Done(format!("{client}'s endpoint was removed.")),
    )
    .await
}

async fn render(
    state: &AppState,
    identity: &Identity,
    outcome: Outcome,
) -> Result<Response, AppError> {
    let (status, message, message_ok, new_secret) = match outcome {
        Outcome::None => (StatusCode::OK, String::new(), true, String::new()),
        Outcome::Done(message) => (StatusCode::OK, message, true, String::new()),
        Outcome::Refused(status, message) => (status, message, false, String::new()),
        Outcome::Secret(client, secret) => (
            StatusCode::OK,
            format!(
                "{client}'s endpoint was registered. Give the client its signing secret now: it is not shown again."
            ),
            true,
            secret,
        ),
    };
    let backlog = state.store.upload_backlog().await?;
    let filter = JobFilter {
        queue: Some(UPLOAD_QUEUE.to_owned()),
        state: Some(JobState::Discarded),
        before: None,
        limit: RECENT,
    };
    let failed_uploads = state
        .store
        .list_jobs(&filter)
        .await?
        .into_iter()
        .map(|job| {
            (
                job.id.0,
                utc(job.finished_at_ms.unwrap_or(job.run_at_ms)),
                job.last_error.unwrap_or_default(),
            )
        })
        .collect();
    let mut endpoints = Vec::new();
    for endpoint in state.store.push_endpoints().await? {
        let deliveries = state.store.deliveries(endpoint.id, RECENT).await?;
        let condition = match (&endpoint.disabled_reason, endpoint.enabled) {
            (_, true) => "enabled",
            (Some(_), false) => "disabled",
            (None, false) => "paused",
        };
        endpoints.push((endpoint, condition, deliveries));
    }
    let page = UplinkPage {
        layout: Layout::new(state, identity, "Uplink"),
        oldest: backlog
            .oldest_ms
            .map(utc)
            .unwrap_or_else(|| "none".to_owned()),
        backlog,
        failed_uploads,
        endpoints,
        events: PUSH_EVENTS,
        message,
        message_ok,
        new_secret,
    };
    Ok((status, Html(page.render()?)).into_response())
}

fn utc(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|at| at.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_else(|| ms.to_string())
}
