//! One scan seen against the learned road: each beam's echo classified, the object points
//! grouped into objects (runs of neighbouring beams on the same surface), each object given
//! to one lane, and what each lane showed.
//!
//! Geometry: a beam at angle `a` (90 deg straight down) whose echo is `r` away hits the point
//! at lateral position `r cos a` and height `mount_height - r sin a` above the road.

use vod_core::Scan;

use super::background::Road;

/// Consecutive object points further apart across the road than this belong to different
/// objects (vehicles side by side in neighbouring lanes are at least ~200 mm apart; one
/// vehicle's points are a few tens of millimetres apart).
const OBJECT_BREAK_MM: f64 = 150.0;

/// Points at or above this height are a vehicle's body; below it only bumpers, wheels or a
/// tow bar show (car bumpers stand ~550 mm high, bonnets and boots ~900 mm and more, a truck's
/// chassis between cab and box ~1200 mm).
pub(super) const BODY_MIN_HEIGHT_MM: f64 = 750.0;

/// An object point in the scan plane.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Point {
    pub(super) lateral_mm: f64,
    pub(super) height_mm: f64,
}

/// What one beam with a known road returned.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Echo {
    /// The road, where it was learned.
    Road,
    /// Something above the road (or a dark spot between two such beams, placed midway).
    Object(Point),
    /// No echo.
    Lost,
}

/// A beam's echo and where its beam meets the road.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Beam {
    pub(super) road_lateral_mm: f64,
    pub(super) echo: Echo,
}

/// A beam is an object beam when its range is shorter than its background by more than
/// `threshold_mm`. A beam without echo counts as an object beam only when both its
/// neighbours are object beams (a dark or glassy spot on a vehicle, such as a windshield);
/// without echo anywhere else it is lost: over an empty road it is rain, spray or a wet
/// patch, not a vehicle. An object point with no other within `OBJECT_BREAK_MM` in the
/// neighbouring beams is a raindrop or a speck of spray (a vehicle fills dozens of beams):
/// lost too. Beams whose road is unknown (0) are left out; the others come in beam order.
pub(super) fn beams(scan: &Scan, road: &Road, threshold_mm: f32, mount_mm: f64) -> Vec<Beam> {
    let mut beams = echoes(scan, road, threshold_mm, mount_mm);
    let lateral = |beam: Option<&Beam>| match beam.map(|beam| beam.echo) {
        Some(Echo::Object(point)) => Some(point.lateral_mm),
        _ => None,
    };
    let isolated: Vec<usize> = (0..beams.len())
        .filter(|&i| {
            let Some(here) = lateral(beams.get(i)) else {
                return false;
            };
            let near = |other: Option<f64>| {
                other.is_some_and(|other| (other - here).abs() <= OBJECT_BREAK_MM)
            };
            !near(lateral(i.checked_sub(1).and_then(|j| beams.get(j))))
                && !near(lateral(beams.get(i + 1)))
        })
        .collect();
    for i in isolated {
        beams[i].echo = Echo::Lost;
    }
    beams
}

fn echoes(scan: &Scan, road: &Road, threshold_mm: f32, mount_mm: f64) -> Vec<Beam> {
    let (ranges, background) = (&scan.ranges_mm, &road.ranges_mm);
    let is_object = |i: usize| {
        let (range, road) = (ranges[i], background[i]);
        road > 0.0 && range > 0.0 && range < road - threshold_mm
    };
    let point = |i: usize| {
        let (sin, cos) = road.sin_cos[i];
        let range = f64::from(ranges[i]);
        Point {
            lateral_mm: range * cos,
            height_mm: mount_mm - range * sin,
        }
    };
    (0..ranges.len())
        .filter(|&i| background[i] > 0.0)
        .map(|i| {
            let road_lateral_mm = road.lateral_mm(i);
            let echo = if is_object(i) {
                Echo::Object(point(i))
            } else if ranges[i] == 0.0
                && i > 0
                && i + 1 < ranges.len()
                && is_object(i - 1)
                && is_object(i + 1)
            {
                let (a, b) = (point(i - 1), point(i + 1));
                Echo::Object(Point {
                    lateral_mm: (a.lateral_mm + b.lateral_mm) / 2.0,
                    height_mm: (a.height_mm + b.height_mm) / 2.0,
                })
            } else if ranges[i] == 0.0 {
                Echo::Lost
            } else {
                Echo::Road
            };
            Beam {
                road_lateral_mm,
                echo,
            }
        })
        .collect()
}

/// Object points of neighbouring beams, unbroken by the road and close together across it.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Object {
    pub(super) points: Vec<Point>,
    pub(super) lateral_from_mm: f64,
    pub(super) lateral_to_mm: f64,
}

impl Object {
    fn new(point: Point) -> Self {
        Object {
            points: vec![point],
            lateral_from_mm: point.lateral_mm,
            lateral_to_mm: point.lateral_mm,
        }
    }

    fn add(&mut self, point: Point) {
        self.points.push(point);
        self.lateral_from_mm = self.lateral_from_mm.min(point.lateral_mm);
        self.lateral_to_mm = self.lateral_to_mm.max(point.lateral_mm);
    }

    /// How much of `from..to` this object covers across the road.
    pub(super) fn overlap_mm(&self, (from_mm, to_mm): (f64, f64)) -> f64 {
        self.lateral_to_mm.min(to_mm) - self.lateral_from_mm.max(from_mm)
    }
}

/// The objects of a scan; each object beam's object index comes along in `owners` (`None`
/// for road and lost beams), in the order of `beams`.
pub(super) fn objects(beams: &[Beam]) -> (Vec<Object>, Vec<Option<usize>>) {
    let mut objects: Vec<Object> = Vec::new();
    let mut open = false;
    let owners = beams
        .iter()
        .map(|beam| match beam.echo {
            Echo::Road => {
                open = false;
                None
            }
            Echo::Lost => None,
            Echo::Object(point) => {
                let joins = open
                    && objects.last().is_some_and(|object| {
                        object.points.last().is_some_and(|last| {
                            (last.lateral_mm - point.lateral_mm).abs() <= OBJECT_BREAK_MM
                        })
                    });
                match objects.last_mut() {
                    Some(object) if joins => object.add(point),
                    _ => objects.push(Object::new(point)),
                }
                open = true;
                Some(objects.len() - 1)
            }
        })
        .collect();
    (objects, owners)
}

/// What the object beams given to a lane showed in one scan.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Extent {
    pub(super) max_height_mm: f64,
    pub(super) width_mm: f64,
    pub(super) lateral_from_mm: f64,
    pub(super) lateral_to_mm: f64,
    /// Enough of the points stand at body height, not just a bumper's.
    pub(super) body: bool,
}

/// What a lane showed in one scan.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum View {
    /// At least the minimum of object points.
    Vehicle(Extent),
    /// Too few object points, and most of the lane's road echoed from the road: empty.
    Road,
    /// Too few object points, and a good part of the lane's road (of the road where its
    /// vehicle was last seen, while it has one) hidden behind objects given to other lanes:
    /// whatever is there may be hidden.
    Hidden,
    /// Too few object points and too few echoes to tell (lost echoes).
    Unknown,
}

/// Beams bound for some stretch of road: how many, how many echoed from the road, and how
/// many an object of another lane stopped.
#[derive(Debug, Default, Clone, Copy)]
struct RoadBeams {
    beams: usize,
    road: usize,
    hidden: usize,
}

impl RoadBeams {
    fn add(&mut self, echo: &Echo, hidden: bool) {
        self.beams += 1;
        self.road += usize::from(*echo == Echo::Road);
        self.hidden += usize::from(hidden);
    }
}

/// Counts towards one lane's view.
#[derive(Debug, Default)]
pub(super) struct Tally {
    points: usize,
    body_points: usize,
    max_height_mm: f64,
    lateral_from_mm: f64,
    lateral_to_mm: f64,
    /// Where the lane's vehicle was last seen, across the road.
    window_mm: Option<(f64, f64)>,
    lane: RoadBeams,
    window: RoadBeams,
}

impl Tally {
    /// `window_mm`: where the lane's vehicle was last seen, if it has one.
    pub(super) fn new(window_mm: Option<(f64, f64)>) -> Self {
        Tally {
            max_height_mm: f64::NEG_INFINITY,
            lateral_from_mm: f64::INFINITY,
            lateral_to_mm: f64::NEG_INFINITY,
            window_mm,
            ..Tally::default()
        }
    }

    /// An object point given to this lane.
    pub(super) fn point(&mut self, point: &Point) {
        self.points += 1;
        self.body_points += usize::from(point.height_mm >= BODY_MIN_HEIGHT_MM);
        self.max_height_mm = self.max_height_mm.max(point.height_mm);
        self.lateral_from_mm = self.lateral_from_mm.min(point.lateral_mm);
        self.lateral_to_mm = self.lateral_to_mm.max(point.lateral_mm);
    }

    /// A beam bound for this lane's road at `road_lateral_mm`; `hidden` when an object of
    /// another lane stopped it.
    pub(super) fn road_beam(&mut self, road_lateral_mm: f64, echo: &Echo, hidden: bool) {
        self.lane.add(echo, hidden);
        if let Some((from_mm, to_mm)) = self.window_mm
            && (from_mm..=to_mm).contains(&road_lateral_mm)
        {
            self.window.add(echo, hidden);
        }
    }

    pub(super) fn view(&self, min_points: usize) -> View {
        if self.points >= min_points {
            return View::Vehicle(Extent {
                max_height_mm: self.max_height_mm,
                width_mm: self.lateral_to_mm - self.lateral_from_mm,
                lateral_from_mm: self.lateral_from_mm,
                lateral_to_mm: self.lateral_to_mm,
                body: self.body_points >= min_points,
            });
        }
        // Where the vehicle was: half of it hidden may hide it, half of it echoing the road
        // shows it gone. Elsewhere a quarter of the lane hidden can hide a car.
        let (road, hidden_share) = match self.window {
            window if window.beams > 0 => (window, 2),
            _ => (self.lane, 4),
        };
        if road.hidden > 0 && road.hidden * hidden_share >= road.beams {
            View::Hidden
        } else if road.road * 2 >= road.beams {
            View::Road
        } else {
            View::Unknown
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Instant;

    use chrono::Utc;

    use super::*;
    use crate::detector::background::Background;

    const MOUNT_MM: f64 = 6000.0;

    /// A scan of an LMS511 6 m above a flat road with a box standing on it, seen from above
    /// (its top only: enough for these tests); `dropouts` beams get no echo.
    fn scan(box_mm: Option<(f64, f64, f64)>, dropouts: &[usize]) -> Scan {
        let (start_angle_deg, step_deg) = (-5.0, 0.1667);
        let ranges_mm = (0..1141)
            .map(|beam| {
                let (sin, cos) = (start_angle_deg + step_deg * f64::from(beam))
                    .to_radians()
                    .sin_cos();
                let top = box_mm.and_then(|(from_mm, to_mm, height_mm)| {
                    let range = (MOUNT_MM - height_mm) / sin;
                    (sin > 0.0 && (from_mm..=to_mm).contains(&(range * cos))).then_some(range)
                });
                match (dropouts.contains(&(beam as usize)), top) {
                    (true, _) => 0.0,
                    (false, Some(range)) => range as f32,
                    (false, None) if sin > 1e-9 && MOUNT_MM / sin < 65_000.0 => {
                        (MOUNT_MM / sin) as f32
                    }
                    (false, None) => 0.0,
                }
            })
            .collect();
        Scan {
            scanner: Arc::from("gantry"),
            scan_counter: 0,
            time_since_power_up_us: 0,
            scan_frequency_hz: 25.0,
            start_angle_deg,
            step_deg,
            ranges_mm,
            received_at: Instant::now(),
            received_utc: Utc::now(),
        }
    }

    /// A van 2.5 m high over lane 2, and a car 1.5 m high over lane 1.
    const VAN: (f64, f64, f64) = (800.0, 2800.0, 2500.0);
    const CAR: (f64, f64, f64) = (-3000.0, -1200.0, 1500.0);

    fn learned(background: &mut Background) -> &Road {
        assert!(background.observe(&scan(None, &[])).unwrap().is_none());
        background.observe(&scan(None, &[])).unwrap().unwrap()
    }

    #[test]
    fn dropouts_between_object_beams_count_as_object_points() {
        let mut background = Background::new(1);
        let road = learned(&mut background);
        let count = |dropouts: &[usize]| {
            beams(&scan(Some(VAN), dropouts), road, 300.0, MOUNT_MM)
                .iter()
                .filter(|beam| matches!(beam.echo, Echo::Object(_)))
                .count()
        };
        let whole = count(&[]);
        let every_other: Vec<usize> = (340..490).filter(|b| b % 2 == 0).collect();
        assert_eq!(count(&every_other), whole);
        let two_in_a_row: Vec<usize> = (400..402).collect();
        assert_eq!(count(&two_in_a_row), whole - 2);
    }

    #[test]
    fn a_lone_echo_above_the_road_is_a_raindrop_not_an_object() {
        let mut background = Background::new(1);
        let road = learned(&mut background);
        let mut rainy = scan(Some(CAR), &[]);
        // A raindrop 2 m below the scanner in beam 300 (over lane 2's road).
        rainy.ranges_mm[300] = 2000.0;
        let beams = beams(&rainy, road, 300.0, MOUNT_MM);
        let (objects, _) = objects(&beams);
        assert_eq!(objects.len(), 1, "{objects:?}");
        assert!(objects[0].points.len() > 50);
    }
}
