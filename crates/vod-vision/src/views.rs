//! One vehicle through the eyes of every camera of its lane that counts (has seat rows): each
//! camera's capture waits for the others of the same vehicle, at most [`VIEWS_WAIT`], and all
//! are then stored with one count. Two cameras on either side of a lane see each row from both
//! ends: whom one sees half hidden behind another, the other sees nearest (docs/PERFORMANCE.md,
//! "Two views of a vehicle").

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use vod_core::config::Config;
use vod_core::{Capture, Doubt, DoubtKind, Occupancy, RowCount, SeatRow, VehicleId};

use crate::occupancy::leaves;
use crate::vision::VisionSettings;

/// How long a vehicle's first capture waits for the other views of its lane; after that the
/// views that came are fused and stored (a camera may have shed the trigger).
pub const VIEWS_WAIT: Duration = Duration::from_secs(5);

/// Per lane, how many cameras count its vehicles: those with `[[vision.seat_rows]]`.
pub fn views_by_lane(config: &Config) -> HashMap<String, usize> {
    let mut views = HashMap::new();
    for camera in &config.cameras {
        if config
            .vision
            .seat_rows
            .iter()
            .any(|r| r.camera == camera.name)
        {
            *views.entry(camera.lane.clone()).or_default() += 1;
        }
    }
    views
}

/// One count from several views of a vehicle, written into each view's occupancy (each keeps
/// its own detections, faces and images). Per row, the largest count a view gives (whom one
/// view sees, is there: a view misses people hidden in it far more often than it sees one
/// twice), with the best confidence of the views that give it; views that disagree on a row
/// leave it what [`DoubtKind::ViewsDisagree`] leaves, so a count only a doubtful view gives
/// goes to a person. The countability is the lowest row confidence, lowered when any view
/// found someone in no row zone; the doubts are every view's, with the disagreements. Fewer
/// than two counting views (cameras with seat rows in `settings`) with an occupancy: unchanged;
/// a capture of a camera that does not count is left as it is.
pub fn fuse_views(captures: &mut [Capture], settings: &VisionSettings) {
    let counts = |capture: &Capture| settings.seat_rows.contains_key(&*capture.camera);
    let views: Vec<&Occupancy> = captures
        .iter()
        .filter(|c| counts(c))
        .filter_map(|c| c.occupancy.as_ref())
        .collect();
    if views.len() < 2 {
        return;
    }
    let rows: BTreeSet<SeatRow> = views
        .iter()
        .flat_map(|v| v.rows.iter().map(|r| r.row))
        .collect();
    let mut doubts: BTreeSet<Doubt> = views
        .iter()
        .flat_map(|v| v.doubts.iter().copied())
        .collect();
    let mut fused = Vec::with_capacity(rows.len());
    for row in rows {
        let seen: Vec<&RowCount> = views
            .iter()
            .filter_map(|v| v.rows.iter().find(|r| r.row == row))
            .collect();
        let Some(best) = seen.iter().max_by(|a, b| {
            a.people
                .cmp(&b.people)
                .then(a.confidence.total_cmp(&b.confidence))
        }) else {
            continue;
        };
        let mut confidence = best.confidence;
        if seen.iter().any(|r| r.people != best.people) {
            doubts.insert(Doubt {
                kind: DoubtKind::ViewsDisagree,
                row: Some(row),
            });
            confidence *= leaves(DoubtKind::ViewsDisagree);
        }
        fused.push(RowCount {
            row,
            people: best.people,
            confidence,
        });
    }
    let mut countability = fused.iter().map(|r| r.confidence).fold(1.0f32, f32::min);
    if doubts.iter().any(|d| d.kind == DoubtKind::OutsideZones) {
        countability *= leaves(DoubtKind::OutsideZones);
    }
    let people = fused.iter().map(|r| r.people).sum();
    let doubts: Vec<Doubt> = doubts.into_iter().collect();
    let counting = captures.iter_mut().filter(|c| counts(c));
    for occupancy in counting.filter_map(|c| c.occupancy.as_mut()) {
        occupancy.rows = fused.clone();
        occupancy.people = people;
        occupancy.countability = countability;
        occupancy.needs_review = countability < settings.review_below;
        occupancy.doubts = doubts.clone();
    }
}

/// The captures of vehicles whose other views have not all come yet.
#[derive(Debug, Default)]
pub struct ViewJoin {
    pending: HashMap<VehicleId, Pending>,
}

#[derive(Debug)]
struct Pending {
    captures: Vec<Capture>,
    views: usize,
    deadline: Instant,
}

impl ViewJoin {
    /// Takes one of the `views` captures of its vehicle; all of them once the last has come.
    pub fn add(&mut self, capture: Capture, views: usize, now: Instant) -> Option<Vec<Capture>> {
        let vehicle = capture.vehicle_id;
        let pending = self.pending.entry(vehicle).or_insert_with(|| Pending {
            captures: Vec::with_capacity(views),
            views,
            deadline: now + VIEWS_WAIT,
        });
        pending.captures.push(capture);
        if pending.captures.len() < pending.views {
            return None;
        }
        self.pending.remove(&vehicle).map(|p| p.captures)
    }

    /// When the longest-waiting vehicle stops waiting.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.pending.values().map(|p| p.deadline).min()
    }

    /// The captures of every vehicle that has waited long enough, a vehicle per group.
    pub fn expired(&mut self, now: Instant) -> Vec<Vec<Capture>> {
        let due: Vec<VehicleId> = self
            .pending
            .iter()
            .filter(|(_, p)| p.deadline <= now)
            .map(|(vehicle, _)| *vehicle)
            .collect();
        due.iter()
            .filter_map(|vehicle| self.pending.remove(vehicle))
            .map(|p| p.captures)
            .collect()
    }

    /// Every capture still waiting, a vehicle per group (the stage is stopping).
    pub fn drain(&mut self) -> Vec<Vec<Capture>> {
        self.pending.drain().map(|(_, p)| p.captures).collect()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use chrono::Utc;

    use super::*;

    fn capture(vehicle: VehicleId, camera: &str, rows: &[(SeatRow, u32, f32)]) -> Capture {
        let rows: Vec<RowCount> = rows
            .iter()
            .map(|&(row, people, confidence)| RowCount {
                row,
                people,
                confidence,
            })
            .collect();
        Capture {
            vehicle_id: vehicle,
            lane: Arc::from("lane-1"),
            camera: Arc::from(camera),
            detected_utc: Utc::now(),
            images: Vec::new(),
            occupancy: Some(Occupancy {
                people: rows.iter().map(|r| r.people).sum(),
                countability: rows.iter().map(|r| r.confidence).fold(1.0, f32::min),
                rows,
                needs_review: false,
                doubts: Vec::new(),
                detections: Vec::new(),
                faces_blurred: 0,
                models: Vec::new(),
                evidence_raw: false,
            }),
            test: false,
        }
    }

    fn vehicle(sequence: u32) -> VehicleId {
        VehicleId::new(Utc::now(), sequence, 1)
    }

    /// "left" and "right" count (their zones do not matter here), "plates" does not.
    fn settings(review_below: f32) -> VisionSettings {
        let zones = vec![crate::RowZone {
            row: SeatRow::Front,
            x_from: 0.0,
            x_to: 1.0,
        }];
        VisionSettings {
            anonymize_people: false,
            evidence_raw: false,
            review_below,
            anonymize: crate::AnonymizeParams::default(),
            seat_rows: HashMap::from([
                ("left".to_owned(), zones.clone()),
                ("right".to_owned(), zones),
            ]),
        }
    }

    #[test]
    fn the_largest_count_of_a_row_is_taken_and_a_disagreement_is_a_doubt() {
        use SeatRow::{Front, Rear};
        let v = vehicle(1);
        // From the left the passenger hides behind the driver; from the right both are seen
        // (overlapping: a doubt), and the rear passenger from the left has a doubt that the
        // right has not.
        let mut views = [
            capture(v, "left", &[(Front, 1, 1.0), (Rear, 1, 0.5)]),
            capture(v, "right", &[(Front, 2, 0.5), (Rear, 1, 1.0)]),
        ];
        views[0].occupancy.as_mut().unwrap().doubts = vec![Doubt {
            kind: DoubtKind::NearThreshold,
            row: Some(Rear),
        }];
        fuse_views(&mut views, &settings(0.2));
        let disagreeing = 0.5 * leaves(DoubtKind::ViewsDisagree);
        for view in &views {
            let o = view.occupancy.as_ref().unwrap();
            let counts: Vec<(SeatRow, u32, f32)> = o
                .rows
                .iter()
                .map(|r| (r.row, r.people, r.confidence))
                .collect();
            assert_eq!(counts, [(Front, 2, disagreeing), (Rear, 1, 1.0)]);
            assert_eq!(
                (o.people, o.countability, o.needs_review),
                (2 + 1, disagreeing, false)
            );
            let doubts: Vec<String> = o.doubts.iter().map(ToString::to_string).collect();
            assert_eq!(doubts, ["near_threshold:rear", "views_disagree:front"]);
        }
        // A count only a doubtful view gives goes to a person.
        let mut views = [
            capture(v, "left", &[(Front, 2, 0.25)]),
            capture(v, "right", &[(Front, 1, 1.0)]),
        ];
        fuse_views(&mut views, &settings(0.2));
        let o = views[0].occupancy.as_ref().unwrap();
        assert_eq!((o.people, o.needs_review), (2, true), "{o:?}");
    }

    #[test]
    fn a_single_counting_view_is_left_as_it_was() {
        let v = vehicle(2);
        let mut views = [
            capture(v, "left", &[(SeatRow::Front, 1, 0.5)]),
            Capture {
                occupancy: None,
                ..capture(v, "right", &[])
            },
            capture(v, "plates", &[(SeatRow::Front, 2, 1.0)]),
        ];
        let before: Vec<_> = views.iter().map(|c| c.occupancy.clone()).collect();
        fuse_views(&mut views, &settings(0.9));
        let after: Vec<_> = views.iter().map(|c| c.occupancy.clone()).collect();
        assert_eq!(after, before);
    }

    #[test]
    fn a_vehicle_waits_for_its_views_or_its_deadline() {
        let (a, b) = (vehicle(3), vehicle(4));
        let now = Instant::now();
        let mut join = ViewJoin::default();
        assert!(join.add(capture(a, "left", &[]), 2, now).is_none());
        assert!(join.add(capture(b, "left", &[]), 2, now).is_none());
        let both = join.add(capture(a, "right", &[]), 2, now).unwrap();
        assert_eq!(both.len(), 2);
        assert_eq!(join.next_deadline(), Some(now + VIEWS_WAIT));
        assert!(join.expired(now + VIEWS_WAIT / 2).is_empty());
        let late = join.expired(now + VIEWS_WAIT);
        assert_eq!(late.len(), 1);
        assert_eq!(late[0][0].vehicle_id, b);
        assert_eq!(join.next_deadline(), None);
        assert!(join.add(capture(a, "left", &[]), 2, now).is_none());
        assert_eq!(join.drain().len(), 1);
    }
}
