//! What the vision stage found in one vehicle: people per seat row, each count with its
//! confidence, the detections behind them and the models that made them.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SeatRow {
    Front,
    Rear,
    Third,
}

impl SeatRow {
    pub const ALL: [SeatRow; 3] = [SeatRow::Front, SeatRow::Rear, SeatRow::Third];

    /// The row's name, as the config, the database and JSON spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            SeatRow::Front => "front",
            SeatRow::Rear => "rear",
            SeatRow::Third => "third",
        }
    }

    pub fn parse(name: &str) -> Option<SeatRow> {
        SeatRow::ALL.into_iter().find(|row| row.as_str() == name)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RowCount {
    pub row: SeatRow,
    pub people: u32,
    /// 0..1: how far the frames agree on this count, times the detections' mean score.
    pub confidence: f32,
}

/// One person found in one frame, in frame pixels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PersonDetection {
    pub burst_index: u32,
    /// `None` when the person is outside every row zone of the camera.
    pub row: Option<SeatRow>,
    pub x1_px: f32,
    pub y1_px: f32,
    pub x2_px: f32,
    pub y2_px: f32,
    pub score: f32,
}

/// A model as it was run: its manifest name and the SHA-256 of its file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelRef {
    pub name: String,
    pub sha256: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Occupancy {
    pub rows: Vec<RowCount>,
    /// The sum over rows.
    pub people: u32,
    /// 0..1, the lowest row confidence; below the configured threshold a person reviews it.
    pub countability: f32,
    pub needs_review: bool,
    pub detections: Vec<PersonDetection>,
    pub faces_blurred: u32,
    pub models: Vec<ModelRef>,
    /// True when the images were kept raw (evidence mode): faces are NOT anonymized.
    pub evidence_raw: bool,
}
