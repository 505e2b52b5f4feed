//! The store task: commits each capture the vision stage hands over, then tells the hub.
//! A capture that cannot be committed is retried (with backoff) rather than dropped: it is
//! not acknowledged until it is in the database.

use std::time::Duration;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use vod_core::{Capture, Component, Event, Hub, SharedReceiver, TaskError, VEHICLE_LOG};

use crate::{ImageWrites, Outbound, Store};

const RETRY_INITIAL: Duration = Duration::from_millis(100);
const RETRY_MAX: Duration = Duration::from_secs(5);

/// The store task. On shutdown it still commits the captures already queued to it.
#[derive(Debug)]
pub struct Writer {
    pub store: Store,
    pub captures: SharedReceiver<Capture>,
    pub hub: Hub,
    /// Which jobs carry each capture off the box, as `[uplink]` says now.
    pub outbound: watch::Receiver<Outbound>,
}

impl Component for Writer {
    async fn run(&self, shutdown: CancellationToken) -> Result<(), TaskError> {
        let (store, hub) = (&self.store, &self.hub);
        let mut captures = self.captures.lock().await;
        loop {
            let capture = tokio::select! {
                biased;
                capture = captures.recv() => capture.ok_or("capture channel closed")?,
                () = shutdown.cancelled() => break,
            };
            let outbound = *self.outbound.borrow();
            commit(store, &capture, &outbound, hub, &shutdown).await;
        }
        while let Ok(capture) = captures.try_recv() {
            let outbound = *self.outbound.borrow();
            commit(store, &capture, &outbound, hub, &CancellationToken::new()).await;
        }
        Ok(())
    }
}

async fn commit(
    store: &Store,
    capture: &Capture,
    outbound: &Outbound,
    hub: &Hub,
    shutdown: &CancellationToken,
) {
    let mut delay = RETRY_INITIAL;
    loop {
        let images_before = store.image_writes();
        match store.insert_outbound_capture(capture, outbound).await {
            Ok(capture_id) => {
                let images_after = store.image_writes();
                // This task is the only writer: a failing state after this insert means its
                // images were not stored.
                let images = match images_after {
                    ImageWrites::Ok => capture.images.len(),
                    ImageWrites::Failing { .. } => 0,
                };
                match (images_before, images_after) {
                    (ImageWrites::Ok, ImageWrites::Failing { reason, .. }) => {
                        hub.publish(Event::StorageDegraded { reason });
                    }
                    (ImageWrites::Failing { .. }, ImageWrites::Ok) => {
                        hub.publish(Event::StorageRecovered);
                    }
                    _ => {}
                }
                tracing::debug!(target: VEHICLE_LOG, vehicle_id = %capture.vehicle_id, capture_id = capture_id.0, images, "Capture committed.");
                hub.publish(Event::CaptureStored {
                    capture_id: capture_id.0,
                    vehicle_id: capture.vehicle_id,
                    lane: capture.lane.clone(),
                    camera: capture.camera.clone(),
                    images,
                    at: capture.detected_utc,
                    test: capture.test,
                });
                return;
            }
            Err(error) => {
                tracing::error!(%error, vehicle_id = %capture.vehicle_id, retry_ms = delay.as_millis() as u64, "Capture not stored; retrying.");
            }
        }
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            () = shutdown.cancelled() => {
                tracing::error!(vehicle_id = %capture.vehicle_id, "Capture lost: the store failed until shutdown.");
                return;
            }
        }
        delay = (delay * 2).min(RETRY_MAX);
    }
}
