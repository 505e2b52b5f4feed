//! One vehicle's whole story in the logs: with `vod::vehicle=debug`, every stage from the
//! scanner pipeline to the upload writes a line with the vehicle's id, so one grep finds it.
#![allow(clippy::unwrap_used)] // a failing test may panic

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use vod_testkit::free_port;

/// The messages of the JSON log lines that name `vehicle_id`.
fn story(log: &str, vehicle_id: &str) -> Vec<String> {
    log.lines()
        .filter(|line| line.contains(vehicle_id))
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter_map(|line| line["message"].as_str().map(str::to_owned))
        .collect()
}

#[test]
fn one_grep_for_a_vehicle_id_tells_its_story_from_scan_to_upload() {
    let dir = tempfile::tempdir().unwrap();
    let (scanner, web, metrics) = (free_port(), free_port(), free_port());
    let _emulator = common::start_emulator(scanner, 9);
    let text = common::bench_config(dir.path(), common::loopback(scanner), web, metrics, None);
    assert!(
        text.contains("format = \"text\""),
        "the [log] section moved"
    );
    let text = text.replace("format = \"text\"", "format = \"json\"");
    let config = common::write_config(dir.path(), &text);
    let log_path = dir.path().join("vod.log");
    let mut appliance = common::Process(
        Command::new(env!("CARGO_BIN_EXE_vod"))
            .args(["run", "--config"])
            .arg(&config)
            .env("RUST_LOG", "info,vod::vehicle=debug")
            .stderr(Stdio::from(std::fs::File::create(&log_path).unwrap()))
            .spawn()
            .unwrap(),
    );
    let wanted = [
        "Vehicle event.",
        "Trigger sent.",
        "Burst taken.",
        "Burst analysed.",
        "Capture committed.",
        "Uploaded.",
    ];
    let deadline = Instant::now() + Duration::from_secs(90);
    let whole = loop {
        let log = std::fs::read_to_string(&log_path).unwrap_or_default();
        // The vehicles whose upload is logged, and their stories.
        let uploaded: Vec<String> = log
            .lines()
            .filter(|line| line.contains("Uploaded."))
            .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
            .filter_map(|line| line["vehicle_id"].as_str().map(str::to_owned))
            .collect();
        let told = uploaded.iter().find(|id| {
            let story = story(&log, id);
            wanted.iter().all(|step| story.iter().any(|m| m == step))
        });
        if let Some(id) = told {
            break story(&log, id);
        }
        assert!(
            Instant::now() < deadline,
            "no vehicle with its whole story within 90 s; uploaded: {uploaded:?}"
        );
        std::thread::sleep(Duration::from_millis(250));
    };
    // In the order it happened.
    let positions: Vec<usize> = wanted
        .iter()
        .map(|step| whole.iter().position(|m| m == step).unwrap())
        .collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{whole:?}");
    let pid = appliance.0.id().to_string();
    Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    let _ = appliance.0.wait();
}
