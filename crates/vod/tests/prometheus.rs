//! A real Prometheus (Debian's `prometheus`) scrapes the running box and evaluates the shipped
//! alert rules (`deploy/prometheus/alerts.yml`, their `for:` shortened to a second: promtool's
//! `alerts.test.yml` checks the durations): with the scanner away, `VodScannerDisconnected`
//! fires; once the scanner is there, it is resolved.
#![allow(clippy::unwrap_used)] // a failing test may panic

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use vod_testkit::{free_port, http_get, wait_for_port};

const ALERTS: &str = include_str!("../../../deploy/prometheus/alerts.yml");

/// The alerts Prometheus holds, as (name, state).
fn alerts(prometheus: u16) -> Vec<(String, String)> {
    let Ok((200, body)) = http_get(common::loopback(prometheus), "/api/v1/alerts") else {
        return Vec::new();
    };
    let body: serde_json::Value = serde_json::from_str(&body).unwrap();
    body["data"]["alerts"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|alert| {
            (
                alert["labels"]["alertname"]
                    .as_str()
                    .unwrap_or("")
                    .to_owned(),
                alert["state"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

fn wait_until(what: &str, patience: Duration, done: impl Fn() -> bool) {
    let deadline = Instant::now() + patience;
    while !done() {
        assert!(Instant::now() < deadline, "{what} not within {patience:?}");
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[test]
fn prometheus_fires_the_scanner_alert_while_the_scanner_is_away_and_resolves_it() {
    let dir = tempfile::tempdir().unwrap();
    let (scanner, web, metrics, prometheus) = (free_port(), free_port(), free_port(), free_port());
    let text = common::bench_config(dir.path(), common::loopback(scanner), web, metrics, None);
    let config = common::write_config(dir.path(), &text);
    let _appliance = common::Process(
        Command::new(env!("CARGO_BIN_EXE_vod"))
            .args(["run", "--config"])
            .arg(&config)
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_for_port(common::loopback(metrics), Duration::from_secs(60));

    // Every rule's `for:` a second, its indentation kept.
    let rules: String = ALERTS
        .lines()
        .map(|line| match line.trim_start().strip_prefix("for: ") {
            Some(_) => format!("{}for: 1s\n", &line[..line.len() - line.trim_start().len()]),
            None => format!("{line}\n"),
        })
        .collect();
    std::fs::write(dir.path().join("alerts.yml"), rules).unwrap();
    std::fs::write(
        dir.path().join("prometheus.yml"),
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n  - alerts.yml\n\
             scrape_configs:\n  - job_name: vod\n    static_configs:\n      - targets: [\"127.0.0.1:{metrics}\"]\n"
        ),
    )
    .unwrap();
    let _prometheus = common::Process(
        Command::new("prometheus")
            .arg(format!(
                "--config.file={}",
                dir.path().join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("tsdb").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{prometheus}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("prometheus (scripts/setup.sh test installs it)"),
    );
    let firing = |name: &str| {
        alerts(prometheus)
            .iter()
            .any(|(alert, state)| alert == name && state == "firing")
    };
    wait_until(
        "VodScannerDisconnected firing",
        Duration::from_secs(60),
        || firing("VodScannerDisconnected"),
    );
    assert!(
        !firing("VodDown"),
        "the box answers: {:?}",
        alerts(prometheus)
    );

    // The scanner comes: the box connects, and the alert is resolved.
    let _emulator = common::start_emulator(scanner, 3);
    wait_until(
        "VodScannerDisconnected resolved",
        Duration::from_secs(60),
        || {
            !alerts(prometheus)
                .iter()
                .any(|(alert, _)| alert == "VodScannerDisconnected")
        },
    );
}
