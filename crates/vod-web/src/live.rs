//! Live events for the page: the hub's events as server-sent events, one JSON object each.

use std::convert::Infallible;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::routing::get;
use futures::Stream;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::BroadcastStream;

use crate::AppState;

pub(crate) fn router() -> Router<AppState> {
    Router::new().route("/events", get(events))
}

async fn events(
    State(state): State<AppState>,
) -> Sse<impl Stream<Item = Result<SseEvent, Infallible>>> {
    let stream = BroadcastStream::new(state.hub.subscribe()).map(|received| {
        Ok(match received {
            Ok(event) => SseEvent::default()
                .event(event.kind())
                .json_data(&*event)
                .unwrap_or_else(|_| SseEvent::default().comment("unencodable event")),
            // A slow page misses events; it is told so and goes on.
            Err(missed) => SseEvent::default().event("missed").data(missed.to_string()),
        })
    });
    Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}
