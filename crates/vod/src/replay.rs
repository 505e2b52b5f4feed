//! `vod replay DIR`: a recording (`[record]`) pushed through the box's own detection, trigger
//! planning, vision and storage into a fresh data directory, one scan after the other. Each
//! scan keeps the time the live box received it at, so vehicle ids (the live run's), the
//! simulated cameras' scenes and therefore the counts are the same on every run; at
//! `Pace::Recorded` the scans come at the pace they were recorded, at `Pace::Fast` as fast as
//! the models allow. Nothing is shed: every trigger is grabbed and every burst analysed. A
//! burst recorded raw (`[record] bursts`, evidence mode) is analysed as recorded; any other is
//! rendered by a simulated camera (a real camera's too, at 1280x1024).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use chrono::{DateTime, TimeDelta, Utc};
use prometheus::Registry;
use serde::Serialize;
use vod_camera::{Camera, SimCamera};
use vod_core::config::{CameraSource, Config, SimSource, StorageConfig};
use vod_core::{Burst, Scan, VehicleEventKind};
use vod_lidar::cola::Response;
use vod_lidar::recording::Recording;
use vod_lidar::{TriggerPlanner, VehicleDetector};
use vod_store::{Store, StoreMetrics};
use vod_vision::bursts::read_burst;
use vod_vision::{VisionMetrics, VisionSet, fuse_views, process};

use crate::record::{BURSTS_DIR, INFO_FILE, RecordingInfo, telegrams_file};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pace {
    /// Each scan at its recorded offset from the start.
    Recorded,
    /// Each scan as soon as the one before is done.
    Fast,
}

#[derive(Debug, Clone)]
pub struct ReplayOptions {
    /// The recording's folder.
    pub dir: PathBuf,
    pub config: Config,
    /// Must not exist yet, or be empty.
    pub data_dir: PathBuf,
    pub pace: Pace,
}

/// What the replay found, in the order it happened.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReplayReport {
    pub scans: u64,
    pub scans_rejected: u64,
    /// The recording's length and the replay's.
    pub recorded_s: f64,
    pub replayed_s: f64,
    pub vehicles: Vec<ReplayVehicle>,
    pub captures: Vec<ReplayCapture>,
    /// Bursts read from the recording (`[record] bursts`), and rendered by a simulated camera.
    pub recorded_bursts: usize,
    pub simulated_bursts: usize,
    /// Cameras that are not simulated, simulated where the recording holds no burst.
    pub simulated_cameras: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReplayVehicle {
    pub vehicle_id: String,
    pub lane: String,
    pub entered_utc: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReplayCapture {
    pub vehicle_id: String,
    pub camera: String,
    pub images: usize,
    /// People per seat row.
    pub rows: BTreeMap<String, u32>,
    pub countability: f32,
    pub needs_review: bool,
}

/// One scan of the recording, with the scanner it came from and its offset.
struct Timed {
    at: Duration,
    scanner: usize,
    scan: Scan,
}

pub async fn replay(options: &ReplayOptions) -> anyhow::Result<ReplayReport> {
    let config = &options.config;
    if !config.speed_planes.is_empty() {
        bail!("a config with [[speed_planes]] cannot be replayed yet: remove them to replay");
    }
    fresh_dir(&options.data_dir)?;
    let info_path = options.dir.join(INFO_FILE);
    let info: RecordingInfo = serde_json::from_slice(
        &std::fs::read(&info_path).with_context(|| format!("reading {}", info_path.display()))?,
    )
    .with_context(|| format!("reading {}", info_path.display()))?;
    let base = Instant::now();
    let (scans, scans_rejected) = load_scans(&options.dir, config, info.started_utc, base)?;
    let recorded_s = scans.last().map_or(0.0, |s| s.at.as_secs_f64());
    let mut detectors: Vec<VehicleDetector> = config
        .scanners
        .iter()
        .map(|scanner| {
            let lanes: Vec<_> = config
                .lanes
                .iter()
                .filter(|lane| lane.scanner == scanner.name)
                .cloned()
                .collect();
            VehicleDetector::new(scanner, &lanes, &config.detector)
        })
        .collect();
    let planner = TriggerPlanner::new(&config.cameras);
    let (mut cameras, simulated_cameras) = open_cameras(config)?;
    let set = tokio::task::spawn_blocking({
        let vision = config.vision.clone();
        move || VisionSet::load(&vision)
    })
    .await?
    .context("loading the vision models")?;
    let registry = Registry::new();
    let vision_metrics = VisionMetrics::register(&registry)?;
    let storage = StorageConfig {
        data_dir: options.data_dir.clone(),
    };
    let store = Store::open(&storage, StoreMetrics::register(&registry)?)
        .await
        .context("opening the replay's store")?;
    let mut report = ReplayReport {
        scans: scans.len() as u64,
        scans_rejected,
        recorded_s,
        replayed_s: 0.0,
        vehicles: Vec::new(),
        captures: Vec::new(),
        recorded_bursts: 0,
        simulated_bursts: 0,
        simulated_cameras,
    };
    let bursts_dir = options.dir.join(BURSTS_DIR);
    let started = Instant::now();
    for timed in scans {
        if options.pace == Pace::Recorded {
            tokio::time::sleep_until((started + timed.at).into()).await;
        }
        let events = match detectors[timed.scanner].process(&timed.scan) {
            Ok(events) => events,
            Err(_) => {
                report.scans_rejected += 1;
                continue;
            }
        };
        for event in events {
            store.record_vehicle(&event).await?;
            if event.kind != VehicleEventKind::Entered {
                continue;
            }
            report.vehicles.push(ReplayVehicle {
                vehicle_id: event.vehicle_id.to_string(),
                lane: event.lane.to_string(),
                entered_utc: event.at_utc,
            });
            let mut captures = Vec::new();
            for trigger in planner.plan(&event) {
                let frames = match read_burst(&bursts_dir, &trigger)? {
                    Some(frames) => {
                        report.recorded_bursts += 1;
                        frames.into_iter().map(Arc::new).collect()
                    }
                    None => {
                        let Some(camera) = cameras.get_mut(&*trigger.camera) else {
                            continue;
                        };
                        report.simulated_bursts += 1;
                        (0..trigger.frames)
                            .map(|i| camera.grab(&trigger, i).map(Arc::new))
                            .collect::<Result<Vec<_>, _>>()?
                    }
                };
                captures.push(tokio::task::block_in_place(|| {
                    process(Burst { trigger, frames }, &set, &vision_metrics)
                }));
            }
            // The lane's views of the vehicle counted as one, as the vision stage does.
            fuse_views(&mut captures, &set.settings);
            for capture in captures {
                store.insert_capture(&capture).await?;
                let occupancy = capture.occupancy.as_ref();
                report.captures.push(ReplayCapture {
                    vehicle_id: capture.vehicle_id.to_string(),
                    camera: capture.camera.to_string(),
                    images: capture.images.len(),
                    rows: occupancy
                        .map(|o| {
                            o.rows
                                .iter()
                                .map(|r| (r.row.as_str().to_owned(), r.people))
                                .collect()
                        })
                        .unwrap_or_default(),
                    countability: occupancy.map_or(0.0, |o| o.countability),
                    needs_review: occupancy.is_some_and(|o| o.needs_review),
                });
            }
        }
    }
    report.replayed_s = started.elapsed().as_secs_f64();
    Ok(report)
}

/// The data directory must be new: a replay never mixes into a box's data.
fn fresh_dir(dir: &Path) -> anyhow::Result<()> {
    let occupied = std::fs::read_dir(dir).is_ok_and(|mut entries| entries.next().is_some());
    if occupied {
        bail!("{} is not empty: replay into a new folder", dir.display());
    }
    Ok(())
}

/// Every scan telegram of every scanner of `config` in the recording, in the order received,
/// each stamped with the time it was received at; and how many could not be decoded.
fn load_scans(
    dir: &Path,
    config: &Config,
    started_utc: DateTime<Utc>,
    base: Instant,
) -> anyhow::Result<(Vec<Timed>, u64)> {
    let mut scans = Vec::new();
    let mut undecodable = 0;
    for (index, scanner) in config.scanners.iter().enumerate() {
        let path = telegrams_file(dir, &scanner.name);
        let recording =
            Recording::load(&path).with_context(|| format!("reading {}", path.display()))?;
        let name: Arc<str> = Arc::from(scanner.name.as_str());
        for telegram in recording.scan_payloads() {
            // The time the box received it, as the live run stamped it (so the vehicle ids
            // are the live run's), else the start plus the offset.
            let utc = telegram.utc.unwrap_or_else(|| {
                started_utc + TimeDelta::from_std(telegram.at).unwrap_or_else(|_| TimeDelta::zero())
            });
            let scan = match Response::decode(&telegram.payload) {
                Ok(Response::ScanData(data)) => data.to_scan(name.clone(), base + telegram.at, utc),
                _ => {
                    undecodable += 1;
                    continue;
                }
            };
            match scan {
                Ok(scan) => scans.push(Timed {
                    at: telegram.at,
                    scanner: index,
                    scan,
                }),
                Err(_) => undecodable += 1,
            }
        }
    }
    // Stable: a scanner's own scans keep their order.
    scans.sort_by_key(|timed| timed.at);
    Ok((scans, undecodable))
}

/// A camera per `[[cameras]]` entry: the simulated ones as configured, the others simulated
/// at 1280x1024 (and named in the second value), for triggers without a recorded burst.
fn open_cameras(config: &Config) -> anyhow::Result<(HashMap<String, SimCamera>, Vec<String>)> {
    let mut cameras = HashMap::new();
    let mut simulated = Vec::new();
    for camera in &config.cameras {
        let source = match &camera.source {
            CameraSource::Sim(sim) => sim.clone(),
            _ => {
                simulated.push(camera.name.clone());
                SimSource::sized(1280, 1024)
            }
        };
        let sim = SimCamera::from_source(Arc::from(camera.name.as_str()), &source)
            .with_context(|| format!("opening camera {}", camera.name))?;
        cameras.insert(camera.name.clone(), sim);
    }
    Ok((cameras, simulated))
}
