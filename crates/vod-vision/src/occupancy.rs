//! Seat-row counting: each person detection goes to the row whose zone (an x-range in
//! normalized coordinates of the camera's side view) holds its centre; the frames of one
//! vehicle are fused into one count per row with a confidence, and a countability score from
//! every signal the frames give: agreement between frames, faces against people, scores near
//! the threshold, overlapping people, boxes cut by a zone edge, people in no zone (calibrated
//! against the simulated camera's ground truth: docs/PERFORMANCE.md, Vision).

use std::collections::{BTreeMap, BTreeSet};

use vod_core::{Doubt, DoubtKind, PersonDetection, RowCount, SeatRow};

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

/// A face the face model found, in the row whose zone holds its centre.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PlacedFace {
    pub burst_index: u32,
    pub row: Option<SeatRow>,
}

/// What the analysed frames of one burst say about its occupants.
#[derive(Debug, Clone, Copy)]
pub struct Evidence<'a> {
    /// The burst indexes of the frames analysed (people found and faces searched).
    pub frames: &'a [u32],
    /// The people found, with rows assigned.
    pub people: &'a [PersonDetection],
    pub faces: &'a [PlacedFace],
    /// The person model's score threshold: scores just above it are doubtful.
    pub person_threshold: f32,
    /// The frames' width, to compare boxes in pixels with the zones.
    pub width_px: f32,
}

/// The fused result: per-row counts (every zone's row, in row order), the countability and
/// what was in doubt.
#[derive(Debug, Clone, PartialEq)]
pub struct RowFusion {
    pub rows: Vec<RowCount>,
    pub countability: f32,
    /// Sorted, each once.
    pub doubts: Vec<Doubt>,
}

/// A person's score less than this above the threshold is `NearThreshold`.
pub const NEAR_THRESHOLD_MARGIN: f32 = 0.05;
/// Two boxes whose intersection covers this share of the smaller one are `Overlapping`.
pub const OVERLAP_SHARE: f32 = 0.3;
/// A box with this share of its width outside its row's zone is `CutByZoneEdge`.
pub const OUTSIDE_ZONE_SHARE: f32 = 0.4;
/// A box this many times wider than tall is `WideBox`.
pub const WIDE_BOX_ASPECT: f32 = 1.0;

/// How much of a row's confidence a doubt in one of its frames leaves (docs/PERFORMANCE.md,
/// "Counting accuracy": how often a count was right with each doubt on the bench's scenes).
pub fn leaves(kind: DoubtKind) -> f32 {
    match kind {
        DoubtKind::OutsideZones | DoubtKind::WideBox => 0.1,
        DoubtKind::FacesExceedPeople
        | DoubtKind::NearThreshold
        | DoubtKind::Overlapping
        | DoubtKind::CutByZoneEdge
        | DoubtKind::ViewsDisagree => 0.5,
        // Their own rules: the share of frames that agree; a missed driver leaves nothing.
        DoubtKind::FramesDisagree => 1.0,
        DoubtKind::DriverMissed => 0.0,
    }
}

/// Fuses the frames of one burst. A frame's count for a row is the larger of the people and
/// the faces found in it (faces find people the person model misses: docs/PERFORMANCE.md,
/// "Counting accuracy"). Per row, the count is the one most frames agree on (ties go to the
/// larger count, since occupants hide behind each other more often than they appear twice).
/// The row's confidence is the share of frames that agree, times what the doubts of the most
/// doubtful agreeing frame leave of it ([`leaves`]): more faces than people in the row, a
/// score near the threshold, overlapping people, a box wide enough for two that nothing else
/// explains, a box reaching out of its zone. A front row counted empty has confidence 0: a
/// moving vehicle has a driver, so nobody seen in front means the view failed. The
/// countability is the lowest row confidence; a person in no row zone may be an occupant of a
/// row counted without them, so it then keeps only what `OutsideZones` leaves. The detector's
/// scores count only near the threshold: above it they did not tell right counts from wrong
/// ones.
pub fn fuse(zones: &[RowZone], evidence: &Evidence) -> RowFusion {
    let mut rows: Vec<SeatRow> = zones.iter().map(|z| z.row).collect();
    rows.sort();
    rows.dedup();
    let frames = evidence.frames;
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
            doubts: Vec::new(),
        };
    }
    let share = |n: usize| n as f32 / frames.len() as f32;
    let mut doubts = BTreeSet::new();
    let mut counts = Vec::with_capacity(rows.len());
    for row in rows {
        // Per frame: the people counted in the row and what that frame leaves of certainty.
        let seen: Vec<(u32, f32)> = frames
            .iter()
            .map(|frame| {
                let found = frame_doubts(zones, evidence, *frame, row);
                doubts.extend(found.kinds.iter().map(|kind| Doubt {
                    kind: *kind,
                    row: Some(row),
                }));
                let left = found.kinds.iter().map(|k| leaves(*k)).product::<f32>();
                (found.people, left)
            })
            .collect();
        let mut votes: BTreeMap<u32, usize> = BTreeMap::new();
        for (people, _) in &seen {
            *votes.entry(*people).or_default() += 1;
        }
        let (people, agree) = votes
            .iter()
            .max_by(|a, b| a.1.cmp(b.1).then(a.0.cmp(b.0)))
            .map(|(n, v)| (*n, *v))
            .unwrap_or((0, 0));
        if agree < frames.len() {
            doubts.insert(Doubt {
                kind: DoubtKind::FramesDisagree,
                row: Some(row),
            });
        }
        let least_left = seen
            .iter()
            .filter(|(n, _)| *n == people)
            .map(|(_, left)| *left)
            .fold(1.0f32, f32::min);
        let mut confidence = share(agree) * least_left;
        if row == SeatRow::Front && people == 0 {
            doubts.insert(Doubt {
                kind: DoubtKind::DriverMissed,
                row: Some(row),
            });
            confidence *= leaves(DoubtKind::DriverMissed);
        }
        counts.push(RowCount {
            row,
            people,
            confidence,
        });
    }
    let mut countability = counts.iter().map(|c| c.confidence).fold(1.0f32, f32::min);
    if evidence.people.iter().any(|d| d.row.is_none()) {
        doubts.insert(Doubt {
            kind: DoubtKind::OutsideZones,
            row: None,
        });
        countability *= leaves(DoubtKind::OutsideZones);
    }
    RowFusion {
        rows: counts,
        countability,
        doubts: doubts.into_iter().collect(),
    }
}

/// The people counted in `row` in one frame and the doubts about that count.
struct FrameRow {
    people: u32,
    kinds: Vec<DoubtKind>,
}

fn frame_doubts(zones: &[RowZone], evidence: &Evidence, frame: u32, row: SeatRow) -> FrameRow {
    let people: Vec<&PersonDetection> = evidence
        .people
        .iter()
        .filter(|d| d.burst_index == frame && d.row == Some(row))
        .collect();
    let faces = evidence
        .faces
        .iter()
        .filter(|f| f.burst_index == frame && f.row == Some(row))
        .count();
    let mut kinds = Vec::new();
    let faces_exceed = faces > people.len();
    if faces_exceed {
        kinds.push(DoubtKind::FacesExceedPeople);
    }
    if people
        .iter()
        .any(|d| d.score < evidence.person_threshold + NEAR_THRESHOLD_MARGIN)
    {
        kinds.push(DoubtKind::NearThreshold);
    }
    let overlapped = |i: usize| {
        let a = people[i];
        people
            .iter()
            .enumerate()
            .any(|(j, b)| j != i && overlap_share(a, b) > OVERLAP_SHARE)
    };
    if (0..people.len()).any(overlapped) {
        kinds.push(DoubtKind::Overlapping);
    }
    // A wide box may hold a second person; it is explained when that person is counted
    // anyway: by a box of their own over it, or by the row's faces outnumbering its boxes.
    let unexplained_wide = (0..people.len()).any(|i| {
        let d = people[i];
        d.x2_px - d.x1_px > WIDE_BOX_ASPECT * (d.y2_px - d.y1_px) && !faces_exceed && !overlapped(i)
    });
    if unexplained_wide {
        kinds.push(DoubtKind::WideBox);
    }
    let cut = people.iter().any(|d| {
        let (x1, x2) = (d.x1_px / evidence.width_px, d.x2_px / evidence.width_px);
        let centre = (x1 + x2) / 2.0;
        zones
            .iter()
            .find(|z| z.row == row && (z.x_from..z.x_to).contains(&centre))
            .is_some_and(|zone| {
                let inside = (x2.min(zone.x_to) - x1.max(zone.x_from)).max(0.0);
                let width = (x2 - x1).max(f32::EPSILON);
                1.0 - inside / width > OUTSIDE_ZONE_SHARE
            })
    });
    if cut {
        kinds.push(DoubtKind::CutByZoneEdge);
    }
    FrameRow {
        people: people.len().max(faces) as u32,
        kinds,
    }
}

/// The share of the smaller box that the two boxes have in common.
fn overlap_share(a: &PersonDetection, b: &PersonDetection) -> f32 {
    let w = (a.x2_px.min(b.x2_px) - a.x1_px.max(b.x1_px)).max(0.0);
    let h = (a.y2_px.min(b.y2_px) - a.y1_px.max(b.y1_px)).max(0.0);
    let area = |d: &PersonDetection| (d.x2_px - d.x1_px).max(0.0) * (d.y2_px - d.y1_px).max(0.0);
    let smaller = area(a).min(area(b)).max(f32::EPSILON);
    w * h / smaller
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

    const WIDTH_PX: f32 = 1000.0;

    /// A person 100 px wide whose box starts at `x1_px`, placed by its centre.
    fn at(burst_index: u32, x1_px: f32, score: f32) -> PersonDetection {
        let x2_px = x1_px + 100.0;
        PersonDetection {
            burst_index,
            row: row_at(&ZONES, (x1_px + x2_px) / 2.0 / WIDTH_PX),
            x1_px,
            y1_px: 0.0,
            x2_px,
            y2_px: 100.0,
            score,
        }
    }

    fn front(burst_index: u32) -> PersonDetection {
        at(burst_index, 700.0, 0.9)
    }

    fn rear(burst_index: u32) -> PersonDetection {
        at(burst_index, 100.0, 0.9)
    }

    fn face(burst_index: u32, row: SeatRow) -> PlacedFace {
        PlacedFace {
            burst_index,
            row: Some(row),
        }
    }

    fn fused(frames: &[u32], people: &[PersonDetection], faces: &[PlacedFace]) -> RowFusion {
        fuse(
            &ZONES,
            &Evidence {
                frames,
                people,
                faces,
                person_threshold: 0.4,
                width_px: WIDTH_PX,
            },
        )
    }

    fn doubt(kind: DoubtKind, row: SeatRow) -> Doubt {
        Doubt {
            kind,
            row: Some(row),
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
            front(0),
            front(1),
            rear(0),
            at(0, 300.0, 0.8),
            rear(1),
            at(1, 300.0, 0.8),
        ];
        let faces = [face(0, SeatRow::Front), face(1, SeatRow::Rear)];
        let f = fused(&[0, 1], &d, &faces);
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
        assert_eq!(f.doubts, []);
    }

    #[test]
    fn disagreeing_frames_lower_the_confidence_and_ties_take_the_larger_count() {
        let d = [front(0), front(1), rear(0)];
        let f = fused(&[0, 1], &d, &[]);
        assert_eq!(f.rows[0].confidence, 1.0);
        assert_eq!(
            f.rows[1],
            RowCount {
                row: SeatRow::Rear,
                people: 1,
                confidence: 0.5
            }
        );
        assert_eq!(f.countability, 0.5);
        assert_eq!(f.doubts, [doubt(DoubtKind::FramesDisagree, SeatRow::Rear)]);
    }

    #[test]
    fn a_front_row_seen_empty_is_not_countable() {
        let f = fused(&[0, 1], &[rear(0), rear(1)], &[]);
        assert_eq!(f.rows[0].people, 0);
        assert_eq!(f.rows[0].confidence, 0.0);
        assert_eq!(f.countability, 0.0);
        assert_eq!(f.doubts, [doubt(DoubtKind::DriverMissed, SeatRow::Front)]);
    }

    #[test]
    fn a_person_in_no_row_zone_lowers_the_countability() {
        let outside = PersonDetection {
            row: None,
            ..at(1, 1200.0, 0.5)
        };
        let f = fused(&[0, 1], &[front(0), front(1), outside], &[]);
        assert!(f.rows.iter().all(|r| r.confidence == 1.0), "{f:?}");
        assert_eq!(f.countability, leaves(DoubtKind::OutsideZones));
        assert_eq!(
            f.doubts,
            [Doubt {
                kind: DoubtKind::OutsideZones,
                row: None
            }]
        );
    }

    #[test]
    fn more_faces_than_people_in_a_row_count_but_are_never_certain() {
        // The person model found one driver in each frame, the face model two faces.
        let faces = [
            face(0, SeatRow::Front),
            face(0, SeatRow::Front),
            face(1, SeatRow::Front),
            face(1, SeatRow::Front),
        ];
        let f = fused(&[0, 1], &[front(0), front(1)], &faces);
        assert_eq!(f.rows[0].people, 2);
        assert_eq!(f.rows[0].confidence, leaves(DoubtKind::FacesExceedPeople));
        assert!(f.countability < 1.0);
        assert_eq!(
            f.doubts,
            [doubt(DoubtKind::FacesExceedPeople, SeatRow::Front)]
        );
        // Nobody found by the person model, a face in each frame: a driver, in doubt.
        let f = fused(&[0, 1], &[], &faces[1..3]);
        assert_eq!(f.rows[0].people, 1);
        assert!(
            !f.doubts
                .contains(&doubt(DoubtKind::DriverMissed, SeatRow::Front))
        );
    }

    #[test]
    fn a_score_near_the_threshold_overlap_a_wide_box_and_a_cut_box_each_lower_their_row() {
        let near = [at(0, 700.0, 0.42), front(1)];
        let f = fused(&[0, 1], &near, &[]);
        assert_eq!(f.rows[0].confidence, leaves(DoubtKind::NearThreshold));
        assert_eq!(f.doubts, [doubt(DoubtKind::NearThreshold, SeatRow::Front)]);

        let overlapping = [front(0), at(0, 740.0, 0.9), front(1), at(1, 740.0, 0.9)];
        let f = fused(&[0, 1], &overlapping, &[]);
        assert_eq!(f.rows[0].people, 2);
        assert_eq!(f.rows[0].confidence, leaves(DoubtKind::Overlapping));

        // Two drivers' width in one box.
        let wide = PersonDetection {
            x2_px: 900.0,
            ..front(0)
        };
        let f = fused(&[0, 1], &[wide.clone(), front(1)], &[]);
        assert_eq!(f.rows[0].confidence, leaves(DoubtKind::WideBox));
        assert_eq!(f.doubts, [doubt(DoubtKind::WideBox, SeatRow::Front)]);
        // The second person counted anyway: by two faces in the row, or by a box of their own.
        let two_faces = [face(0, SeatRow::Front), face(0, SeatRow::Front)];
        let f = fused(&[0], std::slice::from_ref(&wide), &two_faces);
        assert_eq!(f.rows[0].people, 2);
        assert_eq!(
            f.doubts,
            [doubt(DoubtKind::FacesExceedPeople, SeatRow::Front)]
        );
        let f = fused(&[0], &[wide, at(0, 800.0, 0.9)], &[]);
        assert_eq!(f.rows[0].people, 2);
        assert_eq!(f.doubts, [doubt(DoubtKind::Overlapping, SeatRow::Front)]);

        // Centre at 0.505: in the front zone, but 45 % of the box lies in the rear zone.
        let cut = [at(0, 455.0, 0.9), at(1, 455.0, 0.9)];
        let f = fused(&[0, 1], &cut, &[]);
        assert_eq!(f.rows[0].people, 1);
        assert_eq!(f.rows[0].confidence, leaves(DoubtKind::CutByZoneEdge));
        assert_eq!(f.doubts, [doubt(DoubtKind::CutByZoneEdge, SeatRow::Front)]);
    }

    #[test]
    fn a_doubt_in_a_frame_that_disagrees_does_not_lower_the_agreed_count() {
        // Frames 0 and 1 agree on one rear passenger; frame 2 saw two, overlapping.
        let d = [
            front(0),
            front(1),
            front(2),
            rear(0),
            rear(1),
            rear(2),
            at(2, 130.0, 0.9),
        ];
        let f = fused(&[0, 1, 2], &d, &[]);
        assert_eq!(f.rows[1].people, 1);
        assert!((f.rows[1].confidence - 2.0 / 3.0).abs() < 1e-6, "{f:?}");
        assert!(
            f.doubts
                .contains(&doubt(DoubtKind::Overlapping, SeatRow::Rear))
        );
    }

    #[test]
    fn no_analysed_frame_means_nothing_is_countable() {
        let f = fused(&[], &[], &[]);
        assert_eq!(f.countability, 0.0);
        assert!(f.rows.iter().all(|r| r.people == 0 && r.confidence == 0.0));
    }
}
