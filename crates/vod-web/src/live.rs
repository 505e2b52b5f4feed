//! Live events for the page: the hub's events as server-sent events, one JSON object each. The
//! streams open at once are capped (`web.max_event_streams`); each ends when the box stops.

use std::convert::Infallible;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures::StreamExt;
use tokio_stream::wrappers::BroadcastStream;

use crate::AppState;

pub(crate) fn router() -> Router<AppState> {
    Router::new().route("/events", get(events))
}

async fn events(State(state): State<AppState>) -> Response {
    let Ok(slot) = state.event_streams.clone().try_acquire_owned() else {
        state.access.refuse("event_streams");
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "Too many live event streams are open; close a tab of this page.",
        )
            .into_response();
    };
    let stream = BroadcastStream::new(state.hub.subscribe())
        .map(move |received| {
            // The slot is held as long as the stream lives.
            let _held = &slot;
            Ok::<_, Infallible>(match received {
                Ok(event) => SseEvent::default()
                    .event(event.kind())
                    .json_data(&*event)
                    .unwrap_or_else(|_| SseEvent::default().comment("unencodable event")),
                // A slow page misses events; it is told so and goes on.
                Err(missed) => SseEvent::default().event("missed").data(missed.to_string()),
            })
        })
        .take_until(state.stopping.clone().cancelled_owned());
    Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response()
}
