//! Seat-row counting: each person detection goes to the row whose zone (an x-range in
//! normalized coordinates of the camera's side view) holds its centre; the frames of one
//! vehicle are fused into one count per row with a confidence, and a countability score
//! (calibrated against the simulated camera's ground truth: docs/PERFORMANCE.md, Vision).

use std::collections::BTreeMap;

use vod_core::{PersonDetection, RowCount, SeatRow};

/// A row zone: `x_from..x_to` in 0..1 of the image width.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RowZone {
    pub row: SeatRow,
    pub x_from: f32,
    pub x_to: f32,
}

/// The row whose zone holds normalized x, if any.
pub fn row_at(zones: &[RowZone], x: f32) -> Option<SeatRow> {
    zones
        .iter()
        .find(|z| (z.x_from..z.x_to).contains(&x))
        .map(|z| z.row)
}

/// The fused result: per-row counts (every zone's row, in row order) and the countability:
/// the lowest row confidence, times the share of frames in which every person fell in a row
/// zone (0 when no frame was analysed).
#[derive(Debug, Clone, PartialEq)]
pub struct RowFusion {
    pub rows: Vec<RowCount>,
    pub countability: f32,
}

/// Fuses `frames` analysed frames whose detections (with rows assigned) are `detections`.
/// Per row, the count is the one most frames agree on (ties go to the larger count, since
/// occupants hide behind each other more often than they appear twice); the confidence is
/// the share of frames that agree, except that a front row counted empty has confidence 0: a
/// moving vehicle has a driver, so nobody seen in front means the view failed. A person in no
/// row zone may be an occupant of a row that was counted without them, so frames holding one
/// lower the countability. The detector's scores are left out: on the simulated scenes they
/// did not tell right counts from wrong ones (docs/PERFORMANCE.md).
pub fn fuse(zones: &[RowZone], frames: &[u32], detections: &[PersonDetection]) -> RowFusion {
    let mut rows: Vec<SeatRow> = zones.iter().map(|z| z.row).collect();
    rows.sort();
    rows.dedup();
    if frames.is_empty() {
        let rows = rows
            .into_iter()
            .map(|row| RowCount {
                row,
                people: 0,
                confidence: 0.0,
            })
            .collect();
        return RowFusion {
            rows,
            countability: 0.0,
        };
    }
    let share = |n: usize| n as f32 / frames.len() as f32;
    let mut counts = Vec::with_capacity(rows.len());
    for row in rows {
        let mut votes: BTreeMap<u32, usize> = BTreeMap::new();
        for frame in frames {
            let n = detections
                .iter()
                .filter(|d| d.burst_index == *frame && d.row == Some(row))
                .count() as u32;
            *votes.entry(n).or_default() += 1;
        }
        let (people, agree) = votes
            .iter()
            .max_by(|a, b| a.1.cmp(b.1).then(a.0.cmp(b.0)))
            .map(|(n, v)| (*n, *v))
            .unwrap_or((0, 0));
        let driver_missed = row == SeatRow::Front && people == 0;
        let confidence = if driver_missed { 0.0 } else { share(agree) };
        counts.push(RowCount {
            row,
            people,
            confidence,
        });
    }
    let all_placed = frames
        .iter()
        .filter(|frame| {
            !detections
                .iter()
                .any(|d| d.burst_index == **frame && d.row.is_none())
        })
        .count();
    let countability =
        counts.iter().map(|c| c.confidence).fold(1.0f32, f32::min) * share(all_placed);
    RowFusion {
        rows: counts,
        countability,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ZONES: [RowZone; 2] = [
        RowZone {
            row: SeatRow::Front,
            x_from: 0.5,
            x_to: 1.0,
        },
        RowZone {
            row: SeatRow::Rear,
            x_from: 0.0,
            x_to: 0.5,
        },
    ];

    fn person(burst_index: u32, row: SeatRow, score: f32) -> PersonDetection {
        PersonDetection {
            row: Some(row),
            ..unplaced(burst_index, score)
        }
    }

    fn unplaced(burst_index: u32, score: f32) -> PersonDetection {
        PersonDetection {
            burst_index,
            row: None,
            x1_px: 0.0,
            y1_px: 0.0,
            x2_px: 1.0,
            y2_px: 1.0,
            score,
        }
    }

    #[test]
    fn the_zone_holding_the_centre_names_the_row() {
        assert_eq!(row_at(&ZONES, 0.7), Some(SeatRow::Front));
        assert_eq!(row_at(&ZONES, 0.1), Some(SeatRow::Rear));
        assert_eq!(row_at(&ZONES, 1.2), None);
    }

    #[test]
    fn frames_that_agree_give_a_confident_count() {
        let d = [
            person(0, SeatRow::Front, 0.9),
            person(1, SeatRow::Front, 0.9),
            person(0, SeatRow::Rear, 0.8),
            person(0, SeatRow::Rear, 0.8),
            person(1, SeatRow::Rear, 0.8),
            person(1, SeatRow::Rear, 0.8),
        ];
        let f = fuse(&ZONES, &[0, 1], &d);
        assert_eq!(
            f.rows[0],
            RowCount {
                row: SeatRow::Front,
                people: 1,
                confidence: 1.0
            }
        );
        assert_eq!(f.rows[1].people, 2);
        assert_eq!(f.countability, 1.0);
    }

    #[test]
    fn disagreeing_frames_lower_the_confidence_and_ties_take_the_larger_count() {
        let d = [
            person(0, SeatRow::Front, 0.6),
            person(1, SeatRow::Front, 0.6),
            person(0, SeatRow::Rear, 1.0),
        ];
        let f = fuse(&ZONES, &[0, 1], &d);
        assert_eq!(
            f.rows[0],
            RowCount {
                row: SeatRow::Front,
                people: 1,
                confidence: 1.0
            }
        );
        assert_eq!(
            f.rows[1],
            RowCount {
                row: SeatRow::Rear,
                people: 1,
                confidence: 0.5
            }
        );
        assert_eq!(f.countability, 0.5);
    }

    #[test]
    fn a_front_row_seen_empty_is_not_countable() {
        let d = [person(0, SeatRow::Rear, 0.9), person(1, SeatRow::Rear, 0.9)];
        let f = fuse(&ZONES, &[0, 1], &d);
        assert_eq!(f.rows[0].people, 0);
        assert_eq!(f.rows[0].confidence, 0.0);
        assert_eq!(f.countability, 0.0);
    }

    #[test]
    fn a_person_in_no_row_zone_lowers_the_countability() {
        let d = [
            person(0, SeatRow::Front, 0.9),
            person(1, SeatRow::Front, 0.9),
            unplaced(1, 0.5),
        ];
        let f = fuse(&ZONES, &[0, 1], &d);
        assert!(f.rows.iter().all(|r| r.confidence == 1.0), "{f:?}");
        assert_eq!(f.countability, 0.5);
    }

    #[test]
    fn no_analysed_frame_means_nothing_is_countable() {
        let f = fuse(&ZONES, &[], &[]);
        assert_eq!(f.countability, 0.0);
        assert!(f.rows.iter().all(|r| r.people == 0 && r.confidence == 0.0));
    }
}
