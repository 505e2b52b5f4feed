//! Vehicles as the detector reported them, recorded from the hub's events.

use std::sync::Arc;

use sqlx::FromRow;
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;
use vod_core::vehicle::VehicleId;
use vod_core::{Event, Hub, TaskError};

use crate::error::StoreError;
use crate::store::Store;

/// What the detector measured by the time a vehicle left; `None` where it does not measure it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct VehicleMeasurements {
    pub occupancy_ms: u64,
    pub max_height_mm: Option<u32>,
    pub max_width_mm: Option<u32>,
    pub class: Option<String>,
    pub speed_kmh: Option<f64>,
    pub length_mm: Option<u32>,
}

/// A stored vehicle; the measurements are `None` until it left.
#[derive(Debug, Clone, PartialEq, FromRow)]
pub struct VehicleRow {
    pub id: String,
    pub lane: String,
    pub entered_at_ms: i64,
    pub left_at_ms: Option<i64>,
    pub occupancy_ms: Option<i64>,
    pub class: Option<String>,
    pub max_height_mm: Option<i64>,
    pub max_width_mm: Option<i64>,
    pub speed_kmh: Option<f64>,
    pub length_mm: Option<i64>,
}

impl Store {
    /// Records a vehicle's entry; a second entry of the same id changes nothing.
    pub async fn vehicle_entered(
        &self,
        id: VehicleId,
        lane: &str,
        at_ms: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO vehicles (id, lane, entered_at_ms) VALUES (?, ?, ?) \
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(id.to_string())
        .bind(lane)
        .bind(at_ms)
        .execute(&self.writer)
        .await
        .map_err(StoreError::database("recording a vehicle's entry"))?;
        Ok(())
    }

    /// Records a vehicle's exit and measurements. A vehicle whose entry was not recorded (the
    /// box started while it was in the scan plane) is inserted with its exit as its entry
    /// time less its occupancy.
    pub async fn vehicle_left(
        &self,
        id: VehicleId,
        lane: &str,
        at_ms: i64,
        measured: &VehicleMeasurements,
    ) -> Result<(), StoreError> {
        let occupancy_ms = i64::try_from(measured.occupancy_ms).unwrap_or(i64::MAX);
        sqlx::query(
            "INSERT INTO vehicles (id, lane, entered_at_ms, left_at_ms, occupancy_ms, class, \
                                   max_height_mm, max_width_mm, speed_kmh, length_mm) \
             VALUES (?1, ?2, ?3 - ?4, ?3, ?4, ?5, ?6, ?7, ?8, ?9) \
             ON CONFLICT (id) DO UPDATE SET left_at_ms = excluded.left_at_ms, \
                 occupancy_ms = excluded.occupancy_ms, class = excluded.class, \
                 max_height_mm = excluded.max_height_mm, max_width_mm = excluded.max_width_mm, \
                 speed_kmh = excluded.speed_kmh, length_mm = excluded.length_mm",
        )
        .bind(id.to_string())
        .bind(lane)
        .bind(at_ms)
        .bind(occupancy_ms)
        .bind(&measured.class)
        .bind(measured.max_height_mm)
        .bind(measured.max_width_mm)
        .bind(measured.speed_kmh)
        .bind(measured.length_mm)
        .execute(&self.writer)
        .await
        .map_err(StoreError::database("recording a vehicle's exit"))?;
        Ok(())
    }

    /// The vehicle `id`, if recorded.
    pub async fn vehicle(&self, id: VehicleId) -> Result<Option<VehicleRow>, StoreError> {
        sqlx::query_as(
            "SELECT id, lane, entered_at_ms, left_at_ms, occupancy_ms, class, max_height_mm, \
                    max_width_mm, speed_kmh, length_mm FROM vehicles WHERE id = ?",
        )
        .bind(id.to_string())
        .fetch_optional(&self.reader)
        .await
        .map_err(StoreError::database("reading a vehicle"))
    }

    /// Deletes vehicles that entered before `cutoff_ms`, at most `limit`; returns how many.
    pub(crate) async fn delete_vehicles_before(
        &self,
        cutoff_ms: i64,
        limit: u32,
    ) -> Result<u64, StoreError> {
        Ok(sqlx::query(
            "DELETE FROM vehicles WHERE id IN \
             (SELECT id FROM vehicles WHERE entered_at_ms < ? LIMIT ?)",
        )
        .bind(cutoff_ms)
        .bind(limit)
        .execute(&self.writer)
        .await
        .map_err(StoreError::database("deleting old vehicles"))?
        .rows_affected())
    }
}

/// Records every vehicle the hub announces until shutdown. A vehicle that cannot be recorded
/// is logged and counted; the task goes on with the next one.
pub async fn run_vehicle_recorder(
    store: Store,
    hub: Hub,
    shutdown: CancellationToken,
) -> Result<(), TaskError> {
    let mut events = hub.subscribe();
    loop {
        let event: Arc<Event> = tokio::select! {
            () = shutdown.cancelled() => return Ok(()),
            event = events.recv() => match event {
                Ok(event) => event,
                Err(RecvError::Lagged(missed)) => {
                    store.metrics.vehicles_missed_total.inc_by(missed);
                    tracing::warn!(missed, "The vehicle recorder fell behind; vehicles missed.");
                    continue;
                }
                Err(RecvError::Closed) => return Err("the hub closed".into()),
            },
        };
        let result = match event.as_ref() {
            Event::VehicleEntered {
                vehicle_id,
                lane,
                at,
            } => {
                store
                    .vehicle_entered(*vehicle_id, lane, at.timestamp_millis())
                    .await
            }
            Event::VehicleLeft {
                vehicle_id,
                lane,
                at,
                occupancy_ms,
                max_height_mm,
                max_width_mm,
                class,
                speed_kmh,
                length_mm,
            } => {
                let measured = VehicleMeasurements {
                    occupancy_ms: *occupancy_ms,
                    max_height_mm: Some(*max_height_mm),
                    max_width_mm: Some(*max_width_mm),
                    class: Some(class.as_str().to_owned()),
                    speed_kmh: speed_kmh.map(f64::from),
                    length_mm: *length_mm,
                };
                store
                    .vehicle_left(*vehicle_id, lane, at.timestamp_millis(), &measured)
                    .await
            }
            _ => continue,
        };
        match result {
            Ok(()) => store.metrics.vehicles_recorded_total.inc(),
            Err(error) => {
                store.metrics.vehicle_errors_total.inc();
                tracing::error!(error = %crate::health::error_chain(&error), "Could not record a vehicle.");
            }
        }
    }
}
