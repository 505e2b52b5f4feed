//! `vod lidar decode` and `vod sim lidar --replay` over the real SICK recordings in
//! tests/data/lidar, run as the real binary.
#![allow(clippy::unwrap_used)] // a failing test may panic

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};
use vod_core::Hub;
use vod_core::config::ScannerConfig;
use vod_lidar::LidarMetrics;
use vod_lidar::session::ScannerSession;
use vod_testkit::{free_port, wait_for_port};

const VOD: &str = env!("CARGO_BIN_EXE_vod");

fn recording(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/data/lidar")
        .join(name)
}

fn decode_json(name: &str) -> Vec<Value> {
    let output = Command::new(VOD)
        .args(["lidar", "decode", "--json"])
        .arg(recording(name))
        .output()
        .unwrap();
    assert!(output.status.success(), "{name}: {output:?}");
    assert!(output.stderr.is_empty(), "{name}: {output:?}");
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

#[test]
fn decode_prints_one_json_object_per_scan() {
    let cases = [
        (
            "20210301_lms511.pcapng.json",
            136,
            10335,
            vec![("DIST1", 1141), ("RSSI1", 1141)],
        ),
        ("20210302_lms111.pcapng.json", 175, 4, vec![("DIST1", 541)]),
        (
            "20210113_tim871s_elephant.pcapng.json",
            150,
            60532,
            vec![("DIST1", 811), ("RSSI1", 811)],
        ),
    ];
    for (name, scans, first_counter, channels) in cases {
        let objects = decode_json(name);
        assert_eq!(objects.len(), scans, "{name}");
        for object in &objects {
            let mut keys: Vec<_> = object.as_object().unwrap().keys().cloned().collect();
            keys.sort();
            assert_eq!(
                keys,
                [
                    "channels",
                    "scan_counter",
                    "scan_frequency_hz",
                    "telegram_counter",
                    "time_since_power_up_us"
                ],
                "{name}"
            );
            let shape: Vec<_> = object["channels"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| {
                    (
                        c["name"].as_str().unwrap(),
                        c["values"].as_array().unwrap().len(),
                    )
                })
                .collect();
            assert_eq!(shape, channels, "{name}");
        }
        assert_eq!(objects[0]["scan_counter"], json!(first_counter), "{name}");
    }
    // The LMS511's first scan in full, but for the values past the fourth.
    let mut first = decode_json("20210301_lms511.pcapng.json").remove(0);
    for channel in first["channels"].as_array_mut().unwrap() {
        channel["values"].as_array_mut().unwrap().truncate(4);
    }
    assert_eq!(
        first,
        json!({"scan_counter": 10335, "telegram_counter": 10203,
            "time_since_power_up_us": 1387959194u32, "scan_frequency_hz": 25.0,
            "channels": [
                {"name": "DIST1", "scale": 1.0, "offset": 0.0, "start_angle_deg": -5.0,
                    "step_deg": 0.1667, "values": [1305, 1300, 1299, 1299]},
                {"name": "RSSI1", "scale": 1.0, "offset": 0.0, "start_angle_deg": -5.0,
                    "step_deg": 0.1667, "values": [254, 254, 254, 254]}]})
    );
}

#[test]
fn decode_without_json_prints_a_line_per_scan() {
    let output = Command::new(VOD)
        .args(["lidar", "decode"])
        .arg(recording("20210302_lms111.pcapng.json"))
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert_eq!(stdout.lines().count(), 175);
    assert_eq!(
        stdout.lines().next(),
        Some(
            "scan 4 telegram 63336 at 1948810585 us, 50 Hz: DIST1 541 values from -45 deg by 0.5 deg"
        )
    );
}

#[test]
fn decode_refuses_a_file_that_is_not_an_export() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("not.json");
    std::fs::write(&path, "{\"not\": \"an export\"}").unwrap();
    let output = Command::new(VOD)
        .args(["lidar", "decode", "--json"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(64));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("not a Wireshark JSON export"), "{stderr}");
}

struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _already_gone = self.0.kill();
        let _reaped = self.0.wait();
    }
}

/// The session logs in to a replaying `vod sim lidar` and gets the recorded scans in order.
#[tokio::test]
async fn sim_lidar_replays_a_recording_to_the_session() {
    let name = "20210301_lms511.pcapng.json";
    let first_counters: Vec<Value> = decode_json(name)
        .iter()
        .take(10)
        .map(|o| o["scan_counter"].clone())
        .collect();
    let address = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let _replay = Process(
        Command::new(VOD)
            .args(["sim", "lidar", "--listen", &address.to_string(), "--replay"])
            .arg(recording(name))
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_for_port(address, Duration::from_secs(10));
    let scanner = ScannerConfig {
        name: "gantry".into(),
        address: address.to_string(),
        mount_height_mm: 6000,
        connect_timeout_ms: 1000,
        stall_timeout_ms: None,
    };
    let metrics = LidarMetrics::register(&prometheus::Registry::new()).unwrap();
    let mut session = ScannerSession::new(&scanner, &metrics, Hub::new(16));
    let mut counters = Vec::new();
    for _ in 0..first_counters.len() {
        let scan = tokio::time::timeout(Duration::from_secs(20), session.next_scan())
            .await
            .unwrap();
        assert_eq!(scan.ranges_mm.len(), 1141);
        counters.push(json!(scan.scan_counter));
    }
    assert_eq!(counters, first_counters);
}
