//! Record and replay: the appliance records what the emulated scanner sent (`[record]`), and
//! `vod replay` pushes the recording through detection, trigger planning, vision and storage
//! into fresh data directories: the vehicles the live run stored, and the same vehicles and
//! counts on every replay.
#![allow(clippy::unwrap_used)] // a failing test may panic

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use vod::replay::{Pace, ReplayOptions, ReplayReport, replay};
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recorded_run_replays_to_the_same_vehicles_and_counts_every_time() {
    let dir = tempfile::tempdir().unwrap();
    let traffic = EmulatorConfig {
        flow_per_hour: 2400.0,
        traffic_duration_ms: Some(TRAFFIC_MS),
        seed: 31,
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
    let path = common::write_config(dir.path(), &text);
    let appliance = common::InProcess::start(&path).await;

    // The traffic, then the road empty for a while; every vehicle's capture stored.
    let db = dir.path().join("data/vod.db");
    let deadline = tokio::time::Instant::now() + PATIENCE;
    tokio::time::sleep(Duration::from_millis(TRAFFIC_MS + 3000)).await;
    loop {
        let vehicles = count(&db, "select count(*) from vehicles");
        let captures = count(&db, "select count(*) from captures");
        if vehicles > 0 && captures >= vehicles {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{vehicles} vehicles and {captures} captures within {PATIENCE:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    appliance.stop().await;
    emulator_stop.cancel();
    let live_per_lane: BTreeMap<String, usize> =
        sqlite(&db, "select lane, count(*) from vehicles group by lane")
            .lines()
            .filter_map(|line| line.split_once('|'))
            .map(|(lane, n)| (lane.to_owned(), n.parse().unwrap()))
            .collect();
    let live_captures = count(&db, "select count(*) from captures");

    let runs: Vec<_> = std::fs::read_dir(&recordings)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    assert_eq!(runs.len(), 1, "one folder per run: {runs:?}");
    let recording = &runs[0];
    // The copy of the config has no secret in it and replays as it is.
    let copy = std::fs::read_to_string(recording.join("vod.toml")).unwrap();
    let config = Config::parse(&copy).unwrap();
    let options = |data: &str| ReplayOptions {
        dir: recording.clone(),
        config: config.clone(),
        data_dir: dir.path().join(data),
        pace: Pace::Fast,
    };
    let first = replay(&options("replay-1")).await.unwrap();
    let second = replay(&options("replay-2")).await.unwrap();

    let mut replayed_per_lane = BTreeMap::new();
    for vehicle in &first.vehicles {
        *replayed_per_lane.entry(vehicle.lane.clone()).or_insert(0) += 1;
    }
    assert_eq!(replayed_per_lane, live_per_lane);
    assert_eq!(first.captures.len(), live_captures);
    assert!(first.captures.iter().all(|c| c.images > 0), "{first:?}");
    assert_eq!(timeless(first.clone()), timeless(second));
    assert_eq!(
        count(
            &dir.path().join("replay-1/vod.db"),
            "select count(*) from captures"
        ),
        first.captures.len()
    );

    // A replay never writes into a folder that holds something.
    let error = replay(&options("replay-1")).await.unwrap_err();
    assert!(error.to_string().contains("not empty"), "{error}");
}
