//! Record and replay: the appliance records what the emulated scanner sent (`[record]`), and
//! `vod replay` pushes the recording through detection, trigger planning, vision and storage
//! into fresh data directories: the vehicles and counts the live run stored, and the same on
//! every replay.
#![allow(clippy::unwrap_used)] // a failing test may panic

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use vod::replay::{Pace, ReplayCapture, ReplayOptions, ReplayReport, replay};
use vod_core::config::Config;
use vod_sim::emulator::EmulatorConfig;

const PATIENCE: Duration = Duration::from_secs(120);
const TRAFFIC_MS: u64 = 12_000;

fn sqlite(db: &Path, query: &str) -> String {
    let output = Command::new("sqlite3").arg(db).arg(query).output().unwrap();
    String::from_utf8(output.stdout).unwrap()
}

fn count(db: &Path, query: &str) -> usize {
    sqlite(db, query).trim().parse().unwrap_or(0)
}

/// The report without the one thing that may differ between runs: how long it took.
fn timeless(mut report: ReplayReport) -> ReplayReport {
    report.replayed_s = 0.0;
    report
}

/// A live run of the bench rig over `TRAFFIC_MS` of traffic, recorded; `edit` changes the
/// config's text first.
struct LiveRun {
    dir: tempfile::TempDir,
    recording: PathBuf,
    config: Config,
    per_lane: BTreeMap<String, usize>,
    /// People per seat row, per vehicle id and camera.
    counts: BTreeMap<(String, String), BTreeMap<String, u32>>,
}

async fn record_a_live_run(seed: u64, edit: impl Fn(String) -> String) -> LiveRun {
    let dir = tempfile::tempdir().unwrap();
    let traffic = EmulatorConfig {
        flow_per_hour: 2400.0,
        traffic_duration_ms: Some(TRAFFIC_MS),
        seed,
        ..EmulatorConfig::bench_rig()
    };
    let (scanner_address, emulator_stop) = common::emulator(traffic).await;
    let recordings = dir.path().join("recordings");
    let text = common::bench_config(dir.path(), scanner_address, 8080, 9100, None)
        // A pause of the in-process emulator on a loaded machine is no lost scanner here.
        .replace(
            "connect_timeout_ms = 2000",
            "connect_timeout_ms = 2000\nstall_timeout_ms = 10000",
        )
        + &format!("\n[record]\ndir = {recordings:?}\n");
    let text = edit(text);
    let path = common::write_config(dir.path(), &text);
    let appliance = common::InProcess::start(&path).await;

    // The traffic, then the road empty for a while; every vehicle's captures stored (one per
    // camera of its lane).
    let mut cameras_per_lane: BTreeMap<String, usize> = BTreeMap::new();
    for camera in Config::parse(&text).unwrap().cameras {
        *cameras_per_lane.entry(camera.lane).or_default() += 1;
    }
    let expected = cameras_per_lane
        .iter()
        .map(|(lane, n)| format!("(select count(*) from vehicles where lane = '{lane}') * {n}"))
        .collect::<Vec<_>>()
        .join(" + ");
    let db = dir.path().join("data/vod.db");
    let deadline = tokio::time::Instant::now() + PATIENCE;
    tokio::time::sleep(Duration::from_millis(TRAFFIC_MS + 3000)).await;
    loop {
        let vehicles = count(&db, "select count(*) from vehicles");
        let captures = count(&db, "select count(*) from captures");
        if vehicles > 0 && captures >= count(&db, &format!("select {expected}")) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{vehicles} vehicles and {captures} captures within {PATIENCE:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let mut counts = BTreeMap::new();
    for summary in appliance.store.recent_captures(10_000).await.unwrap() {
        let occupancy = appliance
            .store
            .occupancy(summary.id)
            .await
            .unwrap()
            .unwrap();
        let rows: BTreeMap<String, u32> = occupancy
            .rows
            .iter()
            .map(|r| (r.row.as_str().to_owned(), r.people))
            .collect();
        counts.insert((summary.vehicle_id.to_string(), summary.camera), rows);
    }
    appliance.stop().await;
    emulator_stop.cancel();
    let per_lane = sqlite(&db, "select lane, count(*) from vehicles group by lane")
        .lines()
        .filter_map(|line| line.split_once('|'))
        .map(|(lane, n)| (lane.to_owned(), n.parse().unwrap()))
        .collect();
    let runs: Vec<_> = std::fs::read_dir(&recordings)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    assert_eq!(runs.len(), 1, "one folder per run: {runs:?}");
    let recording = runs[0].clone();
    // The copy of the config replays as it is.
    let copy = std::fs::read_to_string(recording.join("vod.toml")).unwrap();
    LiveRun {
        config: Config::parse(&copy).unwrap(),
        dir,
        recording,
        per_lane,
        counts,
    }
}

impl LiveRun {
    async fn replay(&self, data: &str) -> anyhow::Result<ReplayReport> {
        replay(&ReplayOptions {
            dir: self.recording.clone(),
            config: self.config.clone(),
            data_dir: self.dir.path().join(data),
            pace: Pace::Fast,
        })
        .await
    }
}

/// What the replay counted, keyed as [`LiveRun::counts`].
fn counts_of(report: &ReplayReport) -> BTreeMap<(String, String), BTreeMap<String, u32>> {
    report
        .captures
        .iter()
        .map(|c| ((c.vehicle_id.clone(), c.camera.clone()), c.rows.clone()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recorded_run_replays_to_the_same_vehicles_and_counts_every_time() {
    let live = record_a_live_run(31, |text| text).await;
    let first = live.replay("replay-1").await.unwrap();
    let second = live.replay("replay-2").await.unwrap();

    let mut replayed_per_lane = BTreeMap::new();
    for vehicle in &first.vehicles {
        *replayed_per_lane.entry(vehicle.lane.clone()).or_insert(0) += 1;
    }
    assert_eq!(replayed_per_lane, live.per_lane);
    // The scans keep the times the live box stamped them with: the same vehicle ids, the same
    // frames, the same counts.
    assert_eq!(counts_of(&first), live.counts);
    assert!(first.captures.iter().all(|c| c.images > 0), "{first:?}");
    assert_eq!(
        (first.recorded_bursts, first.simulated_bursts),
        (0, first.captures.len())
    );
    assert_eq!(timeless(first.clone()), timeless(second));
    assert_eq!(
        count(
            &live.dir.path().join("replay-1/vod.db"),
            "select count(*) from captures"
        ),
        first.captures.len()
    );

    // A replay never writes into a folder that holds something.
    let error = live.replay("replay-1").await.unwrap_err();
    assert!(error.to_string().contains("not empty"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_evidence_mode_the_raw_bursts_are_recorded_and_replayed_as_they_were() {
    let live = record_a_live_run(32, |text| {
        text.replace("evidence_raw = false", "evidence_raw = true") + "bursts = true\n"
    })
    .await;
    let replayed = live.replay("replay").await.unwrap();
    assert_eq!(replayed.recorded_bursts, live.counts.len(), "{replayed:?}");
    assert_eq!(replayed.simulated_bursts, 0);
    assert_eq!(counts_of(&replayed), live.counts);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lane_seen_from_both_sides_replays_to_the_same_fused_counts() {
    let live = record_a_live_run(33, |text| common::lane_1_from_both_sides(&text)).await;
    let both: Vec<_> = live.counts.keys().filter(|(_, c)| c == "cam-1r").collect();
    assert!(!both.is_empty(), "{:?}", live.counts);
    // Each vehicle of lane-1 with one count from both cameras, live and replayed.
    for (vehicle, _) in &both {
        let key = |camera: &str| (vehicle.clone(), camera.to_owned());
        assert_eq!(live.counts[&key("cam-1")], live.counts[&key("cam-1r")]);
    }
    let replayed = live.replay("replay").await.unwrap();
    assert_eq!(counts_of(&replayed), live.counts);
    // Replayed as counted live: one count, one countability for both views of a vehicle.
    let mut by_vehicle: BTreeMap<&str, Vec<&ReplayCapture>> = BTreeMap::new();
    for capture in replayed.captures.iter() {
        if capture.camera.starts_with("cam-1") {
            by_vehicle
                .entry(&capture.vehicle_id)
                .or_default()
                .push(capture);
        }
    }
    for (vehicle, views) in &by_vehicle {
        assert_eq!(views.len(), 2, "{vehicle}: {views:?}");
        let count = |c: &ReplayCapture| (c.rows.clone(), c.countability, c.needs_review);
        assert_eq!(count(views[0]), count(views[1]), "{vehicle}");
    }
}
