//! `vod bench e2e` runs the whole box against the emulator and reports what the issue's
//! users read: vehicles against the truth, captures, latencies, memory (a short run: the
//! numbers themselves belong in docs/PERFORMANCE.md).
#![allow(clippy::unwrap_used)] // a failing test may panic

mod common;

use std::process::Command;

#[test]
fn a_short_whole_box_run_reports_its_vehicles_captures_and_latencies() {
    let dir = tempfile::tempdir().unwrap();
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    let report = common::json_output(
        Command::new(env!("CARGO_BIN_EXE_vod"))
            .args([
                "bench",
                "e2e",
                "--lanes",
                "2",
                "--vehicles-per-hour",
                "1800",
            ])
            .args(["--minutes", "0.25", "--json", "--work-dir"])
            .arg(dir.path().join("e2e"))
            .current_dir(root),
    );
    let count = |key: &str| report[key].as_u64().unwrap();
    assert!(count("vehicles_truth") > 0, "{report}");
    assert!(count("vehicles_detected") > 0, "{report}");
    assert_eq!(
        count("captures_stored"),
        count("vehicles_detected"),
        "{report}"
    );
    assert_eq!(count("captures_lost"), 0, "{report}");
    for key in ["trigger_latency_ms", "capture_latency_ms"] {
        let spread = &report[key];
        let (p50, max) = (
            spread["p50"].as_f64().unwrap(),
            spread["max"].as_f64().unwrap(),
        );
        assert!(p50 > 0.0 && p50 <= max, "{key}: {spread}");
        for q in ["p95", "p99"] {
            assert!(spread[q].as_f64().is_some(), "{key}.{q}");
        }
    }
    assert!(report["peak_rss_mb"].as_f64().unwrap() > 10.0, "{report}");
    assert!(
        report["growth"].as_array().unwrap().is_empty(),
        "a short run judges no growth"
    );
}
