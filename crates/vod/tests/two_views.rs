//! A lane counted by two cameras, one on either side, in hard scenes (where the two views
//! often disagree): the real binary against the scanner emulator stores each vehicle of that
//! lane once per camera, every capture with the same count, and the other lane's vehicles once
//! each.
#![allow(clippy::unwrap_used)] // a failing test may panic

use std::process::Command;
use std::time::Duration;

mod common;

use common::{Process, bench_config, count, loopback, sqlite, start_emulator};
use vod_testkit::free_port;

#[test]
fn both_cameras_of_a_lane_store_a_vehicle_with_one_count() {
    let dir = tempfile::tempdir().unwrap();
    let (scanner, web, metrics) = (free_port(), free_port(), free_port());
    let _emulator = start_emulator(scanner, 11);
    let text = bench_config(dir.path(), loopback(scanner), web, metrics, None);
    let text = common::lane_1_from_both_sides(&text);
    let config = common::write_config(dir.path(), &text);
    let _appliance = Process(
        Command::new(env!("CARGO_BIN_EXE_vod"))
            .args(["run", "--config"])
            .arg(&config)
            .spawn()
            .unwrap(),
    );
    let db = dir.path().join("data/vod.db");
    let both_seen = "select count(*) from (select vehicle_id from captures where lane = 'lane-1' \
                     group by vehicle_id having count(*) = 2)";
    common::wait_until(
        "eight lane-1 vehicles seen by both cameras",
        Duration::from_secs(120),
        || count(&db, both_seen) >= 8,
    );
    // Per vehicle of lane-1: its cameras, and the distinct counts (rows and countability)
    // its captures were stored with.
    let per_vehicle = sqlite(
        &db,
        "select c.vehicle_id, group_concat(distinct c.camera), count(distinct \
         o.countability || ':' || o.needs_review || ':' || o.doubts || ':' || \
         (select group_concat(r.seat_row || r.people || '@' || r.confidence) \
          from occupancy_rows r where r.capture_id = c.id)) \
         from captures c join capture_occupancy o on o.capture_id = c.id \
         where c.lane = 'lane-1' group by c.vehicle_id having count(*) = 2",
    );
    let mut vehicles = 0;
    for line in per_vehicle.lines() {
        let fields: Vec<&str> = line.split('|').collect();
        let mut cameras: Vec<&str> = fields[1].split(',').collect();
        cameras.sort();
        assert_eq!(cameras, ["cam-1", "cam-1r"], "{line}");
        assert_eq!(fields[2], "1", "one count per vehicle: {line}");
        vehicles += 1;
    }
    assert!(vehicles >= 8, "{per_vehicle}");
    assert_eq!(
        count(
            &db,
            "select count(*) from (select vehicle_id from captures where lane = 'lane-2' \
             group by vehicle_id having count(*) > 1)"
        ),
        0,
        "a lane with one camera stores a vehicle once"
    );
}
