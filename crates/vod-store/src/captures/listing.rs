//! Finding captures (by vehicle, time, lane, people counted, review state), the review queue, and the
//! counts people confirmed or corrected, with who and when. Lists page by keyset (`before`
//! the last id shown) so that a page costs the same with 100 captures or 100,000.

use sqlx::sqlite::SqliteRow;
use sqlx::{FromRow, QueryBuilder, Row, Sqlite};
use vod_core::VehicleId;
use vod_core::occupancy::SeatRow;

use super::{CaptureId, CaptureSummary};
use crate::error::StoreError;
use crate::jobs::now_ms;
use crate::occupancy::parse_row;
use crate::store::Store;

/// Which captures by their review state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ReviewFilter {
    #[default]
    Any,
    /// Flagged as doubtful and not reviewed yet: the review queue.
    Waiting,
    /// Reviewed by a person.
    Reviewed,
}

impl ReviewFilter {
    pub const ALL: [ReviewFilter; 3] = [
        ReviewFilter::Any,
        ReviewFilter::Waiting,
        ReviewFilter::Reviewed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ReviewFilter::Any => "",
            ReviewFilter::Waiting => "waiting",
            ReviewFilter::Reviewed => "reviewed",
        }
    }

    pub fn parse(text: &str) -> Option<ReviewFilter> {
        ReviewFilter::ALL
            .into_iter()
            .find(|filter| filter.as_str() == text)
    }
}

/// A search; `None` fields match anything.
#[derive(Debug, Clone, Default)]
pub struct CaptureQuery {
    /// Only captures with a smaller id (the next page).
    pub before: Option<CaptureId>,
    /// The captures of one vehicle (one per camera of its lane).
    pub vehicle: Option<VehicleId>,
    pub lane: Option<String>,
    /// The vehicle's class as the detector measured it (`car`, `van`, `truck`, `motorcycle`).
    pub class: Option<String>,
    pub from_ms: Option<i64>,
    pub to_ms: Option<i64>,
    /// People counted by the box.
    pub people: Option<u32>,
    pub review: ReviewFilter,
    pub limit: u32,
}

/// A capture as a list shows it: its summary and what was counted.
#[derive(Debug, Clone, PartialEq)]
pub struct CaptureListing {
    pub summary: CaptureSummary,
    /// `None` when the capture has no occupancy (no image).
    pub people: Option<u32>,
    pub countability: Option<f32>,
    pub needs_review: bool,
    pub reviewed: bool,
    /// People counted per seat row, front first.
    pub rows: Vec<(SeatRow, u32)>,
}

/// A person's count of one seat row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowReview {
    pub row: SeatRow,
    pub people: u32,
    pub reviewer: String,
    pub reviewed_at_ms: i64,
}

impl Store {
    /// The captures that match, newest (highest id) first.
    pub async fn search_captures(
        &self,
        query: &CaptureQuery,
    ) -> Result<Vec<CaptureListing>, StoreError> {
        let mut sql: QueryBuilder<Sqlite> = QueryBuilder::new(concat!(
            "SELECT ",
            summary_columns!(),
            ", o.people, o.countability, COALESCE(o.needs_review, 0) AS needs_review, \
             (SELECT group_concat(seat_row || ':' || people) FROM occupancy_rows \
              WHERE capture_id = c.id) AS row_counts, \
             EXISTS (SELECT 1 FROM capture_reviews r WHERE r.capture_id = c.id) AS reviewed",
            summary_from!(),
            " LEFT JOIN capture_occupancy o ON o.capture_id = c.id WHERE 1 = 1"
        ));
        // The review queue walks the partial index of flagged captures, newest first, instead
        // of sorting every flagged capture; o.capture_id is c.id.
        let order_key = match query.review {
            ReviewFilter::Waiting => "o.capture_id",
            ReviewFilter::Any | ReviewFilter::Reviewed => "c.id",
        };
        if let Some(before) = query.before {
            sql.push(format!(" AND {order_key} < ")).push_bind(before.0);
        }
        if let Some(vehicle) = query.vehicle {
            sql.push(" AND c.vehicle_id = ")
                .push_bind(vehicle.to_string());
        }
        if let Some(lane) = &query.lane {
            sql.push(" AND c.lane = ").push_bind(lane.clone());
        }
        if let Some(class) = &query.class {
            sql.push(
                " AND EXISTS (SELECT 1 FROM vehicles v WHERE v.id = c.vehicle_id AND v.class = ",
            )
            .push_bind(class.clone())
            .push(")");
        }
        if let Some(from_ms) = query.from_ms {
            sql.push(" AND c.detected_at_ms >= ").push_bind(from_ms);
        }
        if let Some(to_ms) = query.to_ms {
            sql.push(" AND c.detected_at_ms < ").push_bind(to_ms);
        }
        if let Some(people) = query.people {
            sql.push(" AND o.people = ").push_bind(people);
        }
        let reviewed = "EXISTS (SELECT 1 FROM capture_reviews r WHERE r.capture_id = c.id)";
        match query.review {
            ReviewFilter::Any => {}
            ReviewFilter::Waiting => {
                sql.push(format!(" AND o.needs_review = 1 AND NOT {reviewed}"));
            }
            ReviewFilter::Reviewed => {
                sql.push(format!(" AND {reviewed}"));
            }
        }
        sql.push(format!(" ORDER BY {order_key} DESC LIMIT "))
            .push_bind(query.limit);
        sql.build_query_as()
            .fetch_all(&self.reader)
            .await
            .map_err(StoreError::database("searching captures"))
    }

    /// Keeps a person's counts of capture `id`'s seat rows (replacing an earlier review of
    /// those rows), and of every other capture of the same vehicle that was counted: the views
    /// of one vehicle share one count, so a review of one is a review of all. False when there
    /// is no such capture.
    pub async fn save_review(
        &self,
        id: CaptureId,
        rows: &[(SeatRow, u32)],
        reviewer: &str,
    ) -> Result<bool, StoreError> {
        let error = StoreError::database;
        let mut tx = self
            .writer
            .begin()
            .await
            .map_err(error("starting a review"))?;
        let views: Vec<i64> = sqlx::query_scalar(
            "SELECT c.id FROM captures c, captures this WHERE this.id = ? \
             AND (c.id = this.id OR (c.vehicle_id = this.vehicle_id AND this.test = 0 \
             AND EXISTS (SELECT 1 FROM occupancy_rows r WHERE r.capture_id = c.id)))",
        )
        .bind(id.0)
        .fetch_all(&mut *tx)
        .await
        .map_err(error("finding a reviewed capture"))?;
        if views.is_empty() {
            return Ok(false);
        }
        let at_ms = now_ms();
        for view in views {
            for &(row, people) in rows {
                sqlx::query(
                    "INSERT INTO capture_reviews \
                     (capture_id, seat_row, people, reviewer, reviewed_at_ms) \
                     VALUES (?, ?, ?, ?, ?) ON CONFLICT (capture_id, seat_row) DO UPDATE SET \
                     people = excluded.people, reviewer = excluded.reviewer, \
                     reviewed_at_ms = excluded.reviewed_at_ms",
                )
                .bind(view)
                .bind(row.as_str())
                .bind(people)
                .bind(reviewer)
                .bind(at_ms)
                .execute(&mut *tx)
                .await
                .map_err(error("saving a review"))?;
            }
        }
        tx.commit().await.map_err(error("committing a review"))?;
        Ok(true)
    }

    /// The people's counts of capture `id`, front row first.
    pub async fn reviews(&self, id: CaptureId) -> Result<Vec<RowReview>, StoreError> {
        let rows = sqlx::query(
            "SELECT seat_row, people, reviewer, reviewed_at_ms FROM capture_reviews \
             WHERE capture_id = ? ORDER BY seat_row",
        )
        .bind(id.0)
        .fetch_all(&self.reader)
        .await
        .map_err(StoreError::database("reading reviews"))?;
        let mut reviews = rows
            .iter()
            .map(|row| {
                Ok(RowReview {
                    row: parse_row(row.try_get("seat_row")?)?,
                    people: row.try_get("people")?,
                    reviewer: row.try_get("reviewer")?,
                    reviewed_at_ms: row.try_get("reviewed_at_ms")?,
                })
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()
            .map_err(StoreError::database("decoding reviews"))?;
        reviews.sort_by_key(|review| review.row);
        Ok(reviews)
    }
}

impl FromRow<'_, SqliteRow> for CaptureListing {
    fn from_row(row: &SqliteRow) -> Result<Self, sqlx::Error> {
        let counts: Option<String> = row.try_get("row_counts")?;
        let mut rows = counts
            .as_deref()
            .unwrap_or("")
            .split(',')
            .filter(|pair| !pair.is_empty())
            .map(|pair| {
                let (name, people) = pair.split_once(':').unwrap_or((pair, ""));
                let people = people.parse().map_err(|_| {
                    sqlx::Error::Decode(format!("a seat-row count {pair:?}").into())
                })?;
                Ok((parse_row(name)?, people))
            })
            .collect::<Result<Vec<(SeatRow, u32)>, sqlx::Error>>()?;
        rows.sort();
        Ok(CaptureListing {
            summary: CaptureSummary::from_row(row)?,
            people: row.try_get("people")?,
            countability: row
                .try_get::<Option<f64>, _>("countability")?
                .map(|value| value as f32),
            needs_review: row.try_get("needs_review")?,
            reviewed: row.try_get("reviewed")?,
            rows,
        })
    }
}
