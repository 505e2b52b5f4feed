//! The whole appliance in-process against the emulator's traffic, compared with what the
//! emulator and the simulated camera really produced: the vehicles stored per lane against
//! the emulator's ground truth, the people counted per seat row against the occupants the
//! camera drew, and the review flag against the configured threshold; once on clean traffic
//! and once with the emulator's noise on.
#![allow(clippy::unwrap_used)] // a failing test may panic

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use vod_camera::SimCamera;
use vod_core::SeatRow;
use vod_sim::emulator::{EmulatorConfig, ground_truth};

const PATIENCE: Duration = Duration::from_secs(120);
/// Traffic runs this long, then the road stays empty.
const TRAFFIC_MS: u64 = 20_000;

fn sqlite(db: &Path, query: &str) -> String {
    let output = Command::new("sqlite3").arg(db).arg(query).output().unwrap();
    String::from_utf8(output.stdout).unwrap()
}

/// Vehicles stored per lane.
fn stored_per_lane(db: &Path) -> HashMap<String, usize> {
    sqlite(db, "select lane, count(*) from vehicles group by lane")
        .lines()
        .filter_map(|line| line.split_once('|'))
        .map(|(lane, count)| (lane.to_owned(), count.parse().unwrap()))
        .collect()
}

/// What a run found, against the truth.
struct Report {
    truth_per_lane: HashMap<String, usize>,
    stored_per_lane: HashMap<String, usize>,
    captures: usize,
    exact_counts: usize,
}

async fn run(traffic: EmulatorConfig, review_below: f32) -> Report {
    let dir = tempfile::tempdir().unwrap();
    let (scanner_address, emulator_stop) = common::emulator(traffic.clone()).await;
    let text = common::bench_config(dir.path(), scanner_address, 8080, 9100, None)
        .replace(
            "review_below = 0.2",
            &format!("review_below = {review_below}"),
        )
        // A pause of the in-process emulator on a loaded machine is no lost scanner here: the
        // per-lane counts must be exact.
        .replace(
            "connect_timeout_ms = 2000",
            "connect_timeout_ms = 2000\nstall_timeout_ms = 10000",
        );
    assert!(
        text.contains("stall_timeout_ms = 10000"),
        "the scanner section moved"
    );
    let path = common::write_config(dir.path(), &text);
    let appliance = common::InProcess::start(&path).await;
    let store = appliance.store.clone();

    let truth = ground_truth(&traffic, Duration::from_millis(TRAFFIC_MS));
    let mut truth_per_lane: HashMap<String, usize> = HashMap::new();
    for pass in &truth {
        *truth_per_lane
            .entry(format!("lane-{}", pass.lane + 1))
            .or_default() += 1;
    }
    // Until every vehicle of the truth could have been stored, and the last capture with it.
    let db = dir.path().join("data/vod.db");
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let total = truth.len();
    loop {
        let stored: usize = stored_per_lane(&db).values().sum();
        let captures: usize = sqlite(&db, "select count(*) from captures")
            .trim()
            .parse()
            .unwrap_or(0);
        if stored >= total && captures >= stored {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "only {stored} of {total} vehicles and {captures} captures within {PATIENCE:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    // Strays (a vehicle split in two, a false one) would come by now.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let stored_per_lane = stored_per_lane(&db);

    // Every capture's count per seat row, against the occupants the camera drew for its
    // vehicle; and its review flag, against the threshold.
    let camera = SimCamera::new("cam-1".into(), 1280, 1024).unwrap();
    let summaries = store.recent_captures(10_000).await.unwrap();
    let mut exact_counts = 0;
    for summary in &summaries {
        let occupancy = store.occupancy(summary.id).await.unwrap().unwrap();
        assert_eq!(
            occupancy.needs_review,
            occupancy.countability < review_below,
            "capture {}: countability {} against review_below {review_below}",
            summary.id,
            occupancy.countability
        );
        let scene = camera.scene(summary.vehicle_id, 0);
        let truth_in = |row: u8| scene.occupants.iter().filter(|o| o.row == row).count() as u32;
        let counted_in = |row: SeatRow| {
            occupancy
                .rows
                .iter()
                .find(|r| r.row == row)
                .map_or(0, |r| r.people)
        };
        if counted_in(SeatRow::Front) == truth_in(1) && counted_in(SeatRow::Rear) == truth_in(2) {
            exact_counts += 1;
        }
    }
    appliance.stop().await;
    emulator_stop.cancel();
    Report {
        truth_per_lane,
        stored_per_lane,
        captures: summaries.len(),
        exact_counts,
    }
}

fn traffic(seed: u64) -> EmulatorConfig {
    EmulatorConfig {
        flow_per_hour: 2400.0,
        traffic_duration_ms: Some(TRAFFIC_MS),
        seed,
        ..EmulatorConfig::bench_rig()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_box_stores_the_vehicles_and_counts_the_people_that_passed() {
    let report = run(traffic(21), 0.2).await;
    assert_eq!(report.stored_per_lane, report.truth_per_lane);
    let vehicles: usize = report.truth_per_lane.values().sum();
    assert!(vehicles >= 10, "too little traffic to tell: {vehicles}");
    // One capture per vehicle (one camera per lane).
    assert_eq!(report.captures, vehicles);
    // The counting is measured, not perfect (docs/PERFORMANCE.md, 94 to 99 % exact on these
    // scenes), and where the car stands in the frame depends on the trigger's timing, so the
    // share here is luck within a range: at 90 % exact, 13 or fewer of 18 happen in about
    // one run in 35 (seen once), 8 or fewer in about one in 500,000. Half at least, which a
    // broken count (none exact) is far from.
    assert!(
        report.exact_counts * 2 >= report.captures,
        "{} of {} captures counted exactly",
        report.exact_counts,
        report.captures
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_noise_on_the_road_the_counts_still_match_the_truth() {
    let noisy = EmulatorConfig {
        tailgating_share: 0.2,
        lane_change_share: 0.1,
        range_noise_mm: 30,
        dropout_probability: 0.01,
        rain_probability: 0.002,
        wet_road: true,
        ..traffic(22)
    };
    // Every capture below full countability is flagged.
    let report = run(noisy, 1.0).await;
    assert_eq!(report.stored_per_lane, report.truth_per_lane);
    assert!(
        report.exact_counts * 2 >= report.captures,
        "{} of {} captures counted exactly",
        report.exact_counts,
        report.captures
    );
}
