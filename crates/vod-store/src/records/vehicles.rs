//! Vehicles as the detector reported them, recorded from the scanner pipelines' own channel
//! (not from the hub, which lets a slow subscriber miss events).

use sqlx::FromRow;
use tokio_util::sync::CancellationToken;
use vod_core::{
    Component, SharedReceiver, TaskError, VehicleEvent, VehicleEventKind, VehicleId,
    VehicleMeasurements,
};

use crate::error::StoreError;
use crate::store::Store;

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
        .bind(measured.class.as_str())
        .bind(measured.max_height_mm)
        .bind(measured.max_width_mm)
        .bind(measured.speed_kmh.map(f64::from))
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

    /// How many vehicles entered each lane since `since_ms`, by lane name.
    pub async fn vehicles_per_lane_since(
        &self,
        since_ms: i64,
    ) -> Result<Vec<(String, u64)>, StoreError> {
        sqlx::query_as(
            "SELECT lane, COUNT(*) FROM vehicles WHERE entered_at_ms >= ? GROUP BY lane \
             ORDER BY lane",
        )
        .bind(since_ms)
        .fetch_all(&self.reader)
        .await
        .map_err(StoreError::database("counting vehicles per lane"))
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

/// The store task that records every vehicle event the scanner pipelines send. A vehicle
/// that cannot be recorded is logged and counted; the task goes on with the next one.
#[derive(Debug)]
pub struct VehicleRecorder {
    pub store: Store,
    pub vehicles: SharedReceiver<VehicleEvent>,
}

impl Component for VehicleRecorder {
    async fn run(&self, shutdown: CancellationToken) -> Result<(), TaskError> {
        let mut vehicles = self.vehicles.lock().await;
        loop {
            let event = tokio::select! {
                () = shutdown.cancelled() => return Ok(()),
                event = vehicles.recv() => event.ok_or("the vehicle channel closed")?,
            };
            match self.store.record_vehicle(&event).await {
                Ok(()) => self.store.metrics.vehicles_recorded_total.inc(),
                Err(error) => {
                    self.store.metrics.vehicle_errors_total.inc();
                    tracing::error!(error = %vod_core::error_chain(&error), vehicle_id = %event.vehicle_id, "Could not record a vehicle.");
                }
            }
        }
    }
}

impl Store {
    /// Records one vehicle event: its entry, or its exit with what was measured.
    pub async fn record_vehicle(&self, event: &VehicleEvent) -> Result<(), StoreError> {
        let at_ms = event.at_utc.timestamp_millis();
        match &event.kind {
            VehicleEventKind::Entered => {
                self.vehicle_entered(event.vehicle_id, &event.lane, at_ms)
                    .await
            }
            VehicleEventKind::Left(measured) => {
                self.vehicle_left(event.vehicle_id, &event.lane, at_ms, measured)
                    .await
            }
        }
    }
}
