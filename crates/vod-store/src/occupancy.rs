//! Occupancy rows: the vision stage's counts per seat row, its detections and the models
//! behind them, written in the capture's transaction and read back whole.

use sqlx::sqlite::SqliteRow;
use sqlx::{Row, Sqlite, Transaction};
use vod_core::occupancy::{Doubt, ModelRef, Occupancy, PersonDetection, RowCount, SeatRow};

use crate::captures::CaptureId;
use crate::error::StoreError;
use crate::store::Store;

pub(crate) fn parse_row(name: &str) -> Result<SeatRow, sqlx::Error> {
    SeatRow::parse(name)
        .ok_or_else(|| sqlx::Error::Decode(format!("unknown seat row {name:?}").into()))
}

/// Inserts `occupancy` for capture `id` inside the capture's transaction.
pub(crate) async fn insert(
    tx: &mut Transaction<'_, Sqlite>,
    id: i64,
    occupancy: &Occupancy,
) -> Result<(), StoreError> {
    let error = StoreError::database;
    sqlx::query(
        "INSERT INTO capture_occupancy \
         (capture_id, people, countability, needs_review, faces_blurred, evidence_raw, doubts) \
         VALUES (?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(id)
    .bind(occupancy.people)
    .bind(f64::from(occupancy.countability.clamp(0.0, 1.0)))
    .bind(occupancy.needs_review)
    .bind(occupancy.faces_blurred)
    .bind(occupancy.evidence_raw)
    .bind(
        occupancy
            .doubts
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(" "),
    )
    .execute(&mut **tx)
    .await
    .map_err(error("inserting an occupancy"))?;
    for count in &occupancy.rows {
        sqlx::query(
            "INSERT INTO occupancy_rows (capture_id, seat_row, people, confidence) \
             VALUES (?, ?, ?, ?)",
        )
        .bind(id)
        .bind(count.row.as_str())
        .bind(count.people)
        .bind(f64::from(count.confidence.clamp(0.0, 1.0)))
        .execute(&mut **tx)
        .await
        .map_err(error("inserting a seat-row count"))?;
    }
    for detection in &occupancy.detections {
        sqlx::query(
            "INSERT INTO person_detections \
             (capture_id, burst_index, seat_row, x1_px, y1_px, x2_px, y2_px, score) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(id)
        .bind(detection.burst_index)
        .bind(detection.row.map(SeatRow::as_str))
        .bind(f64::from(detection.x1_px))
        .bind(f64::from(detection.y1_px))
        .bind(f64::from(detection.x2_px))
        .bind(f64::from(detection.y2_px))
        .bind(f64::from(detection.score))
        .execute(&mut **tx)
        .await
        .map_err(error("inserting a person detection"))?;
    }
    for model in &occupancy.models {
        sqlx::query("INSERT INTO capture_models (capture_id, name, sha256) VALUES (?, ?, ?)")
            .bind(id)
            .bind(&model.name)
            .bind(&model.sha256)
            .execute(&mut **tx)
            .await
            .map_err(error("inserting a model reference"))?;
    }
    Ok(())
}

impl Store {
    /// The occupancy stored with capture `id`; `None` when the capture has none.
    pub async fn occupancy(&self, id: CaptureId) -> Result<Option<Occupancy>, StoreError> {
        let error = StoreError::database;
        let Some(head) = sqlx::query(
            "SELECT people, countability, needs_review, faces_blurred, evidence_raw, doubts \
             FROM capture_occupancy WHERE capture_id = ?",
        )
        .bind(id.0)
        .fetch_optional(&self.reader)
        .await
        .map_err(error("reading an occupancy"))?
        else {
            return Ok(None);
        };
        let rows = sqlx::query(
            "SELECT seat_row, people, confidence FROM occupancy_rows \
             WHERE capture_id = ? ORDER BY seat_row",
        )
        .bind(id.0)
        .fetch_all(&self.reader)
        .await
        .map_err(error("reading seat-row counts"))?;
        let detections = sqlx::query(
            "SELECT burst_index, seat_row, x1_px, y1_px, x2_px, y2_px, score \
             FROM person_detections WHERE capture_id = ? ORDER BY rowid",
        )
        .bind(id.0)
        .fetch_all(&self.reader)
        .await
        .map_err(error("reading person detections"))?;
        let models = sqlx::query(
            "SELECT name, sha256 FROM capture_models WHERE capture_id = ? ORDER BY name",
        )
        .bind(id.0)
        .fetch_all(&self.reader)
        .await
        .map_err(error("reading model references"))?;
        decode(&head, &rows, &detections, &models)
            .map(Some)
            .map_err(error("decoding an occupancy"))
    }
}

fn decode(
    head: &SqliteRow,
    rows: &[SqliteRow],
    detections: &[SqliteRow],
    models: &[SqliteRow],
) -> Result<Occupancy, sqlx::Error> {
    let real = |row: &SqliteRow, column: &str| -> Result<f32, sqlx::Error> {
        Ok(row.try_get::<f64, _>(column)? as f32)
    };
    let mut counts: Vec<RowCount> = rows
        .iter()
        .map(|row| {
            Ok(RowCount {
                row: parse_row(row.try_get("seat_row")?)?,
                people: row.try_get("people")?,
                confidence: real(row, "confidence")?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()?;
    counts.sort_by_key(|count| count.row);
    Ok(Occupancy {
        rows: counts,
        people: head.try_get("people")?,
        countability: real(head, "countability")?,
        needs_review: head.try_get("needs_review")?,
        doubts: head
            .try_get::<&str, _>("doubts")?
            .split_whitespace()
            .map(|text| {
                Doubt::parse(text)
                    .ok_or_else(|| sqlx::Error::Decode(format!("unknown doubt {text:?}").into()))
            })
            .collect::<Result<_, sqlx::Error>>()?,
        detections: detections
            .iter()
            .map(|row| {
                Ok(PersonDetection {
                    burst_index: row.try_get("burst_index")?,
                    row: row
                        .try_get::<Option<&str>, _>("seat_row")?
                        .map(parse_row)
                        .transpose()?,
                    x1_px: real(row, "x1_px")?,
                    y1_px: real(row, "y1_px")?,
                    x2_px: real(row, "x2_px")?,
                    y2_px: real(row, "y2_px")?,
                    score: real(row, "score")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()?,
        faces_blurred: head.try_get("faces_blurred")?,
        models: models
            .iter()
            .map(|row| {
                Ok(ModelRef {
                    name: row.try_get("name")?,
                    sha256: row.try_get("sha256")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()?,
        evidence_raw: head.try_get("evidence_raw")?,
    })
}
