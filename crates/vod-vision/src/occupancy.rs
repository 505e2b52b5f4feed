//! Seat-row counting: each person detection goes to the row whose zone (an x-range in
//! normalized coordinates of the camera's side view) holds its centre; the frames of one
//! vehicle are fused into one count per row with a confidence, and a countability score.

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

/// The fused result: per-row counts (every zone's row, in row order) and the countability,
/// the lowest row confidence (0 when no frame was analysed).
#[derive(Debug, Clone, PartialEq)]
pub struct RowFusion {
    pub rows: Vec<RowCount>,
    pub countability: f32,
}

/// Fuses `frames` analysed frames whose detections (with rows assigned) are `detections`.
/// Per row, the count is the one most frames agree on (ties go to the larger count, since
/// occupants hide behind each other more often than they appear twice); the confidence is
/// the share of frames that agree, times the mean score of the detections in those frames
/// (1 for an empty row).
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
    let mut counts = Vec::with_capacity(rows.len());
    for row in rows {
        let per_frame: Vec<(u32, Vec<f32>)> = frames
            .iter()
            .map(|frame| {
                let scores: Vec<f32> = detections
                    .iter()
                    .filter(|d| d.burst_index == *frame && d.row == Some(row))
                    .map(|d| d.score)
                    .collect();
                (scores.len() as u32, scores)
            })
            .collect();
        let mut votes: BTreeMap<u32, u32> = BTreeMap::new();
        for (n, _) in &per_frame {
            *votes.entry(*n).or_default() += 1;
        }
        let (people, agree) = votes
            .iter()
            .max_by(|a, b| a.1.cmp(b.1).then(a.0.cmp(b.0)))
            .map(|(n, v)| (*n, *v))
            .unwrap_or((0, 0));
        let scores: Vec<f32> = per_frame
            .iter()
            .filter(|(n, _)| *n == people)
            .flat_map(|(_, s)| s.iter().copied())
            .collect();
        let mean_score = if scores.is_empty() {
            1.0
        } else {
            scores.iter().sum::<f32>() / scores.len() as f32
        };
        let confidence = agree as f32 / frames.len() as f32 * mean_score;
        counts.push(RowCount {
            row,
            people,
            confidence,
        });
    }
    let countability = counts.iter().map(|c| c.confidence).fold(1.0f32, f32::min);
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
            burst_index,
            row: Some(row),
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
                confidence: 0.9
            }
        );
        assert_eq!(f.rows[1].people, 2);
        assert!((f.countability - 0.8).abs() < 1e-6);
    }

    #[test]
    fn disagreeing_frames_lower_the_confidence_and_ties_take_the_larger_count() {
        let d = [person(0, SeatRow::Rear, 1.0)];
        let f = fuse(&ZONES, &[0, 1], &d);
        assert_eq!(
            f.rows[0],
            RowCount {
                row: SeatRow::Front,
                people: 0,
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
    fn no_analysed_frame_means_nothing_is_countable() {
        let f = fuse(&ZONES, &[], &[]);
        assert_eq!(f.countability, 0.0);
        assert!(f.rows.iter().all(|r| r.people == 0 && r.confidence == 0.0));
    }
}
