//! Broken components in the real binary, made so by fault points (`FAILPOINTS`, the
//! `failpoints` feature that `make test` turns on), seen and handled from the bus while the
//! other lane goes on counting and storing: the three failures of the "Soul of Erlang"
//! demonstration (a component that fails on some inputs, a CPU hog inside one stage, a
//! component stuck without progress), and a component that fails past its restart intensity.
//!   cargo test -p vod --features failpoints --test faults
#![allow(clippy::unwrap_used)] // a failing test may panic

mod common;

use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::bus::{Rig, follow_events, wait_event};
use serde_json::Value;

/// Stored captures of `lane` among the events that have arrived.
fn lane_captures(events: &mpsc::Receiver<Value>, seen: &mut Vec<Value>, lane: &str) -> usize {
    seen.extend(events.try_iter());
    seen.iter()
        .filter(|event| event["type"] == "capture_stored" && event["lane"] == lane)
        .count()
}

/// Waits until `lane` has `more` captures beyond those seen so far.
fn wait_lane(
    events: &mpsc::Receiver<Value>,
    seen: &mut Vec<Value>,
    lane: &str,
    more: usize,
    when: &str,
) {
    let target = lane_captures(events, seen, lane) + more;
    let deadline = Instant::now() + Duration::from_secs(60);
    while lane_captures(events, seen, lane) < target {
        assert!(
            Instant::now() < deadline,
            "{when}: {lane} stored no {more} more captures within 60 s; events: {:?}",
            seen.iter()
                .rev()
                .take(20)
                .map(|event| format!("{} {} {}", event["type"], event["lane"], event["cause"]))
                .collect::<Vec<_>>()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn a_failing_a_hogging_and_a_stuck_camera_are_seen_and_handled_while_the_other_lane_counts() {
    let dir = tempfile::tempdir().unwrap();
    // cam-1 (lane 1) cannot take its first two bursts; cam-2 (lane 2) takes two, then spins
    // the CPU for 1.5 s before each of the next two, then hangs (and is fine once restarted).
    let faults = "camera::cam-1::burst=2*panic(cannot take this frame);\
                  camera::cam-2::burst=2*off->2*delay(1500)->1*return->off";
    let rig = Rig::start(dir.path(), 5, |text| text, &[("FAILPOINTS", faults)]);
    let (_follower, events) = follow_events(&rig);
    let mut seen = Vec::new();

    // Failure on some inputs: cam-1 is restarted twice, its cause in its state, while lane 2
    // stores on; then cam-1 stores again.
    let failing = rig.ask_until(
        &["state", "camera:cam-1"],
        Duration::from_secs(60),
        |state| state["components"]["camera:cam-1"]["supervisor"]["restarts"] == 2,
    );
    let supervisor = &failing["components"]["camera:cam-1"]["supervisor"];
    assert_eq!(
        supervisor["last_cause"], "panicked: cannot take this frame",
        "{supervisor}"
    );
    wait_lane(&events, &mut seen, "lane-1", 1, "after cam-1's restarts");

    // The CPU hog: `top` shows where the time went, while lane 1 stores on.
    let top = rig.ask_until(&["top", "--once"], Duration::from_secs(60), |top| {
        top["components"]["camera:cam-2"]["busy_ms"]
            .as_u64()
            .is_some_and(|busy_ms| busy_ms >= 2 * 1500)
    });
    let busiest = top["components"]
        .as_object()
        .unwrap()
        .iter()
        .max_by_key(|(_, row)| row["busy_ms"].as_u64())
        .map(|(name, _)| name.clone());
    assert_eq!(busiest.as_deref(), Some("camera:cam-2"), "{top}");
    wait_lane(&events, &mut seen, "lane-1", 1, "during cam-2's hog");

    // Stuck: its triggers wait and its task makes no progress; the watchdog restarts it,
    // and lane 2 stores again; lane 1 goes on.
    wait_event(
        &events,
        Duration::from_secs(60),
        "the watchdog's restart",
        |event| {
            event["type"] == "component_restarted"
                && event["component"] == "camera:cam-2"
                && event["cause"]
                    .as_str()
                    .is_some_and(|cause| cause.starts_with("restart asked for by the watchdog"))
        },
    );
    wait_lane(
        &events,
        &mut seen,
        "lane-2",
        1,
        "after the watchdog's restart",
    );
    wait_lane(
        &events,
        &mut seen,
        "lane-1",
        1,
        "after the watchdog's restart",
    );
    let state = rig.ask(&["state", "camera:cam-2"]);
    assert_eq!(
        state["components"]["camera:cam-2"]["supervisor"]["state"], "running",
        "{state}"
    );
}

#[test]
fn a_component_failing_past_its_restart_intensity_stops_the_box_with_code_70() {
    let dir = tempfile::tempdir().unwrap();
    let mut rig = Rig::start(
        dir.path(),
        6,
        |text| {
            text.replace("max_restarts = 10", "max_restarts = 2")
                .replace("backoff_initial_ms = 200", "backoff_initial_ms = 50")
        },
        &[("FAILPOINTS", "camera::cam-1::burst=panic(broken for good)")],
    );
    let status = rig.wait_exit(Duration::from_secs(60));
    assert_eq!(status.code(), Some(70), "{status:?}");
}

#[test]
fn sigterm_stops_the_box_within_its_grace_though_a_component_hangs() {
    let dir = tempfile::tempdir().unwrap();
    // cam-1 hangs at its first burst and never looks at its stop token again.
    let mut rig = Rig::start(
        dir.path(),
        7,
        |text| text,
        &[("FAILPOINTS", "camera::cam-1::burst=return")],
    );
    rig.ask_until(
        &["state", "camera:cam-1"],
        Duration::from_secs(60),
        |state| {
            state["components"]["camera:cam-1"]["input"]["queued"]
                .as_u64()
                .is_some_and(|queued| queued > 0)
        },
    );
    rig.terminate();
    // The grace period is 4 s (the hung task is aborted after 2); 30 s is a hang.
    let status = rig.wait_exit(Duration::from_secs(30));
    assert!(status.success(), "{status:?}");
}
