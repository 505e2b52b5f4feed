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
    /// 0..1: the share of frames that agree on this count, times how doubtful the most
    /// doubtful of them is (vod-vision `occupancy::fuse`).
    pub confidence: f32,
}

/// Why a count is not certain. Each doubt lowers the confidence of its row (or, for
/// `OutsideZones`, the whole countability); a reviewer sees them beside the images.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DoubtKind {
    /// The frames of the burst do not agree on the row's count.
    FramesDisagree,
    /// The face model saw more faces in the row than people were counted there.
    FacesExceedPeople,
    /// A person in the row was found with a score near the model's threshold.
    NearThreshold,
    /// Two people in the row overlap: one may hide another.
    Overlapping,
    /// A person's box is wider than it is tall: it may hold two people side by side (a box
    /// of the second person over it, or more faces than boxes in its row, explains it).
    WideBox,
    /// A person's box reaches far out of the row's zone: they may belong to the next row.
    CutByZoneEdge,
    /// Nobody was counted in the front row: a moving vehicle has a driver.
    DriverMissed,
    /// Someone was found in no row zone.
    OutsideZones,
    /// The cameras of the vehicle's lane do not agree on the row's count.
    ViewsDisagree,
}

impl DoubtKind {
    pub const ALL: [DoubtKind; 9] = [
        DoubtKind::FramesDisagree,
        DoubtKind::FacesExceedPeople,
        DoubtKind::NearThreshold,
        DoubtKind::Overlapping,
        DoubtKind::WideBox,
        DoubtKind::CutByZoneEdge,
        DoubtKind::DriverMissed,
        DoubtKind::OutsideZones,
        DoubtKind::ViewsDisagree,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DoubtKind::FramesDisagree => "frames_disagree",
            DoubtKind::FacesExceedPeople => "faces_exceed_people",
            DoubtKind::NearThreshold => "near_threshold",
            DoubtKind::Overlapping => "overlapping",
            DoubtKind::WideBox => "wide_box",
            DoubtKind::CutByZoneEdge => "cut_by_zone_edge",
            DoubtKind::DriverMissed => "driver_missed",
            DoubtKind::OutsideZones => "outside_zones",
            DoubtKind::ViewsDisagree => "views_disagree",
        }
    }
}

/// One doubt and the row it is about (`None`: the whole vehicle). Written `kind` or
/// `kind:row`, as the database and the pages show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Doubt {
    pub kind: DoubtKind,
    pub row: Option<SeatRow>,
}

impl std::fmt::Display for Doubt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.row {
            Some(row) => write!(f, "{}:{}", self.kind.as_str(), row.as_str()),
            None => f.write_str(self.kind.as_str()),
        }
    }
}

impl Doubt {
    /// Reads what `Display` wrote.
    pub fn parse(text: &str) -> Option<Doubt> {
        let (kind, row) = match text.split_once(':') {
            Some((kind, row)) => (kind, Some(SeatRow::parse(row)?)),
            None => (text, None),
        };
        let kind = DoubtKind::ALL.into_iter().find(|k| k.as_str() == kind)?;
        Some(Doubt { kind, row })
    }
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
    /// 0..1, the lowest row confidence (lowered when someone is in no row zone); below the
    /// configured threshold a person reviews it.
    pub countability: f32,
    pub needs_review: bool,
    /// Why the count is not certain, sorted; empty when nothing was in doubt.
    #[serde(default)]
    pub doubts: Vec<Doubt>,
    pub detections: Vec<PersonDetection>,
    pub faces_blurred: u32,
    pub models: Vec<ModelRef>,
    /// True when the images were kept raw (evidence mode): faces are NOT anonymized.
    pub evidence_raw: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubts_read_back_as_written() {
        for kind in DoubtKind::ALL {
            for row in [None, Some(SeatRow::Rear)] {
                let doubt = Doubt { kind, row };
                assert_eq!(Doubt::parse(&doubt.to_string()), Some(doubt));
            }
        }
        assert_eq!(Doubt::parse("nonsense"), None);
        assert_eq!(Doubt::parse("overlapping:roof"), None);
    }
}
