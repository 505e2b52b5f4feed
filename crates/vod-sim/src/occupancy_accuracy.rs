//! Counting accuracy against ground truth: each simulated vehicle's burst goes through the
//! vision stage (the bursts of every camera of its lane that counts, their views fused) and its
//! counts per row are compared with the occupants the camera drew; or a
//! labelled set exported by the web page's review queue gives the box's counts and the
//! people's. Reported per row and per vehicle, by countability, by doubt and by scene
//! condition, with the driver-only case (the one an enforcement rests on) on its own.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, TimeDelta};
use serde::{Deserialize, Serialize};
use vod_camera::{Camera, SimCamera};
use vod_core::config::{
    CameraConfig, CameraSource, Config, SeatRowsConfig, SimScenes, SimSide, SimSource,
};
use vod_core::{Burst, SeatRow, TriggerCommand, VehicleId};
use vod_vision::{VisionMetrics, VisionSet, fuse_views, process};

/// Countability bins of `1 / COUNTABILITY_BINS` from 0 (the last holds 1.0 as well).
pub const COUNTABILITY_BINS: usize = 10;

/// The bin of a countability score.
pub fn bin_of(countability: f32) -> usize {
    ((countability.clamp(0.0, 1.0) * COUNTABILITY_BINS as f32) as usize).min(COUNTABILITY_BINS - 1)
}

/// One vehicle compared: what it truly held and what the box counted, per row.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Sample {
    /// The vehicle's id (a labelled capture's uuid where its set names no vehicle).
    pub vehicle: String,
    pub truth: BTreeMap<SeatRow, u32>,
    pub counted: BTreeMap<SeatRow, u32>,
    pub countability: f32,
    pub flagged: bool,
    /// The box's doubts (`kind` or `kind:row`) and the scene's conditions, where known.
    pub doubts: Vec<String>,
    pub conditions: Vec<&'static str>,
}

impl Sample {
    fn truth_in(&self, row: SeatRow) -> u32 {
        self.truth.get(&row).copied().unwrap_or(0)
    }

    fn counted_in(&self, row: SeatRow) -> u32 {
        self.counted.get(&row).copied().unwrap_or(0)
    }

    fn rows(&self) -> impl Iterator<Item = SeatRow> + '_ {
        SeatRow::ALL
            .into_iter()
            .filter(|row| self.truth.contains_key(row) || self.counted.contains_key(row))
    }

    pub fn exact(&self) -> bool {
        self.rows()
            .all(|row| self.truth_in(row) == self.counted_in(row))
    }

    fn people(map: &BTreeMap<SeatRow, u32>) -> u32 {
        map.values().sum()
    }
}

/// Right, over and under, of rows or of whole vehicles (by their total).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Tally {
    pub exact: u32,
    pub over: u32,
    pub under: u32,
    /// Vehicles only: the total right but the people in the wrong rows.
    pub misplaced: u32,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Bin {
    pub vehicles: u32,
    pub exact: u32,
    pub unflagged: u32,
    pub unflagged_exact: u32,
}

impl Bin {
    fn add(&mut self, sample: &Sample) {
        let exact = sample.exact();
        self.vehicles += 1;
        self.exact += u32::from(exact);
        if !sample.flagged {
            self.unflagged += 1;
            self.unflagged_exact += u32::from(exact);
        }
    }
}

/// The enforcement case: a vehicle counted as holding one person.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct DriverOnly {
    /// Vehicles that truly held one person, and how many of them were counted 1.
    pub truly_one: u32,
    pub truly_one_counted_one: u32,
    /// Of those truly holding one, counted otherwise and not flagged.
    pub truly_one_miscounted_unflagged: u32,
    /// Vehicles counted 1, and how many of them truly held more (a wrong fine if enforced).
    pub counted_one: u32,
    pub counted_one_truly_more: u32,
    pub counted_one_truly_more_unflagged: u32,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct AccuracyReport {
    pub vehicles: u32,
    pub flagged: u32,
    pub unflagged: u32,
    pub unflagged_exact: u32,
    /// By the vehicle's total.
    pub vehicle: Tally,
    /// Per seat row, every row either side named.
    pub rows: BTreeMap<SeatRow, Tally>,
    pub driver_only: DriverOnly,
    /// `COUNTABILITY_BINS` bins from 0.
    pub by_countability: Vec<Bin>,
    /// Vehicles with each doubt of the box.
    pub by_doubt: BTreeMap<String, Bin>,
    /// Vehicles with each condition of the simulated scene.
    pub by_condition: BTreeMap<String, Bin>,
    /// The first [`MISTAKES_LISTED`] vehicles counted wrong and not flagged: what to look at.
    pub unflagged_mistakes: Vec<Sample>,
}

pub const MISTAKES_LISTED: usize = 50;

impl AccuracyReport {
    pub fn of(samples: &[Sample]) -> AccuracyReport {
        let mut report = AccuracyReport {
            by_countability: vec![Bin::default(); COUNTABILITY_BINS],
            ..AccuracyReport::default()
        };
        for sample in samples {
            report.add(sample);
        }
        report
    }

    fn add(&mut self, sample: &Sample) {
        let exact = sample.exact();
        self.vehicles += 1;
        if sample.flagged {
            self.flagged += 1;
        } else {
            self.unflagged += 1;
            self.unflagged_exact += u32::from(exact);
            if !exact && self.unflagged_mistakes.len() < MISTAKES_LISTED {
                self.unflagged_mistakes.push(sample.clone());
            }
        }
        let (truth, counted) = (
            Sample::people(&sample.truth),
            Sample::people(&sample.counted),
        );
        tally(&mut self.vehicle, truth, counted);
        if truth == counted && !exact {
            self.vehicle.exact -= 1;
            self.vehicle.misplaced += 1;
        }
        for row in sample.rows() {
            let entry = self.rows.entry(row).or_default();
            tally(entry, sample.truth_in(row), sample.counted_in(row));
        }
        let d = &mut self.driver_only;
        if truth == 1 {
            d.truly_one += 1;
            d.truly_one_counted_one += u32::from(counted == 1);
            d.truly_one_miscounted_unflagged += u32::from(counted != 1 && !sample.flagged);
        }
        if counted == 1 {
            d.counted_one += 1;
            d.counted_one_truly_more += u32::from(truth > 1);
            d.counted_one_truly_more_unflagged += u32::from(truth > 1 && !sample.flagged);
        }
        self.by_countability[bin_of(sample.countability)].add(sample);
        for doubt in &sample.doubts {
            self.by_doubt.entry(doubt.clone()).or_default().add(sample);
        }
        for condition in &sample.conditions {
            self.by_condition
                .entry((*condition).to_owned())
                .or_default()
                .add(sample);
        }
    }
}

fn tally(tally: &mut Tally, truth: u32, counted: u32) {
    match counted.cmp(&truth) {
        std::cmp::Ordering::Equal => tally.exact += 1,
        std::cmp::Ordering::Greater => tally.over += 1,
        std::cmp::Ordering::Less => tally.under += 1,
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AccuracyError {
    #[error("simulated camera: {0}")]
    Camera(#[from] vod_camera::CameraError),
    #[error("metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    #[error("labelled set {path}: {detail}")]
    Labels { path: String, detail: String },
    #[error("the config has no simulated camera")]
    NoSimulatedCamera,
    #[error(transparent)]
    Model(#[from] vod_vision::ModelError),
}

/// The vehicles of `seed` (seed 0 is the set the countability was tuned on; others are held
/// out) on the first simulated camera of `config` and every other simulated camera of its lane
/// that counts (their views fused as the box fuses them), through the vision set `config`
/// names, with `scenes` and, where given, the occupants of `occupants_dir` instead of the
/// cameras' own.
pub fn measure_config(
    config: &Config,
    scenes: SimScenes,
    occupants_dir: Option<&Path>,
    vehicles: u32,
    seed: u64,
) -> Result<Vec<Sample>, AccuracyError> {
    let sim_cameras = || {
        config
            .cameras
            .iter()
            .filter_map(|camera| match &camera.source {
                CameraSource::Sim(sim) => Some((camera, sim)),
                _ => None,
            })
    };
    let (first, _) = sim_cameras()
        .next()
        .ok_or(AccuracyError::NoSimulatedCamera)?;
    let set = VisionSet::load(&config.vision)?;
    let counts = |name: &str| set.settings.seat_rows.contains_key(name);
    let views = sim_cameras()
        .filter(|(camera, _)| {
            camera.name == first.name || (camera.lane == first.lane && counts(&camera.name))
        })
        .map(|(camera, sim)| {
            let source = SimSource {
                scenes,
                occupants_dir: occupants_dir
                    .map(Path::to_path_buf)
                    .or_else(|| sim.occupants_dir.clone()),
                ..sim.clone()
            };
            let name: Arc<str> = Arc::from(camera.name.as_str());
            Ok((SimCamera::from_source(name, &source)?, camera.burst_frames))
        })
        .collect::<Result<Vec<_>, AccuracyError>>()?;
    let run = SimRun {
        views,
        vehicles,
        seed,
    };
    measure(&set, run)
}

/// `config` with a camera on the other side of each simulated camera's lane: the same camera
/// mirrored (`side` the other way, named `NAME-other-side`), its seat rows mirrored. What a
/// lane seen from both sides counts and costs: `vod bench occupancy --both-sides`, `vod bench
/// e2e --both-sides`.
pub fn seen_from_both_sides(config: &Config) -> Result<Config, AccuracyError> {
    let mirrored = |zone: Option<[f32; 2]>| zone.map(|[from, to]| [1.0 - to, 1.0 - from]);
    let mut both = config.clone();
    for camera in &config.cameras {
        let CameraSource::Sim(sim) = &camera.source else {
            continue;
        };
        let name = format!("{}-other-side", camera.name);
        if let Some(rows) = config
            .vision
            .seat_rows
            .iter()
            .find(|r| r.camera == camera.name)
        {
            both.vision.seat_rows.push(SeatRowsConfig {
                camera: name.clone(),
                front: mirrored(rows.front),
                rear: mirrored(rows.rear),
                third: mirrored(rows.third),
            });
        }
        both.cameras.push(CameraConfig {
            name,
            source: CameraSource::Sim(SimSource {
                side: match sim.side {
                    SimSide::Left => SimSide::Right,
                    SimSide::Right => SimSide::Left,
                },
                ..sim.clone()
            }),
            ..camera.clone()
        });
    }
    if both.cameras.len() == config.cameras.len() {
        return Err(AccuracyError::NoSimulatedCamera);
    }
    Ok(both)
}

/// Which simulated vehicles: `vehicles` of them, from the set that `seed` names, seen by each
/// camera of `views` (with its burst length).
struct SimRun {
    views: Vec<(SimCamera, u32)>,
    vehicles: u32,
    seed: u64,
}

/// Runs the simulated vehicles of `run` through `set` (its seat rows name the cameras).
fn measure(set: &VisionSet, mut run: SimRun) -> Result<Vec<Sample>, AccuracyError> {
    let metrics = VisionMetrics::register(&prometheus::Registry::new())?;
    // A fixed start per seed, so that every run sees the same vehicles and occupants.
    let start_s = 1_780_000_000 + run.seed as i64 * 1_000_000;
    let start = DateTime::from_timestamp(start_s, 0).unwrap_or_default();
    let mut samples = Vec::with_capacity(run.vehicles as usize);
    for sequence in 0..run.vehicles {
        let detected_utc = start + TimeDelta::seconds(i64::from(sequence));
        let vehicle_id = VehicleId::new(detected_utc, sequence, 1);
        let mut captures = Vec::with_capacity(run.views.len());
        for (sim, burst_frames) in &mut run.views {
            let trigger = TriggerCommand {
                camera: sim.name().clone(),
                vehicle_id,
                lane: Arc::from("lane"),
                fire_at: Instant::now(),
                frames: *burst_frames,
                interval_ms: 0,
                detected_at: Instant::now(),
                detected_utc,
                test: false,
            };
            let frames = (0..*burst_frames)
                .map(|i| sim.grab(&trigger, i).map(Arc::new))
                .collect::<Result<Vec<_>, _>>()?;
            captures.push(process(Burst { trigger, frames }, set, &metrics));
        }
        fuse_views(&mut captures, &set.settings);
        let Some(occupancy) = captures.iter().find_map(|c| c.occupancy.clone()) else {
            continue;
        };
        let scene = run.views[0].0.scene(vehicle_id, 0);
        let mut truth: BTreeMap<SeatRow, u32> = occupancy.rows.iter().map(|r| (r.row, 0)).collect();
        for row in &scene.occupied_rows {
            let seat_row = match row {
                1 => SeatRow::Front,
                2 => SeatRow::Rear,
                _ => SeatRow::Third,
            };
            *truth.entry(seat_row).or_default() += 1;
        }
        samples.push(Sample {
            vehicle: vehicle_id.to_string(),
            truth,
            counted: occupancy.rows.iter().map(|r| (r.row, r.people)).collect(),
            countability: occupancy.countability,
            flagged: occupancy.needs_review,
            doubts: occupancy.doubts.iter().map(ToString::to_string).collect(),
            conditions: scene.conditions.iter().map(|c| c.as_str()).collect(),
        });
    }
    Ok(samples)
}

/// `labels.json` of an exported labelled set, as far as it is read here.
#[derive(Debug, Deserialize)]
struct Labels {
    captures: Vec<LabelledCapture>,
}

#[derive(Debug, Deserialize)]
struct LabelledCapture {
    uuid: String,
    /// Absent in sets exported before it was written.
    #[serde(default)]
    vehicle_id: Option<String>,
    counted: BTreeMap<String, u32>,
    reviewed: BTreeMap<String, u32>,
    countability: Option<f32>,
    #[serde(default)]
    doubts: Vec<String>,
}

/// The captures of a labelled set (the web page's `/review/export.tar`, unpacked in `dir`):
/// the box's count against the people's, each flagged when its countability lies below
/// `review_below` (so a new threshold can be tried on a site's own data). A row the people
/// did not count keeps the box's count. A vehicle seen by several cameras is one sample: its
/// captures share one count and one review.
pub fn labelled(dir: &Path, review_below: f32) -> Result<Vec<Sample>, AccuracyError> {
    let path = dir.join("labels.json");
    let error = |detail: String| AccuracyError::Labels {
        path: path.display().to_string(),
        detail,
    };
    let text = std::fs::read_to_string(&path).map_err(|e| error(e.to_string()))?;
    let labels: Labels = serde_json::from_str(&text).map_err(|e| error(e.to_string()))?;
    let rows = |counts: &BTreeMap<String, u32>| -> Result<BTreeMap<SeatRow, u32>, AccuracyError> {
        counts
            .iter()
            .map(|(row, n)| {
                SeatRow::parse(row)
                    .map(|row| (row, *n))
                    .ok_or_else(|| error(format!("unknown seat row {row:?}")))
            })
            .collect()
    };
    let mut vehicles = std::collections::HashSet::new();
    labels
        .captures
        .iter()
        .filter(|capture| {
            capture
                .vehicle_id
                .as_ref()
                .is_none_or(|vehicle| vehicles.insert(vehicle.clone()))
        })
        .map(|capture| {
            let counted = rows(&capture.counted)?;
            let mut truth = counted.clone();
            truth.extend(rows(&capture.reviewed)?);
            let countability = capture.countability.unwrap_or(0.0);
            Ok(Sample {
                vehicle: capture
                    .vehicle_id
                    .clone()
                    .unwrap_or_else(|| capture.uuid.clone()),
                truth,
                counted,
                countability,
                flagged: countability < review_below,
                doubts: capture.doubts.clone(),
                conditions: Vec::new(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(truth: &[(SeatRow, u32)], counted: &[(SeatRow, u32)], flagged: bool) -> Sample {
        Sample {
            vehicle: "v".to_owned(),
            truth: truth.iter().copied().collect(),
            counted: counted.iter().copied().collect(),
            countability: if flagged { 0.1 } else { 1.0 },
            flagged,
            doubts: vec!["frames_disagree:rear".to_owned()],
            conditions: vec!["child"],
        }
    }

    #[test]
    fn scores_fall_in_tenths_and_one_goes_to_the_last_bin() {
        assert_eq!(bin_of(0.0), 0);
        assert_eq!(bin_of(0.35), 3);
        assert_eq!(bin_of(0.999), 9);
        assert_eq!(bin_of(1.0), 9);
        assert_eq!(bin_of(-1.0), 0);
    }

    #[test]
    fn vehicles_rows_and_the_driver_only_case_are_tallied_apart() {
        use SeatRow::{Front, Rear};
        let samples = [
            // Right.
            sample(&[(Front, 1), (Rear, 0)], &[(Front, 1), (Rear, 0)], false),
            // Two people counted as one, not flagged: the wrong fine.
            sample(&[(Front, 1), (Rear, 1)], &[(Front, 1), (Rear, 0)], false),
            // One person counted as two, flagged.
            sample(&[(Front, 1), (Rear, 0)], &[(Front, 2), (Rear, 0)], true),
            // The total right, the rows wrong.
            sample(&[(Front, 1), (Rear, 1)], &[(Front, 2), (Rear, 0)], false),
        ];
        let r = AccuracyReport::of(&samples);
        assert_eq!(
            (r.vehicles, r.flagged, r.unflagged, r.unflagged_exact),
            (4, 1, 3, 1)
        );
        assert_eq!(
            r.vehicle,
            Tally {
                exact: 1,
                over: 1,
                under: 1,
                misplaced: 1
            }
        );
        assert_eq!(
            r.rows[&Front],
            Tally {
                exact: 2,
                over: 2,
                under: 0,
                misplaced: 0
            }
        );
        assert_eq!(
            r.rows[&Rear],
            Tally {
                exact: 2,
                over: 0,
                under: 2,
                misplaced: 0
            }
        );
        assert_eq!(
            r.driver_only,
            DriverOnly {
                truly_one: 2,
                truly_one_counted_one: 1,
                truly_one_miscounted_unflagged: 0,
                counted_one: 2,
                counted_one_truly_more: 1,
                counted_one_truly_more_unflagged: 1,
            }
        );
        assert_eq!(r.by_countability[9].vehicles, 3);
        assert_eq!(r.by_countability[1].vehicles, 1);
        assert_eq!(r.by_doubt["frames_disagree:rear"].exact, 1);
        assert_eq!(r.by_condition["child"].unflagged, 3);
    }

    #[test]
    fn a_labelled_set_compares_the_box_with_the_people() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("labels.json"),
            r#"{"site": "s", "exported_utc": "x", "captures": [
                {"uuid": "a", "counted": {"front": 1, "rear": 0}, "reviewed": {"rear": 1},
                 "countability": 0.5, "doubts": ["faces_exceed_people:rear"], "images": []},
                {"uuid": "b", "vehicle_id": "v2", "counted": {"front": 1},
                 "reviewed": {"front": 1}, "countability": 1.0, "images": []},
                {"uuid": "b-other-side", "vehicle_id": "v2", "counted": {"front": 1},
                 "reviewed": {"front": 1}, "countability": 1.0, "images": []}
            ]}"#,
        )
        .unwrap();
        let samples = labelled(dir.path(), 0.6).unwrap();
        let r = AccuracyReport::of(&samples);
        assert_eq!((r.vehicles, r.flagged, r.unflagged_exact), (2, 1, 1));
        assert_eq!(r.driver_only.counted_one_truly_more, 1);
        assert_eq!(r.driver_only.counted_one_truly_more_unflagged, 0);
        assert_eq!(r.by_doubt["faces_exceed_people:rear"].exact, 0);

        std::fs::write(dir.path().join("labels.json"), "{").unwrap();
        assert!(matches!(
            labelled(dir.path(), 0.6),
            Err(AccuracyError::Labels { .. })
        ));
    }
}
